// The file browser: breadcrumbs, folders from common prefixes, paged listing ("load more"
// with continuation tokens), sort/filter, multi-select, bulk delete, downloads, previews,
// details, share links, and uploads by drag and drop or picker (upload.js does the sending).
import * as api from '../api.js';
import { h, clear, icon, toast, toastError, openDialog, confirmDialog, field, setFieldError, emptyState, loading, copyText, copyButton } from '../ui.js';
import { formatBytes, formatCount, formatDate, formatSpeed, formatDuration, baseName } from '../format.js';
import { folderNameError, expiryError, keyError } from '../validate.js';
import { filesPath, go } from '../router.js';
import { Uploader, filesFromDataTransfer, filesFromInput, interruptedUploads, discardUpload } from '../upload.js';

const PAGE = 1000;
const uploaders = new Map();
export function uploaderFor(bucket) {
  if (!uploaders.has(bucket)) {
    const u = new Uploader(bucket);
    uploaders.set(bucket, u);
    UploadPanel.attach(u);
  }
  return uploaders.get(bucket);
}

const RASTER = /\.(png|jpe?g|gif|webp|avif|bmp|ico)$/i;
const TEXT = /\.(txt|md|markdown|json|csv|tsv|log|xml|ya?ml|toml|ini|conf|js|mjs|ts|css|rs|py|go|sh|sql|html?|svg)$/i;
const AUDIO = /\.(mp3|ogg|oga|wav|flac|m4a|opus)$/i;
const VIDEO = /\.(mp4|webm|ogv|mov|m4v)$/i;
export function previewKind(key, contentType = '') {
  const ct = (contentType || '').toLowerCase();
  if (ct === 'image/svg+xml' || /\.svg$/i.test(key) || ct.includes('html') || /\.html?$/i.test(key)) return 'text'; // never rendered
  if (RASTER.test(key) || /^image\/(png|jpeg|gif|webp|avif|bmp|x-icon)/.test(ct)) return 'image';
  if (/\.pdf$/i.test(key) || ct === 'application/pdf') return 'pdf';
  if (AUDIO.test(key) || ct.startsWith('audio/')) return 'audio';
  if (VIDEO.test(key) || ct.startsWith('video/')) return 'video';
  if (TEXT.test(key) || ct.startsWith('text/') || ct.includes('json')) return 'text';
  return null;
}

export async function filesTab(ctx) {
  const { panel, bucket } = ctx;
  const b = bucket.name;
  let prefix = ctx.prefix || '';
  if (prefix && !prefix.endsWith('/')) prefix += '/';
  const view = { folders: [], objects: [], token: null, truncated: false, selected: new Set(), filter: '', sort: 'name', dir: 1, loading: false };
  const uploader = uploaderFor(b);

  // ---- toolbar
  const crumbs = h('nav.crumbs.path', { 'aria-label': 'Folder' },
    h('a', { href: `#${filesPath(b)}` }, icon('bucket'), b),
    prefix.split('/').filter(Boolean).map((seg, i, all) => [h('span.sep', { 'aria-hidden': 'true' }, '/'),
      i === all.length - 1 ? h('span', { 'aria-current': 'page' }, seg) : h('a', { href: `#${filesPath(b, `${all.slice(0, i + 1).join('/')}/`)}` }, seg)]));
  const filterInput = h('input.search', { type: 'search', placeholder: 'Filter this folder', 'aria-label': 'Filter this folder by name', oninput: () => { view.filter = filterInput.value.toLowerCase(); draw(); } });
  const sortSel = h('select', { 'aria-label': 'Sort', onchange: () => { const [k, d] = sortSel.value.split(':'); view.sort = k; view.dir = Number(d); draw(); } },
    h('option', { value: 'name:1' }, 'Name A–Z'), h('option', { value: 'name:-1' }, 'Name Z–A'), h('option', { value: 'size:-1' }, 'Largest first'), h('option', { value: 'size:1' }, 'Smallest first'), h('option', { value: 'date:-1' }, 'Newest first'), h('option', { value: 'date:1' }, 'Oldest first'));
  const fileInput = h('input.offscreen', { type: 'file', multiple: true, tabindex: '-1', 'aria-hidden': 'true', onchange: () => { addFiles(filesFromInput(fileInput)); fileInput.value = ''; } });
  const folderInput = h('input.offscreen', { type: 'file', multiple: true, webkitdirectory: true, tabindex: '-1', 'aria-hidden': 'true', onchange: () => { addFiles(filesFromInput(folderInput)); folderInput.value = ''; } });
  const delBtn = h('button.btn.danger.small', { type: 'button', disabled: true, onclick: bulkDelete }, icon('trash'), h('span.sel-count', 'Delete'));
  const toolbar = h('div.toolbar.files-toolbar',
    h('label.search-wrap', icon('search'), filterInput), sortSel,
    h('div.toolbar-end',
      delBtn,
      h('button.btn.small', { type: 'button', onclick: newFolder }, icon('folder'), h('span.btn-label', 'New folder')),
      h('button.btn.small', { type: 'button', onclick: () => folderInput.click() }, icon('upload'), h('span.btn-label', 'Upload folder')),
      h('button.btn.primary.small', { type: 'button', onclick: () => fileInput.click() }, icon('upload'), h('span.btn-label', 'Upload files'))),
    fileInput, folderInput);
  const resumeBox = h('div.resume-box');
  const list = h('div.file-list', loading('Listing…'));
  const more = h('div.more');
  const drop = h('div.dropzone', { 'aria-label': 'Drop files or folders here to upload' }, crumbs, toolbar, resumeBox, list, more,
    h('div.drop-hint', { 'aria-hidden': 'true' }, icon('upload'), h('span', `Drop to upload to ${b}/${prefix}`)));
  clear(panel, drop);

  // ---- drag and drop
  let depth = 0;
  drop.addEventListener('dragenter', (e) => { if (hasFiles(e)) { e.preventDefault(); depth++; drop.classList.add('dragging'); } });
  drop.addEventListener('dragover', (e) => { if (hasFiles(e)) { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; } });
  drop.addEventListener('dragleave', () => { depth = Math.max(0, depth - 1); if (!depth) drop.classList.remove('dragging'); });
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    depth = 0;
    drop.classList.remove('dragging');
    try { addFiles(await filesFromDataTransfer(e.dataTransfer)); } catch (err) { toastError(err, 'Could not read the dropped files'); }
  });

  function addFiles(items) {
    if (!items.length) return;
    let n = 0;
    for (const { file, path } of items) {
      const key = prefix + path;
      const err = keyError(key);
      if (err) { toast(`${path}: ${err}`, 'error'); continue; }
      uploader.add(file, key);
      n++;
    }
  }

  // refresh the listing when uploads land in this folder
  let refreshTimer;
  const onChange = (e) => {
    if (!panel.isConnected) { uploader.removeEventListener('change', onChange); return; }
    const t = e.detail;
    if (t.state === 'done' && t.key.startsWith(prefix)) { clearTimeout(refreshTimer); refreshTimer = setTimeout(() => load(true), 300); }
  };
  uploader.addEventListener('change', onChange);

  // ---- interrupted uploads (resume)
  function drawResume() {
    const recs = interruptedUploads(b).filter((r) => !uploader.tasks.some((t) => t.fp === r.fp && (t.state === 'uploading' || t.state === 'queued')));
    if (!recs.length) return clear(resumeBox);
    clear(resumeBox, h('div.callout.resume', { role: 'status' },
      h('strong', `${recs.length} interrupted upload${recs.length > 1 ? 's' : ''}`),
      h('span.muted', ' — choose the same file again to continue where it stopped.'),
      h('ul.resume-list', recs.map((r) => {
        const pick = h('input.offscreen', { type: 'file', tabindex: '-1', 'aria-hidden': 'true', onchange: () => {
          const f = pick.files[0];
          if (!f) return;
          if (f.size !== r.size) { toast(`That is not the same file (${formatBytes(f.size)}, expected ${formatBytes(r.size)}).`, 'error'); return; }
          uploader.add(f, r.key);
          drawResume();
        } });
        return h('li', { dataset: { key: r.key } }, icon('file'), h('span.mono', r.key), h('span.muted.small', formatBytes(r.size)),
          h('button.btn.small', { type: 'button', onclick: () => pick.click() }, 'Resume…'),
          h('button.btn.small.ghost', { type: 'button', onclick: async () => { await discardUpload(r); drawResume(); } }, 'Discard'), pick);
      }))));
  }
  drawResume();

  // ---- listing
  async function load(reset, render = true) {
    if (view.loading) return;
    view.loading = true;
    try {
      if (reset) { view.token = null; }
      const r = await api.listObjects(b, { prefix, token: reset ? '' : view.token, maxKeys: PAGE });
      if (reset) { view.folders = []; view.objects = []; }
      view.folders.push(...r.commonPrefixes);
      view.objects.push(...r.objects.filter((o) => o.key !== prefix));
      view.token = r.nextContinuationToken;
      view.truncated = r.isTruncated && !!view.token;
      if (reset) { const keys = new Set(view.objects.map((o) => o.key)); for (const k of view.selected) if (!keys.has(k)) view.selected.delete(k); }
    } catch (e) {
      if (e.status !== 401) clear(list, h('div.empty.error-state', h('h3', 'Could not list objects'), h('p', e.message)));
      return;
    } finally {
      view.loading = false;
    }
    if (render) draw();
  }

  // Fetches every remaining page, then draws once (drawing per page would be quadratic).
  async function loadAll() {
    clear(more, loading('Loading every object…'));
    while (view.truncated && panel.isConnected) {
      const token = view.token;
      await load(false, false);
      if (view.truncated && view.token === token) break; // the page failed: stop, its error is shown
      const status = more.querySelector('.loading span:last-child');
      if (status) status.textContent = `Loaded ${formatCount(view.objects.length)} objects…`;
    }
    draw();
  }

  function sorted() {
    const f = view.filter;
    const objs = view.objects.filter((o) => !f || o.key.slice(prefix.length).toLowerCase().includes(f));
    const dirs = view.folders.filter((p) => !f || p.slice(prefix.length).toLowerCase().includes(f));
    const byName = (a, c) => (a.key < c.key ? -1 : a.key > c.key ? 1 : 0); // S3's own order (bytes)
    const cmp = { name: byName, size: (a, c) => a.size - c.size, date: (a, c) => (a.lastModified || '').localeCompare(c.lastModified || '') }[view.sort];
    objs.sort((a, c) => cmp(a, c) * view.dir || byName(a, c));
    if (view.sort === 'name' && view.dir < 0) dirs.reverse();
    return { objs, dirs };
  }

  function draw() {
    const t0 = performance.now();
    const { objs, dirs } = sorted();
    updateSelection();
    if (!view.folders.length && !view.objects.length) {
      clear(list, h('div.empty.drop-empty', icon('upload', 'empty-icon'), h('h3', prefix ? 'This folder is empty' : 'This bucket is empty'),
        h('p', 'Drag files or whole folders here, or use the buttons above. Large files go straight to storage in parts.'),
        h('button.btn.primary', { type: 'button', onclick: () => fileInput.click() }, icon('upload'), 'Choose files')));
      clear(more);
      return;
    }
    const all = h('input', { type: 'checkbox', 'aria-label': 'Select all shown', checked: objs.length > 0 && objs.every((o) => view.selected.has(o.key)),
      onchange: () => { for (const o of objs) all.checked ? view.selected.add(o.key) : view.selected.delete(o.key); draw(); } });
    const tbody = h('tbody');
    const frag = document.createDocumentFragment();
    for (const p of dirs) frag.append(folderRow(p));
    for (const o of objs) frag.append(objectRow(o));
    tbody.append(frag);
    list.dataset.drawMs = String(Math.round(performance.now() - t0)); // read by the browser tests
    clear(list, h('table.table.files', h('caption.sr-only', `Contents of ${b}/${prefix}`),
      h('thead', h('tr', h('th.check', all), h('th', { scope: 'col' }, 'Name'), h('th.num', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, 'Modified'), h('th', { scope: 'col' }, h('span.sr-only', 'Actions')))),
      tbody));
    clear(more,
      h('span.muted.small.count', `${formatCount(dirs.length)} folder${dirs.length === 1 ? '' : 's'}, ${formatCount(objs.length)} object${objs.length === 1 ? '' : 's'}${view.truncated ? ' loaded so far' : ''}`),
      view.truncated ? [h('button.btn.small.load-more', { type: 'button', onclick: async (e) => { e.currentTarget.classList.add('busy'); await load(false); } }, 'Load more'),
        h('button.btn.small.ghost.load-all', { type: 'button', onclick: async (e) => { e.currentTarget.classList.add('busy'); await loadAll(); } }, 'Load all')] : null);
  }

  function folderRow(p) {
    return h('tr.folder', { dataset: { key: p } },
      h('td.check'),
      h('td.name-cell', h('a.obj-link', { href: `#${filesPath(b, p)}` }, icon('folder', 'folder-icon'), h('span', baseName(p)))),
      h('td.num.muted', '—'), h('td.muted', '—'), h('td'));
  }

  // Rows are clones of one template with delegated events: 10,000 rows draw several times
  // faster than building each element (and its listeners) one by one.
  const byKey = new Map();
  let rowTpl;
  function template() {
    const btn = (act, ic, title) => h('button.icon-btn', { type: 'button', title, dataset: { act } }, icon(ic));
    return h('tr', h('td.check', h('input', { type: 'checkbox' })),
      h('td.name-cell', h('button.obj-link.linklike', { type: 'button', dataset: { act: 'preview' } }, icon('file'), h('span'))),
      h('td.num'), h('td', h('time.small')),
      h('td.actions', btn('download', 'download', 'Download'), btn('share', 'share', 'Share link'), btn('details', 'info', 'Details')));
  }
  function objectRow(o) {
    rowTpl ||= template();
    byKey.set(o.key, o);
    const name = o.key.slice(prefix.length);
    const tr = rowTpl.cloneNode(true);
    tr.dataset.key = o.key;
    if (view.selected.has(o.key)) tr.className = 'selected';
    const cb = tr.firstChild.firstChild;
    cb.checked = view.selected.has(o.key);
    cb.setAttribute('aria-label', `Select ${name}`);
    tr.children[1].firstChild.lastChild.textContent = name;
    tr.children[2].textContent = formatBytes(o.size);
    const time = tr.children[3].firstChild;
    time.textContent = formatDate(o.lastModified);
    if (o.lastModified) time.setAttribute('datetime', o.lastModified);
    const [dl, sh, de] = tr.children[4].children;
    dl.setAttribute('aria-label', `Download ${name}`);
    sh.setAttribute('aria-label', `Share ${name}`);
    de.setAttribute('aria-label', `Details of ${name}`);
    return tr;
  }
  list.addEventListener('click', (e) => {
    const btn = e.target.closest('button[data-act]');
    const tr = btn?.closest('tr[data-key]');
    const o = tr && byKey.get(tr.dataset.key);
    if (!o) return;
    const act = btn.dataset.act;
    if (act === 'preview') preview(o);
    else if (act === 'download') download(b, o.key);
    else if (act === 'share') shareDialog(b, o.key);
    else if (act === 'details') detailsDialog(b, o.key);
  });
  list.addEventListener('change', (e) => {
    const cb = e.target;
    const tr = cb.closest?.('tbody tr[data-key]');
    if (!tr || cb.type !== 'checkbox') return;
    if (cb.checked) view.selected.add(tr.dataset.key);
    else view.selected.delete(tr.dataset.key);
    updateSelection();
  });

  function updateSelection() {
    const n = view.selected.size;
    delBtn.disabled = n === 0;
    delBtn.querySelector('.sel-count').textContent = n ? `Delete ${n}` : 'Delete';
    for (const tr of list.querySelectorAll('tbody tr[data-key]')) tr.classList.toggle('selected', view.selected.has(tr.dataset.key));
  }

  async function bulkDelete() {
    const keys = [...view.selected];
    if (!keys.length) return;
    const ok = await confirmDialog({ title: `Delete ${keys.length} object${keys.length > 1 ? 's' : ''}?`, message: keys.length <= 5 ? `This deletes ${keys.join(', ')} for good.` : `This deletes ${keys.length} objects for good, including ${keys.slice(0, 3).join(', ')}.` });
    if (!ok) return;
    let failed = 0;
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const k = keys[next++];
        try { await api.deleteObject(b, k); view.selected.delete(k); } catch { failed++; }
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    if (failed) toast(`${failed} object${failed > 1 ? 's' : ''} could not be deleted.`, 'error');
    else toast(`Deleted ${keys.length} object${keys.length > 1 ? 's' : ''}`, 'ok');
    await load(true);
  }

  function newFolder() {
    const input = h('input', { type: 'text', autocomplete: 'off', placeholder: 'photos/2026' });
    openDialog({
      title: 'New folder', submitLabel: 'Create folder',
      body: h('div', field({ label: 'Folder name', name: 'folder', input, hint: `Created in ${b}/${prefix}` })),
      onSubmit: async (form) => {
        const err = folderNameError(input.value);
        if (err) { setFieldError(form, 'folder', err); return true; }
        const key = `${prefix}${input.value.trim().replace(/\/+$/, '')}/`;
        // A folder is a zero-byte object whose key ends in "/", as S3 consoles make them.
        const { url } = await api.presignPut(b, key);
        const res = await fetch(url, { method: 'PUT', body: new Blob([]) });
        if (!res.ok) throw new Error(`Could not create the folder (HTTP ${res.status}).`);
        toast(`Folder ${key} created`, 'ok');
        go(filesPath(b, key));
      },
    });
  }

  function preview(o) { previewDialog(b, o); }

  await load(true);
}

function hasFiles(e) { return [...(e.dataTransfer?.types || [])].includes('Files'); }

// ---- download, preview, details, share
export async function download(bucket, key) {
  try {
    const name = baseName(key);
    const r = await api.presignGet(bucket, key, { disposition: 'attachment', filename: name, expiresIn: 600 });
    if (r.url.includes('response-content-disposition')) {
      const a = h('a.offscreen', { href: r.url, download: name, rel: 'noopener' });
      document.body.append(a);
      a.click();
      a.remove();
      return;
    }
    // Without a disposition the browser would show the file: fetch it and save a blob.
    const res = await fetch(r.url);
    if (!res.ok) throw new Error(`Download failed (HTTP ${res.status}).`);
    const blobUrl = URL.createObjectURL(await res.blob());
    const a = h('a.offscreen', { href: blobUrl, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(blobUrl), 10000);
  } catch (e) {
    toastError(e, 'Download failed');
  }
}

export async function previewDialog(bucket, o) {
  const body = h('div.preview', loading('Loading preview…'));
  const name = baseName(o.key);
  openDialog({ title: name, body, wide: true });
  try {
    const meta = await api.objectMeta(bucket, o.key).catch(() => ({ contentType: '' }));
    const kind = previewKind(o.key, meta.contentType);
    const footer = h('div.preview-meta', h('span.muted.small', `${formatBytes(o.size)} · ${meta.contentType || 'unknown type'} · ${formatDate(o.lastModified)}`),
      h('button.btn.small', { type: 'button', onclick: () => download(bucket, o.key) }, icon('download'), 'Download'));
    if (!kind) return clear(body, h('div.empty', icon('file', 'empty-icon'), h('p', 'No preview for this type of file.')), footer);
    const { url } = await api.presignGet(bucket, o.key, { disposition: 'inline', filename: name, expiresIn: 900 });
    let el;
    if (kind === 'image') el = h('img.preview-img', { src: url, alt: name });
    else if (kind === 'audio') el = h('audio.preview-media', { src: url, controls: true, preload: 'metadata' });
    else if (kind === 'video') el = h('video.preview-media', { src: url, controls: true, preload: 'metadata' });
    else if (kind === 'pdf') el = h('iframe.preview-pdf', { src: url, title: name });
    else {
      // Text, JSON, Markdown, and also HTML and SVG: shown as text, never rendered here.
      const LIMIT = 256 * 1024;
      const res = await fetch(url, { headers: { Range: `bytes=0-${LIMIT - 1}` } });
      if (!res.ok && res.status !== 206) throw new Error(`Could not load the preview (HTTP ${res.status}).`);
      let text = await res.text();
      if (/\.json$/i.test(o.key) && o.size <= LIMIT) { try { text = JSON.stringify(JSON.parse(text), null, 2); } catch { /* as is */ } }
      el = h('pre.preview-text', h('code', text));
      if (o.size > LIMIT) footer.prepend(h('span.small.muted', `Showing the first ${formatBytes(LIMIT)}. `));
    }
    clear(body, el, footer);
  } catch (e) {
    clear(body, h('div.empty.error-state', h('p', e.message)));
  }
}

export async function detailsDialog(bucket, key) {
  const body = h('div', loading());
  openDialog({ title: baseName(key), body, wide: true });
  try {
    const m = await api.objectMeta(bucket, key);
    const row = (k, v) => [h('dt', k), h('dd', v ?? '—')];
    const meta = Object.entries(m.metadata || {});
    const tags = m.tags ? Object.entries(m.tags) : null;
    clear(body, h('dl.facts',
      row('Key', h('code', key)), row('Size', `${formatBytes(m.size)} (${formatCount(m.size)} bytes)`), row('ETag', h('code', m.etag || '—')),
      row('Type', m.contentType), row('Modified', formatDate(m.lastModified)), row('Storage class', m.storageClass || 'STANDARD'),
      m.versionId ? row('Version', h('code', m.versionId)) : null,
      m.cacheControl ? row('Cache-Control', m.cacheControl) : null,
      m.contentDisposition ? row('Disposition', m.contentDisposition) : null,
      row('Metadata', meta.length ? h('ul.kv', meta.map(([k, v]) => h('li', h('code', k), ' = ', v))) : 'none'),
      tags ? row('Tags', tags.length ? h('ul.kv', tags.map(([k, v]) => h('li', h('code', k), ' = ', v))) : 'none') : null),
    h('div.btn-row', h('button.btn.small', { type: 'button', onclick: () => download(bucket, key) }, icon('download'), 'Download'),
      h('button.btn.small', { type: 'button', onclick: () => shareDialog(bucket, key) }, icon('share'), 'Share link')));
  } catch (e) {
    clear(body, h('div.empty.error-state', h('p', e.message)));
  }
}

const EXPIRIES = [['1 hour', 3600], ['1 day', 86400], ['3 days', 3 * 86400], ['7 days', 7 * 86400]];
export function shareDialog(bucket, key) {
  const sel = h('select', EXPIRIES.map(([l, s]) => h('option', { value: String(s), selected: s === 86400 }, l)));
  const out = h('div.share-out');
  openDialog({
    title: `Share ${baseName(key)}`, submitLabel: 'Create link',
    body: h('div.form-grid', h('p.muted', 'Anyone with the link can download this object until it expires, without signing in.'),
      field({ label: 'Expires after', name: 'expiresIn', input: sel }), out),
    onSubmit: async (form) => {
      const secs = Number(sel.value);
      const err = expiryError(secs);
      if (err) { setFieldError(form, 'expiresIn', err); return true; }
      const r = await api.presignGet(bucket, key, { expiresIn: secs, disposition: 'attachment', filename: baseName(key) });
      const input = h('input.share-url', { type: 'text', readonly: true, value: r.url, 'aria-label': 'Share link' });
      clear(out, h('div.copy-row', input, copyButton(r.url, 'Copy link')), h('p.small.muted', `Valid until ${formatDate(r.expiresAt)}.`));
      input.select();
      copyText(r.url).catch(() => {});
      return true;
    },
  });
}

// ---- the upload panel (one for the page, shows every bucket's uploads)
const UploadPanel = {
  el: null,
  engines: new Set(),
  attach(u) {
    this.engines.add(u);
    u.addEventListener('change', () => this.schedule());
  },
  scheduled: false,
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => { this.scheduled = false; this.draw(); });
  },
  draw() {
    const tasks = [...this.engines].flatMap((u) => u.tasks);
    if (!tasks.length) { this.el?.remove(); this.el = null; return; }
    if (!this.el) {
      this.el = h('aside.upload-panel', { 'aria-label': 'Uploads' });
      document.body.append(this.el);
    }
    const live = tasks.filter((t) => t.state !== 'cancelled');
    const failed = live.filter((t) => t.state === 'error').length;
    const counted = live.filter((t) => t.state !== 'error'); // a refused file adds no progress
    const size = counted.reduce((s, t) => s + t.size, 0);
    const loaded = counted.reduce((s, t) => s + t.loaded, 0);
    const speed = live.filter((t) => t.state === 'uploading').reduce((s, t) => s + t.speed, 0);
    const active = live.filter((t) => t.state === 'uploading' || t.state === 'queued').length;
    const pct = size ? Math.floor((loaded / size) * 100) : (active ? 0 : 100);
    // Fold the list away a moment after everything finished well, so it covers no rows.
    if (active) { clearTimeout(this.foldTimer); this.foldTimer = null; this.el.classList.remove('collapsed'); this.wasActive = true; }
    else if (this.wasActive && !failed && !this.foldTimer) {
      this.wasActive = false;
      this.foldTimer = setTimeout(() => { this.foldTimer = null; this.el?.classList.add('collapsed'); this.draw(); }, 2500);
    }
    const totalBar = h('span.progress-fill');
    totalBar.style.width = `${pct}%`;
    const collapsed = this.el.classList.contains('collapsed');
    clear(this.el,
      h('header.upload-head',
        h('div',
          h('strong.upload-title', active ? `Uploading ${active} file${active > 1 ? 's' : ''}` : failed ? `${failed} upload${failed > 1 ? 's' : ''} failed` : 'Uploads complete'),
          h('div.small.muted.upload-total', { dataset: { percent: String(pct) } }, `${pct}% · ${formatBytes(loaded)} of ${formatBytes(size)}`, active ? ` · ${formatSpeed(speed)} · ${formatDuration(speed > 0 ? (size - loaded) / speed : null)} left` : '')),
        h('div.upload-head-btns',
          active ? h('button.btn.small.ghost', { type: 'button', onclick: () => { for (const u of this.engines) u.cancelAll(); } }, 'Cancel all') : h('button.btn.small.ghost', { type: 'button', onclick: () => { for (const u of this.engines) u.clearFinished(); this.draw(); } }, 'Clear'),
          h('button.icon-btn', { type: 'button', 'aria-label': collapsed ? 'Expand uploads' : 'Collapse uploads', 'aria-expanded': String(!collapsed), onclick: () => { this.el.classList.toggle('collapsed'); this.draw(); } }, icon(collapsed ? 'plus' : 'x')))),
      h('div.progress.total', { role: 'progressbar', 'aria-label': 'Total upload progress', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct) }, totalBar),
      h('ul.upload-list', tasks.slice(-200).reverse().map((t) => this.row(t))));
  },
  row(t) {
    const pct = t.state === 'error' ? 0 : t.size ? Math.floor((t.loaded / t.size) * 100) : (t.state === 'done' ? 100 : 0);
    const fill = h('span.progress-fill');
    fill.style.width = `${pct}%`;
    const status = {
      queued: 'waiting',
      uploading: `${pct}% · ${formatSpeed(t.speed)}${t.eta != null ? ` · ${formatDuration(t.eta)} left` : ''}${t.resumedParts ? ` · resumed, ${t.resumedParts} part${t.resumedParts > 1 ? 's' : ''} already there` : ''}`,
      done: `done · ${formatBytes(t.size)}${t.plan?.multipart ? ` in ${t.plan.parts} parts` : ''}${t.resumedParts ? ` · resumed (${t.resumedParts} part${t.resumedParts > 1 ? 's' : ''} skipped)` : ''}`,
      error: t.error,
      cancelled: 'cancelled',
    }[t.state];
    return h(`li.upload-item.state-${t.state}`, { dataset: { key: t.key, state: t.state, percent: String(pct) } },
      h('div.upload-line', h('span.upload-name', { title: `${t.engine.bucket}/${t.key}` }, t.key),
        (t.state === 'uploading' || t.state === 'queued') ? h('button.icon-btn.small', { type: 'button', 'aria-label': `Cancel ${t.key}`, title: 'Cancel', onclick: () => t.cancel() }, icon('x')) : null),
      h('div.progress', { role: 'progressbar', 'aria-label': `Progress of ${t.key}`, 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct) }, fill),
      h(`div.small.upload-status${t.state === 'error' ? '.err' : ''}`, { role: t.state === 'error' ? 'alert' : null }, status));
  },
};
