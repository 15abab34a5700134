//! The fast path: the questions most queries ask (A, AAAA and SRV in the cluster zone, PTR of
//! cluster addresses) answered straight into wire format from the snapshot, with no message
//! parsed into objects, no name allocated and no record built.
//!
//! A reply is the header, the question echoed as received (its case preserved), and records
//! whose owners are compression pointers into that question. Anything else (another type, an
//! ExternalName, an unsynced snapshot, a query with EDNS options, a reply that does not fit the
//! client's size, an answer that leaves records out) is declined and takes the general path,
//! which stays the reference: the fast path's records come from the same function
//! ([`cluster::records`]) and a test compares the two paths' replies.

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use super::cluster::{self, Node, Pick, Sink};
use super::handler::{advertised_payload, reply_size};
use super::qname::{ClusterName, ReverseName, parse_cluster_name, parse_reverse_name};
use super::zone::{self, ZoneSettings};
use crate::registry::Snapshot;

const HEADER_LEN: usize = 12;
/// Our OPT record: root owner, type 41, payload size, extended rcode, version, flags, no data.
const OPT_LEN: usize = 11;
const MAX_NAME: usize = 255;
/// Enough for every name the fast path answers (an `ip6.arpa` address has 34 labels); longer
/// names take the general path.
const MAX_LABELS: usize = 40;
/// A compression pointer to the question's name, right after the header.
const QUESTION_POINTER: [u8; 2] = [0xC0, HEADER_LEN as u8];
const MAX_POINTER: usize = 0x3FFF;
const CLASS_IN: u16 = 1;
const TYPE_OPT: u16 = 41;
const IN_ADDR_ARPA: &[u8] = b"\x07in-addr\x04arpa\x00";
const IP6_ARPA: &[u8] = b"\x03ip6\x04arpa\x00";

/// A query the fast path can take: one question whose name is uncompressed, of at most
/// [`MAX_LABELS`] labels made of letters, digits, hyphens and underscores, class IN, and at most an OPT record of EDNS
/// version 0 without options; nothing else in the message.
pub struct Query<'p> {
    packet: &'p [u8],
    /// The question's name, lower-cased, in wire format (ending with the root label).
    lower: [u8; MAX_NAME],
    name_len: usize,
    /// Where each label starts in `lower`.
    labels: [u8; MAX_LABELS],
    label_count: usize,
    pub qtype: RecordType,
    /// The end of the question section in `packet`.
    question_end: usize,
    /// The client's UDP payload size from its OPT record, if it sent one.
    pub edns: Option<u16>,
}

fn u16_at(packet: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]))
}

/// The query, if it is one the fast path takes; `None` sends it to the general path, which
/// also gives FORMERR, NOTIMP and BADVERS.
pub fn parse(packet: &[u8]) -> Option<Query<'_>> {
    let opcode = (packet.get(2)? >> 3) & 0x0F;
    if packet[2] & 0x80 != 0 || opcode != 0 {
        return None;
    }
    let counts = [u16_at(packet, 4)?, u16_at(packet, 6)?, u16_at(packet, 8)?, u16_at(packet, 10)?];
    if counts[..3] != [1, 0, 0] || counts[3] > 1 {
        return None;
    }
    let mut query = Query {
        packet,
        lower: [0; MAX_NAME],
        name_len: 0,
        labels: [0; MAX_LABELS],
        label_count: 0,
        qtype: RecordType::Unknown(0),
        question_end: 0,
        edns: None,
    };
    let mut at = HEADER_LEN;
    loop {
        let len = usize::from(*packet.get(at)?);
        if len == 0 {
            break;
        }
        // Pointers and extended label types have the top bits set: over 63.
        if len > 63 || query.label_count == MAX_LABELS || query.name_len + 1 + len >= MAX_NAME {
            return None;
        }
        let label = packet.get(at + 1..at + 1 + len)?;
        query.labels[query.label_count] = query.name_len as u8;
        query.label_count += 1;
        query.lower[query.name_len] = len as u8;
        for (to, &byte) in query.lower[query.name_len + 1..].iter_mut().zip(label) {
            *to = byte.to_ascii_lowercase();
            if !(to.is_ascii_lowercase() || to.is_ascii_digit() || *to == b'-' || *to == b'_') {
                return None;
            }
        }
        query.name_len += 1 + len;
        at += 1 + len;
    }
    query.lower[query.name_len] = 0;
    query.name_len += 1;
    query.qtype = RecordType::from(u16_at(packet, at + 1)?);
    if u16_at(packet, at + 3)? != CLASS_IN {
        return None;
    }
    at += 5;
    query.question_end = at;
    if counts[3] == 1 {
        let opt = packet.get(at..at + OPT_LEN)?;
        // Root owner, OPT, no extended rcode, version 0, no options (RFC 6891 §6.1.2).
        if opt[0] != 0 || u16_at(opt, 1)? != TYPE_OPT || opt[5] != 0 || opt[6] != 0 || u16_at(opt, 9)? != 0 {
            return None;
        }
        query.edns = Some(u16_at(opt, 3)?);
        at += OPT_LEN;
    }
    (at == packet.len()).then_some(query)
}

impl Query<'_> {
    fn name(&self) -> &[u8] {
        &self.lower[..self.name_len]
    }

    /// The labels before the suffix `zone` (lower-case wire format), or `None` when the name is
    /// not in it.
    fn labels_before<'a>(&'a self, zone: &[u8], out: &mut [&'a str; MAX_LABELS]) -> Option<usize> {
        let start = self.name_len.checked_sub(zone.len())?;
        if &self.name()[start..] != zone {
            return None;
        }
        let count = match start {
            0 => 0,
            _ => self.labels[..self.label_count].iter().position(|&l| usize::from(l) == start)?,
        };
        for (i, slot) in out.iter_mut().enumerate().take(count) {
            let at = usize::from(self.labels[i]);
            let len = usize::from(self.lower[at]);
            // Only ASCII was accepted.
            *slot = std::str::from_utf8(&self.lower[at + 1..at + 1 + len]).ok()?;
        }
        Some(count)
    }
}

/// What a fast reply said, for metrics.
pub struct Written {
    pub rcode: ResponseCode,
    pub reverse: bool,
}

/// The reply to `query` written into `out`, or `None` to take the general path (then `out`
/// holds nothing of value). A UDP reply is at most the client's size, else declined.
pub(super) fn answer(
    zone: &ZoneSettings,
    snapshot: &Snapshot,
    query: &Query<'_>,
    pick: Pick,
    udp: bool,
    out: &mut Vec<u8>,
) -> Option<Written> {
    let edns = query.edns.map(advertised_payload);
    let limit = reply_size(udp, edns);
    out.clear();
    out.extend_from_slice(&[0; HEADER_LEN]);
    out.extend_from_slice(&query.packet[HEADER_LEN..query.question_end]);
    let mut labels = [""; MAX_LABELS];
    let mut message = Message { out, answers: 0, authorities: 0, additionals: 0 };
    let (rcode, reverse) = match query.labels_before(&zone.wire, &mut labels) {
        Some(count) => (cluster_answer(zone, snapshot, query, &labels[..count], pick, &mut message)?, false),
        None => (reverse_answer(zone, snapshot, query, &mut labels, &mut message)?, true),
    };
    if let Some(size) = edns {
        message.additionals += 1;
        message.out.extend_from_slice(&[0, 0, TYPE_OPT as u8]);
        message.out.extend_from_slice(&size.to_be_bytes());
        message.out.extend_from_slice(&[0; 6]);
    }
    if message.out.len() > limit {
        return None;
    }
    let counts = [1, message.answers, message.authorities, message.additionals];
    let header = &mut message.out[..HEADER_LEN];
    header[..2].copy_from_slice(&query.packet[..2]);
    // QR and AA, with RD and CD copied from the query (RFC 1035 §4.1.1, RFC 4035 §3.1.6).
    header[2] = 0x84 | (query.packet[2] & 0x01);
    header[3] = (query.packet[3] & 0x10) | rcode.low();
    for (i, count) in counts.into_iter().enumerate() {
        header[4 + 2 * i..6 + 2 * i].copy_from_slice(&count.to_be_bytes());
    }
    Some(Written { rcode, reverse })
}

/// A reply being written, and its section counts.
struct Message<'b> {
    out: &'b mut Vec<u8>,
    answers: u16,
    authorities: u16,
    additionals: u16,
}

impl Message<'_> {
    fn u16(&mut self, value: u16) {
        self.out.extend_from_slice(&value.to_be_bytes());
    }

    /// Type, class IN, TTL and a placeholder for the data's length; returns where it goes.
    fn record_start(&mut self, rtype: RecordType, ttl: u32) -> usize {
        self.u16(u16::from(rtype));
        self.u16(CLASS_IN);
        self.out.extend_from_slice(&ttl.to_be_bytes());
        self.u16(0);
        self.out.len()
    }

    fn record_end(&mut self, data_at: usize) {
        let len = (self.out.len() - data_at) as u16;
        self.out[data_at - 2..data_at].copy_from_slice(&len.to_be_bytes());
    }

    fn pointer(&mut self, offset: usize) {
        self.u16(0xC000 | offset as u16);
    }

    fn address(&mut self, ip: IpAddr, ttl: u32) {
        let data_at = match ip {
            IpAddr::V4(v4) => {
                let data_at = self.record_start(RecordType::A, ttl);
                self.out.extend_from_slice(&v4.octets());
                data_at
            }
            IpAddr::V6(v6) => {
                let data_at = self.record_start(RecordType::AAAA, ttl);
                self.out.extend_from_slice(&v6.octets());
                data_at
            }
        };
        self.record_end(data_at);
    }

    /// The zone's SOA in the authority section (RFC 2308 §3), owned by the apex, which is the
    /// suffix of the question's name at `apex`.
    fn soa(&mut self, zone: &ZoneSettings, serial: u32, apex: usize) {
        self.pointer(apex);
        let data_at = self.record_start(RecordType::SOA, zone.ttl.min(zone::SOA_MAX_TTL));
        self.out.extend_from_slice(b"\x02ns\x03dns");
        self.pointer(apex);
        self.out.extend_from_slice(b"\x0ahostmaster");
        self.pointer(apex);
        self.out.extend_from_slice(&serial.to_be_bytes());
        for timer in [zone::SOA_REFRESH, zone::SOA_RETRY, zone::SOA_EXPIRE] {
            self.out.extend_from_slice(&timer.to_be_bytes());
        }
        self.out.extend_from_slice(&zone.ttl.to_be_bytes());
        self.record_end(data_at);
        self.authorities = 1;
    }
}

/// An answer in the cluster zone; `labels` are the name's labels before the zone.
fn cluster_answer(
    zone: &ZoneSettings,
    snapshot: &Snapshot,
    query: &Query<'_>,
    labels: &[&str],
    pick: Pick,
    message: &mut Message<'_>,
) -> Option<ResponseCode> {
    if !matches!(query.qtype, RecordType::A | RecordType::AAAA | RecordType::SRV) {
        return None;
    }
    let apex = HEADER_LEN + query.name_len - zone.wire.len();
    let name = parse_cluster_name(labels);
    let node = match cluster::resolve(zone, snapshot, &name) {
        None => {
            message.soa(zone, snapshot.serial, apex);
            return Some(ResponseCode::NXDomain);
        }
        Some(Node::Apex | Node::DnsVersion | Node::Alias(_)) => return None,
        Some(node) => node,
    };
    // SRV targets are `[<host>.]` and the question's name from the Service's label on.
    let service_label = match name {
        ClusterName::Service { .. } => 0,
        ClusterName::Srv { .. } => 2,
        ClusterName::Zonal { .. } => 3,
        _ => query.label_count,
    };
    let service_at = query.labels.get(service_label).map_or(query.name_len - 1, |&at| usize::from(at));
    let question_end = message.out.len();
    let mut sink = WireSink { message, query, service_at, targets: Vec::new(), declined: false };
    sink.targets = TARGET_OFFSETS.take();
    sink.targets.clear();
    let unbuilt = cluster::records(zone, snapshot, &name, &node, pick, query.qtype, &mut sink);
    let declined = sink.declined;
    TARGET_OFFSETS.set(std::mem::take(&mut sink.targets));
    if unbuilt > 0 || declined {
        return None;
    }
    if message.answers == 0 {
        message.out.truncate(question_end);
        message.additionals = 0;
        message.soa(zone, snapshot.serial, apex);
    }
    Some(ResponseCode::NoError)
}

thread_local! {
    /// Where each SRV target of an answer was written, reused from query to query.
    static TARGET_OFFSETS: std::cell::Cell<Vec<u16>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Records written as wire format, owned by the question's name (a pointer to it).
struct WireSink<'m, 'b, 'q> {
    message: &'m mut Message<'b>,
    query: &'m Query<'q>,
    /// Where the Service's label starts in the lower-cased name.
    service_at: usize,
    /// Where each SRV record's target was written (0: not written, too long to be a name).
    targets: Vec<u16>,
    /// Something the fast path does not write: the general path answers.
    declined: bool,
}

impl WireSink<'_, '_, '_> {
    fn suffix(&self) -> &[u8] {
        &self.query.name()[self.service_at..]
    }

    /// Writes `[<host>.]<service suffix>` in full; `None` when that is longer than a name.
    fn target(&mut self, host: Option<&str>) -> Option<usize> {
        let host = host.unwrap_or("").as_bytes();
        let len = if host.is_empty() { 0 } else { host.len() + 1 } + self.suffix().len();
        if len > MAX_NAME || host.len() > 63 || host.contains(&b'.') {
            return None;
        }
        let at = self.message.out.len();
        if !host.is_empty() {
            self.message.out.push(host.len() as u8);
            self.message.out.extend_from_slice(host);
        }
        let query = self.query;
        self.message.out.extend_from_slice(&query.name()[self.service_at..]);
        Some(at)
    }
}

impl Sink for WireSink<'_, '_, '_> {
    fn address(&mut self, ip: IpAddr, ttl: u32) {
        self.message.out.extend_from_slice(&QUESTION_POINTER);
        self.message.address(ip, ttl);
        self.message.answers += 1;
    }

    fn srv(&mut self, host: Option<&str>, weight: u16, port: u16, ttl: u32) {
        let mark = self.message.out.len();
        self.message.out.extend_from_slice(&QUESTION_POINTER);
        let data_at = self.message.record_start(RecordType::SRV, ttl);
        self.message.u16(0);
        self.message.u16(weight);
        self.message.u16(port);
        // RFC 2782: the target is not compressed.
        match self.target(host) {
            Some(at) if at <= MAX_POINTER => {
                self.message.record_end(data_at);
                self.message.answers += 1;
                self.targets.push(at as u16);
            }
            // A name the general path would not build either, or one beyond pointer reach.
            _ => {
                self.message.out.truncate(mark);
                self.declined = true;
            }
        }
    }

    /// The Service's own name is in the question (its case kept); an endpoint's was first
    /// written as the target of SRV record `first`.
    fn target_address(&mut self, host: Option<&str>, first: usize, ip: IpAddr, ttl: u32) {
        let owner = match host {
            None => Some(HEADER_LEN + self.service_at),
            Some(_) => self.targets.get(first).map(|&at| usize::from(at)),
        };
        match owner {
            Some(at) => {
                self.message.pointer(at);
                self.message.address(ip, ttl);
                self.message.additionals += 1;
            }
            None => self.declined = true,
        }
    }
}

/// PTR records of an address in `in-addr.arpa` or `ip6.arpa` that the cluster names; everything
/// else there (NXDOMAIN that may fall through, empty non-terminals, other types) declines.
fn reverse_answer<'q>(
    zone: &ZoneSettings,
    snapshot: &Snapshot,
    query: &'q Query<'_>,
    labels: &mut [&'q str; MAX_LABELS],
    message: &mut Message<'_>,
) -> Option<ResponseCode> {
    if query.qtype != RecordType::PTR {
        return None;
    }
    let (count, v4) = match query.labels_before(IN_ADDR_ARPA, labels) {
        Some(count) => (count, true),
        None => (query.labels_before(IP6_ARPA, labels)?, false),
    };
    let ReverseName::Address(ip) = parse_reverse_name(&labels[..count], v4) else { return None };
    let targets = snapshot.reverse(ip);
    if targets.is_empty() || zone.clusterset().is_some() {
        return None;
    }
    let mut zone_at = None;
    for target in targets {
        let host = target.host(ip);
        let host = host.as_deref();
        let service = &target.service;
        let names = host.into_iter().chain([service.name.as_str(), service.namespace.as_str(), "svc"]);
        let len: usize = names.clone().map(|l| l.len() + 1).sum::<usize>() + zone.wire.len();
        if len > MAX_NAME || host.is_some_and(|h| h.contains('.')) {
            return None;
        }
        message.out.extend_from_slice(&QUESTION_POINTER);
        let data_at = message.record_start(RecordType::PTR, zone.ttl);
        for label in names {
            message.out.push(label.len() as u8);
            message.out.extend_from_slice(label.as_bytes());
        }
        match zone_at {
            Some(at) => message.pointer(at),
            None => {
                zone_at = Some(message.out.len()).filter(|&at| at <= MAX_POINTER);
                message.out.extend_from_slice(&zone.wire);
            }
        }
        message.record_end(data_at);
        message.answers += 1;
    }
    Some(ResponseCode::NoError)
}
