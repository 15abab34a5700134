//! Making a response fit the client's limit (RFC 1035 §4.2.1, RFC 6891 §6.2.5, RFC 2181 §9).
//!
//! Only whole RRsets go out: a client that takes a partial headless answer would treat the
//! missing addresses as gone. Additional records are dropped first, without TC; then answer
//! RRsets from the end, with TC, so the client retries over TCP and gets everything.

use hickory_proto::op::{Edns, LowerQuery, Message, Metadata};
use hickory_proto::rr::{RData, Record};
use hickory_proto::serialize::binary::BinEncodable;

/// The sections of a response, before encoding.
#[derive(Debug, Clone)]
pub struct Sections {
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

/// Trims `sections` to fit `limit` bytes; returns whether TC must be set.
pub fn fit(
    metadata: &Metadata,
    queries: &[LowerQuery],
    edns: Option<&Edns>,
    sections: &mut Sections,
    limit: usize,
) -> bool {
    if upper_bound(queries, edns, sections) <= limit {
        return false;
    }
    let size = |s: &Sections| encoded_len(metadata, queries, edns, s);
    if size(sections) <= limit {
        return false;
    }
    sections.additionals.clear();
    if size(sections) <= limit {
        return false;
    }
    while size(sections) > limit {
        if sections.answers.is_empty() {
            sections.authorities.clear();
            break;
        }
        drop_last_rrset(&mut sections.answers);
    }
    true
}

fn drop_last_rrset(records: &mut Vec<Record>) {
    let Some(last) = records.last() else { return };
    let (name, rtype) = (last.name.clone(), last.record_type());
    while records.last().is_some_and(|r| r.record_type() == rtype && r.name == name) {
        records.pop();
    }
}

/// A cheap bound on the encoded size: every name written in full, no compression.
fn upper_bound(queries: &[LowerQuery], edns: Option<&Edns>, s: &Sections) -> usize {
    const HEADER: usize = 12;
    const OPT: usize = 11;
    let questions: usize = queries.iter().map(|q| q.original().name().len() + 1 + 4).sum();
    let records = s.answers.iter().chain(&s.authorities).chain(&s.additionals).map(record_bound).sum::<usize>();
    HEADER + questions + records + edns.map_or(0, |_| OPT)
}

fn record_bound(r: &Record) -> usize {
    const FIXED: usize = 10; // type, class, TTL, RDLENGTH
    let name = |n: &hickory_proto::rr::Name| n.len() + 1;
    let rdata = match &r.data {
        RData::A(_) => 4,
        RData::AAAA(_) => 16,
        RData::CNAME(n) => name(&n.0),
        RData::PTR(n) => name(&n.0),
        RData::NS(n) => name(&n.0),
        RData::SRV(srv) => 6 + name(&srv.target),
        RData::SOA(soa) => 20 + name(&soa.mname) + name(&soa.rname),
        RData::TXT(txt) => txt.txt_data.iter().map(|d| d.len() + 1).sum(),
        // Anything else: measure it.
        other => other.to_bytes().map_or(usize::from(u16::MAX), |b| b.len()),
    };
    name(&r.name) + FIXED + rdata
}

fn encoded_len(metadata: &Metadata, queries: &[LowerQuery], edns: Option<&Edns>, s: &Sections) -> usize {
    let mut message = Message::new(metadata.id, metadata.message_type, metadata.op_code);
    message.queries = queries.iter().map(|q| q.original().clone()).collect();
    message.answers = s.answers.clone();
    message.authorities = s.authorities.clone();
    message.additionals = s.additionals.clone();
    message.edns = edns.cloned();
    message.to_vec().map_or(usize::MAX, |b| b.len())
}
