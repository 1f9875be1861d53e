// The web client end to end: real headless Chromium (fake camera and microphone) against the
// real `switchboard` binary. Every wait is bounded.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { join } from 'node:path';
import jsQR from 'jsqr';
import { ARTIFACTS, launch, probe, startServer } from './harness.js';

const STEP = 20000; // bound for one expected UI or media event

let srv;
let browser;

before(async () => {
  srv = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

/// Diagnostics on failure: the pages' console and the server's log.
function dump(t, extra = '') {
  return `${extra}\n--- browser console ---\n${browser.logs.slice(-80).join('\n')}\n--- server ---\n${srv.logs().slice(-4000)}`;
}

async function shot(page, name) {
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path });
  return path;
}

async function joinRoom(page, url) {
  await page.goto(url);
  await page.locator('#join-button:not([disabled])').waitFor({ timeout: STEP });
  await page.click('#join-button');
}

async function waitState(page, state, timeout = STEP) {
  await page.waitForFunction((s) => document.querySelector('#status')?.dataset.state === s, state, { timeout });
}

/// Polls until video frames are decoded, the remote <video> plays and audio arrives.
async function waitMediaFlowing(page, label, timeout = STEP) {
  const deadline = Date.now() + timeout;
  let last = null;
  let firstFrames = null;
  while (Date.now() < deadline) {
    last = await probe(page);
    if (last && last.framesDecoded > 0 && last.videoPlaying && last.audioPackets > 0 && last.audioSamples > 0) {
      // And it keeps flowing.
      if (firstFrames === null) firstFrames = last.framesDecoded;
      else if (last.framesDecoded > firstFrames) return last;
    }
    await page.waitForTimeout(300);
  }
  throw new Error(`${label}: media not flowing within ${timeout} ms; last probe ${JSON.stringify(last)}`);
}

async function sendChat(from, to, text) {
  if (await from.locator('#chat-panel').isHidden()) await from.click('#btn-chat');
  await from.locator('#chat-input:not([disabled])').waitFor({ timeout: STEP });
  await from.fill('#chat-input', text);
  await from.press('#chat-input', 'Enter');
  await to.locator('#chat-log li.them', { hasText: text }).waitFor({ state: 'attached', timeout: STEP });
}

function uniqueRoom(prefix) {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

test('landing page: room name rules, random name, recent rooms', async () => {
  const page = await browser.page({ name: 'landing' });
  try {
    await page.goto(`${srv.base}/`);
    await page.locator('#landing').waitFor({ timeout: STEP });
    const generated = await page.inputValue('#room-name');
    assert.match(generated, /^\d{9}$/, 'the pre-filled room is 9 random digits');

    await page.fill('#room-name', 'abc');
    assert.equal(await page.isDisabled('#join-room'), true, 'JOIN is disabled for a 3-character name');
    assert.match(await page.textContent('#room-hint'), /5 or more characters/);
    await page.fill('#room-name', 'bad name!');
    assert.equal(await page.isDisabled('#join-room'), true, 'JOIN is disabled for a name with spaces');
    await page.click('#random-room');
    assert.match(await page.inputValue('#room-name'), /^\d{9}$/);
    assert.notEqual(await page.inputValue('#room-name'), generated);

    const room = uniqueRoom('landing');
    await page.fill('#room-name', room);
    await page.press('#room-name', 'Enter');
    await page.waitForURL(`${srv.base}/r/${room}`, { timeout: STEP });
    await page.locator('#join-screen').waitFor({ timeout: STEP });
    await page.goto(`${srv.base}/`);
    await page.locator('#recent-list a', { hasText: room }).waitFor({ timeout: STEP });
    await shot(page, 'landing.png');
  } finally {
    await page.context().close();
  }
});

test('two people call: video and audio both ways, chat, stats, QR, screen share, room full, WebSocket cut, hang up, rejoin', async (t) => {
  const room = uniqueRoom('call');
  const url = `${srv.base}/r/${room}`;
  const a = await browser.page({ name: 'A' });
  const b = await browser.page({ name: 'B' });
  // B's WebSocket goes through a proxy the test can cut.
  let cutB = null;
  let bSockets = 0;
  let blockB = false;
  await b.routeWebSocket(/\/ws$/, (ws) => {
    bSockets++;
    if (blockB) {
      ws.close().catch(() => {});
      return;
    }
    const server = ws.connectToServer();
    cutB = async () => {
      await server.close().catch(() => {});
      await ws.close().catch(() => {});
    };
  });
  try {
    await joinRoom(a, url);
    await waitState(a, 'waiting');
    assert.match(await a.textContent('#status'), /Waiting for the other person/);
    // The invite panel: room link and a QR code that decodes to it.
    await a.locator('#invite').waitFor({ timeout: STEP });
    const link = await a.inputValue('#room-link');
    assert.equal(link, url);
    const qr = await a.evaluate(async () => {
      const svg = document.querySelector('#qr svg');
      const img = new Image();
      img.src = `data:image/svg+xml;base64,${btoa(svg.outerHTML)}`;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = c.height = 400;
      const g = c.getContext('2d');
      g.imageSmoothingEnabled = false;
      g.drawImage(img, 0, 0, 400, 400);
      return Array.from(g.getImageData(0, 0, 400, 400).data);
    });
    const decoded = jsQR(Uint8ClampedArray.from(qr), 400, 400);
    assert.equal(decoded?.data, url, 'the QR code decodes to the room link');

    await joinRoom(b, url);
    await waitState(a, 'connected');
    await waitState(b, 'connected');
    assert.equal(await a.textContent('#status'), 'Connected');
    const pa = await waitMediaFlowing(a, 'A receives');
    const pb = await waitMediaFlowing(b, 'B receives');
    t.diagnostic(`A: ${JSON.stringify(pa)} B: ${JSON.stringify(pb)}`);
    assert.ok(['host', 'srflx', 'prflx', 'relay'].includes(pa.localType), `A's selected pair: ${pa.localType}`);

    await sendChat(a, b, 'hello from A');
    await sendChat(b, a, 'hi A, B here');

    // The stats panel shows real numbers.
    await b.click('#btn-stats');
    await b.waitForFunction(() => /\d+ ms/.test(document.querySelector('[data-stat="rtt"]')?.textContent ?? ''), null, { timeout: STEP });
    const stats = await b.evaluate(() => Object.fromEntries(
      [...document.querySelectorAll('#stats dd')].map((d) => [d.dataset.stat, d.textContent])));
    t.diagnostic(`stats panel: ${JSON.stringify(stats)}`);
    assert.match(stats['bitrate-in'], /[kM]bps/);
    assert.match(stats['bitrate-out'], /[kM]bps/);
    assert.match(stats['video-in'], /VP8|VP9|H264|AV1/);
    assert.match(stats['video-in'], /\d+×\d+, \d+ fps/);
    assert.match(stats['audio-in'], /opus/i);
    assert.match(stats['candidate-type'], /^(host|srflx|prflx|relay)/);
    await shot(b, 'call-stats.png');
    await b.click('#btn-chat');
    await shot(b, 'call.png');
    await b.click('#btn-chat');

    // Screen share replaces the outgoing video track, and stopping puts the camera back.
    const before = await a.evaluate(() => window.switchboard.call.videoSender().track.id);
    let shareHow = 'getDisplayMedia';
    await a.click('#btn-screen');
    const shared = await a.waitForFunction(() => window.switchboard.call.screenTrack !== null || document.querySelector('#toast:not([hidden])')?.textContent, null, { timeout: STEP });
    const sharedValue = await shared.jsonValue();
    if (sharedValue !== true) {
      // getDisplayMedia refused headless: swap in a canvas-captured track through the same path.
      shareHow = `canvas (getDisplayMedia said: ${sharedValue})`;
      await a.evaluate(async () => {
        const c = document.createElement('canvas');
        c.width = 640;
        c.height = 360;
        const g = c.getContext('2d');
        let n = 0;
        setInterval(() => { g.fillStyle = `hsl(${n++ % 360} 80% 50%)`; g.fillRect(0, 0, 640, 360); }, 50);
        await window.switchboard.call.startScreenShare(c.captureStream(20).getVideoTracks()[0]);
      });
    }
    t.diagnostic(`screen share via ${shareHow}`);
    const during = await a.evaluate(() => {
      const s = window.switchboard.call.videoSender().track;
      return { id: s.id, label: s.label, surface: s.getSettings().displaySurface ?? null };
    });
    assert.notEqual(during.id, before, 'the outgoing video track was replaced');
    assert.equal(await a.getAttribute('#btn-screen', 'aria-pressed'), 'true');
    const framesBefore = (await probe(b)).framesDecoded;
    await b.waitForFunction(async (n) => {
      const r = await window.switchboard.call.pc.getStats();
      let f = 0;
      r.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') f = s.framesDecoded; });
      return f > n + 10;
    }, framesBefore, { timeout: STEP });
    await a.click('#btn-screen');
    await a.waitForFunction((id) => window.switchboard.call.videoSender().track?.id === id, before, { timeout: STEP });
    assert.equal(await a.getAttribute('#btn-screen', 'aria-pressed'), 'false');

    // A third person gets the room-full page.
    const c = await browser.page({ name: 'C' });
    try {
      await c.goto(url);
      await c.getByText('Sorry, this room is full.').waitFor({ timeout: STEP });
      assert.equal(await c.locator('#join-button').count(), 0, 'no join button on the full page');
    } finally {
      await c.context().close();
    }

    // ICE restart by the initiator: new ICE credentials, still connected, media still flowing.
    const ufrag = () => /a=ice-ufrag:(\S+)/.exec(window.switchboard.call.pc.localDescription.sdp)[1];
    const ufragBefore = await a.evaluate(ufrag);
    await a.evaluate(() => window.switchboard.call.restartIce());
    await a.waitForFunction((u) => /a=ice-ufrag:(\S+)/.exec(window.switchboard.call.pc.currentLocalDescription?.sdp ?? '')?.[1] !== u
      && window.switchboard.call.pc.signalingState === 'stable', ufragBefore, { timeout: STEP });
    await waitState(a, 'connected');
    await waitMediaFlowing(b, 'B after ICE restart');

    // Cut B's WebSocket mid-call: it says so, reconnects within the window, and the call goes on.
    assert.equal(bSockets, 1);
    blockB = true; // the server stays unreachable for B for a moment
    await cutB();
    await b.locator('#net-banner', { hasText: 'Lost the connection to the server — reconnecting' }).waitFor({ timeout: STEP });
    await b.waitForTimeout(1500);
    assert.ok(bSockets >= 2, 'B keeps trying');
    blockB = false;
    await b.waitForFunction(() => window.switchboard.signalingLog.at(-1) === 'open', null, { timeout: STEP });
    assert.equal((await b.evaluate(() => window.switchboard.signalingLog))[0], 'reconnecting');
    assert.equal(await b.isHidden('#net-banner'), true);
    await sendChat(a, b, 'still there after the cut?');
    await waitMediaFlowing(b, 'B after the WebSocket cut');

    // A hangs up: B is told (the bye travels over B's re-registered WebSocket).
    await a.click('#btn-hangup');
    await a.locator('#ended').waitFor({ timeout: STEP });
    assert.match(await a.textContent('#ended-title'), /left the call/);
    await waitState(b, 'peer-left');
    assert.match(await b.textContent('#status'), /The other person left/);

    // A rejoins: B (now the initiator) left a fresh offer in the room; they connect again.
    await a.click('#rejoin');
    await waitState(a, 'connected');
    await waitState(b, 'connected');
    await waitMediaFlowing(a, 'A after rejoin');
    await waitMediaFlowing(b, 'B after rejoin');
    await sendChat(b, a, 'welcome back');
  } catch (e) {
    await shot(a, 'failure-A.png').catch(() => {});
    await shot(b, 'failure-B.png').catch(() => {});
    throw new Error(`${e.stack}${dump(t)}`, { cause: e });
  } finally {
    await a.context().close();
    await b.context().close();
  }
});

test('closing the tab leaves the room cleanly (sendBeacon to /leave)', async (t) => {
  const room = uniqueRoom('beacon');
  const url = `${srv.base}/r/${room}`;
  const a = await browser.page({ name: 'A' });
  const b = await browser.page({ name: 'B' });
  try {
    await joinRoom(a, url);
    await joinRoom(b, url);
    await waitState(a, 'connected');
    await waitState(b, 'connected');
    const closedAt = Date.now();
    await b.close({ runBeforeUnload: true });
    // Normally B's bye arrives at once; if the closing tab lost it, A notices the silence (ICE
    // restarts unanswered for 10 s) and says so. Either way A is told within the bound.
    await waitState(a, 'peer-left', 40000);
    const how = await a.textContent('#status');
    t.diagnostic(`A told after ${Date.now() - closedAt} ms: ${how}`);
    // The seat was freed at once (not after the reconnect window): a newcomer gets in and connects.
    const c = await browser.page({ name: 'C' });
    try {
      await joinRoom(c, url);
      await waitState(c, 'connected');
      await waitState(a, 'connected');
      await waitMediaFlowing(c, 'C after B closed the tab');
    } finally {
      await c.context().close();
    }
  } finally {
    await a.context().close();
    await b.context().close();
  }
});

test('?video=false on one side, ?hd=true on the other: receive-only video works, HD is asked for', async () => {
  const room = uniqueRoom('params');
  const a = await browser.page({ name: 'noVideo' });
  const b = await browser.page({ name: 'hd' });
  try {
    await joinRoom(a, `${srv.base}/r/${room}?video=false`);
    await joinRoom(b, `${srv.base}/r/${room}?hd=true`);
    await waitState(a, 'connected');
    await waitState(b, 'connected');
    const aTracks = await a.evaluate(() => window.switchboard.media.getTracks().map((t) => t.kind));
    assert.deepEqual(aTracks, ['audio'], 'video=false: no camera track is taken');
    assert.equal(await a.isHidden('#btn-cam'), true, 'no camera button without a camera track');
    const hd = await b.evaluate(() => window.switchboard.media.getVideoTracks()[0].getSettings());
    assert.ok(hd.width >= 1280 && hd.height >= 720, `hd=true asks for at least 1280x720: ${JSON.stringify(hd)}`);
    await waitMediaFlowing(a, 'the video=false side still receives video and audio');
    const bIn = await probe(b);
    assert.equal(bIn.framesDecoded, 0, 'the video=false side sends no video');
  } finally {
    await a.context().close();
    await b.context().close();
  }
});

test('server unreachable: the page says so in words', async () => {
  const own = await startServer();
  const page = await browser.page({ name: 'offline' });
  try {
    await page.goto(`${own.base}/r/${uniqueRoom('gone')}`);
    await page.locator('#join-button:not([disabled])').waitFor({ timeout: STEP });
    await own.stop();
    await page.click('#join-button');
    await page.locator('#ended').waitFor({ timeout: STEP });
    assert.equal(await page.textContent('#ended-title'), 'Cannot reach the server');
    assert.match(await page.textContent('#ended-text'), /Cannot reach the Switchboard server/);
  } finally {
    await page.context().close();
    await own.stop();
  }
});

test('phone-sized screen: the call fits and the controls are labelled buttons', async () => {
  const room = uniqueRoom('phone');
  const page = await browser.page({ name: 'phone', viewport: { width: 390, height: 844 } });
  try {
    await joinRoom(page, `${srv.base}/r/${room}`);
    await waitState(page, 'waiting');
    const controls = await page.evaluate(() => [...document.querySelectorAll('#controls button')]
      .filter((b) => !b.hidden)
      .map((b) => { const r = b.getBoundingClientRect(); return { label: b.textContent.trim(), right: r.right, bottom: r.bottom, w: r.width }; }));
    assert.ok(controls.length >= 6, JSON.stringify(controls));
    for (const c of controls) {
      assert.ok(c.label.length > 0, 'every control has a text label');
      assert.ok(c.right <= 390 && c.bottom <= 844, `control ${c.label} is on screen: ${JSON.stringify(c)}`);
      assert.ok(c.w >= 44, `control ${c.label} is a usable touch target`);
    }
    // Keyboard: m toggles the microphone.
    await page.click('#status');
    await page.keyboard.press('m');
    assert.equal(await page.getAttribute('#btn-mic', 'aria-pressed'), 'true');
    assert.equal(await page.evaluate(() => window.switchboard.media.getAudioTracks()[0].enabled), false);
    await shot(page, 'phone.png');
  } finally {
    await page.context().close();
  }
});

