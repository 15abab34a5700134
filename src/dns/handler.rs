//! The DNS handler: one place that decides rcode, AA, RA, TC and EDNS for every reply, for UDP
//! and TCP alike. It takes a query's bytes and returns the reply's bytes, or a forwarding job
//! when the answer must come from an upstream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use arc_swap::{ArcSwap, ArcSwapOption};

use hickory_proto::op::{Edns, Header, Message, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, LowerName, Name, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;
use hickory_server::zone_handler::MessageRequest;
use tracing::{debug, info};

use super::answer::Answer;
use super::authority::Authority;
use super::autopath;
use super::fast;
use super::rewrite::{self, Applied};
use super::rules::Rules;
use super::wire::{self, Response};
use crate::forward::Forwarder;
use crate::metrics::{Metrics, Transport, ZoneKind};

/// The largest UDP payload we send or advertise (DNS Flag Day 2020: no IP fragmentation).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// The limit for UDP clients without EDNS (RFC 1035 §4.2.1).
const PLAIN_UDP_PAYLOAD: u16 = 512;

#[derive(Clone)]
pub struct DnsHandler {
    authority: Arc<Authority>,
    metrics: Arc<Metrics>,
    /// Replaced whole when the configuration is reloaded.
    forwarder: Arc<ArcSwapOption<Forwarder>>,
    /// Log every query at info.
    log_queries: Arc<AtomicBool>,
    /// Which NXDOMAIN answers go to the forwarder instead.
    fallthrough: Arc<Fallthrough>,
    /// Rewrites, templates and hosts entries, before the cluster zone (replaced on reload).
    rules: Arc<ArcSwap<Rules>>,
    /// `--autopath`: pods' search-list walks answered in one query.
    autopath: Option<Arc<Autopath>>,
}

/// How autopath walks (`--autopath`).
#[derive(Debug, Clone, Default)]
pub struct Autopath {
    /// The node's search domains, which kubelet appends to every pod's search list.
    pub host_search: Vec<Name>,
    /// Only for clients that are running Pods of the namespace the walk starts in
    /// (`--pods verified`); otherwise any client whose question starts a pod's walk.
    pub verify_client: bool,
}

/// NXDOMAIN answers that are forwarded instead (CoreDNS `fallthrough`): PTRs of addresses the
/// cluster does not know (on by default), and every name in the listed zones.
#[derive(Debug, Default)]
pub struct Fallthrough {
    pub reverse: bool,
    pub zones: Vec<LowerName>,
}

impl Fallthrough {
    fn applies(&self, name: &LowerName, answer: &Answer) -> bool {
        answer.rcode == ResponseCode::NXDomain
            && ((answer.fallthrough && self.reverse) || self.zones.iter().any(|zone| zone.zone_of(name)))
    }
}

/// What to do with one query.
pub enum Outcome {
    /// The reply is in the buffer the caller passed.
    Reply,
    /// The answer needs an upstream: run [`DnsHandler::forward`].
    Forward(Box<Pending>),
    /// No reply at all.
    Silent,
}

/// A query waiting for an upstream.
pub struct Pending {
    request: Request,
    plan: Plan,
    started: Instant,
    forwarder: Arc<Forwarder>,
}

/// What goes upstream, and what we already have to put in front of it.
struct Plan {
    question: Query,
    /// Our own CNAME chain to an outside target (empty when the whole question is forwarded).
    prefix: Vec<Record>,
    /// The rewrites of the question's name, undone in the answer.
    undo: Option<Applied>,
    /// An autopath walk: `question` is one of its names, these the rest.
    walk: Option<Box<ForwardedWalk>>,
    /// The question is outside our zones (not a fallthrough name of ours), so
    /// `--filter-aaaa-forwarded` applies to it.
    outside: bool,
}

/// The forwarded part of an autopath walk.
struct ForwardedWalk {
    /// The name the client asked, which the answer aliases to the name found.
    asked: Name,
    /// The names still to try, in order, after the question.
    rest: std::collections::VecDeque<Name>,
    /// The cluster zone's TTL (the CNAME's, when the name found has no records).
    ttl: u32,
    /// The reply when no name of the walk exists: the asked name's own NXDOMAIN.
    nxdomain: Option<Record>,
}

/// The records of a reply, section by section.
#[derive(Default)]
struct Sections {
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
    /// Answer records of the full RRset that were never built (no message could hold them).
    unbuilt: usize,
}

enum Decision {
    Done(Metadata, Sections, ZoneKind),
    Forward(Plan),
}

impl DnsHandler {
    pub fn new(
        authority: Authority,
        forwarder: Arc<ArcSwapOption<Forwarder>>,
        fallthrough: Fallthrough,
        metrics: Arc<Metrics>,
        log_queries: Arc<AtomicBool>,
        rules: Arc<ArcSwap<Rules>>,
    ) -> DnsHandler {
        DnsHandler {
            authority: Arc::new(authority),
            metrics,
            forwarder,
            log_queries,
            fallthrough: Arc::new(fallthrough),
            rules,
            autopath: None,
        }
    }

    /// Answers pods' search-list walks in one query (`--autopath`).
    pub fn with_autopath(mut self, autopath: Autopath) -> DnsHandler {
        self.autopath = Some(Arc::new(autopath));
        self
    }

    /// Answers one query from our zones or the cache. `Silent` for anything shorter than a
    /// header, a response (QR=1, never answered so we cannot be used for reflection), or a UDP
    /// source that cannot be answered (port 0, unspecified address).
    ///
    /// A reply goes into `out` (cleared first), a buffer the caller reuses from query to query.
    pub fn answer(&self, packet: &[u8], src: SocketAddr, protocol: Protocol, out: &mut Vec<u8>) -> Outcome {
        let started = Instant::now();
        if protocol == Protocol::Udp && (src.port() == 0 || src.ip().is_unspecified()) {
            return Outcome::Silent;
        }
        if let Some((qtype, written)) = self.answer_fast(packet, src, protocol, out) {
            let zone = if written.reverse { ZoneKind::Reverse } else { ZoneKind::Cluster };
            self.metrics.request(transport(protocol), qtype, zone, written.rcode, out.len(), started);
            return Outcome::Reply;
        }
        self.answer_general(packet, src, protocol, started, out)
    }

    /// Any query, through hickory's parser and the zones' records: what the fast path declines,
    /// and the reference it is tested against.
    fn answer_general(
        &self,
        packet: &[u8],
        src: SocketAddr,
        protocol: Protocol,
        started: Instant,
        out: &mut Vec<u8>,
    ) -> Outcome {
        let reply = |bytes: Vec<u8>, out: &mut Vec<u8>| {
            out.clear();
            out.extend_from_slice(&bytes);
            Outcome::Reply
        };
        let Ok(header) = Header::read(&mut BinDecoder::new(packet)) else { return Outcome::Silent };
        if header.metadata.message_type == MessageType::Response {
            return Outcome::Silent;
        }
        let request = match Request::from_bytes(packet.to_vec(), src, protocol) {
            Ok(request) => request,
            // A header we can read but a body we cannot: FORMERR (RFC 1035 §4.1.1).
            Err(error) => {
                debug!(%src, %error, "malformed query");
                let mut metadata = Metadata::response_from_request(&header.metadata);
                metadata.response_code = ResponseCode::FormErr;
                let reply_bytes = encode(metadata, &[], 0, &Sections::default(), None, protocol).bytes;
                let transport = transport(protocol);
                self.metrics.request(
                    transport,
                    RecordType::Unknown(0),
                    ZoneKind::None,
                    ResponseCode::FormErr,
                    reply_bytes.len(),
                    started,
                );
                return reply(reply_bytes, out);
            }
        };
        // A guard, not a clone: no shared reference count touched unless the query goes upstream.
        let forwarder = self.forwarder.load();
        match self.decide(&request, forwarder.as_deref()) {
            Decision::Done(metadata, sections, zone) => {
                reply(self.reply(&request, metadata, &sections, zone, started), out)
            }
            Decision::Forward(plan) => {
                let forwarder = arc_swap::Guard::into_inner(forwarder).expect("only planned with a forwarder");
                if plan.outside && plan.walk.is_none() && forwarder.filters(plan.question.query_type()) {
                    // NODATA, as if from an upstream: behind our CNAME when chasing one.
                    let nodata = Message::query();
                    return reply(self.forwarded(&request, &plan, Some(nodata), started), out);
                }
                let key = Forwarder::key(&plan.question, dnssec_ok(&request));
                match forwarder.cached(&key).filter(|_| plan.walk.is_none()) {
                    Some(hit) => {
                        self.metrics.cache_lookup(true);
                        reply(self.forwarded(&request, &plan, Some(hit), started), out)
                    }
                    None => Outcome::Forward(Box::new(Pending { request, plan, started, forwarder })),
                }
            }
        }
    }

    /// The fast path ([`fast`]), when nothing configured stands between the question and the
    /// cluster zone and no query is logged: no rewrite, template or hosts entry, no zone whose
    /// NXDOMAIN answers are forwarded.
    fn answer_fast(
        &self,
        packet: &[u8],
        src: SocketAddr,
        protocol: Protocol,
        out: &mut Vec<u8>,
    ) -> Option<(RecordType, fast::Written)> {
        if self.log_queries.load(Ordering::Relaxed) || tracing::enabled!(tracing::Level::DEBUG) {
            return None;
        }
        let query = fast::parse(packet)?;
        if !self.rules.load().is_empty() {
            return None;
        }
        let written = self.authority.answer_fast(&query, src.ip(), protocol == Protocol::Udp, out)?;
        // An NXDOMAIN may instead be forwarded (fallthrough zones) or start an autopath walk.
        let forwarded =
            written.rcode == ResponseCode::NXDomain && (!self.fallthrough.zones.is_empty() || self.autopath.is_some());
        (!forwarded).then_some((query.qtype, written))
    }

    /// Asks the upstream for a pending query and builds the reply.
    pub async fn forward(&self, pending: Pending) -> Vec<u8> {
        let Pending { request, mut plan, started, forwarder } = pending;
        let (dnssec, cd) = (dnssec_ok(&request), request.metadata.checking_disabled);
        let Some(walk) = &mut plan.walk else {
            let reply = forwarder.resolve(&plan.question, dnssec, cd).await;
            return self.forwarded(&request, &plan, reply, started);
        };
        // With --filter-aaaa-forwarded, an AAAA walk asks upstream whether each name exists
        // with A questions (the A walk of the same lookup asks the same), and answers NODATA.
        let qtype = plan.question.query_type();
        let filtered = forwarder.filters(qtype);
        let probe = |name: &Name| Query::query(name.clone(), if filtered { RecordType::A } else { qtype });
        let mut reply = forwarder.resolve(&probe(plan.question.name()), dnssec, cd).await;
        // An autopath walk: the next name while this one is missing, as the pod's resolver
        // would go on. Missing, as in our zones: no such name, or (but for the last) no address
        // of either family. A name with an address of the other family ends the walk, so that a
        // lookup's A and AAAA questions end at the same name.
        let rcode = |reply: &Option<Message>| reply.as_ref().map(|m| m.metadata.response_code);
        loop {
            let nodata = reply.as_ref().is_some_and(|m| m.answers.is_empty()) && !walk.rest.is_empty();
            let missing = match rcode(&reply) {
                Some(ResponseCode::NXDomain) => true,
                Some(ResponseCode::NoError) if nodata => match (filtered, qtype) {
                    // Only A matters to a client whose AAAA questions are filtered.
                    (true, _) => true,
                    (false, RecordType::A | RecordType::AAAA) => {
                        let other = if qtype == RecordType::A { RecordType::AAAA } else { RecordType::A };
                        let question = Query::query(plan.question.name().clone(), other);
                        let other = forwarder.resolve(&question, dnssec, cd).await;
                        other.is_none_or(|m| m.answers.is_empty())
                    }
                    _ => true,
                },
                _ => false,
            };
            let Some(next) = walk.rest.pop_front().filter(|_| missing) else { break };
            reply = forwarder.resolve(&probe(&next), dnssec, cd).await;
            plan.question = Query::query(next, qtype);
        }
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = true;
        match rcode(&reply) {
            Some(ResponseCode::NoError) => {}
            // Nothing in the walk exists: the asked name's own NXDOMAIN.
            Some(ResponseCode::NXDomain) => {
                (metadata.response_code, metadata.authoritative) = (ResponseCode::NXDomain, true);
                let sections = Sections { authorities: walk.nxdomain.iter().cloned().collect(), ..Sections::default() };
                return self.reply(&request, metadata, &sections, ZoneKind::Cluster, started);
            }
            // The walk could not be finished: the client walks on by itself.
            _ => {
                metadata.response_code = ResponseCode::ServFail;
                return self.reply(&request, metadata, &Sections::default(), ZoneKind::Forwarded, started);
            }
        }
        let ttl = reply.as_ref().and_then(|m| m.answers.first()).map_or(walk.ttl, |r| r.ttl);
        plan.prefix = vec![autopath::alias(&walk.asked, plan.question.name(), ttl)];
        if filtered {
            reply = Some(Message::query());
        }
        self.forwarded(&request, &plan, reply, started)
    }

    /// The rcode, flags and records for a request, before any size limit.
    fn decide(&self, request: &Request, forwarder: Option<&Forwarder>) -> Decision {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let mut empty = |rcode| {
            metadata.response_code = rcode;
            Decision::Done(metadata, Sections::default(), ZoneKind::None)
        };
        if request.metadata.op_code != OpCode::Query {
            return empty(ResponseCode::NotImp);
        }
        let [query] = request.queries.queries() else {
            return empty(ResponseCode::FormErr);
        };
        // RFC 6891 §6.1.3: we speak EDNS version 0 only.
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            return empty(ResponseCode::BADVERS);
        }
        let qtype = query.query_type();
        if query.query_class() != DNSClass::IN || matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return empty(ResponseCode::Refused);
        }
        let forwarding = forwarder.is_some();
        if forwarder.is_some_and(|f| f.is_loop_probe(query.name())) {
            return empty(ResponseCode::ServFail);
        }
        let rules = self.rules.load();
        // A rewritten question is answered for its new name; the answer gets the old one back.
        let rewritten = match rules.rewrites.is_empty() {
            true => None,
            false => rewrite::rewrite(&rules.rewrites, &query.name().to_string()),
        };
        let (name, lower, undo) = match rewritten {
            Some((name, applied)) => {
                let lower = LowerName::new(&name);
                (name, lower, Some(applied))
            }
            None => (query.original().name().clone(), query.name().clone(), None),
        };
        let forward = |question: Query, prefix: Vec<Record>, undo: Option<Applied>, outside: bool| {
            Decision::Forward(Plan { question, prefix, undo, walk: None, outside })
        };
        let asked = || match &undo {
            Some(_) => Query::query(name.clone(), qtype),
            None => query.original().clone(),
        };
        let answer = rules
            .answer(&name, &lower, qtype, request.src().ip())
            .or_else(|| self.authority.answer(&name, &lower, qtype, Some(request.src().ip())));
        let Some(mut answer) = answer else {
            return match forwarding {
                true => forward(asked(), Vec::new(), undo, true),
                false => empty(ResponseCode::Refused),
            };
        };
        if answer.rcode == ResponseCode::NXDomain
            && undo.is_none()
            && let Some(autopath) = &self.autopath
            && let Some(decision) = self.walk(autopath, request, &name, &lower, qtype, forwarder, &answer)
        {
            return decision;
        }
        if forwarding && self.fallthrough.applies(&lower, &answer) {
            return forward(asked(), Vec::new(), undo, false);
        }
        if let (true, Some(target)) = (forwarding, &answer.external) {
            return forward(Query::query(target.clone(), qtype), answer.answers, undo, true);
        }
        if let Some(undo) = &undo {
            undo.undo(&mut answer.answers);
        }
        metadata.authoritative = answer.rcode != ResponseCode::ServFail;
        metadata.response_code = answer.rcode;
        let zone = answer.zone;
        let sections = Sections {
            answers: answer.answers,
            authorities: answer.soa.into_iter().collect(),
            additionals: answer.additionals,
            unbuilt: answer.unbuilt,
        };
        Decision::Done(metadata, sections, zone)
    }

    /// An autopath walk, when `name` (NXDOMAIN here) is the first query of a pod's search-list
    /// walk: the names in our zones are answered here, in order, and the first that exists is
    /// the answer, behind a CNAME from the asked name. The names outside our zones go upstream,
    /// in order. `None` when the question starts no walk we may answer.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        autopath: &Autopath,
        request: &Request,
        name: &Name,
        lower: &LowerName,
        qtype: RecordType,
        forwarder: Option<&Forwarder>,
        nxdomain: &Answer,
    ) -> Option<Decision> {
        let (zone, ttl) = self.authority.primary_zone_of(lower)?;
        let walk = autopath::walk(name, &zone, &autopath.host_search)?;
        let client = Some(request.src().ip());
        if !self.authority.namespace_holds(&walk.namespace, request.src().ip(), autopath.verify_client) {
            return None;
        }
        let last = walk.rest.len() - 1;
        let mut rest = walk.rest.into_iter().enumerate();
        while let Some((i, candidate)) = rest.next() {
            let candidate_lower = LowerName::new(&candidate);
            let Some(answer) = self.authority.answer(&candidate, &candidate_lower, qtype, client) else {
                // Outside our zones: this name and the rest of the walk go upstream.
                forwarder?;
                let rest = rest
                    .map(|(_, name)| name)
                    .filter(|n| self.authority.answer(n, &LowerName::new(n), qtype, client).is_none());
                let walk =
                    ForwardedWalk { asked: name.clone(), rest: rest.collect(), ttl, nxdomain: nxdomain.soa.clone() };
                return Some(Decision::Forward(Plan {
                    question: Query::query(candidate, qtype),
                    prefix: Vec::new(),
                    undo: None,
                    walk: Some(Box::new(walk)),
                    outside: true,
                }));
            };
            // Missing: no such name, or one with no address of either family (a namespace's
            // name, an empty non-terminal), which a resolver walking by itself passes too. A
            // name with an address of the other family ends the walk, so that A and AAAA end
            // at the same name.
            let nodata = answer.rcode == ResponseCode::NoError && answer.answers.is_empty();
            let no_address = || {
                [RecordType::A, RecordType::AAAA].iter().all(|&family| {
                    let other = self.authority.answer(&candidate, &candidate_lower, family, client);
                    other.is_none_or(|a| a.answers.is_empty())
                })
            };
            if answer.rcode == ResponseCode::NXDomain || (nodata && i < last && no_address()) {
                continue;
            }
            if answer.rcode == ResponseCode::ServFail {
                return None;
            }
            let first_ttl = answer.answers.first().map_or(ttl, |r| r.ttl);
            let mut answers = vec![autopath::alias(name, &candidate, first_ttl)];
            answers.extend(answer.answers);
            if let (Some(_), Some(target)) = (forwarder, &answer.external) {
                return Some(Decision::Forward(Plan {
                    question: Query::query(target.clone(), qtype),
                    prefix: answers,
                    undo: None,
                    walk: None,
                    outside: true,
                }));
            }
            let mut metadata = Metadata::response_from_request(&request.metadata);
            (metadata.authoritative, metadata.response_code) = (true, answer.rcode);
            let sections = Sections {
                answers,
                authorities: answer.soa.into_iter().collect(),
                additionals: answer.additionals,
                unbuilt: answer.unbuilt,
            };
            return Some(Decision::Done(metadata, sections, answer.zone));
        }
        None
    }

    /// The reply to a forwarded question: the upstream's rcode, flags and sections (behind our
    /// CNAME chain when chasing an ExternalName), with RA set.
    fn forwarded(&self, request: &Request, plan: &Plan, upstream: Option<Message>, started: Instant) -> Vec<u8> {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = true;
        let mut sections = Sections { answers: plan.prefix.clone(), ..Sections::default() };
        match upstream {
            Some(reply) if plan.prefix.is_empty() => {
                metadata.response_code = reply.metadata.response_code;
                metadata.authoritative = reply.metadata.authoritative;
                metadata.authentic_data = reply.metadata.authentic_data;
                sections.answers = reply.answers;
                sections.authorities = reply.authorities;
                sections.additionals = reply.additionals;
            }
            // Behind our CNAME: the target's answers follow it; the rcode is the target's only
            // where RFC 6604 makes it so (NXDOMAIN); a failed chase still returns the CNAME.
            Some(reply) => {
                metadata.authoritative = true;
                if matches!(reply.metadata.response_code, ResponseCode::NoError | ResponseCode::NXDomain) {
                    metadata.response_code = reply.metadata.response_code;
                    sections.answers.extend(reply.answers);
                    sections.authorities = reply.authorities;
                }
            }
            None if plan.prefix.is_empty() => metadata.response_code = ResponseCode::ServFail,
            None => metadata.authoritative = true,
        }
        if let Some(undo) = &plan.undo {
            undo.undo(&mut sections.answers);
        }
        self.reply(request, metadata, &sections, ZoneKind::Forwarded, started)
    }

    fn reply(
        &self,
        request: &Request,
        metadata: Metadata,
        sections: &Sections,
        zone: ZoneKind,
        started: Instant,
    ) -> Vec<u8> {
        let edns = response_edns(request);
        let queries = &request.queries;
        let protocol = request.protocol();
        // A query with several questions (FORMERR) gets none back: echoed, they could exceed
        // what the client can receive.
        let (question, count) = match queries.len() {
            1 => (queries.as_bytes(), 1),
            _ => (&[][..], 0),
        };
        let encoded = encode(metadata, question, count, sections, edns.as_ref(), protocol);
        let qtype = queries.queries().first().map_or(RecordType::Unknown(0), |q| q.query_type());
        let transport = transport(protocol);
        self.metrics.request(transport, qtype, zone, metadata.response_code, encoded.bytes.len(), started);
        let left_out = encoded.answers_left_out + sections.unbuilt;
        if encoded.truncated || left_out > 0 {
            self.metrics.shortened(transport, encoded.truncated, left_out);
        }
        if let Some(q) = queries.queries().first() {
            let (qname, src, rcode) = (q.original().name(), request.src(), metadata.response_code);
            let (answers, tc) = (encoded.answers_sent, encoded.truncated);
            if self.log_queries.load(Ordering::Relaxed) {
                info!(%qname, qtype = ?q.query_type(), %src, %protocol, ?rcode, answers, left_out, tc, "query");
            } else {
                debug!(%qname, qtype = ?q.query_type(), %src, %protocol, ?rcode, answers, left_out, tc, "query");
            }
        }
        encoded.bytes
    }
}

fn transport(protocol: Protocol) -> Transport {
    match protocol {
        Protocol::Udp => Transport::Udp,
        _ => Transport::Tcp,
    }
}

fn dnssec_ok(request: &MessageRequest) -> bool {
    request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok)
}

fn encode(
    metadata: Metadata,
    question: &[u8],
    question_count: u16,
    sections: &Sections,
    edns: Option<&Edns>,
    protocol: Protocol,
) -> wire::Encoded {
    let response = Response {
        metadata,
        question,
        question_count,
        answers: &sections.answers,
        authorities: &sections.authorities,
        additionals: &sections.additionals,
        edns,
    };
    wire::encode(&response, size_limit(protocol, edns))
}

/// The EDNS of our reply: present only when the query had one (RFC 6891 §7).
fn response_edns(request: &MessageRequest) -> Option<Edns> {
    request.edns.as_ref().map(|req| {
        let mut edns = Edns::new();
        edns.set_max_payload(advertised_payload(req.max_payload()));
        edns.set_version(0);
        edns
    })
}

/// The UDP size our OPT record advertises for a client that asked for `requested`.
pub(super) fn advertised_payload(requested: u16) -> u16 {
    requested.clamp(PLAIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD)
}

/// The largest reply: over UDP the size our OPT record advertises (512 without EDNS), over
/// TCP a whole message.
pub(super) fn reply_size(udp: bool, advertised: Option<u16>) -> usize {
    match udp {
        true => usize::from(advertised.unwrap_or(PLAIN_UDP_PAYLOAD)),
        false => usize::from(u16::MAX),
    }
}

fn size_limit(protocol: Protocol, edns: Option<&Edns>) -> wire::Limit {
    let udp = protocol == Protocol::Udp;
    wire::Limit { size: reply_size(udp, edns.map(Edns::max_payload)), tc_when_partial: udp }
}

#[cfg(test)]
#[path = "fast_tests.rs"]
mod fast_tests;
