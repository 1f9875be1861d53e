// Switchboard's web client: the landing page (no room) or the room page (join screen, call).
// The server renders `window.loadingParams` (AppRTC's template object) into the page.

import { Call, toStandardConstraints } from './call.js';
import { qrSvg } from './qr.js';
import { rows, summarize } from './stats.js';
import { $, isValidRoom, randomRoom, recentRooms, rememberRoom, ROOM_HINT } from './util.js';

const params = window.loadingParams || {};
const search = window.location.search;

/// For tests and debugging: the current call, the last stats summary.
const debug = { call: null, stats: null, media: null };
window.switchboard = debug;

function show(id) {
  for (const s of document.querySelectorAll('.screen')) s.hidden = s.id !== id;
}

let toastTimer = null;
function toast(text, ms = 5000) {
  const t = $('#toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, ms);
}

// --- landing --------------------------------------------------------------------------------

function landing() {
  show('landing');
  const input = $('#room-name');
  const join = $('#join-room');
  const hint = $('#room-hint');
  const validate = () => {
    const ok = isValidRoom(input.value);
    join.disabled = !ok;
    input.setAttribute('aria-invalid', String(!ok));
    hint.textContent = ok ? '' : ROOM_HINT;
    return ok;
  };
  input.value = randomRoom();
  validate();
  input.addEventListener('input', validate);
  $('#random-room').addEventListener('click', () => {
    input.value = randomRoom();
    validate();
    input.focus();
  });
  $('#room-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (!validate()) return;
    rememberRoom(input.value);
    window.location.href = `/r/${input.value}${search}`;
  });
  const recent = recentRooms();
  if (recent.length) {
    $('#recent').hidden = false;
    const list = $('#recent-list');
    for (const room of recent) {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = `/r/${room}${search}`;
      a.textContent = room;
      li.append(a);
      list.append(li);
    }
  }
  input.focus();
  input.select();
}

// --- media ----------------------------------------------------------------------------------

const MESSAGES = {
  denied: 'Camera and microphone access was denied. To be seen and heard, allow them in your browser’s site settings and reload the page. You can still join to see and hear the other person.',
  none: 'No camera or microphone was found. You can still join to see and hear the other person.',
  noCamera: 'No camera was found: the other person will hear you but not see you.',
  noMic: 'No microphone was found: the other person will see you but not hear you.',
  busy: 'Your camera or microphone is being used by another application. Close it and reload the page.',
  insecure: 'This page is not served over HTTPS, so the browser does not allow the camera or microphone here.',
};

const wanted = () => {
  const mc = params.mediaConstraints || { audio: true, video: true };
  return { audio: toStandardConstraints(mc.audio), video: toStandardConstraints(mc.video) };
};

/// getUserMedia with AppRTC's fallbacks, and a human message when something is missing.
async function getMedia(constraints = wanted()) {
  if (!constraints.audio && !constraints.video) return { stream: null, message: null };
  if (!navigator.mediaDevices?.getUserMedia) return { stream: null, message: MESSAGES.insecure };
  try {
    return { stream: await navigator.mediaDevices.getUserMedia(constraints), message: null };
  } catch (e) {
    if (e.name === 'NotAllowedError' || e.name === 'SecurityError') return { stream: null, message: MESSAGES.denied };
    if (e.name === 'NotReadableError' || e.name === 'AbortError') return { stream: null, message: MESSAGES.busy };
    if (e.name === 'NotFoundError' || e.name === 'OverconstrainedError') {
      const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
      const hasCam = devices.some((d) => d.kind === 'videoinput');
      const hasMic = devices.some((d) => d.kind === 'audioinput');
      const retry = {
        audio: hasMic && constraints.audio ? constraints.audio : false,
        video: hasCam && constraints.video ? (e.name === 'OverconstrainedError' ? true : constraints.video) : false,
      };
      if (!retry.audio && !retry.video) return { stream: null, message: MESSAGES.none };
      try {
        const stream = await navigator.mediaDevices.getUserMedia(retry);
        let message = null;
        if (constraints.video && !retry.video) message = MESSAGES.noCamera;
        else if (constraints.audio && !retry.audio) message = MESSAGES.noMic;
        else if (e.name === 'OverconstrainedError') message = 'Your camera cannot send the requested resolution; using its default.';
        return { stream, message };
      } catch (e2) {
        return { stream: null, message: `Failed to get access to local media. Error name was ${e2.name}. Continuing without sending a stream.` };
      }
    }
    return { stream: null, message: `Failed to get access to local media. Error name was ${e.name}. Continuing without sending a stream.` };
  }
}

async function fillDevicePickers(stream) {
  const devices = await navigator.mediaDevices?.enumerateDevices?.().catch(() => []) ?? [];
  const fill = (select, kind, current) => {
    select.replaceChildren();
    const list = devices.filter((d) => d.kind === kind);
    list.forEach((d, i) => {
      const o = document.createElement('option');
      o.value = d.deviceId;
      o.textContent = d.label || `${kind === 'videoinput' ? 'Camera' : kind === 'audioinput' ? 'Microphone' : 'Speaker'} ${i + 1}`;
      o.selected = d.deviceId === current;
      select.append(o);
    });
    select.disabled = list.length === 0;
    if (!list.length) {
      const o = document.createElement('option');
      o.textContent = 'None found';
      select.append(o);
    }
  };
  const cur = (kind) => stream?.getTracks().find((t) => t.kind === kind)?.getSettings().deviceId;
  fill($('#camera-select'), 'videoinput', cur('video'));
  fill($('#mic-select'), 'audioinput', cur('audio'));
  if ('setSinkId' in HTMLMediaElement.prototype) {
    $('#speaker-label').hidden = false;
    fill($('#speaker-select'), 'audiooutput', 'default');
  }
}

// --- room page ------------------------------------------------------------------------------

let localStream = null;
let call = null;

function setPreview(stream, message) {
  localStream = stream;
  debug.media = stream;
  $('#preview').srcObject = stream;
  $('#preview-empty').hidden = !!stream?.getVideoTracks().length;
  const m = $('#media-message');
  m.hidden = !message;
  m.textContent = message || '';
}

async function switchDevice(kind, deviceId) {
  const base = wanted()[kind === 'videoinput' ? 'video' : 'audio'];
  const c = typeof base === 'object' ? { ...base, deviceId: { exact: deviceId } } : { deviceId: { exact: deviceId } };
  try {
    const s = await navigator.mediaDevices.getUserMedia(kind === 'videoinput' ? { video: c } : { audio: c });
    const track = s.getTracks()[0];
    if (!localStream) {
      localStream = new MediaStream();
      setPreview(localStream, null);
    }
    if (call) await call.replaceLocalTrack(track);
    else {
      for (const t of localStream.getTracks().filter((t) => t.kind === track.kind)) {
        localStream.removeTrack(t);
        t.stop();
      }
      localStream.addTrack(track);
    }
    $('#preview').srcObject = localStream;
    $('#preview-empty').hidden = !!localStream.getVideoTracks().length;
  } catch (e) {
    toast(`Could not switch device: ${e.name}`);
  }
}

async function roomPage() {
  const room = params.roomId;
  show('join-screen');
  // A 9-digit (random) name is not shown, as AppRTC does.
  $('#join-title').textContent = /^\d{9}$/.test(room) ? 'Ready to join?' : `Ready to join “${room}”?`;
  const joinBtn = $('#join-button');
  joinBtn.disabled = true;
  joinBtn.textContent = 'Starting camera…';
  const { stream, message } = await getMedia();
  setPreview(stream, message);
  joinBtn.disabled = false;
  joinBtn.textContent = 'Join call';
  await fillDevicePickers(stream);
  $('#camera-select').addEventListener('change', (e) => switchDevice('videoinput', e.target.value));
  $('#mic-select').addEventListener('change', (e) => switchDevice('audioinput', e.target.value));
  $('#speaker-select').addEventListener('change', (e) => {
    $('#remote-video').setSinkId?.(e.target.value).catch((err) => toast(`Could not switch speaker: ${err.name}`));
  });
  joinBtn.addEventListener('click', () => {
    rememberRoom(room);
    startCall(room);
  }, { once: true });
  if (params.bypassJoinConfirmation === true || params.bypassJoinConfirmation === 'true') joinBtn.click();
  else joinBtn.focus();
}

function setPressed(btn, pressed, label) {
  btn.setAttribute('aria-pressed', String(pressed));
  btn.querySelector('.label').textContent = label;
}

function togglePanel(btn, panel, open = panel.hidden) {
  panel.hidden = !open;
  btn.setAttribute('aria-expanded', String(open));
  if (panel.classList.contains('panel')) {
    $('#call').classList.toggle('panel-open', !$('#chat-panel').hidden || !$('#stats-panel').hidden);
  }
  return open;
}

let uiWired = false;
let statsTimer = null;
let inviteAuto = false;

function startCall(room) {
  show('call');
  const local = $('#local-video');
  const remote = $('#remote-video');
  local.srcObject = localStream;
  local.classList.add('alone');
  local.hidden = !localStream?.getVideoTracks().length;
  remote.srcObject = null;
  const speaker = $('#speaker-select').value;
  if (speaker && remote.setSinkId) remote.setSinkId(speaker).catch(() => {});
  $('#chat-log').replaceChildren();
  $('#net-banner').hidden = true;
  $('#btn-mic').hidden = !localStream?.getAudioTracks().length;
  $('#btn-cam').hidden = !localStream?.getVideoTracks().length;
  $('#btn-screen').hidden = !navigator.mediaDevices?.getDisplayMedia;
  setPressed($('#btn-mic'), false, 'Mute');
  setPressed($('#btn-cam'), false, 'Camera off');
  setPressed($('#btn-screen'), false, 'Share screen');

  call = new Call(params, { search, localStream });
  debug.call = call;
  const status = $('#status');
  call.addEventListener('state', (e) => {
    const { state, text } = e.detail;
    status.dataset.state = state;
    status.textContent = text;
    if (state === 'waiting' || state === 'peer-left') {
      if (state === 'peer-left') {
        remote.srcObject = null;
        local.classList.add('alone');
      }
      if ($('#invite').hidden) { inviteAuto = true; togglePanel($('#btn-invite'), $('#invite'), true); }
    } else if (state === 'connected' && inviteAuto) {
      inviteAuto = false;
      togglePanel($('#btn-invite'), $('#invite'), false);
    } else if (state === 'full') {
      endCall();
      show('full');
    }
  });
  call.addEventListener('joined', (e) => {
    const link = e.detail.roomLink;
    $('#room-link').value = link;
    try {
      $('#qr').innerHTML = qrSvg(link);
    } catch {
      $('#qr').hidden = true;
    }
    try {
      if (new URL(link).origin === window.location.origin) window.history.replaceState(null, '', link);
    } catch {
      // A room link on another origin (a proxy without --public-url): keep the address as it is.
    }
  });
  call.addEventListener('remotestream', (e) => {
    remote.srcObject = e.detail;
    if (e.detail) local.classList.remove('alone');
    remote.play?.().catch(() => {});
  });
  call.addEventListener('chatstate', (e) => {
    $('#chat-input').disabled = !e.detail;
    $('#chat-send').disabled = !e.detail;
    $('#chat-input').placeholder = e.detail ? 'Type a message' : 'Connecting…';
  });
  call.addEventListener('chat', (e) => {
    const li = document.createElement('li');
    li.className = e.detail.from;
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = e.detail.from === 'me' ? 'You' : 'Them';
    li.append(who, document.createTextNode(e.detail.text));
    $('#chat-log').append(li);
    li.scrollIntoView({ block: 'nearest' });
    if (e.detail.from === 'them' && $('#chat-panel').hidden) {
      const b = $('#chat-badge');
      b.textContent = String((Number(b.textContent) || 0) + 1);
      b.hidden = false;
    }
  });
  call.addEventListener('warning', (e) => toast(e.detail));
  call.addEventListener('error', (e) => {
    endCall();
    $('#ended-title').textContent = e.detail.unreachable ? 'Cannot reach the server' : 'The call could not start';
    $('#ended-text').textContent = e.detail.text;
    $('#rejoin').textContent = 'Try again';
    show('ended');
  });
  debug.signalingLog = [];
  call.addEventListener('signaling', (e) => {
    debug.signalingLog.push(e.detail);
    const b = $('#net-banner');
    if (e.detail === 'reconnecting') {
      b.textContent = 'Lost the connection to the server — reconnecting…';
      b.dataset.state = 'reconnecting';
      b.hidden = false;
    } else if (e.detail === 'lost') {
      b.textContent = 'Could not reconnect to the server. The call goes on while the network allows; hang up and rejoin if it stops.';
      b.dataset.state = 'lost';
      b.hidden = false;
    } else if (e.detail === 'open') {
      b.hidden = true;
      b.dataset.state = 'open';
    }
  });
  call.addEventListener('screenshare', (e) => {
    const track = e.detail;
    local.srcObject = track ? new MediaStream([track]) : localStream;
    local.classList.toggle('screen', !!track);
    setPressed($('#btn-screen'), !!track, track ? 'Stop sharing' : 'Share screen');
  });

  wireControls();
  clearInterval(statsTimer);
  debug.stats = null;
  statsTimer = setInterval(updateStats, 1000);
  call.start(room);
}

async function updateStats() {
  if (!call?.pc) return;
  try {
    const s = await summarize(call.pc, debug.stats);
    debug.stats = s;
    if ($('#stats-panel').hidden) return;
    const dl = $('#stats');
    dl.replaceChildren();
    for (const [label, value, id] of rows(s)) {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = value;
      dd.dataset.stat = id;
      dl.append(dt, dd);
    }
  } catch {
    // The connection closed between ticks.
  }
}

function endCall() {
  clearInterval(statsTimer);
  for (const t of localStream?.getTracks() ?? []) t.stop();
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
}

async function hangup() {
  if (!call || call.ended) return;
  await call.hangup();
  endCall();
  $('#ended-title').textContent = 'You have left the call.';
  $('#ended-text').textContent = '';
  $('#rejoin').textContent = 'Rejoin';
  show('ended');
  $('#rejoin').focus();
}

async function rejoin() {
  $('#rejoin').disabled = true;
  const { stream, message } = await getMedia();
  setPreview(stream, message);
  if (message) toast(message);
  $('#rejoin').disabled = false;
  startCall(params.roomId);
}

function toggleMic() {
  const btn = $('#btn-mic');
  const muted = btn.getAttribute('aria-pressed') !== 'true';
  call?.setEnabled('audio', !muted);
  setPressed(btn, muted, muted ? 'Unmute' : 'Mute');
}

function toggleCam() {
  const btn = $('#btn-cam');
  const off = btn.getAttribute('aria-pressed') !== 'true';
  call?.setEnabled('video', !off);
  setPressed(btn, off, off ? 'Camera on' : 'Camera off');
}

async function toggleScreen() {
  if (!call) return;
  try {
    if (call.screenTrack) await call.stopScreenShare();
    else await call.startScreenShare();
  } catch (e) {
    toast(e.name === 'NotAllowedError' ? 'Screen sharing was cancelled.' : `Cannot share the screen: ${e.message}`);
  }
}

function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else $('#call').requestFullscreen?.().catch((e) => toast(`Full screen is not available: ${e.message}`));
}

function toggleChat() {
  if (togglePanel($('#btn-chat'), $('#chat-panel'))) {
    togglePanel($('#btn-stats'), $('#stats-panel'), false);
    $('#chat-badge').hidden = true;
    $('#chat-badge').textContent = '';
    $('#chat-input').focus();
  }
}

function toggleStats() {
  if (togglePanel($('#btn-stats'), $('#stats-panel'))) {
    togglePanel($('#btn-chat'), $('#chat-panel'), false);
    updateStats();
  }
}

function wireControls() {
  if (uiWired) return;
  uiWired = true;
  $('#btn-mic').addEventListener('click', toggleMic);
  $('#btn-cam').addEventListener('click', toggleCam);
  $('#btn-screen').addEventListener('click', toggleScreen);
  $('#btn-fullscreen').addEventListener('click', toggleFullscreen);
  $('#btn-invite').addEventListener('click', () => { inviteAuto = false; togglePanel($('#btn-invite'), $('#invite')); });
  $('#btn-chat').addEventListener('click', toggleChat);
  $('#btn-stats').addEventListener('click', toggleStats);
  $('#btn-hangup').addEventListener('click', hangup);
  $('#rejoin').addEventListener('click', rejoin);
  $('#copy-link').addEventListener('click', async () => {
    const link = $('#room-link').value;
    try {
      await navigator.clipboard.writeText(link);
      toast('Link copied.');
    } catch {
      $('#room-link').select();
      toast('Press Ctrl+C (or ⌘C) to copy the selected link.');
    }
  });
  $('#chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('#chat-input');
    const text = input.value.trim();
    if (!text) return;
    try {
      call.sendChat(text);
      input.value = '';
    } catch (err) {
      toast(err.message);
    }
  });
  document.addEventListener('keydown', (e) => {
    if ($('#call').hidden || e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = e.target?.tagName;
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || tag === 'BUTTON' && e.key === ' ') return;
    const actions = { m: toggleMic, ' ': toggleMic, c: toggleCam, s: toggleScreen, f: toggleFullscreen, t: toggleChat, i: toggleStats, q: hangup, l: () => $('#btn-invite').click() };
    const act = actions[e.key.toLowerCase()];
    if (act) {
      e.preventDefault();
      act();
    }
  });
}

window.addEventListener('pagehide', () => {
  if (call && !call.ended) call.hangup({ unloading: true });
});

if (params.roomId) roomPage();
else landing();
