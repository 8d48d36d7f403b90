//! One client's view of the hub: backlog first, then live events, with
//! heartbeats, lag notices, progress coalescing and status diffs.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::hub::{Backlog, Filter, Hub, HubEvent, Replay, Subscription};
use crate::ops::events::Event;

#[derive(Debug, Clone, Copy, Default)]
pub struct ClientOptions {
    /// Later `system.status` events carry only what changed.
    pub status_diff: bool,
}

/// What to send next.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A numbered event from the hub.
    Event(Arc<HubEvent>),
    /// A per-client event (heartbeat, stream.reset, stream.lagged, a status
    /// diff): `id` is the sequence number it stands for, if any.
    Local {
        kind: String,
        id: Option<u64>,
        json: String,
    },
}

impl Outgoing {
    pub fn kind(&self) -> &str {
        match self {
            Outgoing::Event(e) => &e.event.kind,
            Outgoing::Local { kind, .. } => kind,
        }
    }
    pub fn id(&self) -> Option<u64> {
        match self {
            Outgoing::Event(e) => Some(e.seq),
            Outgoing::Local { id, .. } => *id,
        }
    }
    pub fn json(&self) -> &str {
        match self {
            Outgoing::Event(e) => &e.json,
            Outgoing::Local { json, .. } => json,
        }
    }
    /// The Server-Sent Events frame (shared, not copied, for hub events).
    pub fn sse_frame(&self) -> bytes::Bytes {
        match self {
            Outgoing::Event(e) => e.sse.clone(),
            Outgoing::Local { kind, id, json } => super::hub::sse_frame(kind, *id, json),
        }
    }
}

fn local(kind: &str, id: Option<u64>, data: Value) -> Outgoing {
    let ev = Event::new(kind, "", data);
    Outgoing::Local {
        kind: kind.to_string(),
        id,
        json: serde_json::to_string(&ev).unwrap_or_default(),
    }
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub struct ClientStream {
    sub: Subscription,
    hub: Arc<Hub>,
    ready: VecDeque<Outgoing>,
    /// JSON bytes in `ready`: bounded by the hub's `client_queue_bytes`.
    ready_bytes: usize,
    heartbeat: Interval,
    interval: Duration,
    last_progress: HashMap<String, Instant>,
    pending: HashMap<String, (Instant, Arc<HubEvent>)>,
    options: ClientOptions,
    last_status: Option<Map<String, Value>>,
}

fn is_final_progress(e: &Event) -> bool {
    let cur = e.data["current"].as_u64().unwrap_or(0);
    let total = e.data["total"].as_u64().unwrap_or(0);
    total > 0 && cur >= total
}

impl ClientStream {
    pub fn new(hub: &Arc<Hub>, filter: Filter, replay: Replay, options: ClientOptions) -> Self {
        let (sub, backlog) = hub.subscribe(filter, replay);
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + hub.config.heartbeat, hub.config.heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut s = Self {
            sub,
            hub: hub.clone(),
            ready: VecDeque::new(),
            ready_bytes: 0,
            heartbeat,
            interval: hub.config.progress_interval,
            last_progress: HashMap::new(),
            pending: HashMap::new(),
            options,
            last_status: None,
        };
        s.push_backlog(backlog);
        s
    }

    /// Queues a message; every push goes through here, so the queue's
    /// bytes are always known.
    fn push(&mut self, o: Outgoing) {
        self.ready_bytes += o.json().len();
        self.ready.push_back(o);
    }

    fn pop(&mut self) -> Option<Outgoing> {
        let o = self.ready.pop_front()?;
        self.ready_bytes -= o.json().len();
        Some(o)
    }

    fn room(&self) -> usize {
        self.hub
            .config
            .client_queue_bytes
            .saturating_sub(self.ready_bytes)
    }

    fn push_backlog(&mut self, backlog: Backlog) {
        // A replay that does not fit is not queued: the client is told
        // where it lost the thread and catches up by reconnecting (or
        // refetching), so a client that asks for replays and never reads
        // cannot make the server hold them.
        let bytes: usize = backlog.events.iter().map(|e| e.json.len()).sum();
        if bytes > self.room() {
            if let Some(first) = backlog.events.first() {
                let first = first.seq;
                self.push(local(
                    "stream.lagged",
                    None,
                    json!({"first_missed_id": first,
                           "reason": "the replay does not fit in this client's queue; read what is queued, then reconnect with Last-Event-ID"}),
                ));
            }
            return;
        }
        if let Some((requested, oldest)) = backlog.reset {
            self.push(local(
                "stream.reset",
                None,
                json!({"requested_id": requested, "oldest_available_id": oldest,
                       "reason": "events after the requested id are no longer buffered, or the server restarted; refetch state"}),
            ));
        }
        for e in backlog.events {
            self.push_event(e);
        }
    }

    /// Replaces what this client listens to.
    pub fn set_filter(&self, filter: Filter) {
        if let Ok(mut f) = self.sub.filter.write() {
            *f = filter;
        }
    }

    pub fn filter(&self) -> Filter {
        self.sub
            .filter
            .read()
            .map(|f| f.clone())
            .unwrap_or_default()
    }

    /// Queues everything after `since` that the ring still holds.
    pub fn resume(&mut self, since: u64) {
        let backlog = self.hub.since(since, &self.filter());
        self.push_backlog(backlog);
    }

    /// Queues a per-client message (used for WebSocket replies). A client
    /// whose queue is full gets no more replies until it reads.
    pub fn push_local(&mut self, kind: &str, data: Value) {
        let o = local(kind, None, data);
        if o.json().len() <= self.room() {
            self.push(o);
        }
    }

    /// Bytes queued for this client beyond its channel.
    pub fn queued_bytes(&self) -> usize {
        self.ready_bytes
    }

    fn push_event(&mut self, e: Arc<HubEvent>) {
        if e.event.kind == "system.status" && self.options.status_diff {
            let Some(map) = e.event.data.as_object() else {
                self.push(Outgoing::Event(e));
                return;
            };
            let out = match &self.last_status {
                None => Outgoing::Event(e.clone()),
                Some(prev) => {
                    let mut changed = Map::new();
                    for (k, v) in map {
                        if k == "timestamp" || prev.get(k) != Some(v) {
                            changed.insert(k.clone(), v.clone());
                        }
                    }
                    let ev = Event {
                        kind: e.event.kind.clone(),
                        id: String::new(),
                        timestamp: e.event.timestamp,
                        data: Value::Object(changed),
                    };
                    Outgoing::Local {
                        kind: ev.kind.clone(),
                        id: Some(e.seq),
                        json: serde_json::to_string(&ev).unwrap_or_default(),
                    }
                }
            };
            self.last_status = Some(map.clone());
            self.push(out);
            return;
        }
        self.push(Outgoing::Event(e));
    }

    /// Coalesces progress; everything else passes, after any progress of
    /// the same operation still held back (so order is kept).
    fn accept(&mut self, e: Arc<HubEvent>) {
        let kind = e.event.kind.as_str();
        // The common case (logs, status of operations with nothing held back)
        // allocates nothing.
        if kind != "operation.progress"
            && kind != "operation.status"
            && (self.pending.is_empty() || !self.pending.contains_key(&e.event.id))
        {
            self.push_event(e);
            return;
        }
        let op = e.event.id.clone();
        if e.event.kind == "operation.progress" && !op.is_empty() {
            let now = Instant::now();
            let due = self.last_progress.get(&op).map(|t| *t + self.interval);
            if is_final_progress(&e.event) || due.is_none_or(|d| now >= d) {
                self.pending.remove(&op);
                self.last_progress.insert(op, now);
                self.push_event(e);
            } else if let Some(d) = due {
                self.pending.insert(op, (d, e));
            }
            return;
        }
        if !op.is_empty()
            && let Some((_, held)) = self.pending.remove(&op)
        {
            self.last_progress.insert(op.clone(), Instant::now());
            self.push_event(held);
        }
        if e.event.kind == "operation.status" {
            self.last_progress.remove(&op);
        }
        self.push_event(e);
    }

    fn flush_due(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, (d, _))| *d <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for op in due {
            if let Some((_, e)) = self.pending.remove(&op) {
                self.last_progress.insert(op, now);
                self.push_event(e);
            }
        }
    }

    fn check_lagged(&mut self, next_seq: Option<u64>) {
        let from = self.sub.lagged_from.load(Ordering::SeqCst);
        if from == 0 || next_seq.is_some_and(|s| s < from) {
            return;
        }
        self.sub.lagged_from.store(0, Ordering::SeqCst);
        self.push(local(
            "stream.lagged",
            None,
            json!({"first_missed_id": from,
                   "reason": "this client fell behind; reconnect with Last-Event-ID to catch up"}),
        ));
    }

    /// The next message if one is ready now, without waiting.
    pub fn try_next(&mut self) -> Option<Outgoing> {
        loop {
            if let Some(o) = self.pop() {
                return Some(o);
            }
            match self.sub.rx.try_recv() {
                Ok(ev) => {
                    self.check_lagged(Some(ev.seq));
                    self.accept(ev);
                }
                Err(_) => return None,
            }
        }
    }

    /// Events waiting in this client's channel (not yet taken in).
    pub fn waiting(&self) -> usize {
        self.sub.rx.len()
    }

    /// The next message for this client; `None` when the hub is gone.
    pub async fn next(&mut self) -> Option<Outgoing> {
        loop {
            if let Some(o) = self.pop() {
                return Some(o);
            }
            // Everything queued before the overflow has been sent: say what
            // was missed before waiting for more.
            if self.sub.rx.is_empty() {
                self.check_lagged(None);
                if !self.ready.is_empty() {
                    continue;
                }
            }
            let deadline = self.pending.values().map(|(d, _)| *d).min();
            tokio::select! {
                biased;
                ev = self.sub.rx.recv() => match ev {
                    Some(ev) => {
                        self.check_lagged(Some(ev.seq));
                        self.accept(ev);
                    }
                    None => return None,
                },
                _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                    self.flush_due();
                }
                _ = self.heartbeat.tick() => {
                    self.check_lagged(None);
                    let json = json!({"type": "heartbeat", "timestamp": now_rfc3339()}).to_string();
                    self.push(Outgoing::Local { kind: "heartbeat".into(), id: None, json });
                }
            }
        }
    }
}
