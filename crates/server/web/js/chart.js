// Charts as inline SVG, drawn from data (no chart library).

import { h, fmtNumber } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** A line chart of `points` = [{label, value}], with the first and last labels and the range. */
export function lineChart(points, { title = '', width = 420, height = 170 } = {}) {
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title });
  svg.append(s('title', {}, title));
  if (points.length === 0) {
    svg.append(s('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle' }, 'no snapshots yet'));
    return svg;
  }
  const pad = { l: 48, r: 12, t: 12, b: 24 };
  const values = points.map((p) => p.value);
  let min = Math.min(...values);
  let max = Math.max(...values);
  if (min === max) { min = Math.max(0, min - 1); max += 1; }
  const x = (i) => pad.l + (points.length === 1 ? (width - pad.l - pad.r) / 2 : (i * (width - pad.l - pad.r)) / (points.length - 1));
  const y = (v) => pad.t + (1 - (v - min) / (max - min)) * (height - pad.t - pad.b);
  svg.append(s('line', { class: 'axis', x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b }));
  svg.append(s('line', { class: 'axis', x1: pad.l, y1: pad.t, x2: pad.l, y2: height - pad.b }));
  svg.append(s('text', { x: pad.l - 6, y: y(max) + 4, 'text-anchor': 'end' }, fmtNumber(max)));
  svg.append(s('text', { x: pad.l - 6, y: y(min) + 4, 'text-anchor': 'end' }, fmtNumber(min)));
  const d = points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
  svg.append(s('path', { class: 'area', d: `${d} L${x(points.length - 1)},${height - pad.b} L${x(0)},${height - pad.b} Z` }));
  svg.append(s('path', { class: 'line', d }));
  for (const [i, p] of points.entries()) {
    const dot = s('circle', { cx: x(i), cy: y(p.value), r: 3, fill: 'currentColor', class: 'dot' });
    dot.append(s('title', {}, `${p.label}: ${fmtNumber(p.value)}`));
    svg.append(dot);
  }
  svg.append(s('text', { x: pad.l, y: height - 6 }, points[0].label));
  if (points.length > 1) {
    svg.append(s('text', { x: width - pad.r, y: height - 6, 'text-anchor': 'end' }, points[points.length - 1].label));
  }
  return svg;
}

/** Horizontal bars: [{label, fraction (0..1), text}]. */
export function bars(rows) {
  return h('div', { class: 'bars' }, rows.map((r) => {
    const fill = h('div', { class: 'fill' });
    // Through the CSSOM: the page's CSP allows no inline style attributes.
    fill.style.width = `${Math.max(0, Math.min(1, r.fraction)) * 100}%`;
    return h('div', { class: 'bar' },
      h('span', { text: r.label }),
      h('div', { class: 'progress', role: 'img', 'aria-label': `${r.label} ${r.text}` }, fill),
      h('span', { class: 'num', text: r.text }));
  }));
}
