// One bucket: a header with its status and tabs (files, overview, settings, domains, stats).
import * as api from '../api.js';
import { h, clear, icon, loading, badge, toast, toastError } from '../ui.js';
import { filesPath, go, currentPath } from '../router.js';
import { statusBadge, backendLabel } from './buckets.js';
import { filesTab } from './files.js';
import { overviewTab } from './overview.js';
import { settingsTab } from './settings.js';
import { domainsTab } from './domains.js';
import { statsTab } from './stats.js';

const TABS = [
  ['files', 'Files', 'folder', filesTab],
  ['overview', 'Connect', 'link', overviewTab],
  ['stats', 'Stats', 'chart', statsTab],
  ['domains', 'Domains', 'globe', domainsTab],
  ['settings', 'Settings', 'gear', settingsTab],
];

export async function bucketPage(ctx) {
  const { main, params } = ctx;
  const name = params.bucket;
  const tab = TABS.find((t) => t[0] === params.tab) || TABS[0];
  clear(main, loading('Loading bucket…'));
  let bucket;
  try {
    bucket = await api.getBucket(name);
  } catch (e) {
    if (e.status === 404) {
      clear(main, h('div.empty', icon('bucket', 'empty-icon'), h('h2', 'No such bucket'), h('p', `"${name}" does not exist or is not yours.`), h('a.btn', { href: '#/buckets' }, 'All buckets')));
      return;
    }
    throw e;
  }
  if (!ctx.isCurrent()) return;
  const href = (t) => (t === 'files' ? `#${filesPath(name)}` : `#/b/${encodeURIComponent(name)}/${t}`);
  const panel = h('section.tab-panel', { role: 'region', 'aria-label': tab[1] });
  clear(main,
    h('nav.crumbs', { 'aria-label': 'Breadcrumb' }, h('a', { href: '#/buckets' }, 'Buckets'), h('span.sep', { 'aria-hidden': 'true' }, '/'), h('span', name)),
    h('div.page-head.bucket-head',
      h('div',
        h('h1', icon('bucket'), h('span', name)),
        h('p.muted.page-sub', bucket.description || h('span.mono', backendLabel(bucket)))),
      h('div.head-badges', lifecycleButton(bucket), statusBadge(bucket), bucket.publicRead ? badge(bucket.publicList ? 'public list' : 'public read', 'public') : badge('private', 'muted'), bucket.versioning === 'Enabled' ? badge('versioned', 'muted') : null)),
    h('nav.tabs', { 'aria-label': 'Bucket sections' }, TABS.map(([id, label, ic]) => h('a.tab', { href: href(id), 'aria-current': id === tab[0] ? 'page' : null }, icon(ic), h('span', label)))),
    panel);
  await tab[3]({ ...ctx, panel, bucket, prefix: params.prefix || '' });
}

/** Start/stop of a container bucket's own S3 server (other buckets always run). */
function lifecycleButton(b) {
  if (b.backend !== 'container') return null;
  const running = b.status === 'running';
  return h('button.btn.small', { type: 'button', onclick: async (e) => {
    const btn = e.currentTarget;
    btn.disabled = true;
    btn.classList.add('busy');
    try {
      await (running ? api.stopBucket(b.name) : api.startBucket(b.name));
      toast(`${b.name} ${running ? 'stopped' : 'started'}`, 'ok');
      go(currentPath());
    } catch (err) {
      toastError(err, b.name);
      btn.disabled = false;
      btn.classList.remove('busy');
    }
  } }, icon(running ? 'stop' : 'play'), running ? 'Stop' : 'Start');
}
