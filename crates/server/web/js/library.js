// Library: books with search and paging; one book's files, hashes, status.

import { api, apiImage } from './api.js';
import { h, clear, badge, fmtNumber, fmtDuration, fmtBytes, fmtTime } from './dom.js';

const PAGE = 50;

export function mount(root, { stream, query }) {
  let offset = Number(query.get('offset')) || 0;
  const search = h('input', { id: 'book-search', type: 'search', placeholder: 'Search title, author, series, narrator', 'aria-label': 'Search books', value: query.get('q') || '' });
  const sort = h('select', { id: 'book-sort', 'aria-label': 'Sort books by' },
    ...[['added', 'Date added'], ['title', 'Title'], ['author', 'Author'], ['series', 'Series']]
      .map(([v, t]) => h('option', { value: v, text: t })));
  const order = h('select', { id: 'book-order', 'aria-label': 'Sort order' },
    h('option', { value: 'asc', text: 'Ascending' }), h('option', { value: 'desc', text: 'Descending' }));
  sort.value = ['added', 'title', 'author', 'series'].includes(query.get('sort')) ? query.get('sort') : 'added';
  order.value = query.get('order') === 'desc' ? 'desc' : 'asc';
  const tbody = h('tbody', { id: 'books-body' });
  const info = h('span', { class: 'muted', id: 'books-info', role: 'status' });
  const prev = h('button', { id: 'books-prev', text: '← Previous' });
  const next = h('button', { id: 'books-next', text: 'Next →' });
  const problem = h('p', { class: 'error', role: 'alert', hidden: true });
  root.append(
    h('h1', { text: 'Library' }),
    h('form', { class: 'row', role: 'search', onsubmit: (e) => { e.preventDefault(); offset = 0; load(); } },
      search, h('button', { type: 'submit', text: 'Search' }), sort, order),
    problem,
    h('div', { class: 'panel table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { text: 'Title' }), h('th', { text: 'Author' }), h('th', { class: 'hide-sm', text: 'Series' }),
        h('th', { class: 'num hide-sm', text: 'Files' }), h('th', { class: 'num hide-sm', text: 'Length' }), h('th', { text: 'Status' }))),
      tbody),
    h('div', { class: 'pager' }, prev, next, info)),
  );
  prev.addEventListener('click', () => { offset = Math.max(0, offset - PAGE); load(); });
  next.addEventListener('click', () => { offset += PAGE; load(); });
  for (const el of [sort, order]) el.addEventListener('change', () => { offset = 0; load(); });

  let latest = 0;
  async function load() {
    const q = search.value.trim();
    // Only the newest request paints: an older answer arriving late
    // (a sort changed twice quickly) is dropped.
    const mine = ++latest;
    try {
      const page = await api(`/api/v1/books?limit=${PAGE}&offset=${offset}&sort=${sort.value}&order=${order.value}${q ? `&q=${encodeURIComponent(q)}` : ''}`);
      if (mine !== latest) return;
      problem.hidden = true;
      clear(tbody);
      for (const b of page.books) {
        tbody.append(h('tr', {},
          h('td', {}, h('a', { href: `#/library/${encodeURIComponent(b.id)}`, text: b.title || '(untitled)' })),
          h('td', { text: b.author || '' }),
          h('td', { class: 'hide-sm', text: b.series ? `${b.series}${b.series_index ? ` #${b.series_index}` : ''}` : '' }),
          h('td', { class: 'num hide-sm', text: fmtNumber(b.files.length) }),
          h('td', { class: 'num hide-sm', text: fmtDuration(b.duration_secs) }),
          h('td', {}, badge(b.status))));
      }
      if (page.books.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 6, class: 'muted', text: q ? 'No book matches.' : 'No books yet: add an import path and scan.' })));
      const end = offset + page.books.length;
      info.textContent = page.books.length ? `${fmtNumber(offset + 1)}–${fmtNumber(end)} of ${fmtNumber(page.total)}` : `${fmtNumber(page.total)} book(s)`;
      prev.disabled = offset === 0;
      next.disabled = end >= page.total;
    } catch (e) {
      if (mine !== latest) return;
      problem.hidden = false;
      problem.textContent = `Could not load books: ${e.message}`;
    }
  }
  load();
  const offs = [
    stream.on('operation.status', (ev) => { if (ev.data.status === 'completed') load(); }),
    stream.on('refetch', load),
  ];
  return () => offs.forEach((off) => off());
}

// The fields a user can edit, in form order: [name, label, kind].
const FIELDS = [
  ['title', 'Title', 'text'], ['authors', 'Authors', 'list'], ['narrators', 'Narrators', 'list'],
  ['series', 'Series', 'text'], ['series_index', 'Number in series', 'text'], ['year', 'Year', 'year'],
  ['isbn', 'ISBN', 'text'], ['asin', 'ASIN', 'text'], ['language', 'Language', 'text'],
  ['publisher', 'Publisher', 'text'], ['genres', 'Genres', 'list'], ['description', 'Description', 'long'],
];

/** Where a value came from, in words. */
export function provenanceText(p) {
  if (!p) return '';
  if (p === 'tag') return 'from the tags';
  if (p === 'path') return 'from the folder and file names';
  if (p === 'user') return 'edited';
  if (p.startsWith('source:')) return `from ${p.slice(7)}`;
  return p;
}

function shown(b, name) {
  const v = b[name];
  if (Array.isArray(v)) return v.join(', ');
  return v === undefined || v === null ? '' : String(v);
}

export function mountBook(root, { params }) {
  const id = params[0];
  const path = `/api/v1/books/${encodeURIComponent(id)}`;
  const body = h('div', {});
  root.append(h('p', {}, h('a', { href: '#/library', text: '← Library' })), body);
  let editing = false;

  function render(b) {
    clear(body);
    const field = (label, value) => (value === undefined || value === null || value === '' ? null
      : h('div', { class: 'stat' }, h('div', { class: 'label', text: label }), h('div', { text: String(value) })));
    const cover = h('img', { class: 'cover', id: 'book-cover', alt: `Cover of ${b.title || 'this book'}`, hidden: true });
    if (b.cover) {
      apiImage(`${path}/cover`).then((url) => {
        if (!url) return;
        cover.src = url;
        cover.hidden = false;
      });
    }
    const editButton = h('button', { id: 'book-edit-open', type: 'button', text: editing ? 'Close editor' : 'Edit' });
    editButton.addEventListener('click', () => { editing = !editing; render(b); });
    body.append(
      cover,
      h('h1', { id: 'book-title', text: b.title || '(untitled)' }),
      h('p', {}, badge(b.status), ` by ${b.author || 'unknown author'} `, editButton),
      editing ? editor(b) : details(b, field),
      b.description && !editing ? h('p', { id: 'book-description', text: b.description }) : null,
      h('section', { class: 'panel table-wrap' }, h('h2', { text: `Files (${b.files.length})` }), h('table', { id: 'book-files' },
        h('thead', {}, h('tr', {}, h('th', { text: 'Path' }), h('th', { class: 'num', text: 'Size' }), h('th', { class: 'num hide-sm', text: 'Length' }), h('th', { text: 'SHA-256' }))),
        h('tbody', {}, b.files.map((f) => h('tr', {},
          h('td', {}, f.path, f.organized_path ? h('div', { class: 'muted', text: `→ ${f.organized_path}` }) : null),
          h('td', { class: 'num', text: fmtBytes(f.size) }), h('td', { class: 'num hide-sm', text: fmtDuration(f.duration_secs) }),
          h('td', { class: 'hash', text: f.hash })))))),
      b.duplicates && b.duplicates.length ? h('section', { class: 'panel' }, h('h2', { text: 'Duplicates (same content elsewhere)' }),
        h('ul', {}, b.duplicates.map((d) => h('li', { text: typeof d === 'string' ? d : JSON.stringify(d) })))) : null,
      history(),
    );
  }

  function details(b, field) {
    const prov = b.provenance || {};
    const withSource = (label, name, value) => {
      const el = field(label, value);
      if (el && prov[name]) el.append(h('div', { class: 'muted prov', dataset: { field: name }, text: provenanceText(prov[name]) }));
      return el;
    };
    return h('div', { class: 'grid' },
      withSource('Series', 'series', b.series && `${b.series}${b.series_index ? ` #${b.series_index}` : ''}`),
      withSource('Narrator', 'narrators', b.narrator), withSource('Year', 'year', b.year), withSource('ISBN', 'isbn', b.isbn),
      withSource('ASIN', 'asin', b.asin), withSource('Language', 'language', b.language),
      withSource('Publisher', 'publisher', b.publisher), withSource('Genres', 'genres', (b.genres || []).join(', ')),
      field('Length', fmtDuration(b.duration_secs)),
      field('Codec', b.codec && `${b.codec}${b.bitrate_kbps ? ` · ${b.bitrate_kbps} kbps` : ''}`),
      field('Source folder', b.source_dir), field('Organized into', b.organized_dir),
      field('Added', fmtTime(b.created_at)), field('Updated', fmtTime(b.updated_at)));
  }

  // The edit form: every field with where its value came from; a field a
  // user edited is locked and can be unlocked here.
  function editor(b) {
    const prov = b.provenance || {};
    const locked = new Set(b.locked || []);
    const inputs = {};
    const problem = h('p', { class: 'error', id: 'book-edit-error', role: 'alert', hidden: true });
    const rows = FIELDS.map(([name, label, kind]) => {
      const inputId = `edit-${name}`;
      const value = kind === 'list' ? (b[name] || []).join('\n') : shown(b, name);
      const input = kind === 'list' || kind === 'long'
        ? h('textarea', { id: inputId, name, rows: kind === 'long' ? 5 : 2 })
        : h('input', { id: inputId, name, type: kind === 'year' ? 'number' : 'text', min: kind === 'year' ? 0 : null, max: kind === 'year' ? 9999 : null });
      input.value = value;
      inputs[name] = { input, kind, before: value };
      const unlock = locked.has(name) ? h('button', { type: 'button', class: 'unlock', dataset: { field: name }, text: 'Unlock' }) : null;
      if (unlock) {
        unlock.addEventListener('click', async () => {
          try {
            render(await api(`${path}/locks/${name}`, { method: 'DELETE' }));
          } catch (e) { problem.hidden = false; problem.textContent = e.message; }
        });
      }
      return h('div', { class: 'edit-row' },
        h('label', { for: inputId, text: label }), input,
        h('span', { class: 'muted prov', dataset: { field: name }, text: [provenanceText(prov[name]), locked.has(name) ? 'locked' : ''].filter(Boolean).join(' · ') }),
        unlock || h('span', {}));
    });
    const save = h('button', { type: 'submit', class: 'primary', id: 'book-edit-save', text: 'Save' });
    const form = h('form', { id: 'book-edit', class: 'panel edit-form', 'aria-label': 'Edit book' },
      h('p', { class: 'muted', text: 'A field you change is locked: scans and lookups leave it as you wrote it. Names one per line.' }),
      ...rows, problem, h('div', { class: 'row' }, save));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const change = {};
      for (const [name, { input, kind, before }] of Object.entries(inputs)) {
        if (input.value === before) continue;
        const v = input.value.trim();
        if (kind === 'list') change[name] = v.split('\n').map((s) => s.trim()).filter(Boolean);
        else if (kind === 'year') change[name] = v === '' ? null : Number(v);
        else change[name] = v === '' ? null : input.value;
      }
      if (Object.keys(change).length === 0) { problem.hidden = false; problem.textContent = 'Nothing changed.'; return; }
      save.disabled = true;
      try {
        const updated = await api(path, { method: 'PATCH', body: change });
        editing = false;
        render(updated);
      } catch (err) {
        problem.hidden = false;
        problem.textContent = err.message;
        save.disabled = false;
      }
    });
    return form;
  }

  // Who changed what, newest first.
  function history() {
    const list = h('ol', { id: 'book-history' });
    const section = h('section', { class: 'panel', hidden: true }, h('h2', { text: 'Edits' }), list);
    api(`${path}/edits?limit=20`).then((r) => {
      if (!r.edits.length) return;
      section.hidden = false;
      for (const e of r.edits) {
        const what = [
          ...e.changes.map((c) => `${c.field}: ${shownValue(c.from)} → ${shownValue(c.to)}`),
          ...(e.unlocked || []).map((f) => `${f} unlocked`),
          ...(e.locked || []).map((f) => `${f} locked`),
        ].join('; ');
        list.append(h('li', {}, h('span', { class: 'muted', text: `${fmtTime(e.at)} · ${e.by}: ` }), what));
      }
    }).catch(() => {});
    return section;
  }

  api(path).then(render)
    .catch((e) => body.append(h('p', { class: 'error', text: e.status === 404 ? `No book ${id}.` : e.message })));
}

function shownValue(v) {
  if (v === null || v === undefined || (Array.isArray(v) && !v.length)) return '(none)';
  const s = Array.isArray(v) ? v.join(', ') : String(v);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}
