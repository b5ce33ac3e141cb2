// Bucket settings: description, quota, public read/list, versioning, encryption; website
// documents when the API offers them; delete after typing the bucket's name.
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
  const website = h('section.card',
    h('h2', 'Website'),
    h('p.muted', 'A public-read bucket is served as a static website at its domains (see Domains). The index document is ', h('code', 'index.html'), ' and ', h('code', 'dir/'), ' serves ', h('code', 'dir/index.html'), '. Set other index and error documents with an S3 client (PutBucketWebsite), for example:'),
    h('pre.snippet', h('code', `aws s3api put-bucket-website --bucket ${b} \\\n  --website-configuration '{"IndexDocument":{"Suffix":"index.html"},"ErrorDocument":{"Key":"404.html"}}'`)));
  clear(panel, h('div.settings', form, website, danger));
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
