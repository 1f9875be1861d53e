// Shared test harness: start the real `switchboard` binary and headless Chromium (Debian's
// /usr/bin/chromium, fake camera and microphone) driven by playwright-core.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(here, '..', '..');
export const BINARY = process.env.SWITCHBOARD_BIN
  ? resolve(ROOT, process.env.SWITCHBOARD_BIN)
  : join(ROOT, 'target', 'debug', 'switchboard');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const ARTIFACTS = process.env.BROWSER_ARTIFACTS || join(ROOT, 'target', 'browser-tests');
mkdirSync(ARTIFACTS, { recursive: true });

/// A running server. `extra` are extra command-line flags.
export async function startServer({ extra = [], log = 'warn', listen = '127.0.0.1:0' } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-browser-'));
  const args = ['--listen', listen, '--turn-listen', '127.0.0.1:0', '--data-dir', dataDir, '--log', log, ...extra];
  const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const onData = (d) => {
    output += d.toString();
    if (output.length > 200000) output = output.slice(-100000);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not print "Listening on" in 15 s:\n${output}`)), 15000);
    const check = () => {
      const m = /Listening on (\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', check);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${BINARY}: ${e.message}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  const turn = /TURN listening on (\S+)/.exec(output)?.[1] ?? null;
  return {
    addr,
    turn,
    base: `http://${addr}`,
    logs: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless=new',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--auto-select-desktop-capture-source=Entire screen',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--autoplay-policy=no-user-gesture-required',
];

/// One Chromium process (a fresh temporary profile made by playwright). Each `page()` gets its
/// own browser context, so two pages are two independent people.
export async function launch({ extraArgs = [], dropArgs = [] } = {}) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS.filter((a) => !dropArgs.includes(a)), ...extraArgs],
    ignoreDefaultArgs: ['--headless'],
    timeout: 30000,
  });
  const logs = [];
  return {
    browser,
    logs,
    async page({ viewport = { width: 1280, height: 720 }, name = 'page' } = {}) {
      const context = await browser.newContext({ viewport });
      const page = await context.newPage();
      page.on('console', (m) => logs.push(`[${name}] [${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => logs.push(`[${name}] [pageerror] ${e.message}`));
      return page;
    },
    async close() {
      await browser.close().catch(() => {});
    },
  };
}

/// What getStats says about the remote media and the selected candidate pair of `page`'s call.
export async function probe(page) {
  return page.evaluate(async () => {
    const pc = window.switchboard.call?.pc;
    if (!pc) return null;
    const r = await pc.getStats();
    const byId = new Map();
    r.forEach((s) => byId.set(s.id, s));
    const out = {
      connection: pc.connectionState, policy: pc.getConfiguration().iceTransportPolicy,
      framesDecoded: 0, audioPackets: 0, audioSamples: 0, localType: null, remoteType: null, relayProtocol: null,
    };
    r.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') out.framesDecoded = Math.max(out.framesDecoded, s.framesDecoded ?? 0);
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.audioPackets = Math.max(out.audioPackets, s.packetsReceived ?? 0);
        out.audioSamples = Math.max(out.audioSamples, s.totalSamplesReceived ?? 0);
      }
      if (s.type === 'transport' && s.selectedCandidatePairId) {
        const pair = byId.get(s.selectedCandidatePairId);
        const local = byId.get(pair?.localCandidateId);
        out.localType = local?.candidateType ?? null;
        out.relayProtocol = local?.relayProtocol ?? null;
        out.remoteType = byId.get(pair?.remoteCandidateId)?.candidateType ?? null;
      }
    });
    const v = document.querySelector('#remote-video');
    out.videoPlaying = !!v && !v.paused && v.videoWidth > 0 && v.readyState >= 2;
    return out;
  });
}
