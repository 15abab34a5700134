//! Answers for names in the cluster zone, computed from the current snapshot on every query.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::answer::Answer;
use super::qname::{ClusterName, parse_cluster_name};
use super::zone::{ZoneKind, ZoneSettings};
use crate::config::PodMode;
use crate::registry::Snapshot;
use crate::registry::object::ServiceKind;
use crate::registry::snapshot::ServiceEntry;

/// Schema version of the Kubernetes DNS specification we implement (spec §2.2).
const SPEC_VERSION: &str = "1.1.0";
const SPEC_VERSION_TTL: u32 = 28800;
/// The Service whose cluster IPs answer for `ns.dns.<zone>`, as kube-dns and CoreDNS name it.
const DNS_SERVICE: (&str, &str) = ("kube-system", "kube-dns");

/// The types an `ANY` query is answered with, first non-empty wins (RFC 8482 §4.1).
const ANY_ORDER: [RecordType; 7] = [
    RecordType::CNAME,
    RecordType::A,
    RecordType::AAAA,
    RecordType::SRV,
    RecordType::TXT,
    RecordType::SOA,
    RecordType::NS,
];

/// One SRV record before it is built: the port and the target's labels below the zone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SrvTarget {
    host: Option<String>,
    port: u16,
}

/// What exists at a name, borrowed from the snapshot.
enum Node<'s> {
    Apex,
    DnsVersion,
    /// An empty non-terminal, or a name with records of no type we hold.
    Empty,
    /// A/AAAA records; `rotate` spreads clients that take the first address.
    Addresses {
        ips: Vec<IpAddr>,
        rotate: bool,
    },
    Srv {
        entry: &'s ServiceEntry,
        targets: Vec<SrvTarget>,
    },
    Alias(&'s Name),
}

/// A question in the cluster zone: the name as sent (for owner names) and its lower-case labels.
pub struct Question<'q> {
    pub name: &'q Name,
    pub labels: &'q [&'q str],
    pub qtype: RecordType,
    /// Advances per query; picks where a rotated address list starts.
    pub rotation: usize,
}

pub fn answer(zone: &ZoneSettings, snapshot: &Snapshot, q: &Question<'_>) -> Answer {
    let soa = || zone.soa(ZoneKind::Cluster, snapshot.serial);
    let parsed = parse_cluster_name(q.labels);
    let Some(node) = resolve(zone, snapshot, &parsed) else {
        return Answer::nx_domain(soa());
    };
    if let Node::Alias(target) = node {
        let cname = Record::from_rdata(q.name.clone(), zone.ttl, RData::CNAME(CNAME(target.clone())));
        return match q.qtype {
            RecordType::CNAME => Answer::records(vec![cname], Vec::new()),
            _ => Answer::alias(cname, target.clone()),
        };
    }
    let types: &[RecordType] = if q.qtype == RecordType::ANY { &ANY_ORDER } else { &[q.qtype] };
    for &qtype in types {
        let (answers, additionals) = rrset(zone, snapshot, &parsed, &node, q, qtype);
        if !answers.is_empty() {
            return Answer::records(answers, additionals);
        }
    }
    Answer::no_data(soa())
}

/// The node a name refers to, or `None` when the name does not exist (RFC 8020: nothing below
/// a missing name exists either).
fn resolve<'s>(zone: &ZoneSettings, snapshot: &'s Snapshot, name: &ClusterName<'_>) -> Option<Node<'s>> {
    use ClusterName as N;
    let exists = |yes: bool| yes.then_some(Node::Empty);
    match *name {
        N::Apex => Some(Node::Apex),
        N::DnsVersion => Some(Node::DnsVersion),
        N::DnsParent | N::ServiceRoot => Some(Node::Empty),
        N::NameServer => {
            let (ns, svc) = DNS_SERVICE;
            let ips = match snapshot.service(ns, svc).map(|e| &e.service.kind) {
                Some(ServiceKind::ClusterIp(ips)) => ips.clone(),
                _ => Vec::new(),
            };
            Some(Node::Addresses { ips, rotate: false })
        }
        N::Namespace { namespace } => exists(snapshot.namespace(namespace).is_some()),
        N::Service { namespace, service } => service_node(snapshot.service(namespace, service)?),
        N::Endpoint { namespace, service, host } => {
            let entry = snapshot.service(namespace, service)?;
            let ips: Vec<IpAddr> = entry.endpoints.iter().filter(|e| &*e.host == host).map(|e| e.ip).collect();
            (!ips.is_empty()).then_some(Node::Addresses { ips, rotate: true })
        }
        N::SrvProtocol { namespace, service, protocol } => {
            exists(!srv_targets(snapshot.service(namespace, service)?, None, protocol).is_empty())
        }
        N::Srv { namespace, service, port, protocol } => {
            let entry = snapshot.service(namespace, service)?;
            let targets = srv_targets(entry, Some(port), protocol);
            (!targets.is_empty()).then_some(Node::Srv { entry, targets })
        }
        N::PodRoot => exists(zone.pods != PodMode::Disabled),
        N::PodNamespace { namespace } => {
            exists(zone.pods != PodMode::Disabled && snapshot.namespace(namespace).is_some())
        }
        N::Pod { namespace, ip } => {
            let ns = snapshot.namespace(namespace)?;
            let known = match zone.pods {
                PodMode::Disabled => false,
                PodMode::Insecure => true,
                PodMode::Verified => ns.pod_ips.contains(&ip),
            };
            known.then(|| Node::Addresses { ips: vec![ip], rotate: false })
        }
        N::Nonexistent => None,
    }
}

fn service_node(entry: &ServiceEntry) -> Option<Node<'_>> {
    match &entry.service.kind {
        ServiceKind::ClusterIp(ips) => Some(Node::Addresses { ips: ips.clone(), rotate: false }),
        ServiceKind::ExternalName(target) => Some(Node::Alias(target)),
        // DNS spec §2.4.1: a headless Service without ready endpoints has no name at all.
        ServiceKind::Headless if entry.endpoints.is_empty() => None,
        ServiceKind::Headless => {
            Some(Node::Addresses { ips: entry.endpoints.iter().map(|e| e.ip).collect(), rotate: true })
        }
    }
}

/// SRV records of a Service for one named port (`None`: any port) and protocol, deduplicated.
/// ClusterIP: one record targeting the Service. Headless: one per published endpoint that
/// has the port, targeting the endpoint's own name, with the endpoint's (target) port.
fn srv_targets(entry: &ServiceEntry, port: Option<&str>, protocol: &str) -> Vec<SrvTarget> {
    let matches =
        |p: &crate::registry::object::NamedPort| p.protocol == protocol && port.is_none_or(|name| p.name == name);
    let mut targets: Vec<SrvTarget> = match &entry.service.kind {
        ServiceKind::ClusterIp(ips) if !ips.is_empty() => {
            entry.service.ports.iter().filter(|p| matches(p)).map(|p| SrvTarget { host: None, port: p.port }).collect()
        }
        ServiceKind::Headless => entry
            .endpoints
            .iter()
            .flat_map(|e| {
                e.ports
                    .iter()
                    .filter(|p| matches(p))
                    .map(|p| SrvTarget { host: Some(e.host.to_string()), port: p.port })
            })
            .collect(),
        _ => Vec::new(),
    };
    targets.sort();
    targets.dedup();
    targets
}

fn rrset(
    zone: &ZoneSettings,
    snapshot: &Snapshot,
    name: &ClusterName<'_>,
    node: &Node<'_>,
    q: &Question<'_>,
    qtype: RecordType,
) -> (Vec<Record>, Vec<Record>) {
    let owner = || q.name.clone();
    let none = (Vec::new(), Vec::new());
    match (node, qtype) {
        (Node::Apex, RecordType::SOA) => (vec![zone.soa(ZoneKind::Cluster, snapshot.serial)], Vec::new()),
        (Node::Apex, RecordType::NS) => (vec![zone.ns(owner())], Vec::new()),
        (Node::DnsVersion, RecordType::TXT) => {
            let txt = RData::TXT(TXT::new(vec![SPEC_VERSION.to_string()]));
            (vec![Record::from_rdata(owner(), SPEC_VERSION_TTL, txt)], Vec::new())
        }
        (Node::Addresses { ips, rotate }, RecordType::A | RecordType::AAAA) => {
            let mut records = address_records(&owner(), ips, qtype, zone.ttl);
            if *rotate {
                rotate_by(&mut records, q.rotation);
            }
            (records, Vec::new())
        }
        (Node::Srv { entry, targets }, RecordType::SRV) => {
            let mut answers = srv_records(zone, name, &owner(), targets);
            rotate_by(&mut answers, q.rotation);
            (answers, srv_additionals(zone, name, entry, targets))
        }
        _ => none,
    }
}

fn address_records(owner: &Name, ips: &[IpAddr], qtype: RecordType, ttl: u32) -> Vec<Record> {
    ips.iter()
        .filter_map(|ip| match (ip, qtype) {
            (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(*v4))),
            (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(*v6))),
            _ => None,
        })
        .map(|rdata| Record::from_rdata(owner.clone(), ttl, rdata))
        .collect()
}

fn rotate_by<T>(items: &mut [T], rotation: usize) {
    if !items.is_empty() {
        items.rotate_left(rotation % items.len());
    }
}

/// The Service's and namespace's labels of an SRV name.
fn service_labels<'a>(name: &ClusterName<'a>) -> (&'a str, &'a str) {
    match *name {
        ClusterName::Srv { namespace, service, .. } => (service, namespace),
        _ => ("", ""),
    }
}

fn target_name(zone: &ZoneSettings, name: &ClusterName<'_>, host: Option<&str>) -> Option<Name> {
    let (service, namespace) = service_labels(name);
    match host {
        Some(host) => zone.cluster_name(&[host, service, namespace, "svc"]),
        None => zone.cluster_name(&[service, namespace, "svc"]),
    }
}

/// CoreDNS's weight rule: the targets of one name share 100 between them, at least 1 each.
fn srv_records(zone: &ZoneSettings, name: &ClusterName<'_>, owner: &Name, targets: &[SrvTarget]) -> Vec<Record> {
    let weight = (100 / targets.len()).max(1) as u16;
    targets
        .iter()
        .filter_map(|t| {
            let target = target_name(zone, name, t.host.as_deref())?;
            Some(Record::from_rdata(owner.clone(), zone.ttl, RData::SRV(SRV::new(0, weight, t.port, target))))
        })
        .collect()
}

/// The A/AAAA records of every SRV target, complete RRsets (RFC 2782: "the additional data
/// section ... may contain the A records for the targets").
fn srv_additionals(
    zone: &ZoneSettings,
    name: &ClusterName<'_>,
    entry: &ServiceEntry,
    targets: &[SrvTarget],
) -> Vec<Record> {
    let mut by_target: BTreeMap<Option<&str>, Vec<IpAddr>> = BTreeMap::new();
    for t in targets {
        by_target.entry(t.host.as_deref()).or_default();
    }
    for (host, ips) in &mut by_target {
        *ips = match (&entry.service.kind, host) {
            (ServiceKind::ClusterIp(cluster_ips), None) => cluster_ips.clone(),
            (_, Some(host)) => entry.endpoints.iter().filter(|e| &*e.host == *host).map(|e| e.ip).collect(),
            _ => Vec::new(),
        };
    }
    let mut records = Vec::new();
    for (host, ips) in by_target {
        let Some(owner) = target_name(zone, name, host) else {
            continue;
        };
        for qtype in [RecordType::A, RecordType::AAAA] {
            records.extend(address_records(&owner, &ips, qtype, zone.ttl));
        }
    }
    records
}
