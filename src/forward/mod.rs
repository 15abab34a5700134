//! Forwarding names outside our zones: to the stub domain's upstreams when one matches (the
//! longest wins), else to the default upstreams; through a cache of forwarded answers; with
//! identical questions in flight sent upstream once, and a bound on questions in flight.

pub mod cache;
pub mod resolv;
pub mod upstream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{LowerName, Name, RecordType};
use tokio::sync::{Semaphore, oneshot};
use tracing::{debug, error};

use cache::{AnswerCache, CacheKey};
use upstream::Upstream;

use crate::metrics::Metrics;

/// Where the loop probes' names live (RFC 6761: `.invalid` never resolves anywhere else).
const PROBE_DOMAIN: &str = "loop-check.clusterdns.invalid.";

fn probe_domain() -> &'static LowerName {
    static DOMAIN: std::sync::OnceLock<LowerName> = std::sync::OnceLock::new();
    DOMAIN.get_or_init(|| LowerName::new(&Name::from_ascii(PROBE_DOMAIN).expect("probe domain")))
}
/// The EDNS payload we advertise upstream.
const UPSTREAM_PAYLOAD: u16 = 1232;

#[derive(Debug, Clone)]
pub struct ForwardSettings {
    pub upstreams: Vec<SocketAddr>,
    /// `(domain, upstreams)`: names in the domain go to these instead.
    pub stubs: Vec<(Name, Vec<SocketAddr>)>,
    /// How long one upstream gets to answer one query.
    pub timeout: Duration,
    pub max_concurrent: usize,
    pub cache_size: u64,
    pub cache_max_ttl: Duration,
    pub cache_max_negative_ttl: Duration,
    /// The order healthy upstreams are asked in.
    pub policy: Policy,
    /// Ask over TCP only (CoreDNS `force_tcp`); otherwise UDP, and TCP when the reply is truncated.
    pub tcp_only: bool,
    /// Names in these domains are never forwarded (CoreDNS `except`); stub domains still are.
    pub except: Vec<Name>,
    /// Names in these zones are not cached: positive answers, negative answers.
    pub cache_no_success: Vec<Name>,
    pub cache_no_denial: Vec<Name>,
    /// AAAA questions are answered NODATA without asking (`--filter-aaaa-forwarded`).
    pub filter_aaaa: bool,
}

/// The order in which healthy upstreams are asked (CoreDNS `policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Policy {
    /// In the order given: the first healthy one answers.
    #[default]
    Sequential,
    /// A random order per query.
    Random,
    /// Each query starts at the next upstream.
    RoundRobin,
}

type Waiters = Vec<oneshot::Sender<Option<Message>>>;

pub struct Forwarder {
    metrics: Arc<Metrics>,
    default: Vec<Arc<Upstream>>,
    /// Longest domain first, so the first match is the longest.
    stubs: Vec<(LowerName, Vec<Arc<Upstream>>)>,
    cache: AnswerCache,
    timeout: Duration,
    slots: Arc<Semaphore>,
    in_flight: Mutex<HashMap<CacheKey, Waiters>>,
    /// Loop probe names, and whether each came back to us.
    probes: Mutex<HashMap<LowerName, bool>>,
    policy: Policy,
    /// Where the next round-robin query starts.
    turn: std::sync::atomic::AtomicUsize,
    except: Vec<LowerName>,
    filter_aaaa: bool,
}

/// How long a loop probe waits for its upstream.
const LOOP_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Forwarder {
    pub fn new(settings: &ForwardSettings, metrics: Arc<Metrics>) -> Forwarder {
        let upstreams = |addresses: &[SocketAddr]| {
            addresses.iter().map(|a| Arc::new(Upstream::new(*a, settings.tcp_only))).collect()
        };
        let mut stubs: Vec<(LowerName, Vec<Arc<Upstream>>)> =
            settings.stubs.iter().map(|(domain, addresses)| (LowerName::new(domain), upstreams(addresses))).collect();
        stubs.sort_by_key(|(domain, _)| std::cmp::Reverse(domain.num_labels()));
        Forwarder {
            metrics: metrics.clone(),
            default: upstreams(&settings.upstreams),
            stubs,
            cache: {
                let metrics = metrics.clone();
                let (size, max, negative) =
                    (settings.cache_size, settings.cache_max_ttl, settings.cache_max_negative_ttl);
                let lower = |zones: &[Name]| zones.iter().map(LowerName::new).collect::<Vec<_>>();
                AnswerCache::new(size, max, negative, move || metrics.cache_evicted())
                    .without(&lower(&settings.cache_no_success), &lower(&settings.cache_no_denial))
            },
            timeout: settings.timeout,
            slots: Arc::new(Semaphore::new(settings.max_concurrent)),
            in_flight: Mutex::new(HashMap::new()),
            probes: Mutex::new(HashMap::new()),
            policy: settings.policy,
            turn: std::sync::atomic::AtomicUsize::new(0),
            except: settings.except.iter().map(LowerName::new).collect(),
            filter_aaaa: settings.filter_aaaa,
        }
    }

    pub fn key(question: &Query, dnssec_ok: bool) -> CacheKey {
        CacheKey {
            name: LowerName::new(question.name()),
            qtype: question.query_type(),
            class: question.query_class(),
            dnssec_ok,
        }
    }

    /// The upstreams for a name: the longest matching stub domain's, else the default ones
    /// (none for an excepted name).
    fn upstreams_for(&self, name: &LowerName) -> &[Arc<Upstream>] {
        match self.stubs.iter().find(|(domain, _)| domain.zone_of(name)) {
            Some((_, upstreams)) => upstreams,
            None if self.except.iter().any(|domain| domain.zone_of(name)) => &[],
            None => &self.default,
        }
    }

    /// `upstreams` in the order this query asks them, by the policy.
    fn in_policy_order<'u>(&self, mut upstreams: Vec<&'u Arc<Upstream>>) -> Vec<&'u Arc<Upstream>> {
        match self.policy {
            Policy::Sequential => {}
            Policy::Random => rand::seq::SliceRandom::shuffle(upstreams.as_mut_slice(), &mut rand::rng()),
            Policy::RoundRobin if !upstreams.is_empty() => {
                let start = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % upstreams.len();
                upstreams.rotate_left(start);
            }
            Policy::RoundRobin => {}
        }
        upstreams
    }

    pub fn cached(&self, key: &CacheKey) -> Option<Message> {
        self.cache.get(key)
    }

    /// The upstream's reply to `question`, from the cache or the network; `None` when no
    /// upstream answered or too many questions are already in flight.
    pub async fn resolve(&self, question: &Query, dnssec_ok: bool, checking_disabled: bool) -> Option<Message> {
        let key = Self::key(question, dnssec_ok);
        let hit = self.cache.get(&key);
        self.metrics.cache_lookup(hit.is_some());
        if hit.is_some() {
            return hit;
        }
        let waiter = {
            let mut in_flight = self.in_flight.lock().expect("in-flight map lock");
            match in_flight.get_mut(&key) {
                Some(waiters) => {
                    let (tx, rx) = oneshot::channel();
                    waiters.push(tx);
                    Some(rx)
                }
                None => {
                    in_flight.insert(key.clone(), Vec::new());
                    None
                }
            }
        };
        if let Some(rx) = waiter {
            return rx.await.ok().flatten();
        }
        let reply = self.ask_upstreams(question, &key, dnssec_ok, checking_disabled).await;
        let waiters = self.in_flight.lock().expect("in-flight map lock").remove(&key).unwrap_or_default();
        for waiter in waiters {
            let _ = waiter.send(reply.clone());
        }
        reply
    }

    async fn ask_upstreams(
        &self,
        question: &Query,
        key: &CacheKey,
        dnssec_ok: bool,
        checking_disabled: bool,
    ) -> Option<Message> {
        let Ok(_slot) = self.slots.try_acquire() else {
            debug!(name = %question.name(), "too many forwarded queries in flight");
            return None;
        };
        let mut query = Message::new(0, MessageType::Query, OpCode::Query);
        query.add_query(question.clone());
        query.metadata.recursion_desired = true;
        query.metadata.checking_disabled = checking_disabled;
        let mut edns = Edns::new();
        edns.set_max_payload(UPSTREAM_PAYLOAD);
        edns.set_dnssec_ok(dnssec_ok);
        query.set_edns(edns);
        let upstreams: Vec<&Arc<Upstream>> = self.upstreams_for(&key.name).iter().filter(|u| !u.is_looping()).collect();
        let upstreams = self.in_policy_order(upstreams);
        // Healthy upstreams first, in the policy's order; skipped ones only when nothing else
        // answered (so a recovered upstream is found again).
        let ordered = upstreams.iter().filter(|u| !u.is_skipped()).chain(upstreams.iter().filter(|u| u.is_skipped()));
        for upstream in ordered {
            let asked = std::time::Instant::now();
            let result = upstream.exchange(&query, self.timeout).await;
            self.metrics.forwarded(&upstream.address.to_string(), asked.elapsed(), result.is_ok());
            match result {
                Ok(mut reply) => {
                    self.cache.cap(&mut reply);
                    self.cache.insert(key.clone(), &reply);
                    return Some(reply);
                }
                Err(error) => {
                    debug!(upstream = %upstream.address, %error, name = %question.name(), "upstream did not answer")
                }
            }
        }
        None
    }

    /// Whether a question of `qtype` gets NODATA here instead of going upstream.
    pub fn filters(&self, qtype: RecordType) -> bool {
        self.filter_aaaa && qtype == RecordType::AAAA
    }

    /// Whether `name` is one of our loop probes coming back to us. Such a query is answered at
    /// once and never forwarded again, so a loop cannot amplify it.
    pub fn is_loop_probe(&self, name: &LowerName) -> bool {
        // Every query passes here: a label comparison, and the lock only for probe names.
        if !probe_domain().zone_of(name) {
            return false;
        }
        let mut probes = self.probes.lock().expect("probe map lock");
        match probes.get_mut(name) {
            Some(seen) => {
                *seen = true;
                true
            }
            None => false,
        }
    }

    /// Detects upstreams that forward back to us (CoreDNS `loop`): each gets a query for a
    /// name only we know, under `.invalid` (RFC 6761, so a sane resolver answers NXDOMAIN at
    /// once); an upstream whose probe arrives back at us is never forwarded to again.
    pub async fn check_loops(&self) {
        let nonce: u64 = rand::random();
        let mut all: Vec<&Arc<Upstream>> = self.default.iter().chain(self.stubs.iter().flat_map(|(_, u)| u)).collect();
        all.dedup_by_key(|u| u.address);
        let mut probes = Vec::new();
        for (i, upstream) in all.iter().enumerate() {
            let name = Name::from_ascii(format!("{nonce:x}-{i}.{PROBE_DOMAIN}")).expect("probe name");
            self.probes.lock().expect("probe map lock").insert(LowerName::new(&name), false);
            probes.push((name, *upstream));
        }
        let asks = probes.iter().map(|(name, upstream)| async move {
            let mut query = Message::new(0, MessageType::Query, OpCode::Query);
            query.add_query(Query::query(name.clone(), RecordType::HINFO));
            query.metadata.recursion_desired = true;
            let _ = upstream.exchange(&query, LOOP_PROBE_TIMEOUT).await;
        });
        futures::future::join_all(asks).await;
        let seen = self.probes.lock().expect("probe map lock").clone();
        for (name, upstream) in probes {
            if seen.get(&LowerName::new(&name)).copied().unwrap_or(false) {
                upstream.set_looping();
                error!(upstream = %upstream.address,
                    "forwarding loop detected: this upstream sends our queries back to us; not forwarding to it");
            }
        }
    }

    /// Entries in the cache, counted now (the cache otherwise counts lazily).
    pub fn cache_entries(&self) -> u64 {
        self.cache.entry_count()
    }
}
