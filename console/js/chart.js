// Inline SVG line/area charts (no library). Pure geometry in `linePath`, DOM in `lineChart`.
const NS = 'http://www.w3.org/2000/svg';

/** Points [{t: ms, v}] → SVG path "M x y L …" scaled into w×h (v from 0 to max). */
export function linePath(points, w, h, max) {
  if (!points.length) return '';
  const t0 = points[0].t;
  const span = Math.max(1, points[points.length - 1].t - t0);
  const m = max > 0 ? max : 1;
  return points.map((p, i) => `${i ? 'L' : 'M'}${((p.t - t0) / span * w).toFixed(1)} ${(h - (p.v / m) * h).toFixed(1)}`).join(' ');
}

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}

/** A labelled chart: title, last value, area under the line, y max and time span. */
export function lineChart({ title, points, format, width = 400, height = 130 }) {
  const max = Math.max(0, ...points.map((p) => p.v));
  const svg = el('svg', { class: 'chart', viewBox: `0 0 ${width} ${height + 20}`, role: 'img', 'aria-label': `${title}: ${points.length ? format(points[points.length - 1].v) : 'no data'}` });
  for (let i = 0; i <= 3; i++) svg.append(el('line', { class: 'chart-grid', x1: 0, x2: width, y1: (height / 3) * i, y2: (height / 3) * i }));
  if (points.length > 1) {
    const d = linePath(points, width, height, max);
    svg.append(el('path', { class: 'chart-area', d: `${d} L${width} ${height} L0 ${height} Z` }));
    svg.append(el('path', { class: 'chart-line', d }));
  } else {
    svg.append(el('text', { class: 'chart-empty', x: width / 2, y: height / 2, 'text-anchor': 'middle' }, points.length ? 'one sample so far' : 'no samples yet'));
  }
  svg.append(el('text', { class: 'chart-label', x: 4, y: 12 }, format(max)));
  if (points.length) {
    const span = points[points.length - 1].t - points[0].t;
    const opts = span < 3600e3 ? { hour: '2-digit', minute: '2-digit', second: '2-digit' } : span < 86400e3 ? { hour: '2-digit', minute: '2-digit' } : { month: 'short', day: 'numeric', hour: '2-digit' };
    const fmt = (t) => new Date(t).toLocaleString([], opts);
    svg.append(el('text', { class: 'chart-label', x: 0, y: height + 16 }, fmt(points[0].t)));
    svg.append(el('text', { class: 'chart-label', x: width, y: height + 16, 'text-anchor': 'end' }, fmt(points[points.length - 1].t)));
  }
  return svg;
}
