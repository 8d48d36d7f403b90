// Integrity findings and recurring errors, each with acknowledge.

import { api } from './api.js';
import { h, clear, badge, fmtNumber, fmtTime } from './dom.js';

function table(head, body) {
  return h('div', { class: 'panel table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, head.map((t) => h('th', { text: t })))), body));
}

export function mountIntegrity(root, { stream }) {
  const note = h('p', { class: 'muted', role: 'status', id: 'integrity-note' });
  const summary = h('p', { id: 'integrity-total' });
  const tbody = h('tbody', { id: 'findings-body' });
  const more = h('button', { id: 'findings-more', text: 'Load more', hidden: true });
  root.append(h('h1', { text: 'Integrity' }),
    h('div', { class: 'row' }, h('button', { class: 'primary', id: 'integrity-run', text: 'Check every file now', onclick: run }), note),
    summary, table(['Book', 'Kind', 'File', 'Stored / computed hash', 'Found', ''], tbody), more);
  let after = null;

  async function run() {
    try {
      const res = await api('/api/v1/integrity/check', { method: 'POST', body: {} });
      note.textContent = res.message || `Started ${res.operation_id}`;
    } catch (e) { note.textContent = e.message; }
  }

  function row(f) {
    const tr = h('tr', { dataset: { book: f.book_id } },
      h('td', {}, h('a', { href: `#/library/${encodeURIComponent(f.book_id)}`, text: f.book_title || f.book_id })),
      h('td', {}, badge(f.kind)), h('td', { text: f.file_path }),
      h('td', { class: 'hash' }, f.stored_hash || '', h('br'), f.computed_hash || f.error || ''),
      h('td', { text: fmtTime(f.detected_at) }),
      h('td', {}, h('button', { class: 'ack', text: 'Acknowledge', onclick: async () => {
        try { await api(`/api/v1/integrity/mismatches/${encodeURIComponent(f.book_id)}`, { method: 'DELETE' }); tr.remove(); load(true); } catch (e) { note.textContent = e.message; }
      } })));
    return tr;
  }

  async function load(reset = true) {
    try {
      if (reset) { after = null; clear(tbody); }
      const page = await api(`/api/v1/integrity/mismatches?limit=100${after ? `&after=${encodeURIComponent(after)}` : ''}`);
      summary.textContent = `${fmtNumber(page.total)} current finding(s)`
        + Object.entries(page.by_kind || {}).filter(([, n]) => n).map(([k, n]) => ` · ${k} ${fmtNumber(n)}`).join('');
      for (const f of page.mismatches) tbody.append(row(f));
      if (page.total === 0) tbody.append(h('tr', {}, h('td', { colspan: 6, class: 'muted', text: 'No findings: every checked file matched its hash.' })));
      after = page.next_after || null;
      more.hidden = !after;
    } catch (e) { note.textContent = `Could not load findings: ${e.message}`; }
  }
  more.addEventListener('click', () => load(false));
  load();
  const offs = [
    stream.on('integrity.mismatch', () => load()),
    stream.on('operation.status', (ev) => { if (ev.data.status === 'completed') load(); }),
    stream.on('refetch', () => load()),
  ];
  return () => offs.forEach((off) => off());
}

export function mountErrors(root, { stream }) {
  const since = h('select', { id: 'errors-since', 'aria-label': 'Period' },
    [['', 'all time'], ['1', 'last 24 hours'], ['7', 'last 7 days'], ['30', 'last 30 days']].map(([v, t]) => h('option', { value: v, text: t })));
  const showAcked = h('input', { type: 'checkbox', id: 'errors-acked' });
  const tbody = h('tbody', { id: 'errors-body' });
  const note = h('p', { class: 'muted', role: 'status' });
  root.append(h('h1', { text: 'Recurring errors' }),
    h('div', { class: 'row' }, since, h('label', { for: 'errors-acked' }, showAcked, ' show acknowledged'), note),
    table(['Level', 'Pattern', 'Count', 'First / last seen', 'Operation types', 'Last example', ''], tbody));

  async function load() {
    const params = new URLSearchParams({ limit: '100' });
    if (since.value) params.set('since', new Date(Date.now() - Number(since.value) * 86400000).toISOString());
    if (showAcked.checked) params.set('acknowledged', 'true');
    try {
      const page = await api(`/api/v1/errors/top?${params}`);
      clear(tbody);
      note.textContent = `${fmtNumber(page.groups)} distinct pattern(s)`;
      for (const e of page.errors) {
        const tr = h('tr', { dataset: { fingerprint: e.fingerprint } },
          h('td', {}, badge(e.level)), h('td', { text: e.pattern }),
          h('td', { class: 'num', text: since.value ? `${fmtNumber(e.count_since)} (${fmtNumber(e.count)} in all)` : fmtNumber(e.count) }),
          h('td', {}, fmtTime(e.first_seen), h('br'), fmtTime(e.last_seen)),
          h('td', { text: (e.operation_types || []).join(', ') }),
          h('td', {}, e.last_example.message, e.last_example.operation_id
            ? h('div', {}, h('a', { href: `#/operations/${e.last_example.operation_id}`, text: 'operation' })) : null),
          h('td', {}, e.acknowledged_at ? h('span', { class: 'muted', text: `acknowledged ${fmtTime(e.acknowledged_at)}` })
            : h('button', { class: 'ack', text: 'Acknowledge', onclick: async () => {
              try { await api(`/api/v1/errors/${encodeURIComponent(e.fingerprint)}`, { method: 'DELETE' }); load(); } catch (err) { note.textContent = err.message; }
            } })));
        tbody.append(tr);
      }
      if (page.errors.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 7, class: 'muted', text: 'Nothing recurring. Good.' })));
    } catch (e) { note.textContent = `Could not load errors: ${e.message}`; }
  }
  since.addEventListener('change', load);
  showAcked.addEventListener('change', load);
  load();
  const offs = [
    stream.on('operation.status', (ev) => { if (ev.data.status === 'completed' || ev.data.status === 'failed') load(); }),
    stream.on('refetch', load),
  ];
  return () => offs.forEach((off) => off());
}
