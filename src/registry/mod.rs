//! The registry: the cluster as DNS sees it, shared by every query.
//!
//! Sources build a complete [`ClusterObjects`] and hand it to the [`RegistryWriter`], which
//! indexes it into a new [`Snapshot`] and swaps it in with one atomic pointer store. Readers
//! load the current snapshot without locks, so they never block a writer and never see a
//! half-applied update.

pub mod object;
pub mod snapshot;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

pub use object::ClusterObjects;
pub use snapshot::Snapshot;

/// Cheap-to-clone read handle.
#[derive(Clone)]
pub struct Registry {
    current: Arc<ArcSwap<Snapshot>>,
}

/// The one place that replaces the data.
pub struct RegistryWriter {
    current: Arc<ArcSwap<Snapshot>>,
}

impl Registry {
    /// An empty, not yet synced registry and the writer that fills it.
    pub fn new() -> (Registry, RegistryWriter) {
        let current = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
        (Registry { current: current.clone() }, RegistryWriter { current })
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
    /// Replaces the whole view of the cluster with a complete one.
    pub fn replace(&self, objects: &ClusterObjects) -> bool {
        self.replace_all(objects, true)
    }

    /// Replaces the whole view of the cluster; `synced` says whether it is complete. Returns
    /// false when nothing DNS-visible changed, in which case the serial stays as it was.
    pub fn replace_all(&self, objects: &ClusterObjects, synced: bool) -> bool {
        let old = self.current.load();
        let mut next = Snapshot::build(objects, old.serial);
        next.synced = synced;
        if next.same_data(&old) {
            return false;
        }
        next.serial = next_serial(old.serial);
        self.current.store(Arc::new(next));
        true
    }
}

/// The SOA serial: the current Unix time, but always moving forward.
fn next_serial(previous: u32) -> u32 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as u32);
    now.max(previous.wrapping_add(1))
}
