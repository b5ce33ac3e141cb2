// The harness of the console's browser tests: a bucketgate spawned on free ports with a temp
// data dir, Debian's chromium driven by playwright-core, and the helpers the tests share. Each
// test file runs in a process of its own (node --test), so each gets its own gateway; the
// state below is exported as live bindings, set by the hooks useGateway() registers.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { dnsServer, dockerReady, removeInstance } from './fixtures.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');
const SHOTS = join(repo, 'target/console-screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const BIN = process.env.BUCKETGATE_BIN || resolve(repo, process.env.CARGO_TARGET_DIR || 'target', 'debug/bucketgate');
export const TOKEN = 'console-test-token-' + randomBytes(6).toString('hex');
export const ROOT_AK = 'ROOTCONSOLETEST00001';
export const ROOT_SK = randomBytes(20).toString('hex');
export const MiB = 1024 * 1024;

let server, dataDir, dns;
export let work, s3, admin, browser, ctx, page, docker;
// The gateway instance of this run's containers (their labels), removed at the end.
const INSTANCE = `console${randomBytes(5).toString('hex')}`;
export const logs = [];

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
    s.on('error', rej);
  });
}

async function waitReady(url, proc) {
  for (let i = 0; i < 600; i++) {
    if (proc.exitCode !== null) throw new Error(`bucketgate exited (${proc.exitCode}):\n${logs.join('')}`);
    try { const r = await fetch(url); if (r.ok) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50 + i * 5));
  }
  throw new Error(`bucketgate did not answer at ${url}`);
}

export async function apiCall(method, path, body, auth = TOKEN) {
  const r = await fetch(admin + path, { method, headers: { Authorization: `Bearer ${auth}`, ...(body ? { 'Content-Type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

// SigV4 (header auth, unsigned payload) for fast S3 PUTs from node with root's key.
const hmac = (k, s) => createHmac('sha256', k).update(s).digest();
const sha = (s) => createHash('sha256').update(s).digest('hex');
const encPath = (p) => p.split('/').map((x) => encodeURIComponent(x).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)).join('/');
export async function s3Put(bucket, key, body) {
  const u = new URL(`${s3}/${bucket}/${encPath(key)}`);
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const headers = { host: u.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-date': amzDate };
  const signed = Object.keys(headers).sort();
  const creq = ['PUT', u.pathname, '', ...signed.map((h) => `${h}:${headers[h]}\n`).join('').split('\n').slice(0, -1), '', signed.join(';'), 'UNSIGNED-PAYLOAD'].join('\n');
  const scope = `${day}/us-east-1/s3/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', amzDate, scope, sha(creq)].join('\n');
  const kSig = hmac(hmac(hmac(hmac(`AWS4${ROOT_SK}`, day), 'us-east-1'), 's3'), 'aws4_request');
  const sig = createHmac('sha256', kSig).update(sts).digest('hex');
  const r = await fetch(u, { method: 'PUT', body, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-date': amzDate, Authorization: `AWS4-HMAC-SHA256 Credential=${ROOT_AK}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${sig}` } });
  if (!r.ok) throw new Error(`PUT ${key}: ${r.status} ${await r.text()}`);
}

export async function shot(name, p = page, { toasts = false } = {}) {
  if (!toasts) await p.evaluate(() => document.querySelector('.toasts')?.replaceChildren());
  // finite animations and transitions (toasts, progress bars) finish before the picture
  await p.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getComputedTiming().iterations === Infinity));
  await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

export async function listKeys(bucket, prefix = '') {
  const r = await apiCall('GET', `/api/buckets/${bucket}/objects?prefix=${encodeURIComponent(prefix)}`);
  assert.equal(r.status, 200);
  return r.body.objects.map((o) => o.key);
}

export function file(name, bytes) {
  const p = join(work, name);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, bytes);
  return p;
}

/** Polls `cond` (node side) until it holds, for at most `ms`. */
export async function waitFor(cond, what, ms = 15000) {
  for (const until = Date.now() + ms; !(await cond());) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function waitUploadsDone(p = page) {
  await p.waitForFunction(() => {
    const items = [...document.querySelectorAll('.upload-item')];
    return items.length > 0 && items.every((i) => i.dataset.state !== 'uploading' && i.dataset.state !== 'queued');
  }, null, { timeout: 60000 });
}

/** Dismisses the finished uploads so the panel covers nothing. */
export async function clearUploads(p = page) {
  const btn = await p.$('.upload-head-btns button:text("Clear")');
  if (btn) await btn.click();
  await p.waitForSelector('.upload-panel', { state: 'detached' });
}

export async function signIn(p, auth) {
  await p.goto(`${admin}/#/signin`);
  await p.waitForSelector('.signin-card');
  if (auth.token) {
    await p.fill('#f-token', auth.token);
  } else {
    await p.click('.seg[data-mode=key]');
    await p.fill('#f-accessKey', auth.accessKey);
    await p.fill('#f-secretKey', auth.secretKey);
  }
  await p.keyboard.press('Enter');
  await p.waitForSelector('.bucket-list table, .bucket-list .empty');
}

/**
 * Registers the hooks that start the gateway and the browser before the file's tests and stop
 * them after. `dnsNames` (name → [a, b, c, d]) runs a DNS server for `[domains] resolver`;
 * `containers` configures container buckets on the test image (when a Docker engine is there:
 * `docker` says whether it is); `signedIn` signs the page in with the admin token.
 */
export function useGateway({ dnsNames = null, containers = false, signedIn = false } = {}) {
  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`chromium is missing at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium)`);
    if (!existsSync(BIN)) throw new Error(`bucketgate binary missing at ${BIN}: run cargo build --bin bucketgate or set BUCKETGATE_BIN`);
    mkdirSync(SHOTS, { recursive: true });
    work = mkdtempSync(join(tmpdir(), 'bg-console-'));
    dataDir = join(work, 'data');
    const [p1, p2] = [await freePort(), await freePort()];
    s3 = `http://127.0.0.1:${p1}`;
    admin = `http://127.0.0.1:${p2}`;
    // The admin origin must be one of the console origins the S3 listener's CORS allows.
    const cfg = join(work, 'bucketgate.toml');
    dns = dnsNames ? await dnsServer(dnsNames) : null;
    const resolver = dns ? `\n[domains]\nresolver = "127.0.0.1:${dns.address().port}"\n` : '';
    docker = containers && dockerReady(repo);
    // Container buckets run the locally built test image on a port range of this run's own.
    const ports = 46000 + (process.pid % 100) * 20;
    const container = docker ? `\n[container]\nprofile = "s3s-fs-test"\ninstance = "${INSTANCE}"\nport_min = ${ports}\nport_max = ${ports + 19}\nready_timeout_secs = 30\n` : '';
    writeFileSync(cfg, `console_origins = ["${admin}"]\n\n[stats]\nsample_secs = 1\n${resolver}${container}`);
    server = spawn(BIN, ['serve', '-c', cfg, '--data-dir', dataDir, '--listen', `127.0.0.1:${p1}`, '--admin-listen', `127.0.0.1:${p2}`], {
      env: { ...process.env, BUCKETGATE_ADMIN_TOKEN: TOKEN, BUCKETGATE_ROOT_ACCESS_KEY: ROOT_AK, BUCKETGATE_ROOT_SECRET_KEY: ROOT_SK, RUST_LOG: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout.on('data', (d) => logs.push(String(d)));
    server.stderr.on('data', (d) => logs.push(String(d)));
    await waitReady(`${admin}/api/config`, server);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    ctx.setDefaultTimeout(15000);
    page = await ctx.newPage();
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}\n`));
    page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) logs.push(`pageerror: CSP: ${m.text()}\n`); });
    if (signedIn) await signIn(page, { token: TOKEN });
  });

  after(async () => {
    await browser?.close();
    if (server && server.exitCode === null) server.kill('SIGTERM');
    dns?.close();
    if (docker) removeInstance(INSTANCE);
    if (work) rmSync(work, { recursive: true, force: true });
    const errs = logs.filter((l) => l.startsWith('pageerror'));
    if (errs.length) console.log(errs.join(''));
  });
}

// GET on the S3 listener with a Host header (fetch may not set Host): the website host.
export function hostGet(host, path = '/') {
  const u = new URL(s3);
  return new Promise((res, rej) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, method: 'GET', headers: { Host: `${host}:${u.port}` } }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (c) => { body += c; });
      r.on('end', () => res({ status: r.statusCode, body }));
    });
    req.on('error', rej);
    req.end();
  });
}
