//! Watching import folders whose `watch` is on: filesystem notifications
//! (inotify) gathered until the folder has been quiet for the debounce
//! time, then a scan of just the folders that changed; where
//! notifications do not work (network file systems, a watch the kernel
//! refuses) a rescan every poll interval instead. Each trigger is an event
//! (`watch.triggered`) and counted (`watch_triggers_total{mode}`); a scan
//! a watch started may be followed by an organize when it found new books.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use notify::Watcher;
use serde::Serialize;

use crate::engine::Engine;
use crate::jobs::{Job, ScanParams};
use crate::maintenance::Stopper;
use crate::ops::events::Event;
use crate::store::{ImportPath, OperationStatus, Priority, WatchSetting};

/// How an import folder is watched now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchStatus {
    /// `notify` (filesystem notifications), `poll` (a periodic rescan) or
    /// `off`.
    pub mode: &'static str,
    /// Why it polls, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Every watched import folder's mode, by import path id.
#[derive(Default)]
pub struct WatchStates(Mutex<HashMap<String, WatchStatus>>);

impl WatchStates {
    pub fn get(&self, id: &str) -> WatchStatus {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .unwrap_or(WatchStatus {
                mode: "off",
                reason: None,
            })
    }

    fn set(&self, states: HashMap<String, WatchStatus>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = states;
    }
}

/// File systems on which inotify sees only this machine's changes.
fn network_fs(path: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: zeroed statfs is a valid out-parameter.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a pointer to a statfs.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)]
    match st.f_type as i64 {
        0x6969 => Some("NFS"),
        0x517B => Some("SMB"),
        0xFF53_4D42 => Some("CIFS"),
        0xFE53_4D42 => Some("SMB2"),
        0x6573_5546 => Some("FUSE"),
        0x0102_1997 => Some("9P"),
        _ => None,
    }
}

/// Changes seen under one import folder since its last scan.
struct Pending {
    /// Folders right below the import folder that changed.
    folders: BTreeSet<PathBuf>,
    /// The import folder itself changed (a file at its top).
    whole: bool,
    first: Instant,
    last: Instant,
}

struct Watched {
    path: PathBuf,
    setting: WatchSetting,
    notify: bool,
    last_poll: Instant,
}

/// The watch thread's state.
struct Service {
    engine: Weak<Engine>,
    states: Arc<WatchStates>,
    watcher: Option<notify::RecommendedWatcher>,
    watched: HashMap<String, Watched>,
    pending: HashMap<String, Pending>,
    /// Scans a watch started that organize after, when they add books.
    organize_after: BTreeSet<String>,
    events: crossbeam_channel::Receiver<notify::Result<notify::Event>>,
}

/// Starts the watch thread; it ends when `stopper` stops.
pub fn start(
    engine: &Arc<Engine>,
    states: Arc<WatchStates>,
    stopper: Arc<Stopper>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let watcher = notify::recommended_watcher(move |e| {
        let _ = tx.send(e);
    })
    .map_err(|e| tracing::warn!(error = %e, "filesystem notifications unavailable; watched folders are polled"))
    .ok();
    let mut bus = engine.bus.subscribe();
    let mut service = Service {
        engine: Arc::downgrade(engine),
        states,
        watcher,
        watched: HashMap::new(),
        pending: HashMap::new(),
        organize_after: BTreeSet::new(),
        events: rx,
    };
    std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || {
            let mut refreshed: Option<Instant> = None;
            loop {
                if stopper.is_stopped() {
                    return;
                }
                let Some(engine) = service.engine.upgrade() else {
                    return;
                };
                if refreshed.is_none_or(|t| t.elapsed() >= Duration::from_secs(2)) {
                    service.refresh(&engine);
                    refreshed = Some(Instant::now());
                }
                while let Ok(ev) = bus.try_recv() {
                    service.on_bus(&engine, &ev);
                }
                service.due(&engine);
                drop(engine);
                match service.events.recv_timeout(Duration::from_millis(200)) {
                    Ok(e) => {
                        service.on_change(e);
                        while let Ok(e) = service.events.try_recv() {
                            service.on_change(e);
                        }
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                        if stopper.sleep(Duration::from_millis(200)) {
                            return;
                        }
                    }
                }
            }
        })
}

impl Service {
    /// Brings the watches in line with the import folders.
    fn refresh(&mut self, engine: &Engine) {
        let Ok(paths) = engine.store.list_import_paths() else {
            return;
        };
        let wanted: HashMap<&str, &ImportPath> = paths
            .iter()
            .filter(|p| p.watch != WatchSetting::Off && p.enabled)
            .map(|p| (p.id.as_str(), p))
            .collect();
        let gone: Vec<String> = self
            .watched
            .iter()
            .filter(|(id, w)| {
                wanted
                    .get(id.as_str())
                    .is_none_or(|p| p.watch != w.setting || p.path != w.path.to_string_lossy())
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(w) = self.watched.remove(&id)
                && w.notify
                && let Some(watcher) = &mut self.watcher
            {
                let _ = watcher.unwatch(&w.path);
            }
            self.pending.remove(&id);
        }
        let mut states = HashMap::new();
        for (id, p) in wanted {
            if !self.watched.contains_key(id) {
                let path = PathBuf::from(&p.path);
                let (notify, reason) = match (network_fs(&path), &mut self.watcher) {
                    _ if p.watch == WatchSetting::Poll => (false, Some("set to poll".into())),
                    (Some(fs), _) => (
                        false,
                        Some(format!(
                            "{fs} file system: notifications miss other machines' changes"
                        )),
                    ),
                    (None, None) => (false, Some("notifications are unavailable".into())),
                    (None, Some(w)) => match w.watch(&path, notify::RecursiveMode::Recursive) {
                        Ok(()) => (true, None),
                        Err(e) => (false, Some(format!("cannot watch: {e}"))),
                    },
                };
                self.watched.insert(
                    id.to_string(),
                    Watched {
                        path,
                        setting: p.watch,
                        notify,
                        last_poll: Instant::now(),
                    },
                );
                let status = WatchStatus {
                    mode: if notify { "notify" } else { "poll" },
                    reason,
                };
                tracing::info!(path = %p.path, mode = status.mode, reason = ?status.reason, "watching an import folder");
                states.insert(id.to_string(), status);
            } else {
                states.insert(id.to_string(), self.states.get(id));
            }
        }
        self.states.set(states);
    }

    /// A change somewhere: noted against its import folder.
    fn on_change(&mut self, event: notify::Result<notify::Event>) {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        let now = Instant::now();
        for path in &event.paths {
            // The innermost watched folder holding it.
            let Some((id, root)) = self
                .watched
                .iter()
                .filter(|(_, w)| w.notify && path.starts_with(&w.path))
                .max_by_key(|(_, w)| w.path.as_os_str().len())
                .map(|(id, w)| (id.clone(), w.path.clone()))
            else {
                continue;
            };
            let p = self.pending.entry(id).or_insert(Pending {
                folders: BTreeSet::new(),
                whole: false,
                first: now,
                last: now,
            });
            p.last = now;
            // The folder right below the import folder: it holds the whole
            // book (disc folders, covers and side files included).
            let mut below = path.strip_prefix(&root).ok().map(|r| r.components());
            match below.as_mut().and_then(|c| c.next()) {
                Some(first) if path != &root.join(first) || path.is_dir() => {
                    p.folders.insert(root.join(first));
                }
                // A file at the top of the import folder, or the folder
                // itself.
                _ => p.whole = true,
            }
        }
    }

    /// Starts the scans that are due: quiet long enough, waited too long,
    /// or a polled folder's interval passed.
    fn due(&mut self, engine: &Arc<Engine>) {
        let cfg = &engine.config.features.watch;
        let ready: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.last.elapsed() >= cfg.debounce || p.first.elapsed() >= cfg.max_wait)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ready {
            let Some(p) = self.pending.remove(&id) else {
                continue;
            };
            let Some(w) = self.watched.get(&id) else {
                continue;
            };
            // Folders gone since (a download renamed into place), and
            // symlinks (which the scan follows by its own policy, never
            // as a folder to walk), are left to the scan of the import
            // folder.
            let plain_dir = |f: &PathBuf| std::fs::symlink_metadata(f).is_ok_and(|m| m.is_dir());
            let within: Vec<PathBuf> = if p.whole || !p.folders.iter().all(plain_dir) {
                Vec::new()
            } else {
                p.folders.into_iter().collect()
            };
            let root = w.path.clone();
            self.trigger(engine, &id, root, within, "notify");
        }
        let polled: Vec<(String, PathBuf)> = self
            .watched
            .iter_mut()
            .filter(|(_, w)| !w.notify && w.last_poll.elapsed() >= cfg.poll_interval)
            .map(|(id, w)| {
                w.last_poll = Instant::now();
                (id.clone(), w.path.clone())
            })
            .collect();
        for (id, root) in polled {
            self.trigger(engine, &id, root, Vec::new(), "poll");
        }
    }

    fn trigger(
        &mut self,
        engine: &Arc<Engine>,
        id: &str,
        root: PathBuf,
        within: Vec<PathBuf>,
        mode: &'static str,
    ) {
        let organize = engine.config.features.watch.auto_organize;
        // A scan of the whole folder already waiting covers this one.
        let waiting = engine.store.active_operations().ok().and_then(|ops| {
            ops.into_iter().find(|op| {
                op.op_type == crate::jobs::SCAN
                    && op.status == OperationStatus::Queued
                    && Job::from_stored(&op.op_type, &op.params)
                        .ok()
                        .flatten()
                        .is_some_and(|j| {
                            matches!(j, Job::Scan(s) if s.paths == [root.clone()] && s.within.is_empty())
                        })
            })
        });
        let op = match waiting {
            Some(op) => op,
            None => {
                let job = Job::Scan(ScanParams {
                    paths: vec![root.clone()],
                    within: within.clone(),
                    organize_new: organize,
                });
                match engine.enqueue(job, Priority::Normal) {
                    Ok(op) => op,
                    Err(e) => {
                        tracing::warn!(error = %e, path = %root.display(), "watch: scan not started");
                        return;
                    }
                }
            }
        };
        engine.metrics.watch_triggers.inc(mode);
        engine.bus.publish(Event::new(
            "watch.triggered",
            &op.id,
            serde_json::json!({
                "import_path_id": id,
                "path": root,
                "folders": within,
                "mode": mode,
                "operation_id": op.id,
            }),
        ));
    }

    /// A watch's scan that added books: organize, when configured.
    fn on_bus(&mut self, engine: &Arc<Engine>, ev: &Event) {
        if ev.kind != "scan.books_added" {
            return;
        }
        let asked = ev.data["organize"].as_bool().unwrap_or(false);
        if !asked || !self.organize_after.insert(ev.id.clone()) {
            return;
        }
        let job = Job::Organize(crate::jobs::OrganizeParams::default());
        match engine.enqueue(job, Priority::Normal) {
            Ok(op) => engine.bus.publish(Event::new(
                "watch.organize",
                &op.id,
                serde_json::json!({ "after_scan": ev.id, "new_books": ev.data["new"], "operation_id": op.id }),
            )),
            Err(e) => tracing::warn!(error = %e, "watch: organize after the scan not started"),
        }
        // Old ids are of no use once their organize started.
        while self.organize_after.len() > 1000 {
            self.organize_after.pop_first();
        }
    }
}
