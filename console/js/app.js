// Entry point: theme, the application shell (top bar, navigation), routes, sign-in guard.
import { session, setUnauthorizedHandler, whoami, config } from './api.js';
import { route, match, currentPath, go } from './router.js';
import { h, clear, icon, logo, toast, loading } from './ui.js';
import { signInPage } from './pages/signin.js';
import { bucketsPage } from './pages/buckets.js';
import { bucketPage } from './pages/bucket.js';
import { usersPage } from './pages/users.js';

// ---- theme: dark by default, light on request, remembered
const THEME = 'bucketgate.theme';
function applyTheme(t) {
  document.documentElement.dataset.theme = t;
}
applyTheme(localStorage.getItem(THEME) || 'dark');
function toggleTheme() {
  const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
  localStorage.setItem(THEME, next);
  applyTheme(next);
  renderShell();
}

export const state = { me: null, config: null };
const root = document.getElementById('app');
const main = h('main.main', { id: 'main', tabindex: '-1' });
const header = h('header.topbar');

function renderShell() {
  const dark = document.documentElement.dataset.theme === 'dark';
  const themeBtn = h('button.icon-btn.theme-toggle', { type: 'button', onclick: toggleTheme, 'aria-label': dark ? 'Switch to light mode' : 'Switch to dark mode', title: dark ? 'Light mode' : 'Dark mode' }, icon(dark ? 'sun' : 'moon'));
  const me = state.me;
  const path = currentPath();
  const navLink = (href, label, ic, active) => h('a.nav-link', { href: `#${href}`, 'aria-current': active ? 'page' : null }, icon(ic), h('span', label));
  clear(header,
    h('a.brand', { href: '#/buckets', 'aria-label': 'bucketgate home' }, logo(), h('span.brand-name', 'bucketgate')),
    me ? h('nav.nav', { 'aria-label': 'Main' },
      navLink('/buckets', 'Buckets', 'bucket', path.startsWith('/buckets') || path.startsWith('/b/')),
      me.admin ? navLink('/users', 'Users & keys', 'users', path.startsWith('/users')) : null) : h('span.spacer'),
    h('div.topbar-end',
      themeBtn,
      me ? h('span.who', { title: me.admin ? 'Signed in with the admin token' : `Signed in as ${me.user || me.accessKey}` },
        h('span.who-dot', { 'aria-hidden': 'true' }), me.admin ? (me.user ? `${me.user} (admin)` : 'admin') : (me.user || me.accessKey)) : null,
      me ? h('button.btn.small.ghost.signout', { type: 'button', onclick: signOut }, icon('logout'), h('span.btn-label', 'Sign out')) : null));
}

export function signOut() {
  session.clear();
  state.me = null;
  toast('Signed out', 'ok');
  go('/signin');
}

setUnauthorizedHandler(() => {
  session.clear();
  state.me = null;
  toast('Your session is no longer valid: sign in again.', 'error');
  go('/signin');
});

route('/signin', signInPage);
route('/buckets', bucketsPage);
route('/b/:bucket/:tab/*prefix', bucketPage);
route('/b/:bucket/:tab', bucketPage);
route('/b/:bucket', bucketPage);
route('/users', usersPage);

let renderSeq = 0;
async function render() {
  const seq = ++renderSeq;
  const path = currentPath();
  if (!session.get() && path !== '/signin') return go('/signin');
  if (session.get() && !state.me) {
    clear(main, loading('Signing in…'));
    try {
      state.me = await whoami();
    } catch {
      session.clear();
      return go('/signin');
    }
  }
  if (path === '/' || path === '') return go('/buckets');
  const m = match(path);
  renderShell();
  if (!m) {
    clear(main, h('div.empty', h('h2', 'Page not found'), h('p', h('a', { href: '#/buckets' }, 'Back to your buckets'))));
    return;
  }
  if (seq !== renderSeq) return;
  const ctx = { main, params: m.params, state, isCurrent: () => seq === renderSeq, rerenderShell: renderShell };
  try {
    await m.handler(ctx);
  } catch (e) {
    if (seq === renderSeq && e?.status !== 401) {
      clear(main, h('div.empty.error-state', icon('info', 'empty-icon'), h('h2', 'Something went wrong'), h('p', e?.message || String(e)),
        h('button.btn', { type: 'button', onclick: () => render() }, 'Try again')));
    }
  }
}

export function refreshMe(me) {
  state.me = me;
  renderShell();
}

async function boot() {
  state.config = await config();
  root.replaceChildren(h('a.skip', { href: '#main', onclick: (e) => { e.preventDefault(); main.focus(); } }, 'Skip to content'), header, main);
  window.addEventListener('hashchange', render);
  await render();
  document.documentElement.classList.add('ready');
}
boot();
