//! The DNS handler: one place that decides rcode, AA, TC and EDNS for every reply, whether the
//! query came over UDP (our own datagram loop, [`DnsHandler::answer_datagram`]) or over TCP
//! (hickory's server, through [`RequestHandler`]).

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncoder};
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageRequest, MessageResponse, MessageResponseBuilder, Queries};
use tracing::{debug, warn};

use super::authority::Authority;
use super::fit::{Sections, fit};

/// The largest UDP payload we send or advertise (DNS Flag Day 2020: no IP fragmentation).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// The limit for UDP clients without EDNS (RFC 1035 §4.2.1).
const PLAIN_UDP_PAYLOAD: u16 = 512;

#[derive(Clone)]
pub struct DnsHandler {
    authority: Arc<Authority>,
}

/// A response decided, trimmed to its transport's limit, not yet encoded.
struct Reply {
    metadata: Metadata,
    sections: Sections,
    edns: Option<Edns>,
}

impl Reply {
    fn message<'q, 'a>(
        &'a self,
        queries: &'q Queries,
    ) -> MessageResponse<
        'q,
        'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
        impl Iterator<Item = &'a hickory_proto::rr::Record> + Send + 'a,
    >
    where
        'a: 'q,
    {
        let s = &self.sections;
        MessageResponseBuilder::new(queries, self.edns.as_ref()).build(
            self.metadata,
            s.answers.iter(),
            s.authorities.iter(),
            std::iter::empty(),
            s.additionals.iter(),
        )
    }
}

impl DnsHandler {
    pub fn new(authority: Authority) -> DnsHandler {
        DnsHandler { authority: Arc::new(authority) }
    }

    /// Answers one UDP datagram. `None` means no reply at all: shorter than a header, a
    /// response (QR=1), or from a source that cannot be answered.
    pub fn answer_datagram(&self, packet: &[u8], src: SocketAddr) -> Option<Vec<u8>> {
        if src.port() == 0 || src.ip().is_unspecified() {
            return None;
        }
        let header = Header::read(&mut BinDecoder::new(packet)).ok()?;
        if header.metadata.message_type == MessageType::Response {
            return None;
        }
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        match Request::from_bytes(packet.to_vec(), src, Protocol::Udp) {
            Ok(request) => {
                let reply = self.reply(&request, Protocol::Udp);
                log_query(&request, &reply);
                if let Some(edns) = &reply.edns {
                    encoder.set_max_size(edns.max_payload());
                } else {
                    encoder.set_max_size(PLAIN_UDP_PAYLOAD);
                }
                reply.message(&request.queries).destructive_emit(&mut encoder).ok()?;
            }
            // A header we can read but a body we cannot: FORMERR (RFC 1035 §4.1.1).
            Err(error) => {
                debug!(%src, %error, "malformed query");
                let queries = Queries::read(&mut BinDecoder::new(&[]), 0).ok()?;
                let response =
                    MessageResponseBuilder::new(&queries, None).error_msg(&header.metadata, ResponseCode::FormErr);
                response.destructive_emit(&mut encoder).ok()?;
            }
        }
        Some(bytes)
    }

    fn reply(&self, request: &Request, protocol: Protocol) -> Reply {
        let edns = response_edns(request);
        let (mut metadata, mut sections) = self.decide(request);
        let limit = size_limit(protocol, edns.as_ref());
        metadata.truncation = fit(&metadata, request.queries.queries(), edns.as_ref(), &mut sections, limit);
        Reply { metadata, sections, edns }
    }

    /// The rcode, flags and records for a request, before any size limit.
    fn decide(&self, request: &MessageRequest) -> (Metadata, Sections) {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let no_records = || Sections { answers: Vec::new(), authorities: Vec::new(), additionals: Vec::new() };
        let mut empty = |rcode| {
            metadata.response_code = rcode;
            (metadata, no_records())
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
        let Some(answer) = self.authority.answer(query.original().name(), qtype) else {
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

fn log_query(request: &Request, reply: &Reply) {
    if let Some(q) = request.queries.queries().first() {
        debug!(qname = %q.original().name(), qtype = ?q.query_type(), src = %request.src(), protocol = %request.protocol(),
            rcode = ?reply.metadata.response_code, answers = reply.sections.answers.len(), tc = reply.metadata.truncation, "query");
    }
}

#[async_trait::async_trait]
impl RequestHandler for DnsHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let reply = self.reply(request, request.protocol());
        log_query(request, &reply);
        match response_handle.send_response(reply.message(&request.queries)).await {
            Ok(info) => info,
            Err(error) => {
                warn!(%error, src = %request.src(), "failed to send a response");
                let mut metadata = reply.metadata;
                metadata.response_code = ResponseCode::ServFail;
                Header { metadata, counts: HeaderCounts::default() }.into()
            }
        }
    }
}
