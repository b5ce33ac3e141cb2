// Sign-in: the admin token, or a user's access key and secret key. Kept in sessionStorage.
import { session, whoami } from '../api.js';
import { h, clear, field, logo, setFieldError, toast } from '../ui.js';
import { go } from '../router.js';
import { refreshMe } from '../app.js';

export async function signInPage({ main }) {
  refreshMe(null);
  let mode = 'token';
  const token = h('input', { type: 'password', autocomplete: 'current-password', spellcheck: false, placeholder: 'admin token' });
  const ak = h('input', { type: 'text', autocomplete: 'username', spellcheck: false, autocapitalize: 'off', placeholder: 'AKIA…' });
  const sk = h('input', { type: 'password', autocomplete: 'current-password', spellcheck: false });
  const tokenFields = h('div.signin-fields', field({ label: 'Admin token', name: 'token', input: token, hint: 'From BUCKETGATE_ADMIN_TOKEN or <data-dir>/admin-token.' }));
  const keyFields = h('div.signin-fields', { hidden: true },
    field({ label: 'Access key', name: 'accessKey', input: ak }),
    field({ label: 'Secret key', name: 'secretKey', input: sk }));
  const tabBtn = (m, label) => h('button.seg', { type: 'button', role: 'tab', 'aria-selected': String(m === mode), dataset: { mode: m }, onclick: () => setMode(m) }, label);
  const tabs = h('div.segmented', { role: 'tablist', 'aria-label': 'Sign in with' }, tabBtn('token', 'Admin token'), tabBtn('key', 'Access key'));
  const submit = h('button.btn.primary.block', { type: 'submit' }, 'Sign in');
  const form = h('form.signin-form', { novalidate: true, onsubmit: onSubmit }, tabs, tokenFields, keyFields, submit);
  function setMode(m) {
    mode = m;
    for (const b of tabs.children) b.setAttribute('aria-selected', String(b.dataset.mode === m));
    tokenFields.hidden = m !== 'token';
    keyFields.hidden = m !== 'key';
    (m === 'token' ? token : ak).focus();
  }
  async function onSubmit(e) {
    e.preventDefault();
    for (const n of ['token', 'accessKey', 'secretKey']) setFieldError(form, n, '');
    let auth;
    if (mode === 'token') {
      if (!token.value.trim()) return setFieldError(form, 'token', 'Enter the admin token.');
      auth = { token: token.value.trim() };
    } else {
      if (!ak.value.trim()) return setFieldError(form, 'accessKey', 'Enter the access key.');
      if (!sk.value) return setFieldError(form, 'secretKey', 'Enter the secret key.');
      auth = { accessKey: ak.value.trim(), secretKey: sk.value };
    }
    submit.disabled = true;
    submit.classList.add('busy');
    try {
      const me = await whoami(auth);
      session.set(auth);
      refreshMe(me);
      toast(me.admin ? 'Signed in as admin' : `Signed in as ${me.user || me.accessKey}`, 'ok');
      go('/buckets');
    } catch (err) {
      const msg = err.status === 401 || err.status === 403 ? 'These credentials were not accepted.' : err.message;
      setFieldError(form, mode === 'token' ? 'token' : 'secretKey', msg);
    } finally {
      submit.disabled = false;
      submit.classList.remove('busy');
    }
  }
  clear(main, h('section.signin',
    h('div.signin-card',
      h('div.signin-brand', logo(), h('h1', 'Sign in to bucketgate')),
      h('p.muted', 'S3 buckets on your own hardware. Use the admin token, or the access key pair of a user.'),
      form)));
  token.focus();
}
