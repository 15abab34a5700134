//! Per-query statistics without contention: each thread that answers queries counts into its
//! own shard (one writer, so plain loads and stores), and a scrape sums the shards. Shared
//! counters would bounce one cache line between every worker on every query.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use crate::metrics::{QTYPES, RCODES, Transport, ZONES, ZoneKind};

const TRANSPORTS: [&str; 2] = ["udp", "tcp"];
/// Request duration buckets: 20 µs doubling to about 2.6 s.
const DURATION_BUCKETS: usize = 18;
/// Response size buckets: 32 bytes doubling to 64 KiB.
const SIZE_BUCKETS: usize = 12;

fn duration_bound(i: usize) -> f64 {
    0.00002 * f64::from(1u32 << i)
}

fn size_bound(i: usize) -> f64 {
    32.0 * f64::from(1u32 << i)
}

/// One thread's counts.
#[derive(Debug)]
struct Shard {
    /// By transport, zone, qtype, rcode.
    requests: Box<[AtomicU64]>,
    /// By zone: bucket counts (the last is +Inf), sum of nanoseconds.
    duration: Box<[AtomicU64]>,
    duration_sum_ns: Box<[AtomicU64]>,
    size: Box<[AtomicU64]>,
    size_sum: Box<[AtomicU64]>,
    /// By transport: replies sent with TC, and answer records left out of replies.
    truncated: Box<[AtomicU64]>,
    left_out: Box<[AtomicU64]>,
}

fn zeroed(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

/// Only the owning thread writes a shard, so a load and a store is a safe increment.
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Ordering::Relaxed) + by, Ordering::Relaxed);
}

impl Shard {
    fn new() -> Shard {
        let zones = ZONES.len();
        Shard {
            requests: zeroed(TRANSPORTS.len() * zones * QTYPES.len() * RCODES.len()),
            duration: zeroed(zones * (DURATION_BUCKETS + 1)),
            duration_sum_ns: zeroed(zones),
            size: zeroed(zones * (SIZE_BUCKETS + 1)),
            size_sum: zeroed(zones),
            truncated: zeroed(TRANSPORTS.len()),
            left_out: zeroed(TRANSPORTS.len()),
        }
    }
}

#[derive(Debug, Default)]
pub struct QueryStats {
    shards: Mutex<Vec<Arc<Shard>>>,
}

thread_local! {
    /// This thread's shard, with the address of the stats it belongs to.
    static LOCAL: RefCell<Option<(usize, Arc<Shard>)>> = const { RefCell::new(None) };
}

impl QueryStats {
    fn with_shard(&self, f: impl FnOnce(&Shard)) {
        let me = self as *const QueryStats as usize;
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            if local.as_ref().is_none_or(|(owner, _)| *owner != me) {
                let shard = Arc::new(Shard::new());
                self.shards.lock().expect("shard list lock").push(shard.clone());
                *local = Some((me, shard));
            }
            if let Some((_, shard)) = local.as_ref() {
                f(shard);
            }
        });
    }

    pub fn record(
        &self,
        transport: Transport,
        zone: ZoneKind,
        qtype: usize,
        rcode: usize,
        size: usize,
        took: Duration,
    ) {
        let t = transport as usize;
        let z = zone as usize;
        self.with_shard(|shard| {
            bump(&shard.requests[((t * ZONES.len() + z) * QTYPES.len() + qtype) * RCODES.len() + rcode], 1);
            let seconds = took.as_secs_f64();
            let d = (0..DURATION_BUCKETS).find(|i| seconds <= duration_bound(*i)).unwrap_or(DURATION_BUCKETS);
            bump(&shard.duration[z * (DURATION_BUCKETS + 1) + d], 1);
            bump(&shard.duration_sum_ns[z], took.as_nanos() as u64);
            let s = (0..SIZE_BUCKETS).find(|i| size as f64 <= size_bound(*i)).unwrap_or(SIZE_BUCKETS);
            bump(&shard.size[z * (SIZE_BUCKETS + 1) + s], 1);
            bump(&shard.size_sum[z], size as u64);
        });
    }

    pub fn shortened(&self, transport: Transport, truncated: bool, left_out: usize) {
        let t = transport as usize;
        self.with_shard(|shard| {
            bump(&shard.truncated[t], u64::from(truncated));
            bump(&shard.left_out[t], left_out as u64);
        });
    }

    fn sum(&self, pick: impl Fn(&Shard) -> &[AtomicU64], len: usize) -> Vec<u64> {
        let mut total = vec![0u64; len];
        for shard in self.shards.lock().expect("shard list lock").iter() {
            for (t, v) in total.iter_mut().zip(pick(shard)) {
                *t += v.load(Ordering::Relaxed);
            }
        }
        total
    }
}

#[derive(EncodeLabelSet, Debug, Clone, Hash, PartialEq, Eq)]
struct RequestLabels {
    transport: &'static str,
    qtype: &'static str,
    zone: &'static str,
    rcode: &'static str,
}

#[derive(EncodeLabelSet, Debug, Clone, Hash, PartialEq, Eq)]
struct TransportLabels {
    transport: &'static str,
}

#[derive(EncodeLabelSet, Debug, Clone, Hash, PartialEq, Eq)]
struct ZoneLabels {
    zone: &'static str,
}

impl Collector for QueryStats {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let zones = ZONES.len();
        let requests = self.sum(|s| &s.requests, TRANSPORTS.len() * zones * QTYPES.len() * RCODES.len());
        let mut metric =
            encoder.encode_descriptor("dns_requests", "DNS requests answered", None, MetricType::Counter)?;
        for (i, count) in requests.iter().enumerate().filter(|(_, c)| **c > 0) {
            let rcode = RCODES[i % RCODES.len()];
            let qtype = QTYPES[i / RCODES.len() % QTYPES.len()];
            let zone = ZONES[i / RCODES.len() / QTYPES.len() % zones].label();
            let transport = TRANSPORTS[i / RCODES.len() / QTYPES.len() / zones];
            let labels = RequestLabels { transport, qtype, zone, rcode };
            ConstCounter::new(*count).encode(metric.encode_family(&labels)?)?;
        }
        for (name, help, pick) in [
            (
                "dns_truncated_responses",
                "Replies sent with TC set",
                (|s: &Shard| &*s.truncated) as fn(&Shard) -> &[AtomicU64],
            ),
            ("dns_answers_left_out", "Answer records that did not fit in their reply", |s: &Shard| &*s.left_out),
        ] {
            let counts = self.sum(pick, TRANSPORTS.len());
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (transport, count) in TRANSPORTS.iter().zip(counts) {
                ConstCounter::new(count).encode(metric.encode_family(&TransportLabels { transport })?)?;
            }
        }
        histograms(&mut encoder, "dns_request_duration_seconds", "Time to answer a request", self, true)?;
        histograms(&mut encoder, "dns_response_size_bytes", "Size of responses", self, false)
    }
}

fn histograms(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    stats: &QueryStats,
    duration: bool,
) -> Result<(), std::fmt::Error> {
    let (buckets, bound): (usize, fn(usize) -> f64) =
        if duration { (DURATION_BUCKETS, duration_bound) } else { (SIZE_BUCKETS, size_bound) };
    let zones = ZONES.len();
    let counts = stats.sum(|s| if duration { &s.duration } else { &s.size }, zones * (buckets + 1));
    let sums = stats.sum(|s| if duration { &s.duration_sum_ns } else { &s.size_sum }, zones);
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (z, zone) in ZONES.iter().enumerate() {
        let per_bucket = &counts[z * (buckets + 1)..(z + 1) * (buckets + 1)];
        let count: u64 = per_bucket.iter().sum();
        if count == 0 {
            continue;
        }
        let pairs: Vec<(f64, u64)> =
            per_bucket.iter().enumerate().map(|(i, c)| (if i < buckets { bound(i) } else { f64::MAX }, *c)).collect();
        let sum = if duration { sums[z] as f64 / 1e9 } else { sums[z] as f64 };
        metric
            .encode_family(&ZoneLabels { zone: zone.label() })?
            .encode_histogram::<ZoneLabels>(sum, count, &pairs, None)?;
    }
    Ok(())
}
