// One operation: status, progress, cancel, timing when it ends, and the
// live log view.

import { api } from './api.js';
import { h, clear, badge, progressBar, setProgress, fmtTime, fmtDuration, fmtBytes, fmtNumber, TERMINAL } from './dom.js';
import { LogView } from './logview.js';

export function mount(root, { stream, params }) {
  const id = params[0];
  const title = h('h1', { text: 'Operation' });
  const status = h('span', { id: 'op-status' });
  const bar = progressBar(0, 0);
  bar.id = 'op-progress';
  const message = h('p', { class: 'muted', id: 'op-message' });
  const meta = h('p', { class: 'muted', id: 'op-meta' });
  const cancelBtn = h('button', { class: 'danger', id: 'op-cancel', text: 'Cancel', hidden: true });
  const problem = h('p', { class: 'error', role: 'alert', hidden: true });
  const timing = h('section', { class: 'panel', id: 'op-timing', hidden: true, 'aria-label': 'Timing' });
  // An organize's dry run: its log is the plan; the real run starts here.
  const runPlan = h('button', { class: 'primary', id: 'op-run-plan', text: 'Organize now', disabled: true });
  const planNote = h('p', { class: 'muted', id: 'op-plan-note' });
  const plan = h('section', { class: 'panel', id: 'op-plan', hidden: true, 'aria-label': 'Organize plan' },
    h('h2', { text: 'Organize plan' }), planNote, h('div', { class: 'row' }, runPlan));
  const view = new LogView(id);
  root.append(
    h('p', {}, h('a', { href: '#/operations', text: '← Operations' })),
    title,
    h('section', { class: 'panel' }, h('div', { class: 'row' }, status, h('span', { class: 'spacer' }), cancelBtn), bar, message, meta, problem),
    plan, timing, view.el,
  );
  let op = null;

  function show(o) {
    op = o;
    title.textContent = `${o.type}${o.params && o.params.dry_run ? ' preview' : ''} ${o.id}`;
    clear(status).append(badge(o.status));
    status.dataset.status = o.status;
    setProgress(bar, o.progress, o.total, o.status);
    message.textContent = o.error_message || o.message || '';
    meta.textContent = `${o.priority} priority · created ${fmtTime(o.created_at)}`
      + (o.started_at ? ` · started ${fmtTime(o.started_at)}` : '')
      + (o.completed_at ? ` · ended ${fmtTime(o.completed_at)}` : '');
    cancelBtn.hidden = TERMINAL.has(o.status);
    if (o.type === 'organize' && o.params && o.params.dry_run) {
      plan.hidden = false;
      const done = o.status === 'completed';
      planNote.textContent = done
        ? 'Nothing was changed. The log below lists every book\'s target, the strategy it would use, and each conflict (warnings). Organizing now places the books as the library stands at that moment.'
        : 'Planning: nothing is changed.';
      runPlan.disabled = !done;
    }
    if (TERMINAL.has(o.status) && o.timing) showTiming(o.timing);
  }

  function showTiming(t) {
    timing.hidden = false;
    const cell = (label, value) => h('div', { class: 'stat' }, h('div', { class: 'label', text: label }), h('div', { class: 'value', text: value }));
    clear(timing).append(h('h2', { text: 'Timing' }), h('div', { class: 'timing' },
      cell('Wall time', fmtDuration(t.wall_seconds)), cell('Waited in queue', fmtDuration(t.queue_wait_seconds)),
      cell('Files', fmtNumber(t.files)), cell('Bytes', fmtBytes(t.bytes)),
      cell('Files/s', Number(t.files_per_second || 0).toFixed(1)), cell('MB/s', Number(t.mb_per_second || 0).toFixed(1))));
  }

  runPlan.addEventListener('click', async () => {
    runPlan.disabled = true;
    try {
      const body = { priority: op.priority };
      if (op.params.strategy) body.strategy = op.params.strategy;
      const res = await api('/api/v1/operations/organize', { method: 'POST', body });
      location.hash = `#/operations/${res.operation_id}`;
    } catch (e) {
      problem.hidden = false;
      problem.textContent = `Could not start the organize: ${e.message}`;
      runPlan.disabled = false;
    }
  });

  cancelBtn.addEventListener('click', async () => {
    cancelBtn.disabled = true;
    try { show(await api(`/api/v1/operations/${id}`, { method: 'DELETE' })); } catch (e) {
      problem.hidden = false;
      problem.textContent = e.message;
    }
    cancelBtn.disabled = false;
  });

  // A status change that arrives before the first answer is read again
  // after it (that answer may be older than the change).
  let missed = false;
  async function load() {
    try {
      show(await api(`/api/v1/operations/${id}`));
      if (missed) {
        missed = false;
        show(await api(`/api/v1/operations/${id}`));
      }
      await view.start();
    } catch (e) {
      problem.hidden = false;
      problem.textContent = e.status === 404 ? `No operation ${id}.` : `Could not load: ${e.message}`;
    }
  }
  load();

  const mine = (ev) => ev.data && ev.data.operation_id === id;
  const offs = [
    stream.on('operation.status', (ev) => {
      if (!mine(ev)) return;
      if (!op) { missed = true; return; }
      show({ ...op, status: ev.data.status });
      if (ev.data.timing) showTiming(ev.data.timing);
      if (TERMINAL.has(ev.data.status)) api(`/api/v1/operations/${id}`).then(show).catch(() => {});
    }),
    stream.on('operation.progress', (ev) => {
      if (!mine(ev) || !op) return;
      op.progress = ev.data.current;
      op.total = ev.data.total;
      setProgress(bar, ev.data.current, ev.data.total, op.status);
      message.textContent = ev.data.message || '';
    }),
    stream.on('operation.log', (ev) => { if (mine(ev)) view.push(ev); }),
    stream.on('refetch', load),
  ];
  return () => offs.forEach((off) => off());
}
