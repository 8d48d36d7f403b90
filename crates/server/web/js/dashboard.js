// Dashboard: live system status, growth, queue and workers, top errors,
// integrity findings. Starts from the REST API, then follows the stream.

import { api } from './api.js';
import { h, clear, stat, badge, fmtBytes, fmtNumber, fmtDuration, fmtTime, TERMINAL } from './dom.js';
import { lineChart, bars } from './chart.js';

export function mount(root, { stream }) {
  const breakers = h('div', { id: 'breakers' });
  const growth = h('div', { class: 'chart', id: 'growth' });
  const growthNote = h('p', { class: 'muted', id: 'growth-note' });
  const queue = h('div', { id: 'queue' });
  const errors = h('div', { id: 'top-errors' });
  const integrity = h('div', { id: 'integrity-summary' });
  const problem = h('p', { class: 'error', role: 'alert', hidden: true });
  root.append(
    h('h1', { text: 'Dashboard' }), problem,
    h('section', { class: 'grid', 'aria-label': 'System status' },
      stat('Books', 'stat-books'), stat('Import paths', 'stat-folders'),
      stat('Active operations', 'stat-active'), stat('Queued', 'stat-queued'),
      stat('Memory', 'stat-memory'), stat('Tasks', 'stat-tasks'),
      stat('Live clients', 'stat-clients'), stat('Database', 'stat-db'), stat('Uptime', 'stat-uptime')),
    h('div', { class: 'cols' },
      h('section', { class: 'panel' }, h('h2', { text: 'Library growth (books per day)' }), growth, growthNote),
      h('section', { class: 'panel' }, h('h2', { text: 'Queue and workers' }), queue),
      h('section', { class: 'panel' }, h('h2', {}, 'Top recurring errors · ', h('a', { href: '#/errors', text: 'all' })), errors),
      h('section', { class: 'panel' }, h('h2', {}, 'Integrity · ', h('a', { href: '#/integrity', text: 'findings' })), integrity,
        h('h2', { text: 'Circuit breakers' }), breakers)),
  );

  const set = (id, v) => { const el = root.querySelector(`#${id}`); if (el) el.textContent = v; };

  function applyStatus(s) {
    set('stat-books', fmtNumber(s.books));
    set('stat-folders', fmtNumber(s.folders));
    set('stat-active', fmtNumber(s.active_operations));
    set('stat-queued', fmtNumber(s.queued_operations) + (s.queue_paused ? ' (paused)' : ''));
    set('stat-memory', fmtBytes(s.memory_alloc));
    set('stat-tasks', fmtNumber(s.goroutines));
    set('stat-clients', fmtNumber(s.sse_clients));
    set('stat-uptime', fmtDuration(s.uptime_seconds));
    const db = root.querySelector('#stat-db');
    if (db) {
      clear(db);
      const health = s.health || {};
      db.append(badge(health.status || 'unknown'));
      if (health.write_latency_ms !== undefined) {
        db.append(h('div', { class: 'muted', text: `${s.db_type} · write ${Number(health.write_latency_ms).toFixed(1)} ms` }));
      }
    }
    clear(breakers);
    const entries = Object.entries(s.circuit_breakers || {});
    if (entries.length === 0) breakers.append(h('p', { class: 'muted', text: 'No metadata source used yet.' }));
    for (const [source, state] of entries) breakers.append(h('div', { class: 'row' }, h('span', { text: source }), badge(state)));
  }

  function applyQueue(q) {
    clear(queue);
    queue.append(h('p', {}, q.paused ? badge('paused', 'slow') : badge('running'),
      ` ${q.running} running, ${q.queued} waiting on ${q.workers} worker(s)`,
      q.queued ? ` · oldest waiting ${fmtDuration(q.oldest_wait_seconds)}` : ''));
    const maxDepth = Math.max(1, q.depth.high, q.depth.normal, q.depth.low);
    queue.append(h('h2', { text: 'Waiting by priority' }), bars(['high', 'normal', 'low'].map((p) => ({
      label: p, fraction: q.depth[p] / maxDepth, text: fmtNumber(q.depth[p]) }))));
    const pct = (f) => `${Math.round(f * 100)}%`;
    queue.append(h('h2', { text: 'Worker utilization (5 min)' }), bars([
      { label: 'overall', fraction: q.utilization.overall['5m'], text: pct(q.utilization.overall['5m']) },
      ...q.utilization.workers.map((w) => ({
        label: `worker ${w.worker}${w.busy ? ' ●' : ''}`, fraction: w.utilization['5m'], text: pct(w.utilization['5m']) })),
    ]));
  }

  function applyGrowth(g) {
    clear(growth);
    // The day's snapshot is taken at start-up and after midnight; "now" is live.
    const points = g.snapshots.map((s) => ({ label: s.date, value: s.books }));
    points.push({ label: 'now', value: g.current.books });
    growth.append(lineChart(points, { title: 'Books per day' }));
    growthNote.textContent = `Now ${fmtNumber(g.current.books)} books, ${fmtBytes(g.current.total_bytes)}; `
      + `${g.books_change >= 0 ? '+' : ''}${fmtNumber(g.books_change)} books over ${g.days} days.`;
  }

  function applyErrors(e) {
    clear(errors);
    if (e.errors.length === 0) { errors.append(h('p', { class: 'muted', text: 'No warnings or errors recorded.' })); return; }
    errors.append(h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { text: 'Pattern' }), h('th', { class: 'num', text: 'Count' }), h('th', { class: 'hide-sm', text: 'Last seen' }))),
      h('tbody', {}, e.errors.map((x) => h('tr', {},
        h('td', {}, badge(x.level), ' ', x.pattern), h('td', { class: 'num', text: fmtNumber(x.count) }),
        h('td', { class: 'hide-sm', text: fmtTime(x.last_seen) })))))));
  }

  function applyIntegrity(f) {
    clear(integrity);
    integrity.append(h('p', {}, h('span', { class: 'big', id: 'stat-findings', text: fmtNumber(f.total) }),
      ' current finding(s)'));
    const kinds = Object.entries(f.by_kind || {}).filter(([, n]) => n > 0);
    if (kinds.length) integrity.append(h('p', {}, kinds.map(([k, n]) => [badge(k), ` ${fmtNumber(n)} `])));
  }

  const loaders = {
    status: () => api('/api/v1/system/status').then(applyStatus),
    queue: () => api('/api/v1/queue').then(applyQueue),
    growth: () => api('/api/v1/stats/growth?days=30').then(applyGrowth),
    errors: () => api('/api/v1/errors/top?limit=5').then(applyErrors),
    integrity: () => api('/api/v1/integrity/mismatches?limit=1').then(applyIntegrity),
  };
  const load = (names) => {
    problem.textContent = '';
    return Promise.all(names.map((n) => loaders[n]().catch((e) => {
      problem.textContent = `Could not load ${n}: ${e.message}`;
    }))).then(() => { problem.hidden = problem.textContent === ''; });
  };
  load(Object.keys(loaders));

  // Counts move while work runs: refresh the cheap status at most once a second.
  let statusTimer = null;
  const refreshStatusSoon = () => {
    if (statusTimer) return;
    statusTimer = setTimeout(() => { statusTimer = null; load(['status']); }, 1000);
  };
  const offs = [
    stream.on('system.status', (ev) => applyStatus(ev.data)),
    stream.on('queue.status', (ev) => applyQueue(ev.data)),
    stream.on('growth.snapshot', () => load(['growth'])),
    stream.on('integrity.mismatch', () => load(['integrity'])),
    stream.on('system.health', () => load(['status'])),
    stream.on('circuit_breaker.state', () => load(['status'])),
    stream.on('operation.progress', refreshStatusSoon),
    stream.on('operation.log', (ev) => { if (ev.data.level !== 'info') refreshStatusSoon(); }),
    stream.on('operation.status', (ev) => {
      if (TERMINAL.has(ev.data.status)) load(['status', 'growth', 'errors', 'integrity']);
      else refreshStatusSoon();
    }),
    stream.on('refetch', () => load(Object.keys(loaders))),
  ];
  return () => { offs.forEach((off) => off()); clearTimeout(statusTimer); };
}
