// Formatting of sizes, dates, durations; parsing of sizes typed by people. No DOM.
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB"; integers below 1024 stay bytes. */
export function formatBytes(n) {
  if (n == null || !Number.isFinite(n)) return '—';
  if (n < 1024) return `${n} B`;
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${trimZeros(v.toFixed(digits))} ${UNITS[i]}`;
}

function trimZeros(s) {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

/** Bytes per second as "12.5 MiB/s". */
export function formatSpeed(bps) {
  if (!(bps > 0)) return '—';
  return `${formatBytes(Math.round(bps))}/s`;
}

/** Seconds as "45 s", "3 min 05 s", "2 h 10 min". */
export function formatDuration(secs) {
  if (secs == null || !Number.isFinite(secs)) return '—';
  const s = Math.round(secs);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(s / 3600);
  if (h < 48) return `${h} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Thousands separators: 12345 → "12,345". */
export function formatCount(n) {
  if (n == null || !Number.isFinite(n)) return '—';
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** RFC 3339 → "2026-12-02 14:05" (local time); invalid → "—". */
export function formatDate(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** "3 minutes ago"-style relative time from `now` (ms). */
export function formatAgo(iso, now = Date.now()) {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return '—';
  const s = Math.round((now - t) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

const FACTORS = { b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4 };

/** "10 GiB" / "1.5tb" / "512" → bytes; null for empty; NaN for nonsense. */
export function parseSize(text) {
  const s = String(text ?? '').trim().toLowerCase();
  if (!s) return null;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(s);
  if (!m) return NaN;
  const f = FACTORS[m[2] || 'b'];
  if (!f) return NaN;
  return Math.round(Number(m[1]) * f);
}

/** Percentage used, clamped to 0..100; null without a limit. */
export function percent(used, limit) {
  if (!limit) return null;
  return Math.min(100, Math.max(0, (used / limit) * 100));
}

/** Last path segment of a key or prefix ("a/b/c.txt" → "c.txt", "a/b/" → "b/"). */
export function baseName(key) {
  const trimmed = key.endsWith('/') ? key.slice(0, -1) : key;
  const i = trimmed.lastIndexOf('/');
  return key.slice(i + 1);
}
