// Bucket list (filter, sort, start/stop) and the create dialog (live name validation, API
// errors on the field they name).
import * as api from '../api.js';
import { errorField } from '../api.js';
import { h, clear, icon, field, toggle, setFieldError, toast, toastError, openDialog, emptyState, loading, badge, meter } from '../ui.js';
import { formatBytes, formatCount, formatDate, parseSize, percent } from '../format.js';
import { bucketNameError } from '../validate.js';
import { go, filesPath } from '../router.js';

const SORTS = {
  name: (a, b) => a.name.localeCompare(b.name),
  size: (a, b) => (b.usage?.bytes ?? 0) - (a.usage?.bytes ?? 0),
  objects: (a, b) => (b.usage?.objects ?? 0) - (a.usage?.objects ?? 0),
  created: (a, b) => b.createdAt.localeCompare(a.createdAt),
};

export function statusBadge(b) {
  const kind = { running: 'ok', stopped: 'muted', creating: 'warn', error: 'err' }[b.status] || 'muted';
  return h('span.status', { title: b.statusMessage || b.status }, badge(b.status, kind), b.statusMessage ? h('span.status-msg', b.statusMessage) : null);
}

export function backendLabel(b) {
  return b.container ? `${b.backend} · ${b.container.profile}` : b.backend;
}

export async function bucketsPage(ctx) {
  const { main, state } = ctx;
  const view = { filter: '', sort: sessionStorage.getItem('bucketgate.sort') || 'name', buckets: null };
  const filterInput = h('input.search', { type: 'search', placeholder: 'Filter buckets', 'aria-label': 'Filter buckets', oninput: () => { view.filter = filterInput.value.trim().toLowerCase(); draw(); } });
  const sortSel = h('select', { 'aria-label': 'Sort buckets', onchange: () => { view.sort = sortSel.value; sessionStorage.setItem('bucketgate.sort', view.sort); draw(); } },
    ...Object.keys(SORTS).map((k) => h('option', { value: k, selected: k === view.sort }, `Sort: ${k}`)));
  const body = h('div.bucket-list', loading('Loading buckets…'));
  clear(main,
    h('div.page-head',
      h('div', h('h1', 'Buckets'), h('p.muted.page-sub', state.me?.admin ? 'Every bucket on this gateway.' : 'Your buckets and the ones shared with you.')),
      h('button.btn.primary', { type: 'button', onclick: () => createDialog(state, load) }, icon('plus'), 'Create bucket')),
    h('div.toolbar', h('label.search-wrap', icon('search'), filterInput), sortSel),
    body);

  async function load() {
    try {
      view.buckets = await api.listBuckets();
      if (ctx.isCurrent()) draw();
    } catch (e) {
      if (e.status !== 401) clear(body, h('div.empty.error-state', h('h3', 'Could not load buckets'), h('p', e.message)));
    }
  }

  function draw() {
    const all = view.buckets || [];
    if (!all.length) {
      clear(body, emptyState('bucket', 'No buckets yet', 'A bucket holds your files. Create one, then upload from the browser or any S3 client.',
        h('button.btn.primary', { type: 'button', onclick: () => createDialog(state, load) }, icon('plus'), 'Create your first bucket')));
      return;
    }
    const rows = all.filter((b) => !view.filter || b.name.includes(view.filter) || (b.description || '').toLowerCase().includes(view.filter))
      .sort(SORTS[view.sort] || SORTS.name);
    if (!rows.length) {
      clear(body, emptyState('search', 'No bucket matches', `Nothing matches "${view.filter}".`));
      return;
    }
    clear(body, h('table.table.buckets', 
      h('caption.sr-only', 'Buckets'),
      h('thead', h('tr', ...['Name', 'Backend', 'Status', 'Objects', 'Size', 'Quota', 'Created', ''].map((t, i) => h('th', { scope: 'col', class: i >= 3 && i <= 4 ? 'num' : null }, t)))),
      h('tbody', rows.map((b) => row(b)))));
  }

  function row(b) {
    const used = b.usage?.bytes ?? 0;
    const pct = percent(used, b.maxSizeBytes);
    const lifecycle = b.backend === 'container'
      ? h('button.btn.small.ghost', { type: 'button', onclick: (e) => { e.stopPropagation(); lifecycleAction(b, e.currentTarget); } },
        icon(b.status === 'running' ? 'stop' : 'play'), b.status === 'running' ? 'Stop' : 'Start')
      : null;
    return h('tr', { dataset: { bucket: b.name } },
      h('td.name-cell', { 'data-label': 'Name' },
        h('a.bucket-link', { href: `#${filesPath(b.name)}` }, icon('bucket'), h('span', b.name)),
        b.publicRead ? badge(b.publicList ? 'public list' : 'public read', 'public') : null,
        b.description ? h('div.muted.small.desc', b.description) : null),
      h('td', { 'data-label': 'Backend' }, h('span.mono.small', backendLabel(b))),
      h('td', { 'data-label': 'Status' }, statusBadge(b)),
      h('td.num', { 'data-label': 'Objects' }, formatCount(b.usage?.objects ?? 0)),
      h('td.num', { 'data-label': 'Size' }, formatBytes(used)),
      h('td.quota-cell', { 'data-label': 'Quota' }, b.maxSizeBytes
        ? h('div.quota', meter(pct, `Quota used for ${b.name}`), h('span.small.muted', `${Math.round(pct)}% of ${formatBytes(b.maxSizeBytes)}`))
        : h('span.muted.small', 'no limit')),
      h('td', { 'data-label': 'Created' }, h('time.small', { datetime: b.createdAt }, formatDate(b.createdAt))),
      h('td.actions', lifecycle, h('a.btn.small.ghost', { href: `#/b/${encodeURIComponent(b.name)}/overview`, 'aria-label': `Details of ${b.name}` }, icon('info'), h('span.btn-label', 'Details'))));
  }

  async function lifecycleAction(b, btn) {
    btn.disabled = true;
    btn.classList.add('busy');
    try {
      await (b.status === 'running' ? api.stopBucket(b.name) : api.startBucket(b.name));
      toast(`${b.name} ${b.status === 'running' ? 'stopped' : 'started'}`, 'ok');
      await load();
    } catch (e) {
      toastError(e, b.name);
      btn.disabled = false;
      btn.classList.remove('busy');
    }
  }

  await load();
}

const UNITS = ['MiB', 'GiB', 'TiB'];

/** The create dialog. */
export function createDialog(state, onCreated) {
  const name = h('input', { type: 'text', autocomplete: 'off', spellcheck: false, autocapitalize: 'off', required: true, maxlength: 63, placeholder: 'my-bucket' });
  const desc = h('input', { type: 'text', maxlength: 256, placeholder: 'What is kept here (optional)' });
  const backend = h('select', h('option', { value: '' }, 'Default'), h('option', { value: 'embedded' }, 'Embedded (files on this server)'), h('option', { value: 'container' }, 'Container (own S3 server)'), h('option', { value: 'remote' }, 'Remote S3'));
  const profile = h('input', { type: 'text', placeholder: 'minio', spellcheck: false, list: 'profiles' });
  const profileList = h('datalist', { id: 'profiles' }, ['minio', 'rustfs', 's3s-fs-test'].map((p) => h('option', { value: p })));
  const quotaNum = h('input', { type: 'number', min: '0', step: 'any', inputmode: 'decimal', placeholder: 'no limit' });
  const quotaUnit = h('select', { 'aria-label': 'Quota unit' }, UNITS.map((u) => h('option', { value: u, selected: u === 'GiB' }, u)));
  const maxObjects = h('input', { type: 'number', min: '0', step: '1', inputmode: 'numeric', placeholder: 'no limit' });
  const enc = h('select', h('option', { value: '' }, 'None'), h('option', { value: 'AES256' }, 'AES256 (server-side)'));
  const quotaWrap = h('div.input-group', quotaNum, quotaUnit);
  quotaWrap.id = 'f-maxSizeBytes-group';
  const profileField = field({ label: 'Profile', name: 'profile', input: profile, hint: 'The S3 server image of a container bucket.' });
  profileField.hidden = true;
  backend.addEventListener('change', () => { profileField.hidden = backend.value !== 'container'; });
  const nameField = field({ label: 'Name', name: 'name', input: name, hint: '3–63 characters: lowercase letters, digits, hyphens and dots.' });
  const sizeField = field({ label: 'Quota: size', name: 'maxSizeBytes', input: quotaNum });
  quotaNum.replaceWith(quotaWrap);
  quotaWrap.prepend(quotaNum);
  const body = h('div.form-grid',
    nameField,
    field({ label: 'Description', name: 'description', input: desc }),
    h('div.row2', field({ label: 'Backend', name: 'backend', input: backend }), field({ label: 'Encryption', name: 'encryption', input: enc })),
    profileField, profileList,
    h('div.row2', sizeField, field({ label: 'Quota: objects', name: 'maxObjects', input: maxObjects })),
    h('fieldset.toggles', h('legend', 'Access and protection'),
      toggle({ label: 'Public read', name: 'publicRead', hint: 'Anyone with a link can download.' }),
      toggle({ label: 'Public list', name: 'publicList', hint: 'Anyone can list keys.' }),
      toggle({ label: 'Versioning', name: 'versioning', hint: 'Keep every version.' })));
  name.addEventListener('input', () => {
    const err = name.value ? bucketNameError(name.value) : null;
    setFieldError(form, 'name', err);
    nameField.classList.toggle('valid', !!name.value && !err);
  });
  const { form } = openDialog({
    title: 'Create a bucket', body, submitLabel: 'Create bucket', wide: true,
    onSubmit: async (f) => {
      const err = bucketNameError(name.value);
      if (err) { setFieldError(f, 'name', err); name.focus(); return true; }
      const req = { name: name.value };
      if (desc.value.trim()) req.description = desc.value.trim();
      if (backend.value) req.backend = backend.value;
      if (backend.value === 'container' && profile.value.trim()) req.profile = profile.value.trim();
      if (quotaNum.value !== '') {
        const bytes = parseSize(`${quotaNum.value} ${quotaUnit.value}`);
        if (!(bytes > 0)) { setFieldError(f, 'maxSizeBytes', 'Enter a positive size.'); return true; }
        req.maxSizeBytes = bytes;
      }
      if (maxObjects.value !== '') {
        const n = Number(maxObjects.value);
        if (!Number.isInteger(n) || n < 1) { setFieldError(f, 'maxObjects', 'Enter a whole number of objects.'); return true; }
        req.maxObjects = n;
      }
      for (const k of ['publicRead', 'publicList', 'versioning']) if (f.elements[k].checked) req[k] = true;
      if (enc.value) req.encryption = enc.value;
      try {
        const res = await api.createBucket(req);
        toast(`Bucket ${res.bucket.name} created`, 'ok');
        // Connection details (with a new key's secret, shown once) for the page that follows.
        if (res.connection) sessionStorage.setItem(`bucketgate.newsecret.${res.bucket.name}`, JSON.stringify(res.connection));
        onCreated?.();
        go(`/b/${encodeURIComponent(res.bucket.name)}/overview`);
      } catch (e) {
        const fieldName = errorField(e) || (/BucketName|Bucket(AlreadyExists|AlreadyOwnedByYou)/.test(e.code) ? 'name' : e.code === 'QuotaExceeded' ? 'maxSizeBytes' : null);
        const msg = e.message.replace(/^[a-zA-Z]+: /, '');
        if (fieldName && setFieldError(f, fieldName, friendly(e, msg))) return true;
        throw e;
      }
      return false;
    },
  });
}

function friendly(e, msg) {
  if (e.code === 'BucketAlreadyExists' || e.code === 'BucketAlreadyOwnedByYou') return 'This name is taken: choose another.';
  return msg;
}
