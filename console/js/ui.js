// DOM helpers shared by the pages: element builder, icons, toasts, dialogs, copy buttons.
// Everything is built with createElement/textContent (no innerHTML with data: CSP and XSS).

/** h('button.btn.primary', { onclick, type: 'button' }, 'Save') */
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className += (el.className ? ' ' : '') + v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) el.setAttribute(k, v);
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

// 24x24 stroke icons (paths drawn for this console).
const ICONS = {
  bucket: 'M4 7h16l-1.6 12.2a2 2 0 0 1-2 1.8H7.6a2 2 0 0 1-2-1.8zM3 7c0-1.7 4-3 9-3s9 1.3 9 3',
  folder: 'M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z',
  file: 'M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8zM14 3v5h5',
  upload: 'M12 16V4M7 9l5-5 5 5M4 16v3a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-3',
  download: 'M12 4v12M7 11l5 5 5-5M4 20h16',
  trash: 'M4 7h16M10 11v6M14 11v6M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12M9 7V4h6v3',
  copy: 'M9 9h10v12H9zM5 15H4V3h12v1',
  link: 'M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1',
  plus: 'M12 5v14M5 12h14',
  x: 'M6 6l12 12M18 6L6 18',
  sun: 'M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8zM12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4',
  moon: 'M20 14.5A8 8 0 0 1 9.5 4a8 8 0 1 0 10.5 10.5z',
  key: 'M15 7a4 4 0 1 1-3.9 5H3v3h3v3h3v-3h2.1A4 4 0 0 1 15 7zM16 10h.01',
  users: 'M16 19v-1a4 4 0 0 0-4-4H6a4 4 0 0 0-4 4v1M9 10a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7zM22 19v-1a4 4 0 0 0-3-3.9M16 3.1a3.5 3.5 0 0 1 0 6.8',
  chart: 'M4 20V10M10 20V4M16 20v-7M22 20H2',
  gear: 'M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z',
  globe: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM3 12h18M12 3a14 14 0 0 1 0 18M12 3a14 14 0 0 0 0 18',
  info: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM12 11v5M12 8h.01',
  play: 'M7 4l13 8-13 8z',
  stop: 'M6 6h12v12H6z',
  eye: 'M2 12s3.5-7 10-7 10 7 10 7-3.5 7-10 7S2 12 2 12zM12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z',
  share: 'M18 8a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM6 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM18 22a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM8.6 13.5l6.8 4M15.4 6.5l-6.8 4',
  logout: 'M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9',
  refresh: 'M21 12a9 9 0 0 1-15.5 6.2L3 16M3 12a9 9 0 0 1 15.5-6.2L21 8M21 3v5h-5M3 21v-5h5',
  search: 'M11 19a8 8 0 1 0 0-16 8 8 0 0 0 0 16zM21 21l-4.3-4.3',
  check: 'M5 12l5 5L20 7',
};

export function icon(name, cls = '') {
  return svg('svg', { class: `icon ${cls}`.trim(), viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false' },
    svg('path', { d: ICONS[name] || ICONS.file }));
}

/** The product mark: a bucket with a gate bar. */
export function logo() {
  return svg('svg', { class: 'logo', viewBox: '0 0 32 32', 'aria-hidden': 'true' },
    svg('path', { d: 'M5 9h22l-2.3 16.6A3 3 0 0 1 21.7 28H10.3a3 3 0 0 1-3-2.4z', class: 'logo-body' }),
    svg('ellipse', { cx: '16', cy: '9', rx: '11', ry: '3.5', class: 'logo-rim' }),
    svg('path', { d: 'M9 16h14M9 21h14', class: 'logo-bars' }));
}

// ---- toasts
let toastHost;
export function toast(message, kind = 'info', { timeout = kind === 'error' ? 8000 : 3000 } = {}) {
  if (!toastHost) {
    toastHost = h('div.toasts', { role: 'region', 'aria-label': 'Notifications' });
    document.body.append(toastHost);
  }
  const close = h('button.icon-btn.toast-close', { type: 'button', 'aria-label': 'Dismiss', onclick: () => t.remove() }, icon('x'));
  const t = h(`div.toast.toast-${kind}`, { role: kind === 'error' ? 'alert' : 'status' },
    icon(kind === 'error' ? 'x' : kind === 'ok' ? 'check' : 'info', 'toast-icon'), h('span.toast-text', message), close);
  toastHost.append(t);
  while (toastHost.children.length > 3) toastHost.firstChild.remove();
  if (timeout) setTimeout(() => t.remove(), timeout);
  return t;
}

/** Shows an error in plain words. */
export function toastError(err, prefix = '') {
  const msg = err?.message || String(err);
  toast(prefix ? `${prefix}: ${msg}` : msg, 'error');
}

// ---- dialogs
/**
 * A modal <dialog> with a form: Enter submits, Escape cancels (native). `onSubmit(form)` may
 * throw to keep the dialog open (its error is shown by the caller). Returns { dialog, form, close }.
 */
export function openDialog({ title, body, submitLabel = 'Save', danger = false, onSubmit, wide = false, cancelLabel = 'Cancel' }) {
  const submit = onSubmit ? h(`button.btn.${danger ? 'danger' : 'primary'}`, { type: 'submit' }, submitLabel) : null;
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  const form = h('form.dialog-form', { method: 'dialog', novalidate: true },
    h('header.dialog-head', h('h2', { id: titleId }, title),
      h('button.icon-btn', { type: 'button', 'aria-label': 'Close', onclick: () => close() }, icon('x'))),
    h('div.dialog-body', body),
    h('footer.dialog-foot',
      h('button.btn.ghost', { type: 'button', onclick: () => close() }, onSubmit ? cancelLabel : 'Close'), submit));
  const dialog = h(`dialog.dialog${wide ? '.wide' : ''}`, { 'aria-labelledby': titleId }, form);
  const close = () => { dialog.close(); dialog.remove(); };
  dialog.addEventListener('cancel', (e) => { e.preventDefault(); close(); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!onSubmit || submit.disabled) return;
    submit.disabled = true;
    submit.classList.add('busy');
    try {
      const keep = await onSubmit(form);
      if (keep !== true) close();
    } catch (err) {
      if (err) toastError(err);
    } finally {
      submit.disabled = false;
      submit.classList.remove('busy');
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = form.querySelector('.dialog-body input:not([type=hidden]), .dialog-body select, .dialog-body textarea');
  if (first) first.focus();
  return { dialog, form, close };
}

/** Confirmation; resolves true/false. */
export function confirmDialog({ title, message, confirmLabel = 'Delete', danger = true }) {
  return new Promise((resolve) => {
    let ok = false;
    const { dialog } = openDialog({ title, body: h('p', message), submitLabel: confirmLabel, danger, onSubmit: () => { ok = true; } });
    dialog.addEventListener('close', () => resolve(ok));
  });
}

// ---- forms
/** A labelled field with hint and error slot. */
export function field({ label, name, input, hint, id }) {
  const fid = id || `f-${name}`;
  input.id = fid;
  if (!input.name) input.name = name;
  const err = h('p.field-error', { id: `${fid}-err`, role: 'alert' });
  const hintEl = hint ? h('p.field-hint', { id: `${fid}-hint` }, hint) : null;
  input.setAttribute('aria-describedby', [hintEl && hintEl.id, err.id].filter(Boolean).join(' '));
  return h('div.field', { dataset: { field: name } }, h('label', { for: fid }, label), input, hintEl, err);
}

export function setFieldError(form, name, message) {
  const f = form.querySelector(`.field[data-field="${CSS.escape(name)}"]`);
  if (!f) return false;
  f.classList.toggle('invalid', !!message);
  f.querySelector('.field-error').textContent = message || '';
  const input = f.querySelector('input, select, textarea');
  if (input) input.setAttribute('aria-invalid', message ? 'true' : 'false');
  return true;
}

export function toggle({ label, name, checked = false, hint }) {
  const input = h('input', { type: 'checkbox', name, checked, role: 'switch' });
  return h('label.switch', input, h('span.switch-track', { 'aria-hidden': 'true' }), h('span.switch-text', h('span', label), hint ? h('small', hint) : null));
}

// ---- copying
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = h('textarea.offscreen', { readonly: true }, text);
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
  toast('Copied to the clipboard', 'ok', { timeout: 2000 });
}

export function copyButton(getText, label = 'Copy') {
  return h('button.btn.small.ghost.copy', { type: 'button', 'aria-label': label, title: label, onclick: () => copyText(typeof getText === 'function' ? getText() : getText) }, icon('copy'), h('span.btn-label', 'Copy'));
}

/** A read-only value with a copy button. */
export function copyRow(label, value, { secret = false } = {}) {
  return h('div.copy-row', h('span.copy-label', label), h(`code.copy-value${secret ? '.secret' : ''}`, value), copyButton(value, `Copy ${label}`));
}

export function emptyState(iconName, title, text, action) {
  return h('div.empty', icon(iconName, 'empty-icon'), h('h3', title), text ? h('p', text) : null, action || null);
}

export function loading(text = 'Loading…') {
  return h('div.loading', { role: 'status' }, h('span.spinner', { 'aria-hidden': 'true' }), h('span', text));
}

export function badge(text, kind = '') {
  return h(`span.badge${kind ? `.${kind}` : ''}`, text);
}

/** A quota bar; `pct` null means no limit. */
export function meter(pct, label) {
  const bar = h('span.meter-fill');
  bar.style.width = `${pct ?? 0}%`;
  const m = h(`span.meter${pct == null ? '.none' : pct >= 90 ? '.high' : pct >= 75 ? '.mid' : ''}`, { role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(pct ?? 0)), 'aria-label': label }, bar);
  return m;
}
