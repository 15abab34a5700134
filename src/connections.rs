//! Connection slots for a TCP listener: at most so many open connections in all and per client
//! address, so that one client cannot take every slot; and, where asked, room for a new client
//! by closing the connection that has been idle the longest (RFC 7766 §6.2.3: "servers MAY
//! close ... idle connections ... when under heavy load").
//!
//! A connection holds a [`Slot`] while it is open. Accept and close take a lock; the per-query
//! idle/busy marks are atomic stores.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

/// What a listener allows.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub total: usize,
    pub per_client: usize,
    /// When every slot is taken, close the longest-idle connection for a new one.
    pub evict_idle: bool,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// This client address holds its share of the slots already.
    PerClient,
    /// Every slot is taken and none is idle.
    Full,
}

/// Marks a connection that is busy (reading a query, answering, writing a reply).
const BUSY: u64 = u64::MAX;

struct Entry {
    client: IpAddr,
    /// Milliseconds since `Connections::epoch` when the connection went idle, or [`BUSY`].
    idle_since: Arc<AtomicU64>,
    close: Arc<Notify>,
}

#[derive(Default)]
struct Table {
    open: HashMap<u64, Entry>,
    per_client: HashMap<IpAddr, usize>,
    next_id: u64,
}

impl Table {
    fn remove(&mut self, id: u64) -> bool {
        let Some(entry) = self.open.remove(&id) else { return false };
        if let Some(count) = self.per_client.get_mut(&entry.client) {
            *count -= 1;
            if *count == 0 {
                self.per_client.remove(&entry.client);
            }
        }
        true
    }

    /// The idle connection that went idle first.
    fn longest_idle(&self) -> Option<u64> {
        let idle = self.open.iter().map(|(id, e)| (e.idle_since.load(Ordering::Relaxed), *id));
        idle.filter(|(since, _)| *since != BUSY).min().map(|(_, id)| id)
    }
}

pub struct Connections {
    limits: Limits,
    epoch: Instant,
    table: Mutex<Table>,
    /// Signalled when the last connection closes.
    emptied: Notify,
}

impl Connections {
    pub fn new(limits: Limits) -> Arc<Connections> {
        Arc::new(Connections { limits, epoch: Instant::now(), table: Mutex::default(), emptied: Notify::new() })
    }

    /// A slot for a new connection from `client`, or why there is none.
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Result<Slot, Refused> {
        let mut table = self.table.lock().expect("connection table lock");
        if table.per_client.get(&client).copied().unwrap_or(0) >= self.limits.per_client {
            return Err(Refused::PerClient);
        }
        if table.open.len() >= self.limits.total {
            let victim = self.limits.evict_idle.then(|| table.longest_idle()).flatten().ok_or(Refused::Full)?;
            // Its slot is free from now on; the connection notices the signal and closes.
            let entry = table.open.get(&victim).expect("the victim is open");
            entry.close.notify_one();
            table.remove(victim);
        }
        let id = table.next_id;
        table.next_id += 1;
        let idle_since = Arc::new(AtomicU64::new(BUSY));
        let close = Arc::new(Notify::new());
        table.open.insert(id, Entry { client, idle_since: idle_since.clone(), close: close.clone() });
        *table.per_client.entry(client).or_default() += 1;
        Ok(Slot { connections: self.clone(), id, idle_since, close })
    }

    pub fn open(&self) -> usize {
        self.table.lock().expect("connection table lock").open.len()
    }

    /// Waits until no connection is open.
    pub async fn closed(&self) {
        loop {
            let emptied = self.emptied.notified();
            if self.open() == 0 {
                return;
            }
            emptied.await;
        }
    }
}

/// One open connection's place in the table; freed on drop.
pub struct Slot {
    connections: Arc<Connections>,
    id: u64,
    idle_since: Arc<AtomicU64>,
    close: Arc<Notify>,
}

impl Slot {
    /// The connection waits for its next query: it may be closed to make room.
    pub fn idle(&self) {
        let now = u64::try_from(self.connections.epoch.elapsed().as_millis()).unwrap_or(BUSY - 1);
        self.idle_since.store(now, Ordering::Relaxed);
    }

    /// The connection is working on a query: it is not closed to make room.
    pub fn busy(&self) {
        self.idle_since.store(BUSY, Ordering::Relaxed);
    }

    /// Completes when the slot was taken for a new connection; the connection should close.
    pub async fn evicted(&self) {
        self.close.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.connections.table.lock().expect("connection table lock");
        table.remove(self.id);
        if table.open.is_empty() {
            self.connections.emptied.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn a_client_gets_its_share_and_no_more() {
        let connections = Connections::new(Limits { total: 10, per_client: 2, evict_idle: false });
        let _a = connections.admit(ip(1)).unwrap();
        let b = connections.admit(ip(1)).unwrap();
        assert_eq!(connections.admit(ip(1)).err(), Some(Refused::PerClient));
        let _other = connections.admit(ip(2)).unwrap();
        drop(b);
        assert!(connections.admit(ip(1)).is_ok(), "a closed connection frees its client's share");
    }

    #[test]
    fn when_full_the_longest_idle_connection_makes_room() {
        let connections = Connections::new(Limits { total: 3, per_client: 3, evict_idle: true });
        let first = connections.admit(ip(1)).unwrap();
        let second = connections.admit(ip(2)).unwrap();
        let busy = connections.admit(ip(3)).unwrap();
        second.idle();
        std::thread::sleep(std::time::Duration::from_millis(5));
        first.idle();
        let _new = connections.admit(ip(4)).unwrap();
        assert_eq!(connections.open(), 3);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(1), second.evicted()).await.expect("evicted");
        });
        drop((first, busy));
        let all_busy = Connections::new(Limits { total: 1, per_client: 1, evict_idle: true });
        let _only = all_busy.admit(ip(1)).unwrap();
        assert_eq!(all_busy.admit(ip(2)).err(), Some(Refused::Full), "busy connections are never closed");
    }

    #[test]
    fn without_eviction_a_full_listener_refuses() {
        let connections = Connections::new(Limits { total: 1, per_client: 1, evict_idle: false });
        let only = connections.admit(ip(1)).unwrap();
        only.idle();
        assert_eq!(connections.admit(ip(2)).err(), Some(Refused::Full));
    }
}
