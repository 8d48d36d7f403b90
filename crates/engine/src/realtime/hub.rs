use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::ops::events::{Event, EventBus};

#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Events kept for replay.
    pub ring: usize,
    /// Events buffered per client before it is declared lagging.
    pub client_buffer: usize,
    /// Progress events of one operation reach a client at most this often.
    pub progress_interval: Duration,
    /// Per-connection heartbeat period.
    pub heartbeat: Duration,
    /// Bytes of messages a client may have waiting beyond its channel
    /// (a replay, replies to its commands) before it is told it lagged.
    pub client_queue_bytes: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            ring: 1000,
            client_buffer: 1024,
            progress_interval: Duration::from_millis(250),
            heartbeat: Duration::from_secs(5),
            client_queue_bytes: 4 * 1024 * 1024,
        }
    }
}

/// An event with its stream sequence number and its JSON, serialized once.
#[derive(Debug)]
pub struct HubEvent {
    pub seq: u64,
    pub event: Arc<Event>,
    pub json: String,
    /// The Server-Sent Events frame, rendered once for every client.
    pub sse: bytes::Bytes,
}

/// `event: <type>\nid: <seq>\ndata: <json>\n\n` (the id line only when
/// there is one; JSON never contains a raw newline).
pub fn sse_frame(kind: &str, id: Option<u64>, json: &str) -> bytes::Bytes {
    let mut s = String::with_capacity(json.len() + kind.len() + 32);
    s.push_str("event: ");
    s.push_str(kind);
    s.push('\n');
    if let Some(id) = id {
        s.push_str("id: ");
        s.push_str(&id.to_string());
        s.push('\n');
    }
    s.push_str("data: ");
    s.push_str(json);
    s.push_str("\n\n");
    bytes::Bytes::from(s)
}

/// Which events a client wants; `None` means all.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub operations: Option<HashSet<String>>,
    pub types: Option<HashSet<String>>,
}

impl Filter {
    pub fn admits(&self, e: &Event) -> bool {
        if let Some(types) = &self.types
            && !types.contains(&e.kind)
        {
            return false;
        }
        // Events without an operation id go to every client.
        match &self.operations {
            Some(ops) if !e.id.is_empty() => ops.contains(&e.id),
            _ => true,
        }
    }
}

struct Slot {
    tx: mpsc::Sender<Arc<HubEvent>>,
    filter: Arc<RwLock<Filter>>,
    /// First sequence number this client missed (0: none).
    lagged_from: Arc<AtomicU64>,
}

struct State {
    ring: VecDeque<Arc<HubEvent>>,
    clients: HashMap<u64, Slot>,
}

pub struct Hub {
    state: Mutex<State>,
    next_seq: AtomicU64,
    next_client: AtomicU64,
    clients: AtomicUsize,
    pub config: HubConfig,
}

/// A registered client; dropping it unregisters.
pub struct Subscription {
    pub id: u64,
    pub rx: mpsc::Receiver<Arc<HubEvent>>,
    pub filter: Arc<RwLock<Filter>>,
    pub lagged_from: Arc<AtomicU64>,
    hub: Arc<Hub>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.lock().clients.remove(&self.id);
        self.hub.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a new client starts.
#[derive(Debug, Clone, Copy)]
pub enum Replay {
    None,
    /// Everything after this sequence number (Last-Event-ID).
    After(u64),
    /// The last N events.
    Last(usize),
}

/// What a client gets before live events.
pub struct Backlog {
    pub events: Vec<Arc<HubEvent>>,
    /// The requested id had left the ring: the client must refetch state.
    pub reset: Option<(u64, u64)>,
}

impl Hub {
    pub fn new(config: HubConfig) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                ring: VecDeque::with_capacity(config.ring),
                clients: HashMap::new(),
            }),
            next_seq: AtomicU64::new(1),
            next_client: AtomicU64::new(1),
            clients: AtomicUsize::new(0),
            config,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of connected clients (SSE and WebSocket).
    pub fn client_count(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Last sequence number handed out.
    pub fn last_seq(&self) -> u64 {
        self.next_seq.load(Ordering::Relaxed) - 1
    }

    /// Numbers the event, keeps it for replay and offers it to every client
    /// whose filter admits it. Never blocks: a full client is marked lagged.
    pub fn publish(&self, event: Arc<Event>) -> u64 {
        let json = serde_json::to_string(&*event).unwrap_or_else(|_| "{}".into());
        let mut st = self.lock();
        // Numbered under the lock so that ring order is sequence order.
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let sse = sse_frame(&event.kind, Some(seq), &json);
        let he = Arc::new(HubEvent {
            seq,
            event,
            json,
            sse,
        });
        if st.ring.len() >= self.config.ring.max(1) {
            st.ring.pop_front();
        }
        st.ring.push_back(he.clone());
        for slot in st.clients.values() {
            let admits = slot
                .filter
                .read()
                .map(|f| f.admits(&he.event))
                .unwrap_or(true);
            if !admits {
                continue;
            }
            if slot.tx.try_send(he.clone()).is_err() {
                let _ =
                    slot.lagged_from
                        .compare_exchange(0, seq, Ordering::SeqCst, Ordering::SeqCst);
            }
        }
        seq
    }

    fn backlog(&self, st: &State, replay: Replay, filter: &Filter) -> Backlog {
        let oldest = st.ring.front().map(|e| e.seq);
        // Numbers this hub has not handed out come from an earlier run of the
        // server: the client's state is from before the restart.
        let issued = self.next_seq.load(Ordering::Relaxed);
        let (from, reset) = match replay {
            Replay::None => {
                return Backlog {
                    events: Vec::new(),
                    reset: None,
                };
            }
            Replay::After(id) if id >= issued => (1, Some((id, oldest.unwrap_or(issued)))),
            Replay::After(id) => match oldest {
                Some(o) if id + 1 < o => (o, Some((id, o))),
                _ => (id + 1, None),
            },
            Replay::Last(n) => {
                let skip = st.ring.len().saturating_sub(n);
                (st.ring.get(skip).map(|e| e.seq).unwrap_or(u64::MAX), None)
            }
        };
        let events = st
            .ring
            .iter()
            .filter(|e| e.seq >= from && filter.admits(&e.event))
            .cloned()
            .collect();
        Backlog { events, reset }
    }

    /// Registers a client. The backlog and the registration happen under
    /// one lock, so the client sees every event exactly once.
    pub fn subscribe(self: &Arc<Self>, filter: Filter, replay: Replay) -> (Subscription, Backlog) {
        let (tx, rx) = mpsc::channel(self.config.client_buffer.max(1));
        let id = self.next_client.fetch_add(1, Ordering::Relaxed);
        let lagged_from = Arc::new(AtomicU64::new(0));
        let backlog = {
            let mut st = self.lock();
            let backlog = self.backlog(&st, replay, &filter);
            let filter = Arc::new(RwLock::new(filter));
            st.clients.insert(
                id,
                Slot {
                    tx,
                    filter: filter.clone(),
                    lagged_from: lagged_from.clone(),
                },
            );
            self.clients.fetch_add(1, Ordering::Relaxed);
            (backlog, filter)
        };
        let (backlog, filter) = backlog;
        (
            Subscription {
                id,
                rx,
                filter,
                lagged_from,
                hub: self.clone(),
            },
            backlog,
        )
    }

    /// Ends every client's stream (on shutdown): their channels close.
    pub fn close_all(&self) {
        self.lock().clients.clear();
    }

    /// Events after `id` still in the ring (for a WebSocket `resume`).
    pub fn since(&self, id: u64, filter: &Filter) -> Backlog {
        self.backlog(&self.lock(), Replay::After(id), filter)
    }

    /// Forwards everything the engine publishes into the hub.
    pub fn forward(self: Arc<Self>, bus: &EventBus) -> tokio::task::JoinHandle<()> {
        let mut rx = bus.subscribe();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        self.publish(ev);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        self.publish(Arc::new(Event::new(
                            "stream.lagged",
                            "",
                            serde_json::json!({"missed": n, "reason": "the hub fell behind the engine"}),
                        )));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(kind: &str, op: &str) -> Arc<Event> {
        Arc::new(Event::new(kind, op, json!({})))
    }

    #[test]
    fn filters_and_broadcast_events() {
        let f = Filter {
            operations: Some(["A".to_string()].into()),
            types: Some(["operation.log".to_string(), "system.status".to_string()].into()),
        };
        assert!(f.admits(&ev("operation.log", "A")));
        assert!(!f.admits(&ev("operation.log", "B")));
        assert!(!f.admits(&ev("operation.progress", "A")));
        assert!(f.admits(&ev("system.status", "")));
    }

    #[tokio::test]
    async fn replay_after_an_id_and_reset_when_it_left_the_ring() {
        let hub = Hub::new(HubConfig {
            ring: 5,
            ..HubConfig::default()
        });
        for _ in 0..8 {
            hub.publish(ev("x", ""));
        }
        let (_s, b) = hub.subscribe(Filter::default(), Replay::After(6));
        assert_eq!(b.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [7, 8]);
        assert!(b.reset.is_none());
        let (_s, b) = hub.subscribe(Filter::default(), Replay::After(1));
        assert_eq!(b.reset, Some((1, 4)));
        assert_eq!(b.events.len(), 5);
        let (_s, b) = hub.subscribe(Filter::default(), Replay::Last(2));
        assert_eq!(b.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [7, 8]);
        assert_eq!(hub.client_count(), 3);
        // An id this hub never issued (the server restarted): reset, and
        // everything buffered since the restart.
        let (_s, b) = hub.subscribe(Filter::default(), Replay::After(500));
        assert_eq!(b.reset, Some((500, 4)));
        assert_eq!(b.events.len(), 5);
    }

    #[tokio::test]
    async fn a_full_client_is_marked_lagged_and_others_are_not_slowed() {
        let hub = Hub::new(HubConfig {
            client_buffer: 2,
            ..HubConfig::default()
        });
        let (slow, _) = hub.subscribe(Filter::default(), Replay::None);
        let (mut fast, _) = hub.subscribe(Filter::default(), Replay::None);
        for i in 0..5 {
            hub.publish(ev("x", ""));
            assert_eq!(fast.rx.recv().await.unwrap().seq, i + 1);
        }
        assert_eq!(slow.lagged_from.load(Ordering::SeqCst), 3);
        drop(slow);
        assert_eq!(hub.client_count(), 1);
    }
}
