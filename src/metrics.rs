//! Prometheus metrics, named after CoreDNS's where one exists (`coredns_dns_requests_total`
//! becomes `clusterdns_dns_requests_total`), so existing dashboards map one to one.

use std::sync::Mutex;
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

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum ZoneKind {
    Cluster,
    Reverse,
    Static,
    Forwarded,
    /// Refused, malformed, or not a query.
    None,
}

impl ZoneKind {
    fn label(self) -> &'static str {
        match self {
            ZoneKind::Cluster => "cluster",
            ZoneKind::Reverse => "reverse",
            ZoneKind::Static => "static",
            ZoneKind::Forwarded => "forwarded",
            ZoneKind::None => "none",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    transport: &'static str,
    qtype: &'static str,
    zone: &'static str,
    rcode: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ZoneLabels {
    zone: &'static str,
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
    requests: Family<RequestLabels, Counter>,
    duration: Family<ZoneLabels, Histogram>,
    response_size: Family<ZoneLabels, Histogram>,
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
    programming_latency: Family<ResourceLabels, Histogram>,
}

fn latency_buckets() -> Family<ZoneLabels, Histogram> {
    Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.00002, 2.0, 18)))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("clusterdns");
        let m = Metrics {
            requests: Family::default(),
            duration: latency_buckets(),
            response_size: Family::new_with_constructor(|| Histogram::new(exponential_buckets(32.0, 2.0, 12))),
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
            programming_latency: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.00005, 2.0, 16))),
            registry: Registry::default(),
        };
        registry.register("dns_requests", "DNS requests answered", m.requests.clone());
        registry.register("dns_request_duration_seconds", "Time to answer a request", m.duration.clone());
        registry.register("dns_response_size_bytes", "Size of responses", m.response_size.clone());
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
        let labels = RequestLabels {
            transport: transport.label(),
            qtype: qtype_label(qtype),
            zone: zone.label(),
            rcode: rcode_label(rcode),
        };
        self.requests.get_or_create(&labels).inc();
        let zone = ZoneLabels { zone: zone.label() };
        self.duration.get_or_create(&zone).observe(started.elapsed().as_secs_f64());
        self.response_size.get_or_create(&zone).observe(size as f64);
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

/// A fixed label per type, so that labels never allocate and odd types cannot blow up the
/// number of series.
fn qtype_label(qtype: RecordType) -> &'static str {
    use RecordType::*;
    match qtype {
        A => "A",
        AAAA => "AAAA",
        ANY => "ANY",
        AXFR => "AXFR",
        CNAME => "CNAME",
        HINFO => "HINFO",
        HTTPS => "HTTPS",
        IXFR => "IXFR",
        MX => "MX",
        NS => "NS",
        PTR => "PTR",
        SOA => "SOA",
        SRV => "SRV",
        SVCB => "SVCB",
        TXT => "TXT",
        _ => "other",
    }
}

fn rcode_label(rcode: ResponseCode) -> &'static str {
    match rcode {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::BADVERS => "BADVERS",
        _ => "other",
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}
