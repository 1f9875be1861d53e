// One call in one room: join, signaling, the RTCPeerConnection, chat, screen share, recovery.
//
// Follows AppRTC's rules (apprtc-protocol.md §4): the first to join is the initiator; it sends
// its offer and candidates with POST /message (stored until the other person joins); the other
// gets them in the join response and answers over Collider's WebSocket. When the other person
// leaves (`bye`), the one who stays becomes the initiator and posts a fresh offer for whoever
// joins next.

import { joinRoom, leaveRoom, leaveRoomBeacon, postMessage, ServerUnreachable, SignalingChannel } from './signaling.js';
import { fetchWithTimeout, sleep } from './util.js';

export const STATE_TEXT = {
  idle: '',
  joining: 'Joining the room…',
  waiting: 'Waiting for the other person to join…',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Connection lost — reconnecting…',
  'peer-left': 'The other person left. Waiting for someone to join…',
  ended: 'You left the call.',
  full: 'This room is full.',
  error: 'Something went wrong.',
};

/// AppRTC's legacy `{mandatory: {minWidth: "1280"}, optional: [{minWidth: "1280"}]}` media
/// constraints as standard ones (`{width: {min: 1280}}`, `{width: {ideal: 1280}}`).
export function toStandardConstraints(c) {
  if (typeof c === 'boolean' || c == null) return !!c;
  if (typeof c !== 'object') return true;
  if (!('mandatory' in c) && !('optional' in c)) return c;
  const out = {};
  const put = (key, value, how) => {
    const m = /^(min|max)(Width|Height|FrameRate|AspectRatio)$/.exec(key);
    if (m) {
      const prop = m[2][0].toLowerCase() + m[2].slice(1);
      const num = Number(value);
      if (!Number.isFinite(num)) return;
      out[prop] = { ...(typeof out[prop] === 'object' ? out[prop] : {}), [how === 'mandatory' ? m[1] : 'ideal']: num };
    } else if (key === 'sourceId' || key === 'deviceId') {
      out.deviceId = how === 'mandatory' ? { exact: value } : { ideal: value };
    }
  };
  for (const [k, v] of Object.entries(c.mandatory || {})) put(k, v, 'mandatory');
  for (const o of c.optional || []) for (const [k, v] of Object.entries(o)) put(k, v, 'optional');
  return Object.keys(out).length ? out : true;
}

export class Call extends EventTarget {
  /// `params` is the page's `loadingParams`; `search` is `location.search` (passed to /join and
  /// /message as AppRTC does); `localStream` may be null (no camera or microphone).
  constructor(params, { search = '', localStream = null } = {}) {
    super();
    this.params = params;
    this.search = search;
    this.localStream = localStream;
    this.pcConfig = { ...(params.peerConnectionConfig || {}) };
    this.pcConfig.iceServers = this.pcConfig.iceServers || [];
    this.forceRelay = this.pcConfig.iceTransports === 'relay' || this.pcConfig.iceTransportPolicy === 'relay';
    this.offerOptions = params.offerOptions || {};
    this.state = 'idle';
    this.pc = null;
    this.dc = null;
    this.roomId = null;
    this.clientId = null;
    this.isInitiator = false;
    this.remoteStream = null;
    this.remoteCandidates = [];
    this.chain = Promise.resolve();
    this.sendChain = Promise.resolve();
    this.screenTrack = null;
    this.cameraTrack = null;
    this.restartTimer = null;
    this.goneTimer = null;
    this.restartPendingSince = 0;
    this.ended = false;
    this.iceServers = [];
    this.startedAt = 0;
    this.connectedAt = 0;
    this.pcReady = new Promise((resolve) => { this.resolvePcReady = resolve; });
    this.onNetworkChange = () => this.networkChanged();
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setState(state, text = STATE_TEXT[state]) {
    this.state = state;
    this.emit('state', { state, text });
  }

  fail(e) {
    const text = e instanceof ServerUnreachable
      ? 'Cannot reach the Switchboard server. Check your network connection and try again.'
      : (e?.message || String(e));
    this.emit('error', { text, detail: e?.message || String(e), unreachable: e instanceof ServerUnreachable });
    this.setState('error', text);
  }

  async start(roomId) {
    this.roomId = roomId;
    this.startedAt = performance.now();
    this.setState('joining');
    const p = this.params;
    this.signaling = new SignalingChannel(p.wssUrl, p.wssPostUrl);
    this.signaling.addEventListener('message', (e) => this.onSignal(e.detail));
    this.signaling.addEventListener('error', (e) => this.emit('warning', e.detail));
    this.signaling.addEventListener('state', (e) => this.emit('signaling', e.detail));
    const wsOpen = this.signaling.open();
    wsOpen.catch(() => {});
    const iceServers = this.fetchIceServers();

    let join;
    try {
      join = await joinRoom(roomId, this.search);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (join.result === 'FULL') {
      this.signaling.close();
      this.setState('full');
      return;
    }
    if (join.result !== 'SUCCESS') {
      this.signaling.close();
      this.fail(new Error(`Room server join error: ${join.result}`));
      return;
    }
    const jp = join.params;
    this.clientId = jp.client_id;
    this.isInitiator = jp.is_initiator === 'true';
    this.roomLink = jp.room_link;
    this.emit('joined', { roomLink: jp.room_link, clientId: this.clientId, isInitiator: this.isInitiator });

    // The offer first, then the candidates, before anything the WebSocket delivers.
    const messages = [...(jp.messages || [])];
    messages.sort((a, b) => Number(!a.includes('"offer"')) - Number(!b.includes('"offer"')));
    for (const m of messages) this.onSignal(m);

    try {
      await wsOpen;
    } catch (e) {
      leaveRoom(roomId, this.clientId).catch(() => {});
      this.fail(e);
      return;
    }
    if (this.ended) return;
    this.signaling.register(roomId, this.clientId);
    window.addEventListener('online', this.onNetworkChange);
    navigator.connection?.addEventListener?.('change', this.onNetworkChange);

    this.iceServers = await iceServers;
    if (this.ended) return;
    try {
      await this.createPeerConnection();
    } catch (e) {
      this.fail(new Error(`Create PeerConnection exception: ${e.message}`));
      return;
    }
    if (this.isInitiator) {
      this.setState('waiting');
      this.enqueue(() => this.makeOffer());
    } else {
      this.setState('connecting');
    }
  }

  /// §2.1: POST the ICE server URL unless the page already carries ICE servers.
  async fetchIceServers() {
    const url = this.params.iceServerRequestUrl;
    if (this.pcConfig.iceServers.length || !url) return [];
    try {
      const res = await fetchWithTimeout(url, { method: 'POST' }, 8000);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = await res.json();
      const tt = this.params.iceServerTransports;
      return (body.iceServers || [])
        .map((s) => {
          let urls = [].concat(s.urls || s.url || []);
          if (tt) urls = urls.filter((u) => u.includes(`transport=${tt}`));
          return { ...s, urls };
        })
        .filter((s) => s.urls.length > 0);
    } catch {
      this.emit('warning', 'No TURN server; unlikely that media will traverse networks.');
      return [];
    }
  }

  async createPeerConnection() {
    const cfg = { ...this.pcConfig, iceServers: [...this.pcConfig.iceServers, ...this.iceServers] };
    if (cfg.iceTransports) {
      cfg.iceTransportPolicy = cfg.iceTransports;
      delete cfg.iceTransports;
    }
    try {
      cfg.certificates = [await RTCPeerConnection.generateCertificate({ name: 'ECDSA', namedCurve: 'P-256' })];
    } catch {
      // The browser picks its own certificate.
    }
    const pc = new RTCPeerConnection(cfg);
    this.pc = pc;
    this.remoteCandidates = [];
    this.remoteStream = new MediaStream();
    pc.onicecandidate = (e) => {
      const c = e.candidate;
      if (!c || !c.candidate) return;
      // AppRTC's web client sends no TCP candidates, and only relay ones when forced to relay.
      if (c.candidate.includes('tcp')) return;
      if (this.forceRelay && !c.candidate.includes(' typ relay')) return;
      this.sendSignal({ type: 'candidate', label: c.sdpMLineIndex, id: c.sdpMid, candidate: c.candidate });
    };
    pc.ontrack = (e) => {
      if (pc !== this.pc) return;
      this.remoteStream.addTrack(e.track);
      this.emit('remotestream', this.remoteStream);
    };
    pc.onconnectionstatechange = () => this.onConnectionState(pc);
    const dc = pc.createDataChannel('chat', { negotiated: true, id: 0 });
    this.dc = dc;
    dc.onopen = () => this.emit('chatstate', true);
    dc.onclose = () => { if (this.dc === dc) this.emit('chatstate', false); };
    dc.onmessage = (e) => {
      try {
        const m = JSON.parse(e.data);
        if (m.type === 'chat' && typeof m.text === 'string') this.emit('chat', { from: 'them', text: m.text });
      } catch {
        // Not ours; ignore.
      }
    };
    const tracks = this.localStream ? this.localStream.getTracks() : [];
    for (const t of tracks) pc.addTrack(t, this.localStream);
    for (const kind of ['audio', 'video']) {
      if (!tracks.some((t) => t.kind === kind)) pc.addTransceiver(kind, { direction: 'recvonly' });
    }
    this.resolvePcReady();
  }

  // --- signaling -------------------------------------------------------------------------

  enqueue(fn) {
    this.chain = this.chain.then(fn).catch((e) => this.emit('warning', e?.message || String(e)));
    return this.chain;
  }

  onSignal(text) {
    this.enqueue(async () => {
      await this.pcReady;
      if (this.ended) return;
      await this.handleSignal(text);
    });
  }

  async handleSignal(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    const pc = this.pc;
    switch (msg.type) {
      case 'offer': {
        if (this.state !== 'connected') this.setState('connecting');
        await this.op('setRemoteDescription', pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp }));
        await this.addQueuedCandidates();
        const answer = await this.op('createAnswer', pc.createAnswer());
        await this.op('setLocalDescription', pc.setLocalDescription(answer));
        this.sendSignal({ type: 'answer', sdp: pc.localDescription.sdp });
        break;
      }
      case 'answer':
        if (pc.signalingState !== 'have-local-offer') return;
        this.restartPendingSince = 0;
        if (this.state === 'waiting' || this.state === 'peer-left') this.setState('connecting');
        await this.op('setRemoteDescription', pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp }));
        await this.addQueuedCandidates();
        break;
      case 'candidate': {
        const c = { candidate: msg.candidate, sdpMLineIndex: msg.label };
        if (!pc.remoteDescription) this.remoteCandidates.push(c);
        else await this.op('addIceCandidate', pc.addIceCandidate(c));
        break;
      }
      case 'bye':
        // A bye can come twice (over the WebSocket and over HTTP when the other tab closed).
        if (this.state === 'peer-left' || this.state === 'waiting') break;
        await this.onPeerLeft();
        break;
      default:
        // remove-candidates and unknown types: ignored, as AppRTC's web client does.
        break;
    }
  }

  async op(name, promise) {
    try {
      return await promise;
    } catch (e) {
      throw new Error(`${name}: ${e.message}`);
    }
  }

  async addQueuedCandidates() {
    const list = this.remoteCandidates;
    this.remoteCandidates = [];
    for (const c of list) await this.op('addIceCandidate', this.pc.addIceCandidate(c));
  }

  /// §4.2: the initiator posts to the room server; the other sends over the WebSocket.
  sendSignal(obj) {
    const text = JSON.stringify(obj);
    this.sendChain = this.sendChain
      .then(() => (this.isInitiator
        ? postMessage(this.roomId, this.clientId, this.search, text)
        : this.signaling.send(text)))
      .catch((e) => this.emit('warning', `Failed to send a ${obj.type}: ${e.message}`));
    return this.sendChain;
  }

  async makeOffer({ iceRestart = false } = {}) {
    const pc = this.pc;
    if (!pc || pc.signalingState !== 'stable') return;
    const offer = await this.op('createOffer', pc.createOffer({ ...this.offerOptions, iceRestart }));
    await this.op('setLocalDescription', pc.setLocalDescription(offer));
    await this.sendSignal({ type: 'offer', sdp: pc.localDescription.sdp });
  }

  /// `bye`: the other person left. Become the initiator and post a fresh offer for the next one.
  async onPeerLeft(text = STATE_TEXT['peer-left']) {
    this.setState('peer-left', text);
    this.restartPendingSince = 0;
    clearTimeout(this.goneTimer);
    this.goneTimer = null;
    await this.stopScreenShare();
    clearTimeout(this.restartTimer);
    const old = this.pc;
    this.pc = null;
    this.dc = null;
    old?.close();
    this.emit('remotestream', null);
    this.emit('chatstate', false);
    this.isInitiator = true;
    // Let the other side's /leave reach the room server first, so our new offer is stored.
    await sleep(1000);
    if (this.ended) return;
    this.pcReady = Promise.resolve();
    await this.createPeerConnection();
    await this.makeOffer();
  }

  // --- recovery --------------------------------------------------------------------------

  onConnectionState(pc) {
    if (pc !== this.pc || this.ended) return;
    const s = pc.connectionState;
    if (s === 'connected') {
      clearTimeout(this.restartTimer);
      clearTimeout(this.goneTimer);
      this.goneTimer = null;
      this.restartTimer = null;
      this.restartPendingSince = 0;
      if (!this.connectedAt) this.connectedAt = performance.now();
      this.setState('connected');
    } else if (s === 'disconnected') {
      this.setState('reconnecting');
      clearTimeout(this.restartTimer);
      this.restartTimer = setTimeout(() => this.restartIce(), 3000);
    } else if (s === 'failed') {
      this.setState('reconnecting');
      this.restartIce();
    }
    if ((s === 'disconnected' || s === 'failed') && !this.isInitiator && !this.goneTimer) {
      // The initiator restarts ICE; if nothing comes back while our own signaling is fine, the
      // other person is gone without a bye (a tab killed mid-unload).
      this.goneTimer = setTimeout(() => {
        this.goneTimer = null;
        if (this.pc === pc && pc.connectionState !== 'connected' && this.signaling?.isOpen) this.peerGone();
      }, 20000);
    } else if (s === 'connecting' && this.state !== 'reconnecting') {
      this.setState('connecting');
    }
  }

  networkChanged() {
    if (this.pc && !this.ended && (this.state === 'connected' || this.state === 'reconnecting')) this.restartIce();
  }

  /// ICE restart. Only the initiator offers (AppRTC's roles); it retries until connected.
  restartIce() {
    clearTimeout(this.restartTimer);
    this.restartTimer = null;
    if (!this.pc || this.ended || !this.isInitiator) return Promise.resolve();
    const pc = this.pc;
    if (!this.restartPendingSince) this.restartPendingSince = Date.now();
    const done = this.enqueue(() => this.makeOffer({ iceRestart: true }));
    this.restartTimer = setTimeout(() => {
      if (this.pc !== pc || pc.connectionState === 'connected') return;
      // Restart offers went out for 10 s with our signaling up and no answer came back: the
      // other person is gone without a bye.
      if (this.restartPendingSince && Date.now() - this.restartPendingSince >= 10000 && this.signaling?.isOpen) {
        this.peerGone();
      } else {
        this.restartIce();
      }
    }, 5000);
    return done;
  }

  peerGone() {
    clearTimeout(this.restartTimer);
    this.restartTimer = null;
    this.enqueue(() => this.onPeerLeft('The other person seems to have left. Waiting for someone to join…'));
  }

  // --- media -----------------------------------------------------------------------------

  videoSender() {
    const t = this.pc?.getTransceivers().find((tr) => tr.receiver.track?.kind === 'video' && !tr.stopped);
    return t?.sender ?? null;
  }

  setEnabled(kind, enabled) {
    for (const t of this.localStream?.getTracks() ?? []) if (t.kind === kind) t.enabled = enabled;
  }

  /// Replaces the outgoing video with a screen (or the given track, e.g. a canvas capture).
  async startScreenShare(track = null) {
    const sender = this.videoSender();
    if (!sender) throw new Error('There is no video to replace in this call.');
    if (!track) {
      const s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
      track = s.getVideoTracks()[0];
    }
    if (!this.screenTrack) this.cameraTrack = sender.track;
    else this.screenTrack.stop();
    await sender.replaceTrack(track);
    this.screenTrack = track;
    track.addEventListener('ended', () => { if (this.screenTrack === track) this.stopScreenShare(); });
    this.emit('screenshare', track);
  }

  async stopScreenShare() {
    if (!this.screenTrack) return;
    const track = this.screenTrack;
    this.screenTrack = null;
    track.stop();
    const sender = this.videoSender();
    if (sender) await sender.replaceTrack(this.cameraTrack ?? null).catch(() => {});
    this.emit('screenshare', null);
  }

  /// A new camera or microphone track chosen in the device picker.
  async replaceLocalTrack(track) {
    const stream = this.localStream;
    if (!stream) return;
    for (const old of stream.getTracks().filter((t) => t.kind === track.kind)) {
      stream.removeTrack(old);
      old.stop();
    }
    stream.addTrack(track);
    if (!this.pc) return;
    if (track.kind === 'video' && this.screenTrack) {
      this.cameraTrack = track;
      return;
    }
    const tr = this.pc.getTransceivers().find((t) => t.receiver.track?.kind === track.kind);
    if (tr) await tr.sender.replaceTrack(track);
  }

  // --- chat ------------------------------------------------------------------------------

  get chatOpen() {
    return this.dc?.readyState === 'open';
  }

  sendChat(text) {
    if (!this.chatOpen) throw new Error('Chat is not connected yet.');
    this.dc.send(JSON.stringify({ type: 'chat', text }));
    this.emit('chat', { from: 'me', text });
  }

  // --- leaving ---------------------------------------------------------------------------

  /// §4.4: /leave first (so a re-offer from the other side is stored), then bye, close, DELETE.
  async hangup({ unloading = false } = {}) {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.goneTimer);
    window.removeEventListener('online', this.onNetworkChange);
    navigator.connection?.removeEventListener?.('change', this.onNetworkChange);
    if (this.clientId) {
      if (unloading) leaveRoomBeacon(this.roomId, this.clientId);
      else await leaveRoom(this.roomId, this.clientId).catch(() => {});
    }
    this.signaling?.close({ bye: !!this.clientId, unloading });
    this.screenTrack?.stop();
    this.pc?.close();
    this.pc = null;
    this.dc = null;
    if (!unloading) this.setState('ended');
  }
}
