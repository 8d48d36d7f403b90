// Small DOM helpers: elements are built with text nodes only (never
// innerHTML), so names and log lines from files cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function fmtNumber(n) {
  return n === undefined || n === null ? '–' : Number(n).toLocaleString('en-US');
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function fmtDuration(secs) {
  if (secs === undefined || secs === null) return '–';
  const s = Number(secs);
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtTime(t) {
  if (!t) return '–';
  const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString();
}

export function fmtClock(t) {
  const d = t ? new Date(t) : new Date();
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour12: false });
}

export function badge(value, extra = '') {
  return h('span', { class: `badge ${value} ${extra}`.trim(), text: String(value).replace('_', ' ') });
}

export function progressBar(current, total, status) {
  const bar = h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100 },
    h('div', { class: 'fill' }), h('div', { class: 'text' }));
  setProgress(bar, current, total, status);
  return bar;
}

/** Percent shown: 100 once an operation completed, whatever it counted. */
export function setProgress(bar, current, total, status) {
  let pct = total > 0 ? Math.min(100, (current / total) * 100) : 0;
  if (status === 'completed') pct = 100;
  const rounded = Math.floor(pct);
  bar.querySelector('.fill').style.width = `${pct}%`;
  bar.querySelector('.text').textContent = total > 0 || status === 'completed'
    ? `${rounded}%${total > 0 ? ` · ${fmtNumber(current)}/${fmtNumber(total)}` : ''}` : '';
  bar.setAttribute('aria-valuenow', String(rounded));
  bar.dataset.percent = String(rounded);
  bar.classList.toggle('done', status === 'completed');
}

export const TERMINAL = new Set(['completed', 'failed', 'canceled', 'interrupted']);

export function stat(label, id, value = '–') {
  return h('div', { class: 'stat' }, h('div', { class: 'label', text: label }),
    h('div', { class: 'value', id, text: value }));
}
