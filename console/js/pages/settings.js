// Bucket settings: description, quota, public read/list, versioning, encryption; website
// index and error documents; CORS rules; delete after typing the bucket's name.
import * as api from '../api.js';
import { errorField } from '../api.js';
import { h, clear, field, toggle, setFieldError, toast, openDialog } from '../ui.js';
import { parseSize, formatBytes } from '../format.js';
import { go } from '../router.js';

export async function settingsTab({ panel, bucket }) {
  const b = bucket.name;
  const desc = h('input', { type: 'text', maxlength: 256, value: bucket.description || '' });
  const size = h('input', { type: 'text', placeholder: 'no limit, e.g. 10 GiB', value: bucket.maxSizeBytes ? formatBytes(bucket.maxSizeBytes) : '', spellcheck: false });
  const objs = h('input', { type: 'number', min: '1', step: '1', placeholder: 'no limit', value: bucket.maxObjects ?? '' });
  const enc = h('select', h('option', { value: '' }, 'None'), h('option', { value: 'AES256', selected: bucket.encryption === 'AES256' }, 'AES256 (server-side)'));
  if (bucket.encryption && bucket.encryption !== 'AES256') enc.append(h('option', { value: bucket.encryption, selected: true }, bucket.encryption));
  const form = h('form.card.settings-form', { novalidate: true },
    h('h2', 'General'),
    field({ label: 'Description', name: 'description', input: desc }),
    h('div.row2',
      field({ label: 'Quota: size', name: 'maxSizeBytes', input: size, hint: 'Units: KiB, MiB, GiB, TiB (or KB, MB…). Empty: no limit.' }),
      field({ label: 'Quota: objects', name: 'maxObjects', input: objs, hint: 'Empty: no limit.' })),
    h('fieldset.toggles', h('legend', 'Access'),
      toggle({ label: 'Public read', name: 'publicRead', checked: bucket.publicRead, hint: 'Anyone can download objects by URL, without signing.' }),
      toggle({ label: 'Public list', name: 'publicList', checked: bucket.publicList, hint: 'Anyone can list the keys (needs public read).' })),
    h('fieldset.toggles', h('legend', 'Protection'),
      toggle({ label: 'Versioning', name: 'versioning', checked: bucket.versioning === 'Enabled', hint: 'Keep earlier versions when objects are overwritten or deleted.' })),
    field({ label: 'Encryption', name: 'encryption', input: enc }),
    h('div.btn-row', h('button.btn.primary', { type: 'submit' }, 'Save changes')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const n of ['description', 'maxSizeBytes', 'maxObjects']) setFieldError(form, n, '');
    const patch = {};
    const d = desc.value.trim();
    if (d !== (bucket.description || '')) patch.description = d || null;
    const bytes = parseSize(size.value);
    if (Number.isNaN(bytes) || bytes === 0) return setFieldError(form, 'maxSizeBytes', 'Enter a size such as 500 MiB or 10 GiB, or leave empty.');
    if (bytes !== (bucket.maxSizeBytes ?? null) && !(bucket.maxSizeBytes && size.value === formatBytes(bucket.maxSizeBytes))) patch.maxSizeBytes = bytes;
    const n = objs.value === '' ? null : Number(objs.value);
    if (n !== null && (!Number.isInteger(n) || n < 1)) return setFieldError(form, 'maxObjects', 'Enter a whole number, or leave empty.');
    if (n !== (bucket.maxObjects ?? null)) patch.maxObjects = n;
    for (const k of ['publicRead', 'publicList']) if (form.elements[k].checked !== bucket[k]) patch[k] = form.elements[k].checked;
    if (form.elements.versioning.checked !== (bucket.versioning === 'Enabled')) patch.versioning = form.elements.versioning.checked;
    if ((enc.value || null) !== (bucket.encryption || null)) patch.encryption = enc.value || null;
    if (!Object.keys(patch).length) return toast('Nothing changed', 'info');
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    btn.classList.add('busy');
    try {
      Object.assign(bucket, await api.updateBucket(b, patch));
      toast('Settings saved', 'ok');
      go(`/b/${encodeURIComponent(b)}/settings`);
    } catch (err) {
      const f = errorField(err);
      if (!(f && setFieldError(form, f, err.message.replace(/^[a-zA-Z]+: /, '')))) toast(err.message, 'error');
    } finally {
      btn.disabled = false;
      btn.classList.remove('busy');
    }
  });

  const danger = h('section.card.danger-zone',
    h('h2', 'Delete this bucket'),
    h('p.muted', 'The bucket must be empty. Deleting cannot be undone.'),
    h('button.btn.danger', { type: 'button', onclick: () => deleteDialog(b) }, 'Delete bucket…'));
  const website = websiteForm(bucket);
  const cors = corsForm(bucket);
  clear(panel, h('div.settings', form, website, cors, danger));
}

/** Sends a settings patch from `form`, showing an API error on the field it names. */
async function save(form, bucket, patch, done) {
  form.querySelectorAll('.field.invalid').forEach((f) => setFieldError(form, f.dataset.field, ''));
  const btns = form.querySelectorAll('button');
  btns.forEach((x) => { x.disabled = true; });
  try {
    Object.assign(bucket, await api.updateBucket(bucket.name, patch));
    toast(done, 'ok');
    go(`/b/${encodeURIComponent(bucket.name)}/settings`);
  } catch (err) {
    // `cors[0].allowedOrigins[1]` is shown on the rule's origins field.
    const f = (errorField(err) || '').replace(/\[\d+\]$/, '');
    if (!(f && setFieldError(form, f, err.message.replace(/^[^:]+: /, '')))) toast(err.message, 'error');
  } finally {
    btns.forEach((x) => { x.disabled = false; });
  }
}

function websiteForm(bucket) {
  const w = bucket.website;
  const index = h('input', { type: 'text', placeholder: 'index.html', value: w?.indexDocument || '', spellcheck: false, autocapitalize: 'off' });
  const error = h('input', { type: 'text', placeholder: '404.html (optional)', value: w?.errorDocument || '', spellcheck: false, autocapitalize: 'off' });
  const form = h('form.card.website-form', { novalidate: true },
    h('h2', 'Website'),
    h('p.muted', 'A public-read bucket is served as a static website at its domains (see Domains). A folder ', h('code', 'dir/'), ' serves ', h('code', 'dir/'), ' + the index document; a missing key serves the error document with status 404.'),
    h('p.small', w ? 'Website documents are set.' : 'No website documents set: index.html is served.'),
    h('div.row2',
      field({ label: 'Index document', name: 'website.indexDocument', input: index, hint: 'A key suffix without "/", e.g. index.html.' }),
      field({ label: 'Error document', name: 'website.errorDocument', input: error, hint: 'A key, e.g. errors/404.html. Empty: a plain 404.' })),
    h('div.btn-row',
      h('button.btn.primary', { type: 'submit' }, 'Save website'),
      w ? h('button.btn.ghost.website-off', { type: 'button', onclick: () => save(form, bucket, { website: null }, 'Website documents removed') }, 'Remove') : null));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const i = index.value.trim();
    if (!i) return setFieldError(form, 'website.indexDocument', 'Enter the index document, e.g. index.html.');
    if (i.includes('/')) return setFieldError(form, 'website.indexDocument', 'The index document cannot contain "/".');
    save(form, bucket, { website: { indexDocument: i, errorDocument: error.value.trim() || null } }, 'Website saved');
  });
  return form;
}

const METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'];
const list = (v) => v.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

function corsForm(bucket) {
  const rules = h('div.cors-rules');
  const addRule = (r = {}) => {
    const i = rules.children.length;
    const origins = h('textarea', { rows: 2, spellcheck: false, placeholder: 'https://app.example.com' }, (r.allowedOrigins || []).join('\n'));
    const headers = h('input', { type: 'text', spellcheck: false, placeholder: '* or content-type, x-amz-*', value: (r.allowedHeaders || []).join(', ') });
    const expose = h('input', { type: 'text', spellcheck: false, placeholder: 'ETag', value: (r.exposeHeaders || []).join(', ') });
    const age = h('input', { type: 'number', min: '0', max: '86400', step: '1', placeholder: 'none', value: r.maxAgeSeconds ?? '' });
    const methods = h('div.field', { dataset: { field: `cors[${i}].allowedMethods` } },
      h('span.label', 'Methods'),
      h('div.checks', METHODS.map((m) => h('label.check', h('input', { type: 'checkbox', value: m, checked: (r.allowedMethods || ['GET']).includes(m) }), ' ', m))),
      h('p.field-error', { role: 'alert' }));
    const card = h('fieldset.cors-rule', h('legend', `Rule ${i + 1}`),
      field({ label: 'Allowed origins', name: `cors[${i}].allowedOrigins`, id: `cors-${i}-origins`, input: origins, hint: 'One a line: * or scheme://host[:port], at most one * each.' }),
      methods,
      h('div.row2',
        field({ label: 'Allowed headers', name: `cors[${i}].allowedHeaders`, id: `cors-${i}-headers`, input: headers }),
        field({ label: 'Exposed headers', name: `cors[${i}].exposeHeaders`, id: `cors-${i}-expose`, input: expose })),
      field({ label: 'Max age (seconds)', name: `cors[${i}].maxAgeSeconds`, id: `cors-${i}-age`, input: age, hint: '0 to 86400: how long browsers cache the preflight.' }),
      h('button.btn.small.ghost.remove-rule', { type: 'button', onclick: () => { card.remove(); renumber(); } }, 'Remove rule'));
    card.read = () => {
      const rule = {
        allowedOrigins: list(origins.value),
        allowedMethods: [...methods.querySelectorAll('input:checked')].map((c) => c.value),
        allowedHeaders: list(headers.value),
        exposeHeaders: list(expose.value),
      };
      if (age.value !== '') rule.maxAgeSeconds = Number(age.value);
      return rule;
    };
    rules.append(card);
  };
  // Field names carry the rule's index, so they follow removals.
  const renumber = () => [...rules.children].forEach((card, i) => {
    card.querySelector('legend').textContent = `Rule ${i + 1}`;
    card.querySelectorAll('.field').forEach((f) => { f.dataset.field = f.dataset.field.replace(/^cors\[\d+\]/, `cors[${i}]`); });
  });
  (bucket.cors || []).forEach(addRule);
  const form = h('form.card.cors-form', { novalidate: true },
    h('h2', 'CORS'),
    h('p.muted', 'Lets web pages on other origins call this bucket over S3 from a browser (up to 100 rules). The console\'s own origin is always allowed.'),
    h('div.field', { dataset: { field: 'cors' } }, rules, h('p.field-error', { role: 'alert' })),
    h('div.btn-row',
      h('button.btn.ghost.add-rule', { type: 'button', onclick: () => addRule() }, 'Add rule'),
      h('button.btn.primary', { type: 'submit' }, 'Save CORS rules')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const all = [...rules.children].map((c) => c.read());
    save(form, bucket, { cors: all.length ? all : null }, all.length ? 'CORS rules saved' : 'CORS rules removed');
  });
  return form;
}

function deleteDialog(b) {
  const input = h('input', { type: 'text', autocomplete: 'off', spellcheck: false });
  const { form } = openDialog({
    title: `Delete ${b}?`, submitLabel: 'Delete bucket', danger: true,
    body: h('div', h('p', 'This removes the bucket and its settings for good. Type the bucket\'s name to confirm.'),
      field({ label: `Type "${b}"`, name: 'confirm', input })),
    onSubmit: async (f) => {
      if (input.value !== b) { setFieldError(f, 'confirm', 'The name does not match.'); return true; }
      try {
        await api.deleteBucket(b);
      } catch (e) {
        setFieldError(f, 'confirm', e.code === 'BucketNotEmpty' ? 'The bucket is not empty: delete its objects first.' : e.message);
        return true;
      }
      toast(`Bucket ${b} deleted`, 'ok');
      go('/buckets');
    },
  });
  const submit = form.querySelector('button[type=submit]');
  submit.disabled = true;
  input.addEventListener('input', () => { submit.disabled = input.value !== b; });
}
