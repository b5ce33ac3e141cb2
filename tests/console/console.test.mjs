// Browser tests of the web console, one flow through its pages: Debian's chromium driven by
// playwright-core against a bucketgate of this file's own (harness.mjs). Screenshots of every
// page go to target/console-screenshots/. Figures (first-load size, 10,000-object render) are
// printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  useGateway, TOKEN, ROOT_AK, MiB, logs, work, s3, admin, browser, page,
  apiCall, s3Put, shot, listKeys, file, waitUploadsDone, clearUploads, signIn, hostGet,
} from './harness.mjs';

// The gateway's DNS server ([domains] resolver): site.test is 127.0.0.1, anything else does
// not exist.
useGateway({ dnsNames: { 'site.test': [127, 0, 0, 1] } });

test('first load: size and strict headers', async () => {
  const c = await browser.newContext();
  const p = await c.newPage();
  const cdp = await c.newCDPSession(p);
  await cdp.send('Network.enable');
  let bytes = 0;
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
  const t0 = Date.now();
  const res = await p.goto(`${admin}/`);
  await p.waitForSelector('.signin-card');
  const ms = Date.now() - t0;
  const h = res.headers();
  assert.match(h['content-security-policy'], /script-src 'self'/);
  assert.equal(h['x-content-type-options'], 'nosniff');
  console.log(`# first load (sign-in page, cold cache): ${(bytes / 1024).toFixed(1)} KiB transferred, ${ms} ms to render`);
  await shot('01-signin', p);
  await c.close();
});

test('sign-in with the admin token; wrong token refused', async () => {
  await page.goto(`${admin}/`);
  await page.waitForSelector('.signin-card');
  await page.fill('#f-token', 'wrong');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.field[data-field=token].invalid');
  await shot('02-signin-error');
  await signIn(page, { token: TOKEN });
  await page.waitForSelector('.bucket-list .empty');
  await shot('03-buckets-empty');
});

test('create a bucket: live validation, API error on the field, Enter submits', async () => {
  await apiCall('POST', '/api/buckets', { name: 'taken-name' });
  await page.goto(`${admin}/#/buckets`);
  await page.click('.page-head .btn.primary');
  await page.fill('#f-name', 'Bad_Name');
  await page.waitForSelector('.field[data-field=name].invalid');
  assert.match(await page.textContent('#f-name-err'), /lowercase/);
  await shot('04-create-dialog');
  await page.fill('#f-name', 'taken-name');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#f-name-err')?.textContent.length > 0);
  assert.match(await page.textContent('#f-name-err'), /taken|exists|own/i);
  await page.fill('#f-name', 'photos');
  await page.fill('#f-description', 'Holiday photos');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.snippet');
  assert.match(await page.textContent('.grid2 .card'), new RegExp(ROOT_AK), 'connection details name the owner\'s access key');
  await shot('05-bucket-connect');
  for (const label of ['boto3', 'JavaScript', 'Rust', 'rclone']) {
    await page.click(`.snippet-tabs .seg:text("${label}")`);
    assert.match(await page.textContent('.snippet'), /photos/);
  }
  const r = await apiCall('GET', '/api/buckets/photos');
  assert.equal(r.body.description, 'Holiday photos');
  await page.keyboard.press('Escape');
});

const big = randomBytes(20 * MiB);
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAKklEQVR4nGNgGAWjgP7gPxpAV4AuyDiqAV0BugLGUQ3oCtAVMI5qGNYAAOh8B/kVSKq6AAAAAElFTkSuQmCC', 'base64');

test('upload by picker and drop: a 20 MiB file in parts, small files, a folder', async () => {
  await page.goto(`${admin}/#/b/photos/files/`);
  await page.waitForSelector('.file-list .empty');
  await shot('06-files-empty');
  const seen = new Set();
  await page.exposeFunction('reportPercent', (p) => seen.add(p));
  await page.evaluate(() => new MutationObserver(() => document.querySelectorAll('.upload-item').forEach((i) => window.reportPercent(Number(i.dataset.percent)))).observe(document.body, { subtree: true, childList: true, attributes: true }));
  const bigPath = file('big.bin', big);
  const parts = [];
  page.on('request', (r) => { if (/[?&]partNumber=\d+/.test(r.url()) && r.method() === 'PUT') parts.push(r.url()); });
  await page.setInputFiles('.files-toolbar input[type=file]:not([webkitdirectory])', [bigPath, file('notes.txt', 'hello from the console\n'), file('data.json', '{"a":1,"b":[1,2,3]}'), file('cat.png', PNG), file('page.html', '<script>alert(1)</script>')]);
  // a folder through the directory picker
  file('album/one.txt', 'one'); file('album/sub/two.txt', 'two');
  await page.setInputFiles('.files-toolbar input[webkitdirectory]', join(work, 'album'));
  // and files dropped as a DataTransfer
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped one'], 'dropped-1.txt', { type: 'text/plain' }));
    dt.items.add(new File(['dropped two'], 'dropped-2.txt', { type: 'text/plain' }));
    const zone = document.querySelector('.dropzone');
    zone.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await page.waitForSelector('.upload-item[data-key="big.bin"]');
  await shot('07-uploading');
  await waitUploadsDone();
  const states = await page.$$eval('.upload-item', (els) => els.map((e) => [e.dataset.key, e.dataset.state, e.querySelector('.upload-status').textContent]));
  for (const [k, s, msg] of states) assert.equal(s, 'done', `${k}: ${msg}`);
  assert.ok(seen.has(100), 'progress reached 100%');
  assert.ok(parts.length >= 3, `the 20 MiB file went in parts (${parts.length} part PUTs)`);
  assert.equal(await page.getAttribute('.upload-total', 'data-percent'), '100');
  await shot('08-uploads-done');
  const keys = await listKeys('photos');
  for (const k of ['big.bin', 'notes.txt', 'data.json', 'cat.png', 'page.html', 'album/one.txt', 'album/sub/two.txt', 'dropped-1.txt', 'dropped-2.txt']) assert.ok(keys.includes(k), `${k} stored (have ${keys})`);
  await page.waitForSelector('tr[data-key="big.bin"]');
  await page.waitForSelector('tr.folder[data-key="album/"]');
  await shot('09-file-browser');
  await clearUploads();
});

test('drop a folder: directory entries are walked and uploaded under its name', async () => {
  await page.goto(`${admin}/#/b/photos/files/album/`);
  await page.waitForSelector('tr[data-key="album/one.txt"]');
  // Chromium gives a synthetic DataTransfer no file system entries (webkitGetAsEntry() answers
  // null), so the drop carries entries built here with the same surface as
  // FileSystemDirectoryEntry / FileSystemFileEntry: callbacks called later, and a directory
  // reader that hands out its children in batches (Chromium's own reader gives at most 100 per
  // call) until an empty one.
  await page.evaluate(() => {
    const later = (fn) => setTimeout(fn, 0);
    const fileEntry = (name, text) => ({ isFile: true, isDirectory: false, name, file: (ok) => later(() => ok(new File([text], name, { type: 'text/plain' }))) });
    const dirEntry = (name, children) => ({
      isFile: false, isDirectory: true, name,
      createReader() { let i = 0; return { readEntries(ok) { later(() => { const batch = children.slice(i, i + 2); i += batch.length; ok(batch); }); } }; },
    });
    const trip = dirEntry('trip', [
      fileEntry('a.txt', 'trip a'), fileEntry('b.txt', 'trip b'), fileEntry('c.txt', 'trip c'),
      dirEntry('day1', [fileEntry('beach.txt', 'sand'), dirEntry('night', [fileEntry('stars.txt', 'many')])]),
      dirEntry('empty', []),
    ]);
    const item = (entry) => ({ kind: 'file', type: '', webkitGetAsEntry: () => entry, getAsFile: () => null });
    const fake = { types: ['Files'], items: [item(trip), item(fileEntry('loose.txt', 'loose'))], files: [], dropEffect: 'none' };
    const zone = document.querySelector('.dropzone');
    for (const type of ['dragenter', 'dragover', 'drop']) {
      const ev = new DragEvent(type, { dataTransfer: new DataTransfer(), bubbles: true, cancelable: true });
      Object.defineProperty(ev, 'dataTransfer', { value: fake });
      zone.dispatchEvent(ev);
    }
  });
  await page.waitForSelector('.upload-item[data-key="album/trip/day1/night/stars.txt"]');
  await waitUploadsDone();
  const states = await page.$$eval('.upload-item', (els) => els.map((e) => [e.dataset.key, e.dataset.state]));
  assert.deepEqual(states.map(([k]) => k).sort(), ['album/loose.txt', 'album/trip/a.txt', 'album/trip/b.txt', 'album/trip/c.txt', 'album/trip/day1/beach.txt', 'album/trip/day1/night/stars.txt']);
  for (const [k, st] of states) assert.equal(st, 'done', k);
  assert.deepEqual((await listKeys('photos', 'album/trip/')).sort(), ['album/trip/a.txt', 'album/trip/b.txt', 'album/trip/c.txt', 'album/trip/day1/beach.txt', 'album/trip/day1/night/stars.txt']);
  const got = await fetch(`${admin}/api/buckets/photos/objects/album/trip/day1/night/stars.txt`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(got.status, 200);
  assert.equal(await got.text(), 'many');
  await page.waitForSelector('tr.folder[data-key="album/trip/"]');
  await page.waitForSelector('tr[data-key="album/loose.txt"]');
  await shot('09b-folder-dropped');
  await clearUploads();
  await page.click('tr.folder[data-key="album/trip/"] a');
  await page.waitForSelector('tr.folder[data-key="album/trip/day1/"]');
  assert.deepEqual(await page.$$eval('.files tbody tr', (r) => r.map((x) => x.dataset.key)), ['album/trip/day1/', 'album/trip/a.txt', 'album/trip/b.txt', 'album/trip/c.txt']);
  await page.goto(`${admin}/#/b/photos/files/`);
  await page.waitForSelector('tr[data-key="big.bin"]');
});

test('download matches byte for byte', async () => {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('tr[data-key="big.bin"] button[aria-label^="Download"]')]);
  const got = readFileSync(await dl.path());
  assert.equal(got.length, big.length);
  assert.ok(got.equals(big), 'downloaded bytes equal the uploaded ones');
  const [dl2] = await Promise.all([page.waitForEvent('download'), page.click('tr[data-key="notes.txt"] button[aria-label^="Download"]')]);
  assert.equal(readFileSync(await dl2.path(), 'utf8'), 'hello from the console\n');
});

test('previews: image, JSON as text, HTML shown as text (never rendered)', async () => {
  await page.click('tr[data-key="cat.png"] .obj-link');
  await page.waitForFunction(() => document.querySelector('.preview-img')?.naturalWidth === 16);
  await shot('10-preview-image');
  await page.keyboard.press('Escape');
  await page.click('tr[data-key="data.json"] .obj-link');
  await page.waitForSelector('.preview-text');
  assert.match(await page.textContent('.preview-text'), /"b": \[/);
  await page.keyboard.press('Escape');
  await page.click('tr[data-key="page.html"] .obj-link');
  await page.waitForSelector('.preview-text');
  assert.match(await page.textContent('.preview-text'), /<script>alert\(1\)<\/script>/);
  assert.equal(await page.$('.dialog iframe'), null);
  await page.keyboard.press('Escape');
  await page.click('tr[data-key="notes.txt"] button[aria-label^="Details"]');
  await page.waitForSelector('.dialog .facts');
  assert.match(await page.textContent('.dialog .facts'), /23 B/);
  assert.match(await page.textContent('.dialog .facts'), /Tags\s*none/);
  await shot('11-object-details');
  await page.keyboard.press('Escape');
});

test('share link works in a fresh browser context', async () => {
  await page.click('tr[data-key="notes.txt"] button[aria-label^="Share"]');
  await page.selectOption('.dialog select', String(7 * 86400));
  await page.click('.dialog button[type=submit]');
  await page.waitForSelector('.share-url');
  const url = await page.inputValue('.share-url');
  assert.match(url, /X-Amz-Expires=604800/);
  await shot('12-share-link');
  await page.keyboard.press('Escape');
  const fresh = await browser.newContext();
  const r = await fresh.request.get(url);
  assert.equal(r.status(), 200);
  assert.equal(await r.text(), 'hello from the console\n');
  await fresh.close();
});

test('folders: breadcrumbs, create folder', async () => {
  await page.click('tr.folder[data-key="album/"] a');
  await page.waitForSelector('tr[data-key="album/one.txt"]');
  await page.click('.files-toolbar button:has-text("New folder")');
  await page.fill('#f-folder', 'new-folder');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.crumbs.path [aria-current=page]:text("new-folder")');
  assert.ok((await listKeys('photos', 'album/')).includes('album/new-folder/'));
  await shot('13-folder');
  await page.click('.crumbs.path a:text("album")');
  await page.waitForSelector('tr.folder[data-key="album/new-folder/"]');
});

test('bulk delete', async () => {
  await page.goto(`${admin}/#/b/photos/files/`);
  await page.waitForSelector('tr[data-key="dropped-1.txt"]');
  await page.check('tr[data-key="dropped-1.txt"] input[type=checkbox]');
  await page.check('tr[data-key="dropped-2.txt"] input[type=checkbox]');
  assert.match(await page.textContent('.files-toolbar .btn.danger'), /Delete 2/);
  await page.click('.files-toolbar .btn.danger');
  await shot('14-bulk-delete-confirm');
  await page.click('.dialog button[type=submit]');
  await page.waitForSelector('tr[data-key="dropped-1.txt"]', { state: 'detached' });
  const keys = await listKeys('photos');
  assert.ok(!keys.includes('dropped-1.txt') && !keys.includes('dropped-2.txt'));
  assert.ok(keys.includes('notes.txt'));
});

test('cancel aborts a multipart upload; an interrupted one resumes after a reload', async () => {
  const data = randomBytes(24 * MiB + 123);
  const path = file('resume.bin', data);
  // Hold every part but the first: the upload stays in flight.
  const held = [];
  await page.route(/[?&]partNumber=(?!1&|1$)\d+/, (route) => { held.push(route); });
  await page.goto(`${admin}/#/b/photos/files/`);
  await page.waitForSelector('tr[data-key="notes.txt"]');
  const part1 = page.waitForResponse((r) => /[?&]partNumber=1(&|$)/.test(r.url()) && r.request().method() === 'PUT');
  await page.setInputFiles('.files-toolbar input[type=file]:not([webkitdirectory])', path);
  assert.equal((await part1).status(), 200);
  const saved = await page.evaluate(() => JSON.parse(localStorage.getItem('bucketgate.uploads')));
  const rec = Object.values(saved).find((r) => r.key === 'resume.bin');
  assert.ok(rec?.uploadId, 'upload id kept in localStorage');
  // reload mid-upload; the held parts die with the page
  await page.reload();
  await page.unroute(/[?&]partNumber=(?!1&|1$)\d+/);
  await page.waitForSelector('.resume-list li[data-key="resume.bin"]');
  await shot('15-resume-offer');
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('.resume-list li[data-key="resume.bin"] button:text("Resume…")')]);
  const resumedParts = [];
  const onReq = (r) => { const m = /[?&]partNumber=(\d+)/.exec(r.url()); if (m && r.method() === 'PUT') resumedParts.push(Number(m[1])); };
  page.on('request', onReq);
  await chooser.setFiles(path);
  await page.waitForSelector('.upload-item[data-key="resume.bin"][data-state="done"]', { timeout: 60000 });
  page.off('request', onReq);
  assert.match(await page.textContent('.upload-item[data-key="resume.bin"] .upload-status'), /resumed/);
  assert.ok(!resumedParts.includes(1), `part 1 was not sent again (sent ${resumedParts})`);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('tr[data-key="resume.bin"] button[aria-label^="Download"]')]);
  assert.ok(readFileSync(await dl.path()).equals(data), 'resumed upload is byte for byte the file');
  await clearUploads();

  // cancel: hold all parts, cancel, the multipart upload is aborted and nothing is stored
  const held2 = [];
  await page.route(/[?&]partNumber=\d+/, (route) => { held2.push(route); });
  await page.setInputFiles('.files-toolbar input[type=file]:not([webkitdirectory])', file('cancel.bin', randomBytes(17 * MiB)));
  await page.waitForFunction(() => Object.values(JSON.parse(localStorage.getItem('bucketgate.uploads') || '{}')).some((r) => r.key === 'cancel.bin'));
  const rec2 = Object.values(await page.evaluate(() => JSON.parse(localStorage.getItem('bucketgate.uploads')))).find((r) => r.key === 'cancel.bin');
  await page.click('.upload-item[data-key="cancel.bin"] button[aria-label^="Cancel"]');
  await page.waitForSelector('.upload-item[data-key="cancel.bin"][data-state="cancelled"]');
  await page.waitForFunction(() => !Object.values(JSON.parse(localStorage.getItem('bucketgate.uploads') || '{}')).some((r) => r.key === 'cancel.bin'));
  await page.unroute(/[?&]partNumber=\d+/);
  const lp = await apiCall('GET', `/api/buckets/photos/uploads/${encodeURIComponent(rec2.uploadId)}/parts?key=cancel.bin`);
  assert.equal(lp.status, 404, 'the aborted upload is gone');
  assert.ok(!(await listKeys('photos')).includes('cancel.bin'));
  await clearUploads();
});

test('settings: public read makes an anonymous GET work', async () => {
  const before = await fetch(`${s3}/photos/notes.txt`);
  assert.equal(before.status, 403);
  await page.goto(`${admin}/#/b/photos/settings`);
  await page.waitForSelector('.settings-form');
  await page.check('.settings-form input[name=publicRead]', { force: true });
  await page.fill('#f-maxSizeBytes', '1 GiB');
  await page.click('.settings-form button[type=submit]');
  await page.waitForSelector('.head-badges .badge.public');
  await shot('16-settings', page, { toasts: true });
  const r = await apiCall('GET', '/api/buckets/photos');
  assert.equal(r.body.publicRead, true);
  assert.equal(r.body.maxSizeBytes, 1024 ** 3);
  const anon = await fetch(`${s3}/photos/notes.txt`);
  assert.equal(anon.status, 200);
  assert.equal(await anon.text(), 'hello from the console\n');
});

test('settings: website index and error documents are served on the website host', async () => {
  await s3Put('photos', 'start.html', '<h1>start</h1>');
  await s3Put('photos', 'missing.html', '<h1>not here</h1>');
  await page.goto(`${admin}/#/b/photos/settings`);
  await page.waitForSelector('.website-form');
  await page.fill('.website-form [name="website.indexDocument"]', 'dir/start.html');
  await page.click('.website-form button[type=submit]');
  await page.waitForSelector('.website-form .field[data-field="website.indexDocument"].invalid');
  await page.fill('.website-form [name="website.indexDocument"]', 'start.html');
  await page.fill('.website-form [name="website.errorDocument"]', 'missing.html');
  await page.click('.website-form button[type=submit]');
  await page.waitForSelector('.toast-ok:has-text("Website saved")');
  await page.waitForSelector('.website-form .website-off');
  await shot('16b-settings-website', page, { toasts: true });
  const r = await apiCall('GET', '/api/buckets/photos');
  assert.deepEqual(r.body.website, { indexDocument: 'start.html', errorDocument: 'missing.html' });
  const home = await hostGet('photos.web.localhost');
  assert.equal(home.status, 200);
  assert.equal(home.body, '<h1>start</h1>');
  const gone = await hostGet('photos.web.localhost', '/nope');
  assert.equal(gone.status, 404);
  assert.equal(gone.body, '<h1>not here</h1>');
});

test('settings: a CORS rule added in the editor is stored and answers preflights', async () => {
  await page.goto(`${admin}/#/b/photos/settings`);
  await page.waitForSelector('.cors-form');
  await page.click('.cors-form .add-rule');
  await page.fill('#cors-0-origins', 'https://*.*.example.com');
  await page.click('.cors-form button[type=submit]');
  // the API's field error lands on the rule's origins field
  await page.waitForSelector('.cors-form .field[data-field="cors[0].allowedOrigins"].invalid');
  await page.fill('#cors-0-origins', 'https://app.example.com');
  await page.check('.cors-form .cors-rule input[value=PUT]');
  await page.fill('#cors-0-expose', 'ETag');
  await page.fill('#cors-0-age', '600');
  await page.click('.cors-form button[type=submit]');
  await page.waitForSelector('.toast-ok:has-text("CORS rules saved")');
  await page.waitForSelector('.cors-form #cors-0-origins');
  const r = await apiCall('GET', '/api/buckets/photos');
  assert.deepEqual(r.body.cors, [{ allowedOrigins: ['https://app.example.com'], allowedMethods: ['GET', 'PUT'], allowedHeaders: [], exposeHeaders: ['ETag'], maxAgeSeconds: 600 }]);
  await shot('16c-settings-cors', page, { toasts: true });
  const pre = await fetch(`${s3}/photos/notes.txt`, { method: 'OPTIONS', headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'PUT' } });
  assert.equal(pre.status, 200);
  assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example.com');
});

test('domain link and unlink; whether each host answers from this gateway', async () => {
  await page.goto(`${admin}/#/b/photos/domains`);
  await page.fill('#f-domain', 'not a host');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.field[data-field=domain].invalid');
  await page.fill('#f-domain', 'assets.example.com');
  await page.keyboard.press('Enter');
  await page.waitForSelector('li.domain[data-domain="assets.example.com"]');
  assert.deepEqual(await page.$$eval('li.domain table.dns tbody td', (t) => t.map((x) => x.textContent)), ['A', 'assets.example.com', '127.0.0.1']);
  assert.equal(await page.textContent('li.domain .domain-status[data-active=true] .badge'), 'active');
  // The gateway's resolver knows no such name: the check says so.
  await page.waitForSelector('li.domain[data-domain="assets.example.com"] .reach[data-state=silent]');
  assert.match(await page.textContent('li.domain[data-domain="assets.example.com"] .reach'), /not answering from this gateway.*does not resolve/s);
  // site.test resolves to 127.0.0.1, where the S3 listener answers the gateway's token.
  await page.fill('#f-domain', 'site.test');
  await page.keyboard.press('Enter');
  await page.waitForSelector('li.domain[data-domain="site.test"] .reach[data-state=answers]');
  const reach = await page.textContent('li.domain[data-domain="site.test"] .reach');
  assert.match(reach, /answers from this gateway/);
  assert.match(reach, new RegExp(`resolves to 127\\.0\\.0\\.1 · port ${new URL(s3).port}`));
  await page.waitForSelector('li.domain[data-domain="assets.example.com"] .reach[data-state=silent]');
  await shot('17-domains');
  // The API behind it, and "Check again" asks again.
  const api = await apiCall('GET', '/api/buckets/photos/domain/check?host=site.test');
  assert.equal(api.status, 200);
  assert.equal(api.body.answers, true);
  assert.deepEqual(api.body.addresses, ['127.0.0.1']);
  assert.equal((await apiCall('GET', '/api/buckets/photos/domain/check?host=elsewhere.test')).status, 404);
  const asked = page.waitForResponse((r) => r.url().includes('/domain/check?host=site.test'));
  await page.click('li.domain[data-domain="site.test"] .reach-again');
  assert.equal((await asked).status(), 200);
  await page.waitForSelector('li.domain[data-domain="site.test"] .reach[data-state=answers]');
  assert.deepEqual((await apiCall('GET', '/api/buckets/photos')).body.domains.sort(), ['assets.example.com', 'site.test']);

  // Unlink: confirmed in a dialog (cancel keeps the link), then gone from the page and the API.
  await page.click('li.domain[data-domain="assets.example.com"] button:text("Unlink")');
  await page.waitForSelector('.dialog:has-text("Unlink assets.example.com?")');
  await page.keyboard.press('Escape');
  await page.waitForSelector('.dialog', { state: 'detached' });
  assert.deepEqual((await apiCall('GET', '/api/buckets/photos')).body.domains.sort(), ['assets.example.com', 'site.test']);
  await page.click('li.domain[data-domain="assets.example.com"] button:text("Unlink")');
  await shot('17b-domain-unlink-confirm');
  await page.click('.dialog button[type=submit]');
  await page.waitForSelector('li.domain[data-domain="assets.example.com"]', { state: 'detached' });
  await page.waitForSelector('li.domain[data-domain="site.test"]');
  assert.deepEqual((await apiCall('GET', '/api/buckets/photos')).body.domains, ['site.test']);
  await page.click('li.domain[data-domain="site.test"] button:text("Unlink")');
  await page.click('.dialog button[type=submit]');
  await page.waitForSelector('.domain-list', { state: 'detached' });
  await page.waitForSelector('.empty:has-text("No domains linked")');
  assert.deepEqual((await apiCall('GET', '/api/buckets/photos')).body.domains, []);
  // An unlinked host is no longer checked.
  assert.equal((await apiCall('GET', '/api/buckets/photos/domain/check?host=site.test')).status, 404);
});

test('stats page with charts from the history, and the bucket list with usage', async () => {
  // samples are taken every second here ([stats] sample_secs = 1): wait for two of them
  for (let i = 0; ; i++) {
    const r = await apiCall('GET', '/api/buckets/photos/stats/history?range=1h');
    assert.equal(r.status, 200);
    if (r.body.points.length >= 2) break;
    assert.ok(i < 200, 'two history samples within 20 s');
    await new Promise((res) => setTimeout(res, 100));
  }
  await page.goto(`${admin}/#/b/photos/stats`);
  await page.waitForSelector('.stats-grid .stat');
  await page.waitForSelector('.charts .chart-line');
  assert.equal(await page.$$eval('.charts svg.chart', (s) => s.length), 4);
  await shot('18-stats');
  await page.goto(`${admin}/#/buckets`);
  await page.waitForSelector('tr[data-bucket="photos"]');
  assert.match(await page.textContent('tr[data-bucket="photos"]'), /public read/);
  await shot('19-buckets');
});

test('a quota refusal is shown in plain words', async () => {
  assert.equal((await apiCall('POST', '/api/buckets', { name: 'tiny', maxSizeBytes: MiB })).status, 201);
  await page.goto(`${admin}/#/b/tiny/files/`);
  await page.waitForSelector('.file-list .empty');
  await page.setInputFiles('.files-toolbar input[type=file]:not([webkitdirectory])', file('toolarge.bin', randomBytes(2 * MiB)));
  await page.waitForSelector('.upload-item[data-key="toolarge.bin"][data-state="error"]', { timeout: 30000 });
  assert.match(await page.textContent('.upload-item[data-key="toolarge.bin"] .upload-status'), /quota/i);
  await shot('20-quota-refused');
  await clearUploads();
  assert.deepEqual(await listKeys('tiny'), []);
});

test('users and keys; a user sees only their buckets', async () => {
  await page.goto(`${admin}/#/users`);
  await page.waitForSelector('.users .empty');
  await page.click('.page-head .btn.primary');
  await page.fill('#f-id', 'alice');
  await page.fill('#f-name', 'Alice');
  await page.keyboard.press('Enter');
  await page.waitForSelector('section.user[data-user="alice"]');
  await page.click('section.user[data-user="alice"] button:has-text("Create key")');
  await page.waitForSelector('.secret-once');
  const vals = await page.$$eval('.secret-once .copy-value', (e) => e.map((x) => x.textContent));
  const [accessKey, secretKey] = vals;
  assert.ok(accessKey && secretKey && secretKey.length >= 20);
  await shot('21-key-secret-once');
  await page.keyboard.press('Escape');
  await page.click(`tr[data-key="${accessKey}"] button:text("Disable")`);
  await page.waitForSelector(`tr[data-key="${accessKey}"] button:text("Enable")`);
  assert.equal((await apiCall('GET', '/api/buckets', null, `${accessKey}:${secretKey}`)).status, 401);
  await page.click(`tr[data-key="${accessKey}"] button:text("Enable")`);
  await page.waitForSelector(`tr[data-key="${accessKey}"] button:text("Disable")`);
  await shot('22-users');
  assert.equal((await apiCall('POST', '/api/buckets', { name: 'alice-files', owner: 'alice' })).status, 201);

  // sign in as alice in another context: only her bucket
  const c2 = await browser.newContext({ viewport: { width: 375, height: 800 } });
  const p2 = await c2.newPage();
  await signIn(p2, { accessKey, secretKey });
  await p2.waitForSelector('tr[data-bucket="alice-files"]');
  const names = await p2.$$eval('tr[data-bucket]', (e) => e.map((x) => x.dataset.bucket));
  assert.deepEqual(names, ['alice-files']);
  assert.equal(await p2.$('.nav a[href="#/users"]'), null);
  await shot('23-user-buckets-375px', p2);
  await p2.goto(`${admin}/#/b/photos/files/`);
  await p2.waitForSelector('text=No such bucket');
  // a key deleted mid-session: the next 401 returns to sign-in
  assert.equal((await apiCall('DELETE', `/api/users/alice/keys/${accessKey}`)).status, 204);
  await p2.goto(`${admin}/#/buckets`);
  await p2.waitForSelector('.signin-card');
  assert.equal(await p2.evaluate(() => sessionStorage.getItem('bucketgate.auth')), null);
  await c2.close();
});

test('narrow screen and light mode', async () => {
  const c = await browser.newContext({ viewport: { width: 375, height: 760 } });
  const p = await c.newPage();
  await signIn(p, { token: TOKEN });
  await p.goto(`${admin}/#/b/photos/files/`);
  await p.waitForSelector('tr[data-key="notes.txt"]');
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling at 375 px (overflow ${overflow}px)`);
  await shot('24-files-375px', p);
  await p.click('.theme-toggle');
  assert.equal(await p.getAttribute('html', 'data-theme'), 'light');
  await shot('25-files-375px-light', p);
  await p.goto(`${admin}/#/b/photos/overview`);
  await p.waitForSelector('.snippet');
  assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'connect page fits 375 px');
  await shot('26-connect-375px-light', p);
  await p.click('.signout');
  await p.waitForSelector('.signin-card');
  assert.equal(await p.evaluate(() => sessionStorage.getItem('bucketgate.auth')), null);
  await c.close();
  await page.goto(`${admin}/#/buckets`);
  await page.click('.theme-toggle');
  await page.waitForSelector('tr[data-bucket="photos"]');
  await shot('27-buckets-light');
  await page.click('.theme-toggle');
});

test('a 10,000-object prefix renders (time printed)', async () => {
  assert.equal((await apiCall('POST', '/api/buckets', { name: 'many' })).status, 201);
  const N = 10000;
  const t0 = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: 48 }, async () => {
    while (next < N) { const i = next++; await s3Put('many', `logs/${String(i).padStart(5, '0')}.log`, `line ${i}\n`); }
  }));
  console.log(`# created ${N} objects with S3 PUTs in ${Date.now() - t0} ms`);

  const t1 = Date.now();
  await page.goto(`${admin}/#/b/many/files/logs/`);
  await page.waitForSelector('tr[data-key="logs/00999.log"]');
  const first = Date.now() - t1;
  await page.click('.load-all');
  await page.waitForSelector('tr[data-key="logs/09999.log"]', { timeout: 60000 });
  const all = Date.now() - t1;
  assert.equal(await page.$$eval('.files tbody tr', (r) => r.length), N);
  const drawMs = await page.getAttribute('.file-list', 'data-draw-ms');
  console.log(`# 10,000-object prefix: first 1,000 rows in ${first} ms, all 10,000 rows in ${all} ms (10 API pages, then one draw of 10,000 rows: ${drawMs} ms)`);
  await page.fill('.files-toolbar input[type=search]', '0999');
  await page.waitForFunction(() => document.querySelectorAll('.files tbody tr').length === 11);
  await shot('28-many-filtered');
});

test('no script errors and no CSP violations on any page', () => {
  assert.deepEqual(logs.filter((l) => l.startsWith('pageerror')), []);
});
