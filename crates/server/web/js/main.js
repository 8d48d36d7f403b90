// Boot and routing: `#/...` routes to one page module at a time. Each
// page's `mount(root, ctx)` returns a function that tears it down (its
// stream handlers and timers).

import { api } from './api.js';
import { Stream } from './stream.js';
import { h, clear } from './dom.js';
import * as dashboard from './dashboard.js';
import * as operations from './operations.js';
import * as operation from './operation.js';
import * as library from './library.js';
import * as findings from './findings.js';
import * as names from './names.js';

const ROUTES = [
  [/^\/?$/, 'dashboard', dashboard.mount],
  [/^\/operations\/?$/, 'operations', operations.mount],
  [/^\/operations\/([0-9A-Za-z]+)$/, 'operations', operation.mount],
  [/^\/library\/?$/, 'library', library.mount],
  [/^\/library\/([^/]+)$/, 'library', library.mountBook],
  [/^\/authors\/?$/, 'authors', names.mountList('authors')],
  [/^\/authors\/(.+)$/, 'authors', names.mountOne('authors')],
  [/^\/series\/?$/, 'series', names.mountList('series')],
  [/^\/series\/(.+)$/, 'series', names.mountOne('series')],
  [/^\/integrity\/?$/, 'integrity', findings.mountIntegrity],
  [/^\/errors\/?$/, 'errors', findings.mountErrors],
];

const main = document.getElementById('main');
const stream = new Stream(document.getElementById('conn'));
let unmount = null;

function route() {
  const path = decodeURIComponent(location.hash.replace(/^#/, '').split('?')[0]) || '/';
  const query = new URLSearchParams(location.hash.split('?')[1] || '');
  if (unmount) { unmount(); unmount = null; }
  clear(main);
  for (const [re, nav, mount] of ROUTES) {
    const m = path.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll('nav a')) {
      if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    unmount = mount(main, { stream, params: m.slice(1), query }) || null;
    return;
  }
  main.append(h('h1', { text: 'Not found' }), h('p', {}, h('a', { href: '#/', text: 'Back to the dashboard' })));
}

window.addEventListener('hashchange', () => { route(); main.focus(); });

// Ask for the key (if the server wants one) before opening the stream.
api('/api/v1/queue').then(() => {
  stream.connect();
  route();
}).catch((e) => {
  main.append(h('p', { class: 'error', text: `Cannot reach the server: ${e.message}` }));
  stream.connect();
  route();
});
