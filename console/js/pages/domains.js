// Domains: link and unlink hosts, the DNS record to create, the website URL, whether the
// gateway routes the host, and whether the host currently answers from this gateway (the API
// resolves it and asks it for a token only this gateway serves).
import * as api from '../api.js';
import { errorField } from '../api.js';
import { h, clear, field, setFieldError, toast, toastError, icon, copyRow, emptyState, confirmDialog, badge } from '../ui.js';
import { hostError } from '../validate.js';
import { go } from '../router.js';

export async function domainsTab({ panel, bucket, state }) {
  const b = bucket.name;
  const cfg = state.config || {};
  const s3 = cfg.s3Endpoint ? new URL(cfg.s3Endpoint) : null;
  const port = s3?.port ? `:${s3.port}` : '';
  const scheme = s3?.protocol || 'http:';
  const target = s3?.hostname || 'this gateway\'s address';
  const input = h('input', { type: 'text', placeholder: 'assets.example.com', spellcheck: false, autocapitalize: 'off' });
  const form = h('form.card.inline-form', { novalidate: true },
    h('h2', 'Link a domain'),
    h('p.muted', 'Requests for a linked host are served from this bucket as a static website (GET and HEAD; index.html for folders). The bucket needs public read.'),
    h('div.inline-row', field({ label: 'Host name', name: 'domain', input }), h('button.btn.primary', { type: 'submit' }, icon('link'), 'Link')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const err = hostError(input.value);
    if (err) return setFieldError(form, 'domain', err);
    setFieldError(form, 'domain', '');
    try {
      await api.linkDomain(b, input.value.trim().toLowerCase());
      toast(`${input.value.trim()} linked to ${b}`, 'ok');
      go(`/b/${encodeURIComponent(b)}/domains`);
    } catch (ex) {
      if (!setFieldError(form, errorField(ex) === 'domain' || ex.status === 400 || ex.status === 409 ? 'domain' : '', ex.message)) toastError(ex);
    }
  });
  const web = `${b}.${cfg.websiteBaseDomain || 'web.localhost'}`;
  const list = bucket.domains?.length
    ? h('ul.domain-list', bucket.domains.map((d) => h('li.card.domain', { dataset: { domain: d } },
      h('div.domain-head', h('h3', icon('globe'), d), answers(bucket, d),
        h('button.btn.small.ghost', { type: 'button', onclick: async () => {
          if (!(await confirmDialog({ title: `Unlink ${d}?`, message: `${d} will stop serving ${b}.`, confirmLabel: 'Unlink' }))) return;
          try { await api.unlinkDomain(b, d); toast(`${d} unlinked`, 'ok'); go(`/b/${encodeURIComponent(b)}/domains`); } catch (ex) { toastError(ex); }
        } }, 'Unlink')),
      h('p.small.muted', 'Create this DNS record at your DNS provider:'),
      h('table.table.dns', h('thead', h('tr', h('th', 'Type'), h('th', 'Name'), h('th', 'Value'))),
        h('tbody', h('tr', h('td', recordType(target)), h('td.mono', d), h('td.mono', target)), proofRow(bucket, d))),
      certificateLine(bucket, d),
      reachability(bucket, d),
      copyRow('Website URL', `${scheme}//${d}${port}/`),
      h('p.small.muted', 'Check it: ', h('code', `curl -I ${scheme}//${d}${port}/`)))))
    : emptyState('globe', 'No domains linked', 'Link a host name to serve this bucket as a website at your own domain.');
  clear(panel, form, list,
    h('section.card', h('h2', 'Built-in website address'),
      h('p.muted', 'Every public-read bucket is also served at:'),
      copyRow('URL', `${scheme}//${web}${port}/`),
      bucket.publicRead ? null : h('p.callout.warn', 'This bucket is private, so its website answers 403. Turn on public read in Settings.')));
}

/** Whether the gateway routes `d` (the API's `domainStatus`): a link made before its name
 * became reserved stays listed but serves nothing. */
function answers(bucket, d) {
  const info = (bucket.domainStatus || []).find((x) => x.domain === d);
  if (info && !info.active) return h('span.domain-status', { dataset: { active: 'false' } }, badge(`inactive · ${info.error || 'refused'}`, 'warn'), info.message ? h('small.muted', ` ${info.message}`) : null);
  const label = bucket.publicRead ? 'active' : 'active · private';
  return h('span.domain-status', { dataset: { active: 'true' } }, badge(label, bucket.publicRead ? 'ok' : 'warn'));
}

/** Whether `d` currently reaches this gateway: checked when the page opens and on request. */
function reachability(bucket, d) {
  const info = (bucket.domainStatus || []).find((x) => x.domain === d);
  if (info?.status === 'reserved') return null; // it never routes: nothing to ask
  const out = h('div.reach', { dataset: { state: 'checking' }, 'aria-live': 'polite' });
  const again = h('button.btn.small.ghost.reach-again', { type: 'button', onclick: () => run() }, 'Check again');
  const run = async () => {
    out.dataset.state = 'checking';
    again.disabled = true;
    clear(out, h('span.spinner', { 'aria-hidden': 'true' }), h('span.muted.small', `Asking ${d} whether it answers from this gateway…`));
    try {
      const r = await api.checkDomain(bucket.name, d);
      out.dataset.state = r.answers ? 'answers' : 'silent';
      const where = r.addresses?.length ? `resolves to ${r.addresses.join(', ')}` : null;
      if (r.answers) {
        const port = r.checks.find((c) => c.answers)?.port;
        clear(out, badge('answers from this gateway', 'ok'), h('span.small.muted', [where, port ? `port ${port}` : null].filter(Boolean).join(' · ')), again);
      } else {
        const why = r.message ? [r.message] : r.checks.map((c) => `port ${c.port}: ${c.message || 'no answer'}`);
        clear(out, badge('not answering from this gateway', 'warn'), where ? h('span.small.muted', where) : null, again,
          h('ul.reach-why.small.muted', why.map((w) => h('li', w))));
      }
    } catch (ex) {
      out.dataset.state = 'error';
      clear(out, badge('check failed', 'warn'), h('span.small.muted', ex.message), again);
    } finally {
      again.disabled = false;
    }
  };
  run();
  return out;
}

/** The TXT record that proves ownership of `d`, while the gateway waits for it. */
function proofRow(bucket, d) {
  const v = (bucket.domainStatus || []).find((x) => x.domain === d)?.verification;
  if (!v || v.verified || v.method !== 'dns') return null;
  return h('tr', { dataset: { proof: 'txt' } }, h('td', 'TXT'), h('td.mono', v.record), h('td.mono', v.token));
}

/** The host's HTTPS certificate from the gateway's ACME client, when it has one. */
function certificateLine(bucket, d) {
  const c = (bucket.domainStatus || []).find((x) => x.domain === d)?.certificate;
  if (!c) return null;
  const until = c.notAfter ? ` until ${new Date(c.notAfter * 1000).toISOString().slice(0, 10)}` : '';
  return h('p.small.muted', { dataset: { certificate: c.state } }, `HTTPS certificate: ${c.state}${until}${c.reason ? ` (${c.reason})` : ''}`);
}

/** A for an IPv4 address, AAAA for IPv6, CNAME for a host name. */
export function recordType(target) {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(target)) return 'A';
  if (target.includes(':') || target.startsWith('[')) return 'AAAA';
  return 'CNAME';
}
