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

export function mountBook(root, { params }) {
  const id = params[0];
  const body = h('div', {});
  root.append(h('p', {}, h('a', { href: '#/library', text: '← Library' })), body);
  api(`/api/v1/books/${encodeURIComponent(id)}`).then((b) => {
    const field = (label, value) => (value === undefined || value === null || value === '' ? null
      : h('div', { class: 'stat' }, h('div', { class: 'label', text: label }), h('div', { text: String(value) })));
    const cover = h('img', { class: 'cover', id: 'book-cover', alt: `Cover of ${b.title || 'this book'}`, hidden: true });
    if (b.cover) {
      apiImage(`/api/v1/books/${encodeURIComponent(id)}/cover`).then((url) => {
        if (!url) return;
        cover.src = url;
        cover.hidden = false;
      });
    }
    body.append(
      cover,
      h('h1', { text: b.title || '(untitled)' }),
      h('p', {}, badge(b.status), ` by ${b.author || 'unknown author'}`),
      h('div', { class: 'grid' },
        field('Series', b.series && `${b.series}${b.series_index ? ` #${b.series_index}` : ''}`), field('Narrator', b.narrator),
        field('Year', b.year), field('ISBN', b.isbn), field('Length', fmtDuration(b.duration_secs)),
        field('Codec', b.codec && `${b.codec}${b.bitrate_kbps ? ` · ${b.bitrate_kbps} kbps` : ''}`),
        field('Source folder', b.source_dir), field('Organized into', b.organized_dir),
        field('Added', fmtTime(b.created_at)), field('Updated', fmtTime(b.updated_at))),
      b.description ? h('p', { text: b.description }) : null,
      h('section', { class: 'panel table-wrap' }, h('h2', { text: `Files (${b.files.length})` }), h('table', { id: 'book-files' },
        h('thead', {}, h('tr', {}, h('th', { text: 'Path' }), h('th', { class: 'num', text: 'Size' }), h('th', { class: 'num hide-sm', text: 'Length' }), h('th', { text: 'SHA-256' }))),
        h('tbody', {}, b.files.map((f) => h('tr', {},
          h('td', {}, f.path, f.organized_path ? h('div', { class: 'muted', text: `→ ${f.organized_path}` }) : null),
          h('td', { class: 'num', text: fmtBytes(f.size) }), h('td', { class: 'num hide-sm', text: fmtDuration(f.duration_secs) }),
          h('td', { class: 'hash', text: f.hash })))))),
      b.duplicates && b.duplicates.length ? h('section', { class: 'panel' }, h('h2', { text: 'Duplicates (same content elsewhere)' }),
        h('ul', {}, b.duplicates.map((d) => h('li', { text: typeof d === 'string' ? d : JSON.stringify(d) })))) : null,
    );
  }).catch((e) => body.append(h('p', { class: 'error', text: e.status === 404 ? `No book ${id}.` : e.message })));
}
