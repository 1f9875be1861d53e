// Human messages when media is missing or refused, and the static files' HTTP behaviour.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startServer } from './harness.js';

const STEP = 20000;
let srv;

before(async () => {
  srv = await startServer();
});

after(async () => {
  await srv?.stop();
});

test('camera permission denied: the join screen says how to fix it, and joining still works', async () => {
  // No fake UI: the permission prompt is denied automatically.
  const browser = await launch({ dropArgs: ['--use-fake-ui-for-media-stream'], extraArgs: ['--deny-permission-prompts'] });
  try {
    const page = await browser.page({ name: 'denied' });
    await page.goto(`${srv.base}/r/denied-${Date.now().toString(36)}`);
    await page.locator('#media-message').waitFor({ timeout: STEP });
    assert.match(await page.textContent('#media-message'), /access was denied.*site settings/);
    assert.equal(await page.isVisible('#preview-empty'), true, 'the preview says there is no camera');
    await page.click('#join-button');
    await page.waitForFunction(() => document.querySelector('#status')?.dataset.state === 'waiting', null, { timeout: STEP });
    assert.equal(await page.isHidden('#btn-mic'), true, 'no mute button without a microphone');
  } finally {
    await browser.close();
  }
});

test('no camera: the microphone alone is used and the page says so', async () => {
  const browser = await launch();
  try {
    const page = await browser.page({ name: 'nocam' });
    // A machine with a microphone and no camera.
    await page.addInitScript(() => {
      const md = navigator.mediaDevices;
      const gum = md.getUserMedia.bind(md);
      const enumerate = md.enumerateDevices.bind(md);
      md.getUserMedia = (c) => (c && c.video
        ? Promise.reject(new DOMException('Requested device not found', 'NotFoundError'))
        : gum(c));
      md.enumerateDevices = async () => (await enumerate()).filter((d) => d.kind !== 'videoinput');
    });
    await page.goto(`${srv.base}/r/nocam-${Date.now().toString(36)}`);
    await page.locator('#media-message').waitFor({ timeout: STEP });
    assert.match(await page.textContent('#media-message'), /No camera was found/);
    const kinds = await page.evaluate(() => window.switchboard.media.getTracks().map((t) => t.kind));
    assert.deepEqual(kinds, ['audio']);
  } finally {
    await browser.close();
  }
});

test('static files: content types, ETag revalidation, 404 for unknown names', async () => {
  const js = await fetch(`${srv.base}/static/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  assert.equal(js.headers.get('cache-control'), 'no-cache');
  const etag = js.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{16}"$/);
  assert.match(await js.text(), /loadingParams/);
  const again = await fetch(`${srv.base}/static/app.js`, { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);
  const css = await fetch(`${srv.base}/static/app.css`);
  assert.match(css.headers.get('content-type'), /^text\/css/);
  assert.equal((await fetch(`${srv.base}/static/nope.js`)).status, 404);
  assert.equal((await fetch(`${srv.base}/static/..%2FCargo.toml`)).status, 404);
  const page = await (await fetch(`${srv.base}/r/static-check`)).text();
  assert.match(page, /var loadingParams = \{/);
  assert.match(page, /roomId: 'static-check'/);
  assert.match(page, /<script type="module" src="\/static\/app.js">/);
});
