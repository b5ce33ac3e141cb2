// Browser tests of the console's media previews and bucket lifecycle (deleting after typing
// the name; start/stop of a container bucket on a real Docker engine), against a bucketgate
// of this file's own (harness.mjs). Screenshots go to target/console-screenshots/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useGateway, TOKEN, logs, s3, admin, page, docker,
  apiCall, s3Put, shot, file, waitFor, waitUploadsDone, clearUploads,
} from './harness.mjs';
import { inspectContainer, tinyPdf, toneWav, recordWebm } from './fixtures.mjs';

useGateway({ containers: true, signedIn: true });

test('previews: PDF in a frame, audio and video from the S3 listener with range requests', async () => {
  assert.equal((await apiCall('POST', '/api/buckets', { name: 'media' })).status, 201);
  await page.goto(`${admin}/#/b/media/files/`);
  await page.waitForSelector('.file-list .empty');
  const webm = await recordWebm(page);
  await page.setInputFiles('.files-toolbar input[type=file]:not([webkitdirectory])', [file('doc.pdf', tinyPdf()), file('tone.wav', toneWav(0.5)), file('clip.webm', webm)]);
  await waitUploadsDone();
  await clearUploads();
  for (const [key, type] of [['doc.pdf', 'application/pdf'], ['tone.wav', 'audio/wav'], ['clip.webm', 'video/webm']]) {
    // stored with the type the browser gave the file (the preview's and the S3 answer's type)
    const meta = await apiCall('GET', `/api/buckets/media/objects/${key}?metadata`);
    assert.equal(meta.status, 200, key);
    assert.equal(meta.body.contentType, type, key);
  }
  await page.waitForSelector('tr[data-key="clip.webm"]');
  // Requests of the previewed objects as the S3 listener saw them (media ask by ranges).
  const seen = [];
  const onResponse = async (r) => {
    const u = new URL(r.url());
    if (u.origin === s3 && /\/media\/(doc\.pdf|tone\.wav|clip\.webm)$/.test(u.pathname)) {
      seen.push({ key: u.pathname.split('/').pop(), status: r.status(), range: (await r.request().allHeaders()).range, contentRange: r.headers()['content-range'], type: r.headers()['content-type'], disposition: u.searchParams.get('response-content-disposition') });
    }
  };
  page.on('response', onResponse);

  // PDF: an iframe on the S3 listener's origin (never the console's), shown inline.
  await page.click('tr[data-key="doc.pdf"] .obj-link');
  const frame = await page.waitForSelector('.dialog iframe.preview-pdf');
  const src = await frame.getAttribute('src');
  assert.equal(new URL(src).origin, s3);
  await waitFor(() => seen.some((x) => x.key === 'doc.pdf'), 'the PDF frame loaded');
  const pdf = seen.find((x) => x.key === 'doc.pdf');
  assert.equal(pdf.status, 200);
  assert.equal(pdf.type, 'application/pdf');
  assert.match(pdf.disposition, /^inline/);
  await shot('10b-preview-pdf');
  await page.keyboard.press('Escape');

  // Audio: the WAV's metadata is read (0.5 s), through a range request answered 206.
  await page.click('tr[data-key="tone.wav"] .obj-link');
  await page.waitForFunction(() => { const a = document.querySelector('audio.preview-media'); return a && a.readyState >= 1; });
  const duration = await page.$eval('audio.preview-media', (a) => a.duration);
  assert.ok(Math.abs(duration - 0.5) < 0.01, `duration ${duration}`);
  assert.equal(new URL(await page.getAttribute('audio.preview-media', 'src')).origin, s3);
  await waitFor(() => seen.some((x) => x.key === 'tone.wav' && x.status === 206), 'a ranged audio request');
  const wav = seen.find((x) => x.key === 'tone.wav' && x.status === 206);
  assert.match(wav.range, /^bytes=\d+-\d*$/);
  assert.match(wav.contentRange, new RegExp(`^bytes \\d+-\\d+/${toneWav(0.5).length}$`));
  await shot('10c-preview-audio');
  await page.keyboard.press('Escape');

  // Video: the recorded WebM decodes to its 64×48 frames, also by ranges.
  await page.click('tr[data-key="clip.webm"] .obj-link');
  await page.waitForFunction(() => { const v = document.querySelector('video.preview-media'); return v && v.readyState >= 1 && v.videoWidth > 0; });
  assert.deepEqual(await page.$eval('video.preview-media', (v) => [v.videoWidth, v.videoHeight]), [64, 48]);
  await waitFor(() => seen.some((x) => x.key === 'clip.webm' && x.status === 206), 'a ranged video request');
  assert.match(seen.find((x) => x.key === 'clip.webm' && x.status === 206).contentRange, new RegExp(`/${webm.length}$`));
  await shot('10d-preview-video');
  await page.keyboard.press('Escape');
  page.off('response', onResponse);
});

test('delete a bucket after typing its name', async () => {
  assert.equal((await apiCall('POST', '/api/buckets', { name: 'doomed' })).status, 201);
  await s3Put('doomed', 'last.txt', 'still here');
  await page.goto(`${admin}/#/b/doomed/settings`);
  await page.click('button:text("Delete bucket…")');
  await page.waitForSelector('.dialog #f-confirm');
  const submit = '.dialog button[type=submit]';
  assert.equal(await page.isDisabled(submit), true, 'disabled before anything is typed');
  for (const wrong of ['doome', 'Doomed', 'doomed ', 'media']) {
    await page.fill('#f-confirm', wrong);
    assert.equal(await page.isDisabled(submit), true, `a wrong name (${JSON.stringify(wrong)}) keeps the button disabled`);
  }
  await page.keyboard.press('Enter'); // Enter does not get past a disabled button either
  assert.equal((await apiCall('GET', '/api/buckets/doomed')).status, 200);
  await page.fill('#f-confirm', 'doomed');
  assert.equal(await page.isDisabled(submit), false);
  await shot('29-delete-bucket-confirm');
  // Not empty: S3's rule, said on the field; the bucket stays.
  await page.click(submit);
  await page.waitForSelector('.field[data-field=confirm].invalid');
  assert.match(await page.textContent('#f-confirm-err'), /not empty/);
  assert.equal((await apiCall('GET', '/api/buckets/doomed')).status, 200);
  assert.equal((await apiCall('DELETE', '/api/buckets/doomed/objects/last.txt')).status, 204);
  await page.click(submit);
  await page.waitForSelector('.bucket-list table');
  assert.equal(await page.$('tr[data-bucket="doomed"]'), null);
  assert.equal((await apiCall('GET', '/api/buckets/doomed')).status, 404);
});

test('container bucket: created in the dialog, stopped and started from its page and the list', async (t) => {
  if (!docker) { t.skip('no Docker engine (BUCKETGATE_SKIP_DOCKER_TESTS=1)'); return; }
  await page.goto(`${admin}/#/buckets`);
  await page.click('.page-head .btn.primary');
  await page.fill('#f-name', 'boxed');
  await page.selectOption('#f-backend', 'container');
  await page.fill('#f-profile', 's3s-fs-test');
  await page.click('.dialog button[type=submit]');
  // The container is created and ready before the API answers.
  await page.waitForSelector('.snippet', { timeout: 60000 });
  const view = (await apiCall('GET', '/api/buckets/boxed')).body;
  assert.equal(view.backend, 'container');
  assert.equal(view.status, 'running');
  assert.equal(view.container.profile, 's3s-fs-test');
  const name = view.container.name;
  assert.equal(inspectContainer(name)?.State.Running, true);
  await s3Put('boxed', 'kept.txt', 'in its own server');
  const head = '.head-badges';
  assert.equal(await page.textContent(`${head} .status .badge`), 'running');
  await shot('30-container-bucket');

  // Stop on the bucket's page: the container stops.
  await page.click(`${head} button:has-text("Stop")`);
  await page.waitForSelector(`${head} button:has-text("Start")`, { timeout: 30000 });
  assert.equal(await page.textContent(`${head} .status .badge`), 'stopped');
  assert.equal((await apiCall('GET', '/api/buckets/boxed')).body.status, 'stopped');
  assert.equal(inspectContainer(name)?.State.Running, false);
  await shot('31-container-stopped', page, { toasts: true });

  // Start in the list: it runs again, with its data.
  await page.goto(`${admin}/#/buckets`);
  const row = 'tr[data-bucket="boxed"]';
  await page.waitForSelector(`${row} .status .badge:text("stopped")`);
  await page.click(`${row} button:has-text("Start")`);
  await page.waitForSelector(`${row} .status .badge:text("running")`, { timeout: 60000 });
  await page.waitForSelector(`${row} button:has-text("Stop")`);
  assert.equal(inspectContainer(name)?.State.Running, true);
  const back = await fetch(`${admin}/api/buckets/boxed/objects/kept.txt`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(back.status, 200);
  assert.equal(await back.text(), 'in its own server');
  await shot('32-container-started-list');
  // Stop from the list too, then delete it after typing its name: the container goes.
  await page.click(`${row} button:has-text("Stop")`);
  await page.waitForSelector(`${row} .status .badge:text("stopped")`, { timeout: 30000 });
  assert.equal(inspectContainer(name)?.State.Running, false);
  assert.equal((await apiCall('DELETE', '/api/buckets/boxed/objects/kept.txt')).status, 204);
  await page.goto(`${admin}/#/b/boxed/settings`);
  await page.click('button:text("Delete bucket…")');
  await page.fill('#f-confirm', 'boxed');
  await page.click('.dialog button[type=submit]');
  await page.waitForSelector('.bucket-list table', { timeout: 30000 });
  assert.equal((await apiCall('GET', '/api/buckets/boxed')).status, 404);
  await waitFor(() => inspectContainer(name) === null, 'the container to be removed', 30000);
});

test('no script errors and no CSP violations on any page', () => {
  assert.deepEqual(logs.filter((l) => l.startsWith('pageerror')), []);
});
