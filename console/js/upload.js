// The upload engine: files go straight from the browser to the S3 listener with presigned
// URLs. One PUT below 16 MiB; multipart above (planner.js), four parts in flight, each retried
// with backoff; progress, speed and ETA per file and in total; cancel aborts the multipart
// upload; an interrupted multipart upload is kept in localStorage and resumed (finished parts
// found with ListParts) when the same file is added again.
import * as api from './api.js';
import { planUpload, partRange, backoff, eta, CONCURRENCY } from './planner.js';

const STORE = 'bucketgate.uploads';
const MAX_ATTEMPTS = 5;
const FILES_AT_ONCE = 3;
const PRESIGN_BATCH = 100;

// ---- resume records
export function savedUploads() {
  try { return JSON.parse(localStorage.getItem(STORE)) || {}; } catch { return {}; }
}
function saveUploads(all) { localStorage.setItem(STORE, JSON.stringify(all)); }
function fingerprint(bucket, key, file) { return `${bucket}\n${key}\n${file.size}\n${file.lastModified}`; }
export function forgetUpload(fp) { const all = savedUploads(); delete all[fp]; saveUploads(all); }
/** Interrupted uploads of a bucket: [{ fp, key, name, size, uploadId, partSize, saved }]. */
export function interruptedUploads(bucket) {
  return Object.entries(savedUploads()).filter(([, r]) => r.bucket === bucket).map(([fp, r]) => ({ fp, ...r }));
}
/** Abandons an interrupted upload: aborts it on the server and forgets it. */
export async function discardUpload(rec) {
  try { await api.abortUpload(rec.bucket, rec.uploadId, rec.key); } catch { /* already gone */ }
  forgetUpload(rec.fp);
}

// ---- errors in plain words
export class UploadError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

export function plainError(code, status, message) {
  if (code === 'QuotaExceeded') return 'Not enough room: this upload would go over the bucket\'s quota. Free some space or raise the quota in Settings.';
  if (code === 'AccessDenied' || status === 403) return 'You are not allowed to write here.';
  if (code === 'EntityTooLarge') return 'The file is too large for S3.';
  if (code === 'NoSuchBucket') return 'The bucket no longer exists.';
  if (code === 'NetworkError' || status === 0) return 'The connection to the storage server failed.';
  return message || `Upload failed (${code || status}).`;
}

function s3Error(xhr) {
  const text = xhr.responseText || '';
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] || (xhr.status ? `HTTP${xhr.status}` : 'NetworkError');
  const msg = /<Message>([^<]+)<\/Message>/.exec(text)?.[1] || '';
  return new UploadError(xhr.status, code, plainError(code, xhr.status, msg));
}

const retryable = (e) => e.status === 0 || e.status >= 500 || e.status === 408 || e.status === 429;

/** PUT a blob with progress; resolves the ETag. `track` receives the XHR (for cancel). */
function xhrPut(url, blob, { onProgress, track, contentType }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    track?.add(xhr);
    xhr.open('PUT', url);
    if (contentType) xhr.setRequestHeader('Content-Type', contentType);
    xhr.upload.onprogress = (e) => onProgress?.(e.loaded);
    xhr.onload = () => {
      track?.delete(xhr);
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.getResponseHeader('ETag'));
      else reject(s3Error(xhr));
    };
    xhr.onerror = () => { track?.delete(xhr); reject(new UploadError(0, 'NetworkError', plainError('NetworkError', 0))); };
    xhr.onabort = () => { track?.delete(xhr); reject(new UploadError(-1, 'Cancelled', 'Cancelled')); };
    xhr.send(blob);
  });
}

const sleep = (ms, task) => new Promise((r) => { const t = setTimeout(r, ms); task.timers.add(t); });

/** One file being uploaded. Listen to the engine's "change" events for progress. */
class Task {
  constructor(engine, file, key) {
    this.id = Math.random().toString(36).slice(2);
    this.engine = engine;
    this.file = file;
    this.key = key;
    this.size = file.size;
    this.loaded = 0;
    this.state = 'queued';
    this.error = null;
    this.speed = 0;
    this.eta = null;
    this.resumedParts = 0;
    this.xhrs = new Set();
    this.timers = new Set();
    this.samples = [];
    this.plan = null;
  }

  progress(loaded) {
    this.loaded = Math.min(this.size, loaded);
    const now = performance.now();
    this.samples.push([now, this.loaded]);
    while (this.samples.length > 2 && now - this.samples[0][0] > 5000) this.samples.shift();
    const [t0, l0] = this.samples[0];
    this.speed = now - t0 > 200 ? ((this.loaded - l0) * 1000) / (now - t0) : this.speed;
    this.eta = eta(this.size - this.loaded, this.speed);
    this.engine.changed(this);
  }

  get cancelled() { return this.state === 'cancelled'; }

  async run() {
    this.state = 'uploading';
    this.started = performance.now();
    this.engine.changed(this);
    try {
      this.plan = planUpload(this.size);
      if (this.plan.multipart) await this.multipart();
      else await this.single();
      this.loaded = this.size;
      this.state = 'done';
      this.speed = (this.size * 1000) / Math.max(1, performance.now() - this.started);
      this.eta = 0;
    } catch (e) {
      if (this.cancelled) return;
      this.state = 'error';
      this.error = e instanceof UploadError ? e.message : e.code ? plainError(e.code, e.status, e.message) : (e.message || String(e));
      this.errorCode = e.code || null;
    } finally {
      this.engine.changed(this);
    }
  }

  async single() {
    await this.withRetry(async () => {
      const { url } = await api.presignPut(this.engine.bucket, this.key);
      await xhrPut(url, this.file, { onProgress: (n) => this.progress(n), track: this.xhrs, contentType: this.file.type || undefined });
    });
  }

  async withRetry(fn) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (this.cancelled) throw e;
        if (!retryable(e) || attempt >= MAX_ATTEMPTS) throw e;
        await sleep(backoff(attempt), this);
        if (this.cancelled) throw e;
      }
    }
  }

  async multipart() {
    const { bucket } = this.engine;
    const fp = fingerprint(bucket, this.key, this.file);
    this.fp = fp;
    const done = new Map(); // partNumber → etag
    const rec = savedUploads()[fp];
    if (rec && rec.partSize === this.plan.partSize) {
      try {
        const { parts } = await api.listParts(bucket, rec.uploadId, this.key);
        for (const p of parts) {
          const { start, end } = partRange(this.plan, this.size, p.partNumber);
          if (p.etag && p.size === end - start) done.set(p.partNumber, p.etag);
        }
        this.uploadId = rec.uploadId;
        this.resumedParts = done.size;
      } catch (e) {
        if (e.status !== 404) throw e;
        forgetUpload(fp); // the server no longer has it: start over
      }
    }
    if (!this.uploadId) {
      const r = await api.createUpload(bucket, this.key, this.file.type);
      this.uploadId = r.uploadId;
      const all = savedUploads();
      all[fp] = { bucket, key: this.key, name: this.file.name, size: this.size, lastModified: this.file.lastModified, uploadId: this.uploadId, partSize: this.plan.partSize, saved: new Date().toISOString() };
      saveUploads(all);
    }
    if (this.cancelled) return;
    let doneBytes = 0;
    for (const n of done.keys()) { const { start, end } = partRange(this.plan, this.size, n); doneBytes += end - start; }
    const inflight = new Map();
    const report = () => { let s = doneBytes; for (const v of inflight.values()) s += v; this.progress(s); };
    report();
    const queue = [];
    for (let n = 1; n <= this.plan.parts; n++) if (!done.has(n)) queue.push(n);
    const urls = new Map();
    const urlFor = async (n) => {
      if (!urls.has(n)) {
        const batch = queue.filter((x) => x >= n && !urls.has(x)).slice(0, PRESIGN_BATCH);
        if (!batch.includes(n)) batch.unshift(n);
        const r = await api.presignParts(bucket, this.uploadId, this.key, batch);
        for (const p of r.parts) urls.set(p.partNumber, p.url);
      }
      return urls.get(n);
    };
    let next = 0;
    const worker = async () => {
      while (next < queue.length && !this.cancelled) {
        const n = queue[next++];
        const { start, end } = partRange(this.plan, this.size, n);
        const etag = await this.withRetry(async () => {
          inflight.set(n, 0);
          try {
            return await xhrPut(await urlFor(n), this.file.slice(start, end), { onProgress: (l) => { inflight.set(n, l); report(); }, track: this.xhrs });
          } catch (e) {
            inflight.delete(n);
            report();
            if (e.status === 403 && e.code !== 'QuotaExceeded') urls.delete(n); // expired URL: presign again
            throw e;
          }
        });
        inflight.delete(n);
        if (!etag) throw new UploadError(0, 'NoETag', 'The storage server did not expose the part ETag (CORS).');
        done.set(n, etag);
        doneBytes += end - start;
        report();
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, queue.length) }, worker));
    } catch (e) {
      for (const x of this.xhrs) x.abort();
      throw e;
    }
    if (this.cancelled) return;
    const parts = [...done.entries()].sort((a, b) => a[0] - b[0]).map(([partNumber, etag]) => ({ partNumber, etag }));
    await api.completeUpload(bucket, this.uploadId, this.key, parts);
    forgetUpload(fp);
  }

  async cancel() {
    if (this.state === 'done' || this.state === 'cancelled') return;
    const wasRunning = this.state === 'uploading';
    this.state = 'cancelled';
    for (const t of this.timers) clearTimeout(t);
    for (const x of [...this.xhrs]) x.abort();
    this.engine.changed(this);
    if (wasRunning && this.uploadId) {
      try { await api.abortUpload(this.engine.bucket, this.uploadId, this.key); } catch { /* gone already */ }
      if (this.fp) forgetUpload(this.fp);
    }
  }
}

/** Upload queue of one bucket. Emits "change" (detail: task) and "idle". */
export class Uploader extends EventTarget {
  constructor(bucket) {
    super();
    this.bucket = bucket;
    this.tasks = [];
    this.running = 0;
  }

  add(file, key) {
    const t = new Task(this, file, key);
    this.tasks.push(t);
    this.changed(t);
    this.pump();
    return t;
  }

  pump() {
    while (this.running < FILES_AT_ONCE) {
      const t = this.tasks.find((x) => x.state === 'queued');
      if (!t) break;
      this.running++;
      t.run().finally(() => {
        this.running--;
        this.pump();
        if (!this.running && !this.tasks.some((x) => x.state === 'queued')) this.dispatchEvent(new Event('idle'));
      });
    }
  }

  changed(task) { this.dispatchEvent(new CustomEvent('change', { detail: task })); }

  /** Totals over the tasks that are not cancelled. */
  totals() {
    const live = this.tasks.filter((t) => t.state !== 'cancelled' && t.state !== 'error');
    const size = live.reduce((s, t) => s + t.size, 0);
    const loaded = live.reduce((s, t) => s + t.loaded, 0);
    const speed = live.filter((t) => t.state === 'uploading').reduce((s, t) => s + t.speed, 0);
    return { size, loaded, speed, eta: eta(size - loaded, speed), active: live.filter((t) => t.state === 'uploading' || t.state === 'queued').length, failed: this.tasks.filter((t) => t.state === 'error').length, done: live.filter((t) => t.state === 'done').length, count: live.length };
  }

  cancelAll() { for (const t of this.tasks) t.cancel(); }
  clearFinished() { this.tasks = this.tasks.filter((t) => t.state === 'uploading' || t.state === 'queued'); }
}

// ---- collecting dropped files and folders
/** Files from a drop: [{ file, path }] with folder paths kept (webkitGetAsEntry). */
export async function filesFromDataTransfer(dt) {
  const entries = [];
  for (const item of dt.items || []) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry) entries.push(entry);
    else { const f = item.getAsFile(); if (f) entries.push(f); }
  }
  if (!entries.length) return [...(dt.files || [])].map((file) => ({ file, path: file.name }));
  const out = [];
  for (const e of entries) {
    if (e instanceof File) out.push({ file: e, path: e.name });
    else await walk(e, '', out);
  }
  return out;
}

async function walk(entry, dir, out) {
  if (entry.isFile) {
    const file = await new Promise((res, rej) => entry.file(res, rej));
    out.push({ file, path: dir + file.name });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
      if (!batch.length) break;
      for (const child of batch) await walk(child, `${dir}${entry.name}/`, out);
    }
  }
}

/** Files from an <input type=file> (webkitRelativePath for folders). */
export function filesFromInput(input) {
  return [...input.files].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}
