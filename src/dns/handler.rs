//! The DNS handler: one place that decides rcode, AA, TC and EDNS for every reply, for UDP
//! and TCP alike. It takes a query's bytes and returns the reply's bytes.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Edns, Header, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;
use hickory_server::zone_handler::MessageRequest;
use tracing::debug;

use super::authority::Authority;
use super::wire::{self, Response};

/// The largest UDP payload we send or advertise (DNS Flag Day 2020: no IP fragmentation).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// The limit for UDP clients without EDNS (RFC 1035 §4.2.1).
const PLAIN_UDP_PAYLOAD: u16 = 512;

#[derive(Clone)]
pub struct DnsHandler {
    authority: Arc<Authority>,
}

/// The records of a reply, section by section.
#[derive(Default)]
struct Sections {
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
}

impl DnsHandler {
    pub fn new(authority: Authority) -> DnsHandler {
        DnsHandler { authority: Arc::new(authority) }
    }

    /// Answers one query. `None` means no reply at all: shorter than a header, a response
    /// (QR=1, never answered so we cannot be used for reflection), or a UDP source that cannot
    /// be answered (port 0, unspecified address).
    pub fn answer(&self, packet: &[u8], src: SocketAddr, protocol: Protocol) -> Option<Vec<u8>> {
        if protocol == Protocol::Udp && (src.port() == 0 || src.ip().is_unspecified()) {
            return None;
        }
        let header = Header::read(&mut BinDecoder::new(packet)).ok()?;
        if header.metadata.message_type == MessageType::Response {
            return None;
        }
        let request = match Request::from_bytes(packet.to_vec(), src, protocol) {
            Ok(request) => request,
            // A header we can read but a body we cannot: FORMERR (RFC 1035 §4.1.1).
            Err(error) => {
                debug!(%src, %error, "malformed query");
                let mut metadata = Metadata::response_from_request(&header.metadata);
                metadata.response_code = ResponseCode::FormErr;
                return Some(encode(metadata, &[], 0, &Sections::default(), None, protocol).0);
            }
        };
        let (metadata, sections) = self.decide(&request);
        let edns = response_edns(&request);
        let queries = &request.queries;
        let question_count = queries.len() as u16;
        let (bytes, truncated) =
            encode(metadata, queries.as_bytes(), question_count, &sections, edns.as_ref(), protocol);
        if let Some(q) = queries.queries().first() {
            debug!(qname = %q.original().name(), qtype = ?q.query_type(), %src, %protocol,
                rcode = ?metadata.response_code, answers = sections.answers.len(), tc = truncated, "query");
        }
        Some(bytes)
    }

    /// The rcode, flags and records for a request, before any size limit.
    fn decide(&self, request: &MessageRequest) -> (Metadata, Sections) {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let mut empty = |rcode| {
            metadata.response_code = rcode;
            (metadata, Sections::default())
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
        let Some(answer) = self.authority.answer(query.original().name(), query.name(), qtype) else {
            return empty(ResponseCode::Refused);
        };
        metadata.authoritative = answer.rcode != ResponseCode::ServFail;
        metadata.response_code = answer.rcode;
        let sections = Sections {
            answers: answer.answers,
            authorities: answer.soa.into_iter().collect(),
            additionals: answer.additionals,
        };
        (metadata, sections)
    }
}

fn encode(
    metadata: Metadata,
    question: &[u8],
    question_count: u16,
    sections: &Sections,
    edns: Option<&Edns>,
    protocol: Protocol,
) -> (Vec<u8>, bool) {
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
        edns.set_max_payload(req.max_payload().clamp(PLAIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD));
        edns.set_version(0);
        edns
    })
}

fn size_limit(protocol: Protocol, edns: Option<&Edns>) -> usize {
    match protocol {
        Protocol::Udp => usize::from(edns.map_or(PLAIN_UDP_PAYLOAD, Edns::max_payload)),
        _ => usize::from(u16::MAX),
    }
}
