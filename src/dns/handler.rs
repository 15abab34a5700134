//! The hickory `RequestHandler`: one place that decides rcode, AA, TC and EDNS for every reply.

use std::sync::Arc;

use hickory_proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
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

/// A response decided but not yet encoded.
struct Reply {
    metadata: Metadata,
    sections: Sections,
}

impl DnsHandler {
    pub fn new(authority: Authority) -> DnsHandler {
        DnsHandler {
            authority: Arc::new(authority),
        }
    }

    fn reply(&self, request: &Request) -> Reply {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let empty = |metadata: Metadata, rcode| {
            let mut metadata = metadata;
            metadata.response_code = rcode;
            Reply {
                metadata,
                sections: Sections {
                    answers: Vec::new(),
                    authorities: Vec::new(),
                    additionals: Vec::new(),
                },
            }
        };
        if request.metadata.op_code != OpCode::Query {
            return empty(metadata, ResponseCode::NotImp);
        }
        let [query] = request.queries.queries() else {
            return empty(metadata, ResponseCode::FormErr);
        };
        // RFC 6891 §6.1.3: we speak EDNS version 0 only.
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            return empty(metadata, ResponseCode::BADVERS);
        }
        let qtype = query.query_type();
        if query.query_class() != DNSClass::IN
            || matches!(qtype, RecordType::AXFR | RecordType::IXFR)
        {
            return empty(metadata, ResponseCode::Refused);
        }
        let Some(answer) = self.authority.answer(query.original().name(), qtype) else {
            return empty(metadata, ResponseCode::Refused);
        };
        metadata.authoritative = answer.rcode != ResponseCode::ServFail;
        metadata.response_code = answer.rcode;
        Reply {
            metadata,
            sections: Sections {
                answers: answer.answers,
                authorities: answer.soa.into_iter().collect(),
                additionals: answer.additionals,
            },
        }
    }
}

/// The EDNS of our reply: present only when the query had one (RFC 6891 §7).
fn response_edns(request: &Request) -> Option<Edns> {
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

#[async_trait::async_trait]
impl RequestHandler for DnsHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let edns = response_edns(request);
        let mut reply = self.reply(request);
        let queries: Vec<Query> = request
            .queries
            .queries()
            .iter()
            .map(|q| q.original().clone())
            .collect();
        let limit = size_limit(request.protocol(), edns.as_ref());
        reply.metadata.truncation = fit(
            &reply.metadata,
            &queries,
            edns.as_ref(),
            &mut reply.sections,
            limit,
        );
        if let Some(q) = queries.first() {
            debug!(qname = %q.name(), qtype = ?q.query_type(), src = %request.src(), rcode = ?reply.metadata.response_code,
                answers = reply.sections.answers.len(), tc = reply.metadata.truncation, "query");
        }
        let builder = MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let s = &reply.sections;
        let response = builder.build(
            reply.metadata,
            s.answers.iter(),
            s.authorities.iter(),
            std::iter::empty(),
            s.additionals.iter(),
        );
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(error) => {
                warn!(%error, src = %request.src(), "failed to send a response");
                let mut metadata = reply.metadata;
                metadata.response_code = ResponseCode::ServFail;
                Header {
                    metadata,
                    counts: HeaderCounts::default(),
                }
                .into()
            }
        }
    }
}
