// The AppRTC wire protocol as the web client speaks it (apprtc-protocol.md §1.6–§1.8, §3.2, §4):
// the room server's /join, /message and /leave, and Collider's WebSocket with its HTTP fallback.

import { fetchWithTimeout, sleep } from './util.js';

export class ServerUnreachable extends Error {}

/// `POST /join/<room><search>` → `{result, params}`.
export async function joinRoom(roomId, search) {
  let res;
  try {
    res = await fetchWithTimeout(`/join/${encodeURIComponent(roomId)}${search}`, { method: 'POST' });
  } catch (e) {
    throw new ServerUnreachable(`Room server join error: ${e.message}`);
  }
  if (!res.ok) throw new Error(`Room server join error: HTTP ${res.status}`);
  return res.json();
}

/// `POST /message/<room>/<client><search>` (initiator only).
export async function postMessage(roomId, clientId, search, msg) {
  const res = await fetchWithTimeout(`/message/${roomId}/${clientId}${search}`, { method: 'POST', body: msg });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const body = await res.json();
  if (body.result !== 'SUCCESS') throw new Error(`Registration error: ${body.result}`);
}

/// `POST /leave/<room>/<client>`, awaited (hang-up button).
export async function leaveRoom(roomId, clientId) {
  await fetchWithTimeout(`/leave/${roomId}/${clientId}`, { method: 'POST' }, 3000);
}

/// The page is going away: a beacon is the only request sure to leave.
export function leaveRoomBeacon(roomId, clientId) {
  const url = `/leave/${roomId}/${clientId}`;
  if (!navigator.sendBeacon?.(url)) {
    fetch(url, { method: 'POST', keepalive: true }).catch(() => {});
  }
}

/// Collider's WebSocket, re-registered after a drop within the server's reconnect window.
///
/// Events (an EventTarget): `message` (detail: the peer's message text), `error` (detail: text),
/// `state` (detail: 'open' | 'reconnecting' | 'lost' | 'closed').
export class SignalingChannel extends EventTarget {
  constructor(wssUrl, wssPostUrl, { reconnectWindowMs = 10000 } = {}) {
    super();
    this.wssUrl = wssUrl;
    this.wssPostUrl = wssPostUrl;
    this.reconnectWindowMs = reconnectWindowMs;
    this.ws = null;
    this.roomId = null;
    this.clientId = null;
    this.closed = false;
    this.registered = false;
    this.reconnecting = false;
  }

  /// Opens the socket; resolves when open, rejects if it cannot be opened.
  open() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this.wssUrl);
      } catch (e) {
        reject(new ServerUnreachable(`WebSocket open error: ${e.message}`));
        return;
      }
      let opened = false;
      const timer = setTimeout(() => {
        if (!opened) {
          reject(new ServerUnreachable('WebSocket open error: timed out.'));
          try {
            ws.onclose = null;
            ws.close();
          } catch {
            // Already closing.
          }
        }
      }, 8000);
      ws.onopen = () => {
        opened = true;
        clearTimeout(timer);
        this.ws = ws;
        resolve();
      };
      ws.onerror = () => {
        if (!opened) {
          clearTimeout(timer);
          reject(new ServerUnreachable('WebSocket open error: WebSocket error.'));
        }
      };
      ws.onmessage = (ev) => this.onFrame(ev.data);
      ws.onclose = () => {
        clearTimeout(timer);
        if (!opened) reject(new ServerUnreachable('WebSocket open error: closed before it opened.'));
        else if (this.ws === ws) this.onDrop();
      };
    });
  }

  register(roomId, clientId) {
    this.roomId = roomId;
    this.clientId = clientId;
    this.ws.send(JSON.stringify({ cmd: 'register', roomid: roomId, clientid: clientId }));
    this.registered = true;
    this.registeredAt = Date.now();
  }

  get isOpen() {
    return this.ws?.readyState === WebSocket.OPEN && this.registered;
  }

  /// Non-initiator sends: over the socket, or POSTed to Collider when the socket is down.
  async send(msg) {
    if (this.isOpen) {
      this.ws.send(JSON.stringify({ cmd: 'send', msg }));
      return;
    }
    const res = await fetch(`${this.wssPostUrl}/${this.roomId}/${this.clientId}`, { method: 'POST', body: msg });
    if (!res.ok) throw new Error(`Collider POST: HTTP ${res.status}`);
  }

  onFrame(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      this.emit('error', `WebSocket message is not JSON: ${String(data).slice(0, 80)}`);
      return;
    }
    if (frame.error) {
      this.emit('error', `WebSocket register error: ${frame.error}`);
      return;
    }
    if (frame.msg) this.emit('message', frame.msg);
  }

  /// The socket dropped under us: reconnect and re-register with the same ids while the server
  /// still keeps our place (Collider's 10 s window). A socket the server closes right after
  /// register (e.g. "Max room capacity reached" while a departed peer's place is still held)
  /// counts as a failed attempt, so retries back off instead of spinning.
  async onDrop() {
    this.ws = null;
    const quick = Date.now() - (this.registeredAt || 0) < 3000;
    this.registered = false;
    if (this.closed || this.reconnecting || !this.clientId) return;
    this.reconnecting = true;
    if (!quick || !this.dropDeadline) {
      this.dropDeadline = Date.now() + this.reconnectWindowMs + 5000;
      this.retryDelay = 250;
    } else {
      await sleep(this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, 2000);
    }
    this.emit('state', 'reconnecting');
    while (!this.closed && Date.now() < this.dropDeadline) {
      try {
        await this.open();
        this.register(this.roomId, this.clientId);
        this.reconnecting = false;
        this.emit('state', 'open');
        return;
      } catch {
        await sleep(this.retryDelay);
        this.retryDelay = Math.min(this.retryDelay * 2, 2000);
      }
    }
    this.reconnecting = false;
    this.dropDeadline = 0;
    if (!this.closed) this.emit('state', 'lost');
  }

  /// Clean close (hang-up): bye first if given, then close, then Collider's DELETE.
  ///
  /// The DELETE waits for the socket's close when it can, so the server has read the bye before
  /// it drops the client. When the page is unloading nothing can wait: the DELETE goes out at
  /// once as a keepalive request, after the bye frame.
  close({ bye = false, unloading = false } = {}) {
    this.closed = true;
    const ws = this.ws;
    this.ws = null;
    const wasRegistered = this.registered;
    this.registered = false;
    const del = () => {
      if (this.roomId && this.clientId && wasRegistered) {
        fetch(`${this.wssPostUrl}/${this.roomId}/${this.clientId}`, { method: 'DELETE', keepalive: true }).catch(() => {});
      }
    };
    if (ws) {
      if (bye && wasRegistered) ws.send(JSON.stringify({ cmd: 'send', msg: JSON.stringify({ type: 'bye' }) }));
      if (unloading) {
        // No bye over HTTP here: arriving after the DELETE it would re-create this client in the
        // room and hold the seat. If the torn-down page loses the frame above, the other side
        // notices the silence (see Call.peerGone).
        ws.close();
        del();
      } else {
        const timer = setTimeout(del, 1000);
        ws.onclose = () => {
          clearTimeout(timer);
          del();
        };
        ws.close();
      }
    } else {
      del();
    }
    this.emit('state', 'closed');
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
