//! The Kubernetes API source: watches of Services, EndpointSlices, Namespaces (and Pods for
//! `--pods verified`), trimmed on arrival and assembled into the registry.
//!
//! Each resource has its own watcher task (kube's `watcher`, with its jittered backoff); all of
//! them feed one assembler that owns the trimmed objects. A relist (`Init` ... `InitDone`) is
//! collected aside and swapped in whole when complete, so no answer ever comes from a partly
//! listed cluster, and objects deleted while we were away disappear. The assembler publishes
//! after every batch of events that arrived together, so an event is visible to the next query.

use std::collections::HashMap;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use kube::api::Api;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use std::sync::Arc;

use super::backoff::Backoff;
use super::streaming::Streaming;
use crate::mcs;
use crate::metrics::Metrics;
use crate::registry::model::{Key, Kind, Object};
use crate::registry::object::{self, EndpointSlice, ObjectError, Pod, Service, TrimOptions, Trimmed};
use crate::registry::{RegistryWriter, imported};

/// What to watch.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Serve only these namespaces (empty: all).
    pub namespaces: Vec<String>,
    /// Label selector for Services and EndpointSlices.
    pub labels: Option<String>,
    /// Watch Pods (for `--pods verified`).
    pub pods: bool,
    /// How long one watch request lasts; a watch that delivers nothing for this long and 5 s
    /// more is taken for dead (a silent network partition) and re-established.
    pub watch_timeout: Duration,
    pub trim: TrimOptions,
    /// No EndpointSlice watch (CoreDNS `noendpoints`).
    pub no_endpoints: bool,
    /// Label selector for the Namespace watch (CoreDNS `namespace_labels`).
    pub namespace_labels: Option<String>,
    /// Watch ServiceImports and their EndpointSlices (Multi-Cluster Services).
    pub multicluster: bool,
    /// Watch this Node, the one the instance runs on (`--node-name`), for its zone.
    pub node: Option<String>,
    /// Watch every Node, for where clients run (`--client-nodes`).
    pub all_nodes: bool,
    /// List through streaming lists where the API server offers them (see [`Streaming`]).
    pub streaming_lists: bool,
}

fn plural(kind: Kind) -> &'static str {
    match kind {
        Kind::Service => "services",
        Kind::EndpointSlice => "endpointslices",
        Kind::Namespace => "namespaces",
        Kind::Pod => "pods",
        Kind::ServiceImport => "serviceimports",
        Kind::ImportedSlice => "imported-endpointslices",
        Kind::Node => "nodes",
    }
}

/// What a watcher task tells the assembler, stamped with when it arrived.
#[derive(Debug)]
struct Change {
    kind: Kind,
    /// Which watch of this kind (one per namespace with `--namespaces`).
    watch: usize,
    what: What,
    arrived: Instant,
}

#[derive(Debug)]
enum What {
    /// A (re)list started.
    Init,
    /// An object from the list; `None` when DNS cannot use it.
    Listed(Option<Object>),
    /// The list is complete.
    InitDone,
    /// The resource is not there for us (a CRD not installed, or not granted): nothing to list.
    NotServed(String),
    Applied(Key, Option<Object>),
    Deleted(Key),
    Failed(String),
}

/// Where the last good view of the cluster is saved (`--snapshot-file`), and whether the
/// registry starts from the one saved there.
#[derive(Debug, Clone)]
pub struct Persistence {
    pub path: std::path::PathBuf,
    /// The registry holds the snapshot saved at this time (seconds since the epoch): it counts
    /// as synced until every watch has listed.
    pub serving_saved: Option<u64>,
}

/// How often at most the view is saved while it changes.
const SAVE_EVERY: Duration = Duration::from_secs(60);

/// Starts the watches and the assembler. Returns at once; the registry turns synced when every
/// watch has completed its first list.
pub fn start(
    client: Client,
    options: WatchOptions,
    writer: RegistryWriter,
    metrics: Arc<Metrics>,
    persistence: Option<Persistence>,
) {
    let (tx, rx) = mpsc::channel(4096);
    let mut watches: HashMap<(Kind, usize), WatchState> = HashMap::new();
    let scopes: Vec<Option<String>> =
        if options.namespaces.is_empty() { vec![None] } else { options.namespaces.iter().cloned().map(Some).collect() };
    let timeout = u32::try_from(options.watch_timeout.as_secs().max(1)).unwrap_or(u32::MAX);
    let base = || watcher::Config::default().timeout(timeout);
    // The user's selector, and what else a watch requires of an object's labels.
    let labelled = |config: watcher::Config, required: Option<&str>| {
        let selector: Vec<&str> = options.labels.as_deref().into_iter().chain(required).collect();
        if selector.is_empty() { config } else { config.labels(&selector.join(",")) }
    };
    let mut kinds =
        vec![(Kind::Service, true), (Kind::EndpointSlice, !options.no_endpoints), (Kind::Pod, options.pods)];
    let imported_slices = options.multicluster && !options.no_endpoints;
    kinds.extend([(Kind::ServiceImport, options.multicluster), (Kind::ImportedSlice, imported_slices)]);
    let kinds: Vec<Kind> = kinds.into_iter().filter_map(|(kind, on)| on.then_some(kind)).collect();
    let feed = Feed { trim: options.trim, streaming: options.streaming_lists, tx };
    for (i, scope) in scopes.iter().enumerate() {
        let scope = scope.as_deref();
        for &kind in &kinds {
            let feed = feed.clone();
            match kind {
                Kind::Service => spawn_watch(api(&client, scope), labelled(base(), None), kind, i, trim_service, feed),
                // Only the slices of Services: the others (a ServiceImport's) are not ours here.
                Kind::EndpointSlice => {
                    let config = labelled(base(), Some(object::SERVICE_NAME_LABEL));
                    spawn_watch(api(&client, scope), config, kind, i, trim_slice, feed);
                }
                Kind::Pod => spawn_watch(api(&client, scope), base(), kind, i, trim_pod, feed),
                Kind::ServiceImport => {
                    spawn_watch(api(&client, scope), labelled(base(), None), kind, i, trim_import, feed);
                }
                Kind::ImportedSlice => {
                    let config = labelled(base(), Some(mcs::SERVICE_NAME_LABEL));
                    spawn_watch(api(&client, scope), config, kind, i, trim_imported_slice, feed);
                }
                Kind::Namespace | Kind::Node => {}
            }
            watches.insert((kind, i), WatchState { scope: scope.map(String::from), ..WatchState::default() });
        }
    }
    // With `--namespaces`, Namespace objects are not watched (that needs cluster-wide access):
    // a listed namespace exists when an object in it does.
    if options.namespaces.is_empty() {
        let namespaces = Api::<core::Namespace>::all(client.clone());
        let config = match &options.namespace_labels {
            Some(selector) => base().labels(selector),
            None => base(),
        };
        spawn_watch(namespaces, config, Kind::Namespace, 0, trim_namespace, feed.clone());
        watches.insert((Kind::Namespace, 0), WatchState::default());
    }
    // Only the one Node this instance runs on: a field selector, so a cluster of thousands of
    // nodes costs each instance one small object.
    if let Some(node) = &options.node {
        let config = base().fields(&format!("metadata.name={node}"));
        spawn_watch(Api::<core::Node>::all(client.clone()), config, Kind::Node, 0, trim_node, feed.clone());
        watches.insert((Kind::Node, 0), WatchState::default());
    } else if options.all_nodes {
        let nodes = Api::<core::Node>::all(client.clone());
        spawn_watch(nodes, base(), Kind::Node, 0, trim_client_node, feed.clone());
        watches.insert((Kind::Node, 0), WatchState { all_nodes: true, ..WatchState::default() });
    }
    tokio::spawn(Assembler::new(watches, writer, metrics, persistence).run(rx));
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The registry's key of an object: namespaced objects without a namespace are in `default`;
/// cluster-scoped ones (Namespaces) have none.
fn key<K: Resource>(obj: &K, kind: Kind) -> Key {
    let namespace = match obj.namespace() {
        Some(ns) => ns,
        None if matches!(kind, Kind::Namespace | Kind::Node) => String::new(),
        None => object::DEFAULT_NAMESPACE.to_string(),
    };
    (namespace, obj.name_any())
}

type Trim<K> = fn(&K, TrimOptions) -> Result<Trimmed<Object>, ObjectError>;

fn trim_service(svc: &core::Service, _: TrimOptions) -> Result<Trimmed<Object>, ObjectError> {
    Service::trim(svc).map(|t| Trimmed { object: Object::Service(t.object), skipped: t.skipped })
}

fn trim_slice(slice: &discovery::EndpointSlice, options: TrimOptions) -> Result<Trimmed<Object>, ObjectError> {
    EndpointSlice::trim(slice, options).map(|t| Trimmed { object: Object::EndpointSlice(t.object), skipped: t.skipped })
}

fn trim_namespace(ns: &core::Namespace, _: TrimOptions) -> Result<Trimmed<Object>, ObjectError> {
    object::namespace_name(ns).map(|name| Trimmed { object: Object::Namespace(name), skipped: Vec::new() })
}

/// The Node this instance runs on: its place alone.
fn trim_node(node: &core::Node, _: TrimOptions) -> Result<Trimmed<Object>, ObjectError> {
    object::Node::trim(node, false).map(|t| Trimmed { object: Object::Node(t.object), skipped: t.skipped })
}

/// A Node clients run on: its place, pod CIDRs and addresses.
fn trim_client_node(node: &core::Node, _: TrimOptions) -> Result<Trimmed<Object>, ObjectError> {
    object::Node::trim(node, true).map(|t| Trimmed { object: Object::Node(t.object), skipped: t.skipped })
}

fn trim_pod(pod: &core::Pod, options: TrimOptions) -> Result<Trimmed<Object>, ObjectError> {
    Pod::trim(pod, options).map(|t| Trimmed { object: Object::Pod(t.object), skipped: t.skipped })
}

fn trim_import(import: &mcs::ServiceImport, _: TrimOptions) -> Result<Trimmed<Object>, ObjectError> {
    imported::service_import(import).map(|t| Trimmed { object: Object::ServiceImport(t.object), skipped: t.skipped })
}

fn trim_imported_slice(slice: &discovery::EndpointSlice, options: TrimOptions) -> Result<Trimmed<Object>, ObjectError> {
    let trimmed = imported::imported_slice(slice, options)?;
    Ok(Trimmed { object: Object::ImportedSlice(trimmed.object), skipped: trimmed.skipped })
}

/// Whether a list failed because the resource is not there for us: 404 (its
/// CustomResourceDefinition is not installed) or 403 (our ClusterRole does not grant it).
fn not_served(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status)) => [403, 404].contains(&status.code),
        _ => false,
    }
}

/// Said once per process: every watch finds it out on its own.
static STREAMING_REFUSED: std::sync::Once = std::sync::Once::new();

/// What every watch shares: how objects are trimmed, whether lists stream, where events go.
#[derive(Clone)]
struct Feed {
    trim: TrimOptions,
    streaming: bool,
    tx: mpsc::Sender<Change>,
}

fn spawn_watch<K>(api: Api<K>, config: watcher::Config, kind: Kind, watch: usize, trim: Trim<K>, feed: Feed)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let Feed { trim: options, streaming, tx } = feed;
    tokio::spawn(async move {
        // Our own backoff, not kube's `default_backoff`: that one is reset by the `Init` the
        // watcher emits before every list attempt, so an unreachable API was retried every
        // second forever.
        let mut backoff = Backoff::default();
        let mut streaming = Streaming::new(streaming);
        'restart: loop {
            let config = if streaming.is_on() { config.clone().streaming_lists() } else { config.clone() };
            let mut events = std::pin::pin!(watcher(api.clone(), config));
            while let Some(event) = events.next().await {
                if let Some(why) = streaming.observe(&event) {
                    STREAMING_REFUSED.call_once(|| {
                        info!(%why, "the API server does not offer streaming lists (WatchList); listing instead");
                    });
                    // The list's own `Init` discards whatever an unfinished stream brought.
                    debug!(kind = plural(kind), %why, "listing instead of a streaming list");
                    continue 'restart;
                }
                if !forward(event, kind, watch, trim, options, &mut backoff, &tx).await {
                    return;
                }
            }
            return;
        }
    });
}

/// Trims one watcher event and hands it to the assembler, then waits out the backoff after a
/// failure. Returns false when the assembler is gone.
async fn forward<K>(
    event: Result<Event<K>, watcher::Error>,
    kind: Kind,
    watch: usize,
    trim: Trim<K>,
    options: TrimOptions,
    backoff: &mut Backoff,
    tx: &mpsc::Sender<Change>,
) -> bool
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let arrived = Instant::now();
    let trimmed = |obj: &K| {
        let (namespace, name) = key(obj, kind);
        match trim(obj, options) {
            Ok(trimmed) => {
                for error in &trimmed.skipped {
                    warn!(kind = plural(kind), %namespace, %name, %error, "part of an object skipped: DNS cannot use it");
                }
                Some(trimmed.object)
            }
            Err(error) => {
                warn!(kind = plural(kind), %namespace, %name, %error, "object skipped: DNS cannot use it");
                None
            }
        }
    };
    let what = match event {
        Ok(Event::Init) => What::Init,
        Ok(Event::InitApply(obj)) => What::Listed(trimmed(&obj)),
        Ok(Event::InitDone) => What::InitDone,
        Ok(Event::Apply(obj)) => What::Applied(key(&obj, kind), trimmed(&obj)),
        Ok(Event::Delete(obj)) => What::Deleted(key(&obj, kind)),
        Err(error) if matches!(kind, Kind::ServiceImport | Kind::Node) && not_served(&error) => {
            What::NotServed(error.to_string())
        }
        Err(error) => What::Failed(error.to_string()),
    };
    let retry = match &what {
        What::Failed(_) | What::NotServed(_) => Some(backoff.next_delay()),
        What::Init => None,
        _ => {
            backoff.reset();
            None
        }
    };
    if tx.send(Change { kind, watch, what, arrived }).await.is_err() {
        return false;
    }
    if let Some(delay) = retry {
        tokio::time::sleep(delay).await;
    }
    true
}

/// What a relist has brought so far. Objects the registry already holds as they are (most of
/// them, in a relist after a reconnect) are kept as keys only, so a relist costs little more
/// memory than the registry itself.
#[derive(Default)]
struct Relist {
    seen: std::collections::HashSet<Key>,
    changed: Vec<Object>,
}

/// One watch's state.
#[derive(Default)]
struct WatchState {
    /// The namespace it covers (`None`: all).
    scope: Option<String>,
    /// A relist in progress, applied whole at `InitDone`.
    relist: Option<Relist>,
    synced: bool,
    /// The last error, while the watch is failing.
    failing: Option<String>,
    /// A watch of every Node (`--client-nodes`), not of this instance's own.
    all_nodes: bool,
    /// The resource is not served to us (404 or 403), which `failing` says: counted as empty.
    unserved: bool,
}

struct Assembler {
    watches: HashMap<(Kind, usize), WatchState>,
    writer: RegistryWriter,
    latency: LatencyLog,
    metrics: Arc<Metrics>,
    saver: Option<Saver>,
}

/// Saves the view to `--snapshot-file` on a blocking thread, one save at a time.
struct Saver {
    path: std::path::PathBuf,
    /// The data changed since the last save began.
    dirty: bool,
    running: Option<tokio::task::JoinHandle<()>>,
    /// The last save failed (logged once until one succeeds).
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl Saver {
    /// A save or confirmation is still being written.
    fn busy(&self) -> bool {
        self.running.as_ref().is_some_and(|r| !r.is_finished())
    }

    /// Nothing changed since the last save and the watches are healthy: the file is still
    /// current, and its modification time says so (see [`super::saved::confirm`]).
    fn confirm(&mut self) {
        use std::sync::atomic::Ordering::Relaxed;
        // After a failed save the file holds an older view: it must not look current.
        if self.dirty || self.failing.load(Relaxed) || self.busy() {
            return;
        }
        let path = self.path.clone();
        self.running = Some(tokio::task::spawn_blocking(move || {
            if let Err(error) = super::saved::confirm(&path) {
                debug!(path = %path.display(), %error, "cannot mark the snapshot current");
            }
        }));
    }

    fn save(&mut self, writer: &mut RegistryWriter) {
        if !self.dirty || self.busy() {
            return;
        }
        self.dirty = false;
        let (path, failing) = (self.path.clone(), self.failing.clone());
        let saved = writer.model().saved();
        self.running = Some(tokio::task::spawn_blocking(move || {
            use std::sync::atomic::Ordering::Relaxed;
            match super::saved::save(&path, &saved) {
                Ok(()) if failing.swap(false, Relaxed) => info!(path = %path.display(), "snapshot saved again"),
                Ok(()) => debug!(path = %path.display(), "snapshot saved"),
                Err(error) if !failing.swap(true, Relaxed) => {
                    warn!(path = %path.display(), %error, "cannot save the snapshot; a restart while the API is \
                        unreachable will answer SERVFAIL until it is back");
                }
                Err(_) => {}
            }
        }));
    }
}

impl Assembler {
    fn new(
        watches: HashMap<(Kind, usize), WatchState>,
        writer: RegistryWriter,
        metrics: Arc<Metrics>,
        persistence: Option<Persistence>,
    ) -> Assembler {
        let serving_saved = persistence.as_ref().and_then(|p| p.serving_saved);
        metrics.serving_saved(serving_saved.unwrap_or(0));
        let saver =
            persistence.map(|p| Saver { path: p.path, dirty: true, running: None, failing: Default::default() });
        Assembler { watches, writer, latency: LatencyLog::default(), metrics, saver }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Change>) {
        let mut was_synced = false;
        let mut save_tick = tokio::time::interval(SAVE_EVERY);
        save_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let first = tokio::select! {
                change = rx.recv() => match change {
                    Some(change) => change,
                    None => return,
                },
                _ = save_tick.tick() => {
                    // A resource the cluster does not serve (no ServiceImport CRD) is no failure.
                    let healthy = self.watches.values().all(|w| w.synced && (w.failing.is_none() || w.unserved));
                    if let (true, Some(saver)) = (was_synced, &mut self.saver) {
                        saver.save(&mut self.writer);
                        if healthy {
                            saver.confirm();
                        }
                    }
                    continue;
                }
            };
            let mut arrivals = vec![(first.kind, first.arrived)];
            let mut relisted = matches!(first.what, What::InitDone);
            self.apply(first);
            // Everything already queued goes into the same publication.
            while let Ok(change) = rx.try_recv() {
                arrivals.push((change.kind, change.arrived));
                relisted |= matches!(change.what, What::InitDone);
                self.apply(change);
            }
            let synced = self.watches.values().all(|w| w.synced);
            // The saved snapshot keeps answering until every watch has listed.
            let serving_saved = !synced && self.metrics.saved_snapshot().is_some();
            let changed = self.writer.publish(synced || serving_saved);
            if let (true, Some(saver)) = (changed, &mut self.saver) {
                saver.dirty = true;
            }
            if synced && !was_synced {
                if self.metrics.saved_snapshot().is_some() {
                    info!("initial sync complete; the saved snapshot no longer answers");
                    self.metrics.serving_saved(0);
                } else {
                    info!("initial sync complete");
                }
                was_synced = true;
                if let Some(saver) = &mut self.saver {
                    saver.save(&mut self.writer);
                }
            }
            if relisted {
                crate::registry::release_free_memory();
            }
            if changed {
                let published = Instant::now();
                for (kind, arrived) in &arrivals {
                    self.metrics.programmed(plural(*kind), published - *arrived);
                }
                let arrived: Vec<Instant> = arrivals.iter().map(|(_, at)| *at).collect();
                self.latency.record(&arrived, published);
            }
        }
    }

    fn apply(&mut self, change: Change) {
        let Some(state) = self.watches.get_mut(&(change.kind, change.watch)) else { return };
        let kind = plural(change.kind);
        self.metrics.watch_event(kind);
        // A resource the cluster does not serve has no objects, and waiting for it would keep
        // every other zone from answering: it counts as listed, empty, and is asked again.
        if let What::NotServed(error) = &change.what {
            if state.failing.is_none() && change.kind == Kind::Node && state.all_nodes {
                warn!(kind, %error, "cannot list Nodes: the ClusterRole does not grant list and watch on nodes; \
                    clients' zones and pod CIDRs are unknown, so only clients placed by their Pod get endpoints \
                    on their own node first; retrying");
            } else if state.failing.is_none() && change.kind == Kind::Node {
                warn!(kind, %error, "cannot read this instance's Node: the ClusterRole does not grant get, list \
                    and watch on nodes; its zone is unknown, so only endpoints on this node are preferred; retrying");
            } else if state.failing.is_none() {
                warn!(kind, %error, "cannot list {kind} ({}): the Multi-Cluster Services CRD is not installed, \
                    or the ClusterRole does not grant list and watch on it; the clusterset zone has none until \
                    it can; retrying", mcs::API_VERSION);
            }
            state.failing = Some(error.clone());
            state.unserved = true;
            state.relist = None;
            self.writer.model().replace_kind(change.kind, state.scope.as_deref(), &Default::default(), Vec::new());
            if !state.synced {
                state.synced = true;
                self.metrics.synced(kind);
            }
            return;
        }
        if let What::Failed(error) = &change.what {
            self.metrics.watch_restart(kind);
            if state.failing.is_none() {
                warn!(kind, %error, "watch failed; serving the last good data and retrying");
            } else {
                debug!(kind, %error, "watch still failing");
            }
            state.failing = Some(error.clone());
            state.unserved = false;
            return;
        }
        // A list attempt starting is not a recovery: objects arriving are.
        if !matches!(change.what, What::Init) && state.failing.take().is_some() {
            state.unserved = false;
            info!(kind, "watch recovered");
        }
        let model = self.writer.model();
        match change.what {
            What::Init => state.relist = Some(Relist::default()),
            What::Listed(Some(object)) => {
                let relist = state.relist.get_or_insert_with(Relist::default);
                relist.seen.insert(object.key());
                if !model.holds(&object) {
                    relist.changed.push(object);
                }
            }
            What::Listed(None) => {}
            What::InitDone => {
                let Relist { seen, changed } = state.relist.take().unwrap_or_default();
                debug!(kind, objects = seen.len(), changed = changed.len(), "list complete");
                model.replace_kind(change.kind, state.scope.as_deref(), &seen, changed);
                state.synced = true;
                self.metrics.synced(kind);
            }
            What::Applied(_, Some(object)) => {
                model.upsert(object);
            }
            What::Applied(key, None) | What::Deleted(key) => {
                model.delete(change.kind, &key);
            }
            What::Failed(_) | What::NotServed(_) => {}
        }
    }
}

/// DNS programming latency: from a watch event's arrival to the answer that reflects it being
/// served. Logged per publication at debug and summarised at info once a minute.
#[derive(Default)]
struct LatencyLog {
    samples: Vec<Duration>,
    since: Option<Instant>,
}

const LATENCY_SUMMARY_EVERY: Duration = Duration::from_secs(60);

impl LatencyLog {
    fn record(&mut self, arrivals: &[Instant], published: Instant) {
        let worst = arrivals.iter().map(|a| published - *a).max().unwrap_or_default();
        debug!(changes = arrivals.len(), latency_us = worst.as_micros() as u64, "published");
        self.samples.extend(arrivals.iter().map(|a| published - *a));
        let since = *self.since.get_or_insert(published);
        if published - since >= LATENCY_SUMMARY_EVERY {
            self.samples.sort();
            let at = |q: f64| self.samples[((self.samples.len() - 1) as f64 * q) as usize];
            info!(
                changes = self.samples.len(),
                p50_us = at(0.5).as_micros() as u64,
                p99_us = at(0.99).as_micros() as u64,
                max_us = at(1.0).as_micros() as u64,
                "DNS programming latency"
            );
            self.samples.clear();
            self.since = Some(published);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modified(path: &std::path::Path) -> std::time::SystemTime {
        std::fs::metadata(path).unwrap().modified().unwrap()
    }

    #[tokio::test]
    async fn a_snapshot_is_confirmed_current_only_while_its_last_save_succeeded_and_nothing_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot.json");
        std::fs::write(&path, "saved").unwrap();
        let long_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(long_ago).unwrap();
        let mut saver = Saver { path: path.clone(), dirty: false, running: None, failing: Default::default() };
        let wait = |saver: &mut Saver| saver.running.take().map(|r| async { r.await.unwrap() });

        saver.failing.store(true, std::sync::atomic::Ordering::Relaxed);
        saver.confirm();
        if let Some(done) = wait(&mut saver) {
            done.await;
        }
        assert_eq!(modified(&path), long_ago, "after a failed save the file holds an older view");

        saver.failing.store(false, std::sync::atomic::Ordering::Relaxed);
        saver.dirty = true;
        saver.confirm();
        assert!(saver.running.is_none(), "changed since: a save is due, not a confirmation");

        saver.dirty = false;
        saver.confirm();
        wait(&mut saver).expect("a confirmation").await;
        assert!(modified(&path) > long_ago + Duration::from_secs(7000), "confirmed current");
    }
}
