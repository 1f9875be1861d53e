// The stats panel: a summary of RTCPeerConnection.getStats() once a second.

import { formatBitrate } from './util.js';

/// Reads the numbers the panel shows. `prev` is the previous summary (for bitrates).
export async function summarize(pc, prev = null) {
  const report = await pc.getStats();
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  const now = performance.now();
  const out = {
    at: now,
    rttMs: null,
    bytesIn: 0,
    bytesOut: 0,
    bitrateIn: null,
    bitrateOut: null,
    localType: null,
    remoteType: null,
    localProtocol: null,
    relayProtocol: null,
    video: { in: null, out: null },
    audio: { in: null, out: null },
  };
  let pair = null;
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId) || pair;
  });
  if (!pair) {
    report.forEach((s) => {
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
    });
  }
  if (pair) {
    const local = byId.get(pair.localCandidateId);
    const remote = byId.get(pair.remoteCandidateId);
    out.localType = local?.candidateType ?? null;
    out.remoteType = remote?.candidateType ?? null;
    out.localProtocol = local?.protocol ?? null;
    out.relayProtocol = local?.relayProtocol ?? null;
    if (pair.currentRoundTripTime != null) out.rttMs = pair.currentRoundTripTime * 1000;
    out.bytesIn = pair.bytesReceived ?? 0;
    out.bytesOut = pair.bytesSent ?? 0;
  }
  const codec = (s) => {
    const c = s.codecId && byId.get(s.codecId);
    return c ? c.mimeType.replace(/^(audio|video)\//, '') : null;
  };
  report.forEach((s) => {
    if (s.type !== 'inbound-rtp' && s.type !== 'outbound-rtp') return;
    const dir = s.type === 'inbound-rtp' ? 'in' : 'out';
    const kind = s.kind;
    if (kind !== 'audio' && kind !== 'video') return;
    const cur = out[kind][dir];
    const bytes = dir === 'in' ? s.bytesReceived : s.bytesSent;
    // With several outbound streams (simulcast) keep the busiest.
    if (cur && cur.bytes >= (bytes ?? 0)) return;
    out[kind][dir] = {
      codec: codec(s),
      bytes: bytes ?? 0,
      packets: (dir === 'in' ? s.packetsReceived : s.packetsSent) ?? 0,
      width: s.frameWidth ?? null,
      height: s.frameHeight ?? null,
      fps: s.framesPerSecond ?? null,
      framesDecoded: s.framesDecoded ?? null,
      totalSamplesReceived: s.totalSamplesReceived ?? null,
      audioLevel: s.audioLevel ?? null,
    };
  });
  if (prev && now > prev.at) {
    const dt = (now - prev.at) / 1000;
    out.bitrateIn = Math.max(0, ((out.bytesIn - prev.bytesIn) * 8) / dt);
    out.bitrateOut = Math.max(0, ((out.bytesOut - prev.bytesOut) * 8) / dt);
  }
  return out;
}

const TYPE_WORDS = { host: 'host (direct)', srflx: 'srflx (through NAT)', prflx: 'prflx (peer reflexive)', relay: 'relay (through TURN)' };

function media(m) {
  if (!m) return '—';
  const parts = [m.codec ?? '?'];
  if (m.width && m.height) parts.push(`${m.width}×${m.height}`);
  if (m.fps != null) parts.push(`${Math.round(m.fps)} fps`);
  return parts.join(', ');
}

/// Rows for the panel: [label, value, test id].
export function rows(s) {
  return [
    ['Round-trip time', s.rttMs == null ? '—' : `${Math.round(s.rttMs)} ms`, 'rtt'],
    ['Bitrate in', formatBitrate(s.bitrateIn ?? NaN), 'bitrate-in'],
    ['Bitrate out', formatBitrate(s.bitrateOut ?? NaN), 'bitrate-out'],
    ['Video in', media(s.video.in), 'video-in'],
    ['Video out', media(s.video.out), 'video-out'],
    ['Audio in', s.audio.in?.codec ?? '—', 'audio-in'],
    ['Audio out', s.audio.out?.codec ?? '—', 'audio-out'],
    [
      'Connection',
      s.localType
        ? `${TYPE_WORDS[s.localType] ?? s.localType}${s.relayProtocol ? ` over ${s.relayProtocol.toUpperCase()}` : ''} ↔ ${s.remoteType}`
        : '—',
      'candidate-type',
    ],
  ];
}
