//! The cache of forwarded answers (and only those: our own zones are answered from current
//! data on every query). TTLs count down for clients; negative answers are cached per RFC 2308
//! from their SOA; TTL 0 answers are never cached, so never rewritten.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, LowerName, RData, RecordType};
use moka::Expiry;

/// How long an upstream's SERVFAIL is kept: long enough to shed a burst, short enough not to
/// matter (RFC 2308 §7.1 allows up to five minutes).
pub const SERVFAIL_TTL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub name: LowerName,
    pub qtype: RecordType,
    pub class: DNSClass,
    /// Answers asked with DNSSEC OK carry signatures; those without do not.
    pub dnssec_ok: bool,
}

#[derive(Debug)]
pub struct Cached {
    message: Message,
    stored: Instant,
    ttl: Duration,
}

struct ByTtl;

impl Expiry<CacheKey, Arc<Cached>> for ByTtl {
    fn expire_after_create(&self, _: &CacheKey, value: &Arc<Cached>, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

#[derive(Clone)]
pub struct AnswerCache {
    entries: moka::sync::Cache<CacheKey, Arc<Cached>>,
    max_ttl: Duration,
    max_negative_ttl: Duration,
    /// Names in these zones are not cached: their answers (`success`), their NXDOMAIN and
    /// NODATA (`denial`).
    no_success: Vec<LowerName>,
    no_denial: Vec<LowerName>,
}

impl AnswerCache {
    /// `on_eviction` is called for every entry dropped to make room (not for expiry).
    pub fn new(
        capacity: u64,
        max_ttl: Duration,
        max_negative_ttl: Duration,
        on_eviction: impl Fn() + Send + Sync + 'static,
    ) -> AnswerCache {
        let entries = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .expire_after(ByTtl)
            .eviction_listener(move |_, _, cause| {
                if cause == moka::notification::RemovalCause::Size {
                    on_eviction();
                }
            })
            .build();
        AnswerCache { entries, max_ttl, max_negative_ttl, no_success: Vec::new(), no_denial: Vec::new() }
    }

    /// Answers (`success`) or negative answers (`denial`) in these zones are not cached
    /// (CoreDNS `cache { disable success|denial ZONE }`).
    pub fn without(mut self, success: &[LowerName], denial: &[LowerName]) -> AnswerCache {
        self.no_success = success.to_vec();
        self.no_denial = denial.to_vec();
        self
    }

    /// A cached reply with every TTL lowered by the time it has been cached.
    pub fn get(&self, key: &CacheKey) -> Option<Message> {
        let cached = self.entries.get(key)?;
        let age = cached.stored.elapsed();
        if age >= cached.ttl {
            return None;
        }
        let mut message = cached.message.clone();
        let elapsed = age.as_secs() as u32;
        for record in
            message.answers.iter_mut().chain(message.authorities.iter_mut()).chain(message.additionals.iter_mut())
        {
            record.ttl = record.ttl.saturating_sub(elapsed);
        }
        Some(message)
    }

    pub fn cap(&self, message: &mut Message) {
        cap_ttls(message, self.max_ttl, self.max_negative_ttl);
    }

    pub fn insert(&self, key: CacheKey, message: &Message) {
        let success = message.metadata.response_code == ResponseCode::NoError && !message.answers.is_empty();
        let denial =
            matches!(message.metadata.response_code, ResponseCode::NXDomain | ResponseCode::NoError) && !success;
        let disabled = |zones: &[LowerName]| zones.iter().any(|zone| zone.zone_of(&key.name));
        if (success && disabled(&self.no_success)) || (denial && disabled(&self.no_denial)) {
            return;
        }
        if let Some(ttl) = cache_ttl(message, self.max_ttl, self.max_negative_ttl) {
            self.entries.insert(key, Arc::new(Cached { message: message.clone(), stored: Instant::now(), ttl }));
        }
    }

    pub fn entry_count(&self) -> u64 {
        // moka applies inserts to its count in the background: settle them first.
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

/// Lowers TTLs above the cache's caps, so clients do not keep an answer longer than we would
/// (TTL 0 stays 0).
pub fn cap_ttls(message: &mut Message, max_ttl: Duration, max_negative_ttl: Duration) {
    let positive = message.metadata.response_code == ResponseCode::NoError && !message.answers.is_empty();
    let cap = if positive { max_ttl } else { max_negative_ttl }.as_secs().min(u64::from(u32::MAX)) as u32;
    for record in message.answers.iter_mut().chain(message.authorities.iter_mut()).chain(message.additionals.iter_mut())
    {
        record.ttl = record.ttl.min(cap);
    }
}

/// How long a reply may be cached, or `None` when it must not be.
pub fn cache_ttl(message: &Message, max_ttl: Duration, max_negative_ttl: Duration) -> Option<Duration> {
    let seconds = |s: u32| Duration::from_secs(u64::from(s));
    match message.metadata.response_code {
        ResponseCode::NoError if !message.answers.is_empty() => {
            let ttl = message.answers.iter().chain(&message.authorities).map(|r| r.ttl).min()?;
            (ttl > 0).then(|| seconds(ttl).min(max_ttl))
        }
        // RFC 2308 §5: the negative TTL is the SOA's own TTL or its MINIMUM, the smaller; with
        // no SOA the answer is not cached.
        ResponseCode::NoError | ResponseCode::NXDomain => {
            let ttl = message.authorities.iter().find_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            })?;
            (ttl > 0).then(|| seconds(ttl).min(max_negative_ttl))
        }
        ResponseCode::ServFail => Some(SERVFAIL_TTL.min(max_negative_ttl)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::{Name, Record};

    use super::*;

    const MAX: Duration = Duration::from_secs(30);

    fn reply(rcode: ResponseCode, answer_ttls: &[u32], soa: Option<(u32, u32)>) -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        let name = Name::from_ascii("example.com.").unwrap();
        for ttl in answer_ttls {
            m.answers.push(Record::from_rdata(name.clone(), *ttl, RData::A(A(Ipv4Addr::LOCALHOST))));
        }
        if let Some((ttl, minimum)) = soa {
            let soa = SOA::new(name.clone(), name.clone(), 1, 1, 1, 1, minimum);
            m.authorities.push(Record::from_rdata(name, ttl, RData::SOA(soa)));
        }
        m
    }

    #[test]
    fn ttls_follow_rfc_2308_and_the_caps() {
        let secs = |s| Some(Duration::from_secs(s));
        let cases = [
            (reply(ResponseCode::NoError, &[300, 20], None), secs(20)),
            (reply(ResponseCode::NoError, &[3600], None), secs(30)),
            (reply(ResponseCode::NoError, &[0, 60], None), None),
            (reply(ResponseCode::NXDomain, &[], Some((900, 10))), secs(10)),
            (reply(ResponseCode::NXDomain, &[], Some((5, 600))), secs(5)),
            (reply(ResponseCode::NoError, &[], Some((3600, 3600))), secs(30)),
            (reply(ResponseCode::NXDomain, &[], None), None),
            (reply(ResponseCode::NXDomain, &[], Some((0, 60))), None),
            (reply(ResponseCode::ServFail, &[], None), Some(SERVFAIL_TTL)),
            (reply(ResponseCode::Refused, &[], None), None),
        ];
        for (message, want) in cases {
            assert_eq!(cache_ttl(&message, MAX, MAX), want, "{message}");
        }
    }
}
