//! Prometheus metrics, named after CoreDNS's where one exists (`coredns_dns_requests_total`
//! becomes `clusterdns_dns_requests_total`), so existing dashboards map one to one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::query_stats::QueryStats;

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum ZoneKind {
    Cluster,
    Reverse,
    Static,
    /// Hosts entries (`--hosts-file`, `--host`).
    Hosts,
    Forwarded,
    /// Refused, malformed, or not a query.
    None,
}

/// Every zone kind, in the order of its discriminant.
pub const ZONES: [ZoneKind; 6] =
    [ZoneKind::Cluster, ZoneKind::Reverse, ZoneKind::Static, ZoneKind::Hosts, ZoneKind::Forwarded, ZoneKind::None];

impl ZoneKind {
    pub fn label(self) -> &'static str {
        match self {
            ZoneKind::Cluster => "cluster",
            ZoneKind::Reverse => "reverse",
            ZoneKind::Static => "static",
            ZoneKind::Hosts => "hosts",
            ZoneKind::Forwarded => "forwarded",
            ZoneKind::None => "none",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    resource: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

pub struct Metrics {
    registry: Registry,
    queries: Arc<QueryStats>,
    forward_requests: Family<UpstreamLabels, Counter>,
    forward_errors: Family<UpstreamLabels, Counter>,
    forward_duration: Family<UpstreamLabels, Histogram>,
    cache_hits: Counter,
    cache_misses: Counter,
    cache_entries: Gauge,
    cache_evictions: Counter,
    watch_events: Family<ResourceLabels, Counter>,
    watch_restarts: Family<ResourceLabels, Counter>,
    seconds_since_sync: Family<ResourceLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    last_sync: Mutex<Vec<(String, SystemTime)>>,
    registry_services: Gauge,
    registry_endpoints: Gauge,
    /// When the saved snapshot being answered from was saved (seconds since the epoch); 0 once
    /// the API's lists have replaced it, or when none was read.
    saved_snapshot: Gauge,
    programming_latency: Family<ResourceLabels, Histogram>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("clusterdns");
        let m = Metrics {
            queries: Arc::new(QueryStats::default()),
            forward_requests: Family::default(),
            forward_errors: Family::default(),
            forward_duration: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0001, 2.0, 16))),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            cache_entries: Gauge::default(),
            cache_evictions: Counter::default(),
            watch_events: Family::default(),
            watch_restarts: Family::default(),
            seconds_since_sync: Family::default(),
            last_sync: Mutex::new(Vec::new()),
            registry_services: Gauge::default(),
            registry_endpoints: Gauge::default(),
            saved_snapshot: Gauge::default(),
            programming_latency: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.00005, 2.0, 16))),
            registry: Registry::default(),
        };
        registry.register_collector(Box::new(m.queries.clone()));
        registry.register("forward_requests", "Queries sent to each upstream", m.forward_requests.clone());
        registry.register(
            "forward_errors",
            "Upstream queries that failed (timeout, network)",
            m.forward_errors.clone(),
        );
        registry.register("forward_request_duration_seconds", "Upstream round trips", m.forward_duration.clone());
        registry.register("cache_hits", "Forwarded questions answered from the cache", m.cache_hits.clone());
        registry.register("cache_misses", "Forwarded questions not in the cache", m.cache_misses.clone());
        registry.register("cache_entries", "Entries in the cache of forwarded answers", m.cache_entries.clone());
        registry.register("cache_evictions", "Cached answers dropped to make room", m.cache_evictions.clone());
        registry.register("watch_events", "Kubernetes watch events received", m.watch_events.clone());
        registry.register("watch_restarts", "Watch failures (each followed by a retry)", m.watch_restarts.clone());
        registry.register(
            "watch_seconds_since_sync",
            "Seconds since the last complete list",
            m.seconds_since_sync.clone(),
        );
        registry.register("registry_services", "Services known", m.registry_services.clone());
        registry.register("registry_endpoints", "Published headless endpoints", m.registry_endpoints.clone());
        registry.register(
            "serving_saved_snapshot_timestamp_seconds",
            "When the saved snapshot answers come from was saved, while no list from the API has replaced it (0: none)",
            m.saved_snapshot.clone(),
        );
        registry.register(
            "dns_programming_duration_seconds",
            "From a watch event's arrival to the answer reflecting it being served",
            m.programming_latency.clone(),
        );
        registry.register(
            "build",
            "Build information",
            Info::new(BuildLabels { version: env!("CARGO_PKG_VERSION").to_string() }),
        );
        Metrics { registry, ..m }
    }

    /// One answered request.
    pub fn request(
        &self,
        transport: Transport,
        qtype: RecordType,
        zone: ZoneKind,
        rcode: ResponseCode,
        size: usize,
        started: Instant,
    ) {
        self.queries.record(transport, zone, qtype_index(qtype), rcode_index(rcode), size, started.elapsed());
    }

    /// A reply that did not carry the whole answer: TC set, and the answer records left out.
    pub fn shortened(&self, transport: Transport, truncated: bool, left_out: usize) {
        self.queries.shortened(transport, truncated, left_out);
    }

    pub fn forwarded(&self, upstream: &str, took: Duration, ok: bool) {
        let labels = UpstreamLabels { upstream: upstream.to_string() };
        self.forward_requests.get_or_create(&labels).inc();
        self.forward_duration.get_or_create(&labels).observe(took.as_secs_f64());
        if !ok {
            self.forward_errors.get_or_create(&labels).inc();
        }
    }

    pub fn cache_lookup(&self, hit: bool) {
        if hit {
            self.cache_hits.inc()
        } else {
            self.cache_misses.inc()
        };
    }

    pub fn cache_evicted(&self) {
        self.cache_evictions.inc();
    }

    pub fn watch_event(&self, resource: &str) {
        self.watch_events.get_or_create(&ResourceLabels { resource: resource.to_string() }).inc();
    }

    pub fn watch_restart(&self, resource: &str) {
        self.watch_restarts.get_or_create(&ResourceLabels { resource: resource.to_string() }).inc();
    }

    /// Answers come from a snapshot saved at `saved_at` (seconds since the epoch; 0: no more).
    pub fn serving_saved(&self, saved_at: u64) {
        self.saved_snapshot.set(i64::try_from(saved_at).unwrap_or(i64::MAX));
    }

    /// When the saved snapshot answers come from was saved, if they do.
    pub fn saved_snapshot(&self) -> Option<u64> {
        u64::try_from(self.saved_snapshot.get()).ok().filter(|&at| at > 0)
    }

    pub fn synced(&self, resource: &str) {
        let mut last = self.last_sync.lock().expect("metrics lock");
        last.retain(|(r, _)| r != resource);
        last.push((resource.to_string(), SystemTime::now()));
    }

    pub fn programmed(&self, resource: &str, latency: Duration) {
        self.programming_latency
            .get_or_create(&ResourceLabels { resource: resource.to_string() })
            .observe(latency.as_secs_f64());
    }

    /// The text exposition, with gauges read at scrape time.
    pub fn render(&self, services: usize, endpoints: usize, cache_entries: Option<u64>) -> String {
        self.registry_services.set(services as i64);
        self.registry_endpoints.set(endpoints as i64);
        self.cache_entries.set(cache_entries.unwrap_or(0) as i64);
        let now = SystemTime::now();
        for (resource, at) in self.last_sync.lock().expect("metrics lock").iter() {
            let age = now.duration_since(*at).unwrap_or_default().as_secs_f64();
            self.seconds_since_sync.get_or_create(&ResourceLabels { resource: resource.clone() }).set(age);
        }
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Query type labels: a fixed set, so odd types cannot blow up the number of series.
pub const QTYPES: [&str; 16] = [
    "A", "AAAA", "ANY", "AXFR", "CNAME", "HINFO", "HTTPS", "IXFR", "MX", "NS", "PTR", "SOA", "SRV", "SVCB", "TXT",
    "other",
];

fn qtype_index(qtype: RecordType) -> usize {
    use RecordType::*;
    match qtype {
        A => 0,
        AAAA => 1,
        ANY => 2,
        AXFR => 3,
        CNAME => 4,
        HINFO => 5,
        HTTPS => 6,
        IXFR => 7,
        MX => 8,
        NS => 9,
        PTR => 10,
        SOA => 11,
        SRV => 12,
        SVCB => 13,
        TXT => 14,
        _ => 15,
    }
}

pub const RCODES: [&str; 8] = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS", "other"];

fn rcode_index(rcode: ResponseCode) -> usize {
    match rcode {
        ResponseCode::NoError => 0,
        ResponseCode::FormErr => 1,
        ResponseCode::ServFail => 2,
        ResponseCode::NXDomain => 3,
        ResponseCode::NotImp => 4,
        ResponseCode::Refused => 5,
        ResponseCode::BADVERS => 6,
        _ => 7,
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qtype_indexes_match_their_labels() {
        use RecordType::*;
        let types = [A, AAAA, ANY, AXFR, CNAME, HINFO, HTTPS, IXFR, MX, NS, PTR, SOA, SRV, SVCB, TXT];
        for (i, qtype) in types.into_iter().enumerate() {
            assert_eq!((qtype_index(qtype), qtype.to_string()), (i, QTYPES[i].to_string()));
        }
        assert_eq!(QTYPES[qtype_index(RecordType::NULL)], "other");
    }
}
