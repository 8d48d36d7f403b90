// Operations: start work, pause or resume the queue, and the list with
// live status and progress bars.

import { api } from './api.js';
import { h, clear, badge, progressBar, setProgress, fmtTime, TERMINAL } from './dom.js';

export function mount(root, { stream }) {
  const note = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite', id: 'ops-note' });
  const pauseBtn = h('button', { id: 'queue-toggle', text: 'Pause queue' });
  const priority = h('select', { id: 'priority', 'aria-label': 'Priority' },
    ['normal', 'high', 'low'].map((p) => h('option', { value: p, text: `${p} priority` })));
  const strategy = h('select', { id: 'strategy', 'aria-label': 'Organize strategy' },
    ['auto', 'reflink', 'hardlink', 'copy', 'symlink'].map((s) => h('option', { value: s, text: s })));
  const tbody = h('tbody', { id: 'ops-body' });
  root.append(
    h('h1', { text: 'Operations' }),
    h('div', { class: 'panel' },
      h('div', { class: 'row' },
        h('button', { class: 'primary', id: 'start-scan', text: 'Scan', onclick: () => start('scan', { priority: priority.value }) }),
        h('button', { id: 'start-organize', text: 'Organize', onclick: () => start('organize', { priority: priority.value, strategy: strategy.value }) }),
        h('button', { id: 'start-organize-preview', text: 'Preview organize', title: 'List every target and conflict; change nothing', onclick: () => start('organize', { priority: priority.value, strategy: strategy.value, dry_run: true }) }),
        h('label', { class: 'muted', for: 'strategy', text: 'strategy' }), strategy,
        h('button', { id: 'start-integrity', text: 'Integrity check', onclick: () => start('integrity') }),
        priority, h('span', { class: 'spacer' }), pauseBtn),
      note),
    h('div', { class: 'panel table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { text: 'Type' }), h('th', { text: 'Status' }), h('th', { text: 'Progress' }),
        h('th', { class: 'hide-sm', text: 'Created' }), h('th', { text: '' }))),
      tbody)),
  );

  const rows = new Map();
  let paused = false;

  function showQueue(q) {
    paused = q.paused;
    pauseBtn.textContent = paused ? 'Resume queue' : 'Pause queue';
    pauseBtn.setAttribute('aria-pressed', String(paused));
    pauseBtn.dataset.paused = String(paused);
  }
  pauseBtn.addEventListener('click', async () => {
    try {
      showQueue(await api(`/api/v1/queue/${paused ? 'resume' : 'pause'}`, { method: 'POST' }));
    } catch (e) { note.textContent = e.message; }
  });

  async function start(kind, body = {}) {
    const path = kind === 'integrity' ? '/api/v1/integrity/check' : `/api/v1/operations/${kind}`;
    try {
      const res = await api(path, { method: 'POST', body });
      note.textContent = `Started ${kind}: ${res.operation_id}`;
      location.hash = `#/operations/${res.operation_id}`;
    } catch (e) { note.textContent = `Could not start ${kind}: ${e.message}`; }
  }

  async function cancel(id) {
    try { await api(`/api/v1/operations/${id}`, { method: 'DELETE' }); } catch (e) { note.textContent = e.message; }
  }

  function row(op) {
    const status = h('td', { class: 'status' }, badge(op.status));
    const bar = progressBar(op.progress, op.total, op.status);
    const message = h('div', { class: 'muted msg', text: op.message || op.error_message || '' });
    const actions = h('td', {});
    const tr = h('tr', { dataset: { id: op.id } },
      h('td', {}, h('a', { href: `#/operations/${op.id}`, text: op.type })),
      status, h('td', {}, bar, message), h('td', { class: 'hide-sm', text: fmtTime(op.created_at) }), actions);
    const entry = { tr, status, bar, message, actions, op };
    setActions(entry);
    return entry;
  }

  function setActions(entry) {
    clear(entry.actions);
    if (!TERMINAL.has(entry.op.status)) {
      entry.actions.append(h('button', { class: 'danger cancel', text: 'Cancel', onclick: () => cancel(entry.op.id) }));
    }
  }

  async function load() {
    try {
      const [list, q] = await Promise.all([api('/api/v1/operations?limit=50'), api('/api/v1/queue')]);
      showQueue(q);
      clear(tbody);
      rows.clear();
      for (const op of list.operations) {
        const entry = row(op);
        rows.set(op.id, entry);
        tbody.append(entry.tr);
      }
      if (list.operations.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 5, class: 'muted', text: 'No operations yet.' })));
    } catch (e) { note.textContent = `Could not load operations: ${e.message}`; }
  }
  load();

  let reload = null;
  const offs = [
    stream.on('operation.status', (ev) => {
      const entry = rows.get(ev.data.operation_id);
      if (!entry) { clearTimeout(reload); reload = setTimeout(load, 200); return; }
      entry.op.status = ev.data.status;
      clear(entry.status).append(badge(ev.data.status));
      setProgress(entry.bar, entry.op.progress, entry.op.total, ev.data.status);
      setActions(entry);
    }),
    stream.on('operation.progress', (ev) => {
      const entry = rows.get(ev.data.operation_id);
      if (!entry) return;
      entry.op.progress = ev.data.current;
      entry.op.total = ev.data.total;
      setProgress(entry.bar, ev.data.current, ev.data.total, entry.op.status);
      entry.message.textContent = ev.data.message || '';
    }),
    stream.on('queue.status', (ev) => showQueue(ev.data)),
    stream.on('refetch', load),
  ];
  return () => { offs.forEach((off) => off()); clearTimeout(reload); };
}
