//! What one zone says about one question, before it becomes a DNS message.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record};

use crate::metrics::ZoneKind;

/// NXDOMAIN and NODATA are answers, not errors: the handler turns every `Answer` into a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    /// The zone's SOA, for negative answers (RFC 2308 §3).
    pub soa: Option<Record>,
    pub additionals: Vec<Record>,
    /// Answer records left unbuilt because no message could hold them (see the cap in
    /// `cluster.rs`): reported with the records a reply leaves out.
    pub unbuilt: usize,
    /// A CNAME target still to follow (it is the last record in `answers`).
    pub chase: Option<Name>,
    /// A CNAME target outside our zones, left for the forwarder.
    pub external: Option<Name>,
    /// NXDOMAIN for an address we do not know: the forwarder may know it (reverse fallthrough).
    pub fallthrough: bool,
    /// Which kind of zone answered (for metrics).
    pub zone: ZoneKind,
}

impl Answer {
    pub fn records(answers: Vec<Record>, additionals: Vec<Record>) -> Answer {
        Answer {
            rcode: ResponseCode::NoError,
            answers,
            soa: None,
            additionals,
            unbuilt: 0,
            chase: None,
            external: None,
            fallthrough: false,
            zone: ZoneKind::Cluster,
        }
    }

    /// The name exists but has no records of the asked type.
    pub fn no_data(soa: Record) -> Answer {
        Answer { soa: Some(soa), ..Answer::records(Vec::new(), Vec::new()) }
    }

    /// The name does not exist, whatever the type.
    pub fn nx_domain(soa: Record) -> Answer {
        Answer { rcode: ResponseCode::NXDomain, ..Answer::no_data(soa) }
    }

    pub fn alias(cname: Record, target: Name) -> Answer {
        Answer { chase: Some(target), ..Answer::records(vec![cname], Vec::new()) }
    }
}
