// Stats: current numbers (objects, bytes, quota use, request and byte counters) and charts
// over time from /stats/history.
import * as api from '../api.js';
import { h, clear, loading, meter, toastError } from '../ui.js';
import { formatBytes, formatCount } from '../format.js';
import { lineChart } from '../chart.js';
import { go } from '../router.js';

const RANGES = ['1h', '24h', '7d', '90d'];

export async function statsTab({ panel, bucket }) {
  const b = bucket.name;
  const range = sessionStorage.getItem('bucketgate.range') || '24h';
  clear(panel, loading('Loading stats…'));
  let s;
  try { s = await api.bucketStats(b); } catch (e) { toastError(e); return; }
  const num = (label, value, sub) => h('div.stat', h('span.stat-label', label), h('strong.stat-value', value), sub ? h('span.stat-sub', sub) : null);
  const charts = h('div.charts', loading('Loading history…'));
  const rangeTabs = h('div.segmented', { role: 'tablist', 'aria-label': 'Time range' }, RANGES.map((r) => h('button.seg', { type: 'button', role: 'tab', 'aria-selected': String(r === range), onclick: () => { sessionStorage.setItem('bucketgate.range', r); go(`/b/${encodeURIComponent(b)}/stats`); } }, r)));
  clear(panel,
    h('div.stats-grid',
      num('Objects', formatCount(s.objects), s.maxObjects ? `of ${formatCount(s.maxObjects)}` : 'no object limit'),
      num('Stored', formatBytes(s.bytes), s.maxSizeBytes ? `of ${formatBytes(s.maxSizeBytes)}` : 'no size limit'),
      num('Requests', formatCount(s.requests), `${formatCount(s.errors)} failed`),
      num('Received', formatBytes(s.bytesIn), 'since the gateway started'),
      num('Sent', formatBytes(s.bytesOut), 'since the gateway started')),
    s.maxSizeBytes ? h('div.card.quota-card', h('div.card-head', h('h2', 'Quota'), h('span.muted', `${(s.sizeUsedPercent ?? 0).toFixed(1)}% used`)), meter(s.sizeUsedPercent ?? 0, 'Quota used')) : null,
    h('div.card-head.charts-head', h('h2', 'Over time'), rangeTabs),
    charts);
  try {
    const { points } = await api.statsHistory(b, range);
    const series = (k) => points.map((p) => ({ t: Date.parse(p.t), v: p[k] ?? 0 }));
    // objects/bytes are usage at each point; the counters are per interval (since the previous point).
    clear(charts,
      h('figure.card', h('figcaption', 'Stored bytes'), lineChart({ title: 'Stored bytes', points: series('bytes'), format: formatBytes })),
      h('figure.card', h('figcaption', 'Objects'), lineChart({ title: 'Objects', points: series('objects'), format: formatCount })),
      h('figure.card', h('figcaption', 'Requests per interval'), lineChart({ title: 'Requests per interval', points: series('requests'), format: formatCount })),
      h('figure.card', h('figcaption', 'Bytes received per interval'), lineChart({ title: 'Bytes received per interval', points: series('bytesIn'), format: formatBytes })));
  } catch (e) {
    clear(charts, h('div.empty', h('p', e.status === 404 ? 'This gateway keeps no history yet.' : `History unavailable: ${e.message}`)));
  }
}
