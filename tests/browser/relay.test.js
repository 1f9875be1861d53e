// `?it=relay`: both sides may use only relay candidates, so the call must go through
// Switchboard's built-in TURN server. Asserts the selected candidate pair is `relay` on both
// sides and that video and audio flow.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ARTIFACTS, launch, probe, startServer } from './harness.js';

const STEP = 25000;
let srv;
let browser;

before(async () => {
  srv = await startServer({
    log: process.env.RELAY_LOG || 'warn',
    // The secure default: no loopback allowance. Both sides relay through this server, so each
    // side's peer is the other's relay address, which the peer policy lets through.
    extra: ['--turn-external-ip', '127.0.0.1', '--turn-relay-ports', '41000-41999'],
  });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

test('?it=relay: the call goes through the built-in TURN server on both sides', async (t) => {
  const room = `relay-${Date.now().toString(36)}`;
  const url = `${srv.base}/r/${room}?it=relay`;
  const pages = [await browser.page({ name: 'relayA' }), await browser.page({ name: 'relayB' })];
  try {
    for (const p of pages) {
      await p.goto(url);
      await p.locator('#join-button:not([disabled])').waitFor({ timeout: STEP });
      await p.click('#join-button');
    }
    for (const p of pages) {
      const deadline = Date.now() + STEP;
      let last = null;
      while (Date.now() < deadline) {
        last = await probe(p);
        if (last?.connection === 'connected' && last.localType && last.framesDecoded > 0 && last.audioPackets > 0) break;
        await p.waitForTimeout(300);
      }
      t.diagnostic(JSON.stringify(last));
      assert.equal(last?.policy, 'relay', 'iceTransportPolicy is relay');
      assert.equal(last?.connection, 'connected', `connected through TURN; last: ${JSON.stringify(last)}`);
      assert.equal(last.localType, 'relay', 'local candidate of the selected pair is relay');
      assert.equal(last.remoteType, 'relay', 'remote candidate of the selected pair is relay');
      assert.ok(last.framesDecoded > 0 && last.audioPackets > 0, 'video and audio flow through the relay');
      await p.click('#btn-stats');
      await p.waitForFunction(() => /^relay/.test(document.querySelector('[data-stat="candidate-type"]')?.textContent ?? ''), null, { timeout: STEP });
      await p.screenshot({ path: join(ARTIFACTS, `relay-stats-${pages.indexOf(p)}.png`) });
    }
  } catch (e) {
    e.message += `\n--- browser console ---\n${browser.logs.slice(-60).join('\n')}\n--- server ---\n${srv.logs().slice(-6000)}`;
    throw e;
  } finally {
    for (const p of pages) await p.context().close();
  }
});
