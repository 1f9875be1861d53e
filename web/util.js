// Small helpers shared by the client modules.

export const $ = (sel, root = document) => root.querySelector(sel);

/// AppRTC's rule: at least 5 characters from [A-Za-z0-9_-].
export const ROOM_RE = /^[A-Za-z0-9_-]{5,}$/;
export const ROOM_HINT =
  'Room name must be 5 or more characters and include only letters, numbers, underscore and hyphen.';

export function isValidRoom(name) {
  return ROOM_RE.test(name);
}

/// A random 9-digit room name, as AppRTC generates.
export function randomRoom() {
  const digits = new Uint32Array(9);
  crypto.getRandomValues(digits);
  return Array.from(digits, (d) => String(d % 10)).join('');
}

const RECENT_KEY = 'recentRooms';

export function recentRooms() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
    return Array.isArray(list) ? list.filter((r) => typeof r === 'string' && isValidRoom(r)) : [];
  } catch {
    return [];
  }
}

/// Most recent first, no duplicates, at most 10 (AppRTC's `recentRooms`).
export function rememberRoom(room) {
  const list = [room, ...recentRooms().filter((r) => r !== room)].slice(0, 10);
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify(list));
  } catch {
    // Private mode or storage disabled: the list is a convenience only.
  }
}

/// `789 bps`, `78.9 kbps`, `7.89 Mbps`; `- bps` when unknown.
export function formatBitrate(bps) {
  if (!Number.isFinite(bps) || bps < 0) return '- bps';
  if (bps < 1000) return `${Math.round(bps)} bps`;
  const units = ['kbps', 'Mbps', 'Gbps'];
  let v = bps / 1000;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toPrecision(3)} ${units[u]}`;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/// fetch with a timeout; rejects with a TypeError-like error on network failure or timeout.
export async function fetchWithTimeout(url, options = {}, ms = 10000) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), ms);
  try {
    return await fetch(url, { ...options, signal: ctl.signal });
  } finally {
    clearTimeout(timer);
  }
}
