// Users and keys (admin): create/delete users; create keys (the secret shown once, with copy),
// disable/enable/delete keys.
import * as api from '../api.js';
import { errorField } from '../api.js';
import { h, clear, icon, field, setFieldError, toast, toastError, openDialog, confirmDialog, emptyState, loading, copyRow, badge } from '../ui.js';
import { formatDate } from '../format.js';
import { userIdError } from '../validate.js';

export async function usersPage(ctx) {
  const { main, state } = ctx;
  if (!state.me?.admin) {
    clear(main, emptyState('users', 'Admins only', 'Users and keys are managed with the admin token.'));
    return;
  }
  const body = h('div.users', loading('Loading users…'));
  clear(main,
    h('div.page-head', h('div', h('h1', 'Users & keys'), h('p.muted.page-sub', 'People and programs that sign S3 requests. Each user owns their buckets.')),
      h('button.btn.primary', { type: 'button', onclick: createUser }, icon('plus'), 'Create user')),
    body);

  async function load() {
    const users = await api.listUsers();
    const keys = await Promise.all(users.map((u) => api.listKeys(u.id).catch(() => [])));
    if (!ctx.isCurrent()) return;
    if (!users.length) {
      clear(body, emptyState('users', 'No users yet', 'Create a user, then a key pair for them. They sign in here with it and use it from S3 clients.',
        h('button.btn.primary', { type: 'button', onclick: createUser }, icon('plus'), 'Create user')));
      return;
    }
    clear(body, users.map((u, i) => userCard(u, keys[i])));
  }

  function userCard(u, keys) {
    return h('section.card.user', { dataset: { user: u.id } },
      h('div.card-head',
        h('div', h('h2', icon('users'), h('span', u.id)), h('p.small.muted', [u.name && u.name !== u.id ? `${u.name} · ` : '', u.team ? `team ${u.team} · ` : '', `since ${formatDate(u.createdAt)}`].join(''))),
        h('div.btn-row',
          h('button.btn.small', { type: 'button', onclick: () => newKey(u) }, icon('key'), 'Create key'),
          h('button.btn.small.ghost.danger-text', { type: 'button', onclick: () => removeUser(u) }, icon('trash'), h('span.btn-label', 'Delete')))),
      keys.length
        ? h('table.table.keys', h('thead', h('tr', h('th', 'Access key'), h('th', 'Created'), h('th', 'State'), h('th', h('span.sr-only', 'Actions')))),
          h('tbody', keys.map((k) => h('tr', { dataset: { key: k.accessKey } },
            h('td.mono', k.accessKey), h('td.small', formatDate(k.createdAt)), h('td', k.disabled ? badge('disabled', 'muted') : badge('active', 'ok')),
            h('td.actions',
              h('button.btn.small.ghost', { type: 'button', onclick: () => setDisabled(u, k, !k.disabled) }, k.disabled ? 'Enable' : 'Disable'),
              h('button.btn.small.ghost.danger-text', { type: 'button', onclick: () => removeKey(u, k) }, 'Delete'))))))
        : h('p.muted.small', 'No keys: this user cannot sign requests yet.'));
  }

  function createUser() {
    const id = h('input', { type: 'text', autocomplete: 'off', spellcheck: false, autocapitalize: 'off', placeholder: 'alice' });
    const name = h('input', { type: 'text', placeholder: 'Alice Liddell' });
    const team = h('input', { type: 'text', spellcheck: false, placeholder: 'optional' });
    const { form } = openDialog({
      title: 'Create a user', submitLabel: 'Create user',
      body: h('div.form-grid', field({ label: 'User id', name: 'id', input: id, hint: 'Letters, digits, - _ . @' }), field({ label: 'Display name', name: 'name', input: name }), field({ label: 'Team', name: 'team', input: team })),
      onSubmit: async (f) => {
        const err = userIdError(id.value);
        if (err) { setFieldError(f, 'id', err); return true; }
        const req = { id: id.value };
        if (name.value.trim()) req.name = name.value.trim();
        if (team.value.trim()) req.team = team.value.trim();
        try { await api.createUser(req); } catch (e) {
          const fld = errorField(e) || (e.status === 409 ? 'id' : null);
          if (fld && setFieldError(f, fld, e.status === 409 ? 'This id is taken.' : e.message.replace(/^[a-zA-Z]+: /, ''))) return true;
          throw e;
        }
        toast(`User ${req.id} created`, 'ok');
        load();
      },
    });
    id.addEventListener('input', () => setFieldError(form, 'id', id.value ? userIdError(id.value) : ''));
  }

  async function newKey(u) {
    try {
      const k = await api.createKey(u.id);
      openDialog({
        title: 'New access key', wide: true,
        body: h('div.secret-once',
          h('div.callout.warn', h('strong', 'Copy the secret key now. '), 'It is shown only this once; if it is lost, create a new key.'),
          copyRow('Access key', k.accessKey), copyRow('Secret key', k.secretKey, { secret: true })),
      });
      load();
    } catch (e) { toastError(e); }
  }

  async function setDisabled(u, k, disabled) {
    try { await api.setKeyDisabled(u.id, k.accessKey, disabled); toast(`Key ${k.accessKey} ${disabled ? 'disabled' : 'enabled'}`, 'ok'); load(); } catch (e) { toastError(e); }
  }
  async function removeKey(u, k) {
    if (!(await confirmDialog({ title: 'Delete this key?', message: `${k.accessKey} stops working at once, for S3 clients and sign-in.` }))) return;
    try { await api.deleteKey(u.id, k.accessKey); toast('Key deleted', 'ok'); load(); } catch (e) { toastError(e); }
  }
  async function removeUser(u) {
    if (!(await confirmDialog({ title: `Delete user ${u.id}?`, message: 'Their keys stop working. Users who still own buckets cannot be deleted.' }))) return;
    try { await api.deleteUser(u.id); toast(`User ${u.id} deleted`, 'ok'); load(); } catch (e) { toastError(e); }
  }

  try { await load(); } catch (e) { if (e.status !== 401) clear(body, h('div.empty.error-state', h('p', e.message))); }
}
