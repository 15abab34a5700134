//! The registry: the cluster as DNS sees it, shared by every query.
//!
//! Sources build a complete [`ClusterObjects`] and hand it to the [`RegistryWriter`], which
//! indexes it into a new [`Snapshot`] and swaps it in with one atomic pointer store. Readers
//! load the current snapshot without locks, so they never block a writer and never see a
//! half-applied update.

pub mod clients;
pub mod imported;
pub mod model;
pub mod object;
pub mod selector;
pub mod snapshot;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use model::Model;
pub use object::ClusterObjects;
pub use snapshot::Snapshot;

/// Cheap-to-clone read handle.
#[derive(Clone)]
pub struct Registry {
    current: Arc<ArcSwap<Snapshot>>,
}

/// The one place that changes the data: it owns the model and publishes snapshots.
pub struct RegistryWriter {
    current: Arc<ArcSwap<Snapshot>>,
    model: Model,
}

impl Registry {
    /// An empty, not yet synced registry and the writer that fills it.
    pub fn new() -> (Registry, RegistryWriter) {
        let current = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
        (Registry { current: current.clone() }, RegistryWriter { current, model: Model::default() })
    }

    pub fn snapshot(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// Waits until the data is complete or `timeout` passes; returns whether it is complete.
    pub async fn wait_synced(&self, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.snapshot().synced {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

impl RegistryWriter {
    /// Replaces the whole view of the cluster and publishes it; `synced` says whether it is
    /// complete.
    pub fn replace(&mut self, objects: &ClusterObjects, synced: bool) -> bool {
        self.model.replace_all(objects);
        self.publish(synced)
    }

    /// Only namespaces with a Namespace object exist (CoreDNS `namespace_labels`: the source
    /// gives only the matching ones); objects elsewhere are kept but not answered. Call before
    /// anything is published.
    pub fn restrict_namespaces(&mut self) {
        self.model.restrict_namespaces();
    }

    /// ServiceImports and their slices are kept and answered in the clusterset zone. Call
    /// before anything is published.
    pub fn enable_clusterset(&mut self) {
        self.model.enable_clusterset();
    }

    /// This instance runs on `node` (`--node-name`). Call before anything is published.
    pub fn set_node(&mut self, node: &str) {
        self.model.set_node(node);
    }

    /// The model, to change before the next [`Self::publish`].
    pub fn model(&mut self) -> &mut Model {
        &mut self.model
    }

    /// Makes what changed in the model visible to queries, in one atomic swap. `synced` says
    /// whether the data is complete. Returns false when nothing DNS-visible changed, in which
    /// case the serial stays as it was.
    pub fn publish(&mut self, synced: bool) -> bool {
        let old = self.current.load();
        if !self.model.is_dirty() && old.synced == synced {
            return false;
        }
        let data_changed = self.model.is_dirty();
        let mut next = self.model.publish(&old);
        next.synced = synced;
        if data_changed {
            next.serial = next_serial(old.serial);
        }
        // The clusterset zone shares the serial and the sync state.
        if let Some(clusterset) = &mut next.clusterset
            && (clusterset.serial, clusterset.synced) != (next.serial, next.synced)
        {
            let clusterset = Arc::make_mut(clusterset);
            (clusterset.serial, clusterset.synced) = (next.serial, next.synced);
        }
        self.current.store(Arc::new(next));
        true
    }
}

/// Gives freed heap back to the system. A list or a large manifest decodes many objects at
/// once and frees them again; glibc keeps that memory unless asked, and resident memory would
/// stay at the load's peak.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only returns free heap pages to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The SOA serial: the current Unix time, but always moving forward.
fn next_serial(previous: u32) -> u32 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as u32);
    now.max(previous.wrapping_add(1))
}
