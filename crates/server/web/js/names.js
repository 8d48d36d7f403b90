// Authors and series: searchable, paged lists with book counts, and each
// one's books (a series in its order).

import { api } from './api.js';
import { h, clear, badge, fmtNumber, fmtDuration } from './dom.js';

const PAGE = 50;
const KINDS = {
  authors: { title: 'Authors', one: 'author', api: '/api/v1/authors' },
  series: { title: 'Series', one: 'series', api: '/api/v1/series' },
};

export function mountList(kind) {
  const k = KINDS[kind];
  return (root, { query }) => {
    let offset = Number(query.get('offset')) || 0;
    const search = h('input', { id: 'names-search', type: 'search', placeholder: `Search ${k.title.toLowerCase()}`, 'aria-label': `Search ${k.title.toLowerCase()}`, value: query.get('q') || '' });
    const tbody = h('tbody', { id: 'names-body' });
    const info = h('span', { class: 'muted', id: 'names-info', role: 'status' });
    const prev = h('button', { id: 'names-prev', text: '← Previous' });
    const next = h('button', { id: 'names-next', text: 'Next →' });
    const problem = h('p', { class: 'error', role: 'alert', hidden: true });
    root.append(
      h('h1', { text: k.title }),
      h('form', { class: 'row', role: 'search', onsubmit: (e) => { e.preventDefault(); offset = 0; load(); } },
        search, h('button', { type: 'submit', text: 'Search' })),
      problem,
      h('div', { class: 'panel table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, h('th', { text: k.title === 'Series' ? 'Series' : 'Author' }), h('th', { class: 'num', text: 'Books' }))),
        tbody),
      h('div', { class: 'pager' }, prev, next, info)),
    );
    prev.addEventListener('click', () => { offset = Math.max(0, offset - PAGE); load(); });
    next.addEventListener('click', () => { offset += PAGE; load(); });
    let latest = 0;
    async function load() {
      const q = search.value.trim();
      const mine = ++latest;
      try {
        const page = await api(`${k.api}?limit=${PAGE}&offset=${offset}${q ? `&q=${encodeURIComponent(q)}` : ''}`);
        if (mine !== latest) return;
        problem.hidden = true;
        clear(tbody);
        for (const n of page.names) {
          tbody.append(h('tr', {},
            h('td', {}, h('a', { href: `#/${kind}/${encodeURIComponent(n.name)}`, text: n.name })),
            h('td', { class: 'num', text: fmtNumber(n.books) })));
        }
        if (!page.names.length) tbody.append(h('tr', {}, h('td', { colspan: 2, class: 'muted', text: q ? 'Nothing matches.' : `No ${k.title.toLowerCase()} yet.` })));
        const end = offset + page.names.length;
        info.textContent = page.names.length ? `${fmtNumber(offset + 1)}–${fmtNumber(end)} of ${fmtNumber(page.total)}` : `${fmtNumber(page.total)} ${k.title.toLowerCase()}`;
        prev.disabled = offset === 0;
        next.disabled = end >= page.total;
      } catch (e) {
        if (mine !== latest) return;
        problem.hidden = false;
        problem.textContent = `Could not load ${k.title.toLowerCase()}: ${e.message}`;
      }
    }
    load();
    return null;
  };
}

export function mountOne(kind) {
  const k = KINDS[kind];
  return (root, { params }) => {
    const name = params[0];
    const body = h('div', {});
    root.append(h('p', {}, h('a', { href: `#/${kind}`, text: `← ${k.title}` })), body);
    api(`${k.api}/${encodeURIComponent(name)}/books?limit=1000`).then((r) => {
      body.append(
        h('h1', { id: 'named-title', text: r.name }),
        h('p', { class: 'muted', text: `${fmtNumber(r.total)} book(s)` }),
        h('div', { class: 'panel table-wrap' }, h('table', { id: 'named-books' },
          h('thead', {}, h('tr', {}, ...(kind === 'series' ? [h('th', { class: 'num', text: '#' })] : []),
            h('th', { text: 'Title' }), h('th', { text: kind === 'series' ? 'Author' : 'Series' }),
            h('th', { class: 'num hide-sm', text: 'Length' }), h('th', { text: 'Status' }))),
          h('tbody', {}, r.books.map((b) => h('tr', {},
            ...(kind === 'series' ? [h('td', { class: 'num', text: b.series_index || '' })] : []),
            h('td', {}, h('a', { href: `#/library/${encodeURIComponent(b.id)}`, text: b.title || '(untitled)' })),
            h('td', { text: kind === 'series' ? (b.author || '') : (b.series ? `${b.series}${b.series_index ? ` #${b.series_index}` : ''}` : '') }),
            h('td', { class: 'num hide-sm', text: fmtDuration(b.duration_secs) }),
            h('td', {}, badge(b.status))))))));
    }).catch((e) => body.append(h('p', { class: 'error', text: e.status === 404 ? `No ${k.one} named ${name}.` : e.message })));
    return null;
  };
}
