//! PTR answers in `in-addr.arpa` and `ip6.arpa` for cluster IPs and published endpoints, and
//! for the clusterset IPs and imported endpoints of Multi-Cluster Services when no Service of
//! this cluster has the address (an address has PTRs from one place; multicluster spec §2.3.3).

use hickory_proto::rr::rdata::PTR;
use hickory_proto::rr::{RData, Record, RecordType};

use super::answer::Answer;
use super::cluster::Question;
use super::qname::{ReverseName, parse_reverse_name};
use super::zone::{ZoneKind, ZoneSettings};
use crate::registry::Snapshot;

pub fn answer(zone: &ZoneSettings, snapshot: &Snapshot, kind: ZoneKind, q: &Question<'_>) -> Answer {
    let soa = || zone.soa(kind, snapshot.serial);
    let any = q.qtype == RecordType::ANY;
    match parse_reverse_name(q.labels, kind == ZoneKind::ReverseV4) {
        ReverseName::Apex => match q.qtype {
            RecordType::SOA | RecordType::ANY => Answer::records(vec![soa()], Vec::new()),
            RecordType::NS => Answer::records(vec![zone.ns(q.name.clone())], Vec::new()),
            _ => Answer::no_data(soa()),
        },
        ReverseName::Address(ip) => {
            let (targets, named_in) = match (snapshot.reverse(ip), zone.clusterset()) {
                ([], Some(clusterset)) => (snapshot.clusterset().reverse(ip), clusterset),
                (targets, _) => (targets, zone),
            };
            if targets.is_empty() {
                return Answer { fallthrough: true, ..Answer::nx_domain(soa()) };
            }
            if q.qtype != RecordType::PTR && !any {
                return Answer::no_data(soa());
            }
            let records: Vec<Record> = targets
                .iter()
                .filter_map(|t| {
                    let mut labels = Vec::with_capacity(5);
                    let host = t.host(ip);
                    labels.extend(host.as_deref().into_iter().flat_map(|host| host.split('.')));
                    labels.extend([t.service.name.as_str(), t.service.namespace.as_str(), "svc"]);
                    named_in.cluster_name(&labels)
                })
                .map(|target| Record::from_rdata(q.name.clone(), zone.ttl, RData::PTR(PTR(target))))
                .collect();
            // A target too long to be a name (a long zone) leaves nothing: NODATA, with its SOA.
            if records.is_empty() { Answer::no_data(soa()) } else { Answer::records(records, Vec::new()) }
        }
        ReverseName::Prefix(range)
            if snapshot.has_reverse_in(range.clone()) || snapshot.clusterset().has_reverse_in(range.clone()) =>
        {
            Answer::no_data(soa())
        }
        ReverseName::Prefix(_) | ReverseName::Nonexistent => Answer { fallthrough: true, ..Answer::nx_domain(soa()) },
    }
}
