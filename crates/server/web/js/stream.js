// The live event stream (SSE). EventSource reconnects by itself and sends
// Last-Event-ID; when the browser gives up (server gone for a while, a
// proxy error) we open a new stream with `last_event_id` and back off.
// `stream.reset`, `stream.lagged` and every reconnect tell the pages to
// refetch, so nothing missed while away stays stale.

import { apiKey } from './api.js';

const TYPES = [
  'operation.status', 'operation.progress', 'operation.log', 'operation.slow', 'operation.stalled',
  'system.status', 'system.health', 'queue.status', 'growth.snapshot', 'integrity.mismatch',
  'retention.completed', 'circuit_breaker.state', 'stream.reset', 'stream.lagged', 'heartbeat',
];

export class Stream {
  constructor(indicator) {
    this.indicator = indicator;
    this.handlers = new Map();
    this.lastId = null;
    this.es = null;
    this.backoff = 500;
    this.timer = null;
    this.everOpen = false;
    this.dropped = false;
  }

  /** Calls `fn(event)` for each event of `type` ('refetch' for resyncs); returns an unsubscribe. */
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type)?.delete(fn);
  }

  emit(type, ev) {
    for (const fn of [...(this.handlers.get(type) || [])]) {
      try { fn(ev); } catch (e) { console.error(type, e); }
    }
  }

  setState(state, text) {
    this.indicator.dataset.state = state;
    this.indicator.textContent = text;
  }

  connect() {
    clearTimeout(this.timer);
    if (this.es) this.es.close();
    const params = new URLSearchParams();
    const key = apiKey();
    if (key) params.set('apikey', key);
    if (this.lastId !== null) params.set('last_event_id', String(this.lastId));
    const es = new EventSource(`/api/events?${params}`);
    this.es = es;
    es.onopen = () => {
      this.backoff = 500;
      this.setState('live', 'live');
      if (this.dropped) this.emit('refetch', { reason: 'reconnected' });
      this.dropped = false;
      this.everOpen = true;
    };
    es.onerror = () => {
      this.dropped = true;
      this.setState('reconnecting', 'reconnecting…');
      if (es.readyState === EventSource.CLOSED) {
        this.timer = setTimeout(() => this.connect(), this.backoff);
        this.backoff = Math.min(this.backoff * 2, 10000);
      }
    };
    for (const type of TYPES) {
      es.addEventListener(type, (msg) => {
        if (msg.lastEventId) this.lastId = Number(msg.lastEventId);
        let ev;
        try { ev = JSON.parse(msg.data); } catch { return; }
        if (type === 'stream.reset' || type === 'stream.lagged') {
          this.emit('refetch', { reason: type, data: ev.data });
        }
        this.emit(type, ev);
      });
    }
  }
}
