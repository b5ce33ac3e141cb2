// Hash router: "#/buckets", "#/b/<bucket>/files/<prefix>", "#/users", "#/signin".
// Patterns use ":name" for one segment and "*rest" for the remainder (decoded).
const routes = [];

export function route(pattern, handler) {
  const parts = pattern.split('/').filter(Boolean);
  routes.push({ parts, handler });
}

/** Matches a path against the routes: { handler, params } or null. */
export function match(path) {
  const segs = path.split('/').filter((s, i, a) => s !== '' || (i === a.length - 1 && i > 0));
  for (const r of routes) {
    const params = {};
    let ok = true;
    for (let i = 0; i < r.parts.length; i++) {
      const p = r.parts[i];
      if (p.startsWith('*')) {
        params[p.slice(1)] = segs.slice(i).map(safeDecode).join('/');
        i = r.parts.length;
        break;
      }
      if (i >= segs.length) { ok = false; break; }
      if (p.startsWith(':')) params[p.slice(1)] = safeDecode(segs[i]);
      else if (p !== segs[i]) { ok = false; break; }
    }
    if (ok && (r.parts.some((p) => p.startsWith('*')) || segs.filter(Boolean).length === r.parts.length)) {
      return { handler: r.handler, params };
    }
  }
  return null;
}

function safeDecode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

export function currentPath() {
  return location.hash.replace(/^#/, '') || '/';
}

export function go(path) {
  if (currentPath() === path) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = path;
}

/** "#/b/photos/files/2026/cats/" from bucket and prefix (segments encoded). */
export function filesPath(bucket, prefix = '') {
  const p = prefix.split('/').map(encodeURIComponent).join('/');
  return `/b/${encodeURIComponent(bucket)}/files/${p}`;
}
