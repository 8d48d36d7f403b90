// The log view of one operation (the plan's "Log View UX"):
// - follows the live tail and scrolls with it while the reader is at the
//   bottom; scrolling up stops following and shows "Jump to latest";
// - lines coloured by level, with a level filter;
// - `details` collapsed per line, expandable;
// - a memory guard: at most `max` line elements stay in the page. Lines
//   dropped at the top leave a marker that loads them again from the API;
//   reading back into history drops the newest lines instead, and "Jump to
//   latest" returns to the live tail.
// Sequence numbers are dense from 1 within an operation, so what is out
// of view is known from the first and last sequence number in view.

import { api } from './api.js';
import { h, fmtClock, fmtNumber } from './dom.js';

const MAX_KEY = 'ao.logMaxLines';
export const DEFAULT_MAX = 5000;
const PAGE = 1000;
const LEVELS = ['info', 'warn', 'error'];

export function maxLines() {
  const n = Number(localStorage.getItem(MAX_KEY));
  return Number.isInteger(n) && n >= 10 ? Math.min(n, 10000) : DEFAULT_MAX;
}

export class LogView {
  constructor(operationId) {
    this.id = operationId;
    this.max = maxLines();
    this.first = 0; // first sequence number in view (0: none)
    this.last = 0; // last sequence number in view
    this.newest = 0; // newest sequence number known to exist
    this.following = true;
    this.detached = false; // the newest lines were dropped to read history
    this.loading = true;
    this.early = []; // live lines that arrived during the first load
    this.queue = []; // live lines waiting for the next frame
    this.flushScheduled = false;

    this.log = h('div', { class: 'log', id: 'log', tabindex: 0, role: 'log', 'aria-label': 'Operation log', 'aria-live': 'off' });
    this.lines = h('div', { class: 'lines', id: 'log-lines' });
    this.older = h('div', { class: 'log-marker', id: 'log-older', hidden: true },
      h('span', { class: 'count' }), ' ',
      h('button', { id: 'log-load-older', text: 'Load older lines', onclick: () => this.loadOlder() }));
    this.newer = h('div', { class: 'log-marker', id: 'log-newer', hidden: true },
      h('span', { class: 'count' }), ' ',
      h('button', { text: 'Jump to latest', onclick: () => this.jumpToLatest() }));
    this.log.append(this.older, this.lines, this.newer);
    this.jump = h('button', { class: 'jump primary', id: 'log-jump', hidden: true, text: 'Jump to latest ↓', onclick: () => this.jumpToLatest() });
    this.count = h('span', { class: 'muted', id: 'log-count', role: 'status' });
    const maxInput = h('input', { id: 'log-max', type: 'number', min: 10, max: 10000, step: 10, value: this.max, 'aria-label': 'Lines kept in the page' });
    maxInput.addEventListener('change', () => {
      const n = Math.round(Number(maxInput.value));
      if (!Number.isFinite(n) || n < 10) { maxInput.value = this.max; return; }
      this.max = Math.min(n, 10000);
      localStorage.setItem(MAX_KEY, String(this.max));
      this.trimTop();
      this.updateMarkers();
    });
    const filters = h('fieldset', {}, h('legend', { class: 'muted', text: 'Levels' }), LEVELS.map((lv) => {
      const box = h('input', { type: 'checkbox', id: `lv-${lv}`, checked: true });
      box.addEventListener('change', () => this.log.classList.toggle(`hide-${lv}`, !box.checked));
      return h('label', { for: `lv-${lv}` }, box, ` ${lv}`);
    }));
    this.el = h('section', { class: 'panel logpanel', 'aria-label': 'Log' },
      h('div', { class: 'logbar' }, filters, h('label', { for: 'log-max', text: 'Keep' }), maxInput,
        h('span', { class: 'muted', text: 'lines' }), h('span', { class: 'spacer' }), this.count),
      h('div', { class: 'logwrap' }, this.log, this.jump));

    this.log.addEventListener('scroll', () => {
      const atBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 8;
      this.following = atBottom && !this.detached;
      this.jump.hidden = this.following;
    });
  }

  /** Loads the newest lines (up to the limit) and starts following. */
  async start() {
    this.loading = true;
    const page = await api(`/api/v1/operations/${this.id}/logs?tail=${this.max}`);
    this.lines.replaceChildren(...page.logs.map((l) => this.lineEl(l.id, l.level, l.message, l.details, l.created_at)));
    this.first = page.logs.length ? page.logs[0].id : 0;
    this.last = page.logs.length ? page.logs[page.logs.length - 1].id : 0;
    this.newest = Math.max(this.last, page.total);
    this.detached = false;
    this.loading = false;
    const early = this.early.filter((l) => l.seq > this.last);
    this.early = [];
    this.queue.push(...early);
    this.flush();
    this.following = true;
    this.updateMarkers();
    this.scrollToBottom();
  }

  /** A live `operation.log` event for this operation. */
  push(ev) {
    const line = { seq: ev.data.seq, level: ev.data.level, message: ev.data.message, details: ev.data.details, at: ev.timestamp };
    if (this.loading) { this.early.push(line); return; }
    if (line.seq <= this.last) return;
    this.newest = Math.max(this.newest, line.seq);
    if (this.detached) { this.updateMarkers(); return; }
    this.queue.push(line);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Whichever comes first: the next frame, or 100 ms (background tabs).
      const run = () => { if (this.flushScheduled) { this.flushScheduled = false; this.flush(); } };
      requestAnimationFrame(run);
      setTimeout(run, 100);
    }
  }

  flush() {
    if (this.queue.length === 0) return;
    const fresh = this.queue.filter((l) => l.seq > this.last);
    this.queue = [];
    if (fresh.length === 0) return;
    const frag = document.createDocumentFragment();
    for (const l of fresh) frag.append(this.lineEl(l.seq, l.level, l.message, l.details, l.at));
    this.lines.append(frag);
    if (!this.first) this.first = fresh[0].seq;
    this.last = fresh[fresh.length - 1].seq;
    this.trimTop();
    this.updateMarkers();
    if (this.following) this.scrollToBottom();
  }

  /** Drops the oldest lines beyond the limit, keeping the view where it is. */
  trimTop() {
    const excess = this.lines.childElementCount - this.max;
    if (excess <= 0) return;
    const before = this.log.scrollHeight;
    for (let i = 0; i < excess; i++) this.lines.firstElementChild.remove();
    this.first = Number(this.lines.firstElementChild.dataset.seq);
    if (!this.following) this.log.scrollTop -= before - this.log.scrollHeight;
  }

  /** Loads a page of older lines above the view; drops the newest if over the limit. */
  async loadOlder() {
    if (this.first <= 1) return;
    const page = await api(`/api/v1/operations/${this.id}/logs?before=${this.first}&tail=${Math.min(PAGE, this.max)}`);
    if (page.logs.length === 0) return;
    const before = this.log.scrollHeight;
    const top = this.log.scrollTop;
    this.lines.prepend(...page.logs.map((l) => this.lineEl(l.id, l.level, l.message, l.details, l.created_at)));
    this.first = page.logs[0].id;
    const excess = this.lines.childElementCount - this.max;
    if (excess > 0) {
      for (let i = 0; i < excess; i++) this.lines.lastElementChild.remove();
      this.last = Number(this.lines.lastElementChild.dataset.seq);
      this.detached = true;
      this.following = false;
      this.jump.hidden = false;
    }
    // Keep the lines the reader was looking at where they were.
    this.log.scrollTop = top + (this.log.scrollHeight - before);
    this.updateMarkers();
  }

  async jumpToLatest() {
    if (this.detached) {
      await this.start();
    } else {
      this.following = true;
      this.scrollToBottom();
    }
    this.jump.hidden = true;
  }

  scrollToBottom() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  updateMarkers() {
    const olderCount = this.first > 1 ? this.first - 1 : 0;
    this.older.hidden = olderCount === 0;
    this.older.querySelector('.count').textContent = `${fmtNumber(olderCount)} earlier line(s) not shown.`;
    const newerCount = this.detached ? Math.max(0, this.newest - this.last) : 0;
    this.newer.hidden = newerCount === 0;
    this.newer.querySelector('.count').textContent = `${fmtNumber(newerCount)} newer line(s) not shown.`;
    this.count.textContent = `${fmtNumber(this.lines.childElementCount)} line(s) in view`;
  }

  lineEl(seq, level, message, details, at) {
    const lv = LEVELS.includes(level) ? level : 'info';
    const el = h('div', { class: `log-line level-${lv}`, dataset: { seq } },
      h('span', { class: 't', text: fmtClock(at) }), h('span', { class: 'lv', text: lv.toUpperCase() }),
      h('span', { class: 'msg', text: message }));
    if (details) {
      const pre = h('pre', { class: 'details', hidden: true, text: details });
      const toggle = h('button', { class: 'toggle', 'aria-expanded': 'false', text: 'details ▸' });
      toggle.addEventListener('click', () => {
        const open = pre.hidden;
        pre.hidden = !open;
        toggle.setAttribute('aria-expanded', String(open));
        toggle.textContent = open ? 'details ▾' : 'details ▸';
      });
      el.append(toggle, pre);
    }
    return el;
  }
}
