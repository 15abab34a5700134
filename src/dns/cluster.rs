//! Answers for names in the cluster zone, computed from the current snapshot on every query.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::answer::Answer;
use super::qname::{ClusterName, parse_cluster_name};
use super::zone::{ZoneKind, ZoneSettings};
use crate::config::PodMode;
use crate::registry::Snapshot;
use crate::registry::object::ServiceKind;
use crate::registry::snapshot::{ServedEndpoint, ServiceEntry, SrvTarget};

/// Schema version of the Kubernetes DNS specification we implement (spec §2.2).
const SPEC_VERSION: &str = "1.1.0";
/// Schema version of the multicluster DNS specification we implement in clusterset zones.
const MULTICLUSTER_SPEC_VERSION: &str = "1.0.0";
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

/// The most records one section can carry: none is smaller than 16 bytes (a compressed owner
/// and an A record) and no message is larger than 65,535. Building more would be work that no
/// reply can hold, so a Service of any size costs at most this many records per query.
const MAX_SECTION_RECORDS: usize = 65_535 / 16;

/// The SRV targets of one name.
enum SrvTargets<'s> {
    /// A Service with a cluster IP: the ports, each targeting the Service's own name.
    Service(Vec<u16>),
    /// A headless Service: its endpoints' names and ports, ordered and without duplicates.
    Endpoints(Cow<'s, [SrvTarget]>),
}

impl SrvTargets<'_> {
    fn len(&self) -> usize {
        match self {
            SrvTargets::Service(ports) => ports.len(),
            SrvTargets::Endpoints(targets) => targets.len(),
        }
    }
}

/// What exists at a name, borrowed from the snapshot.
enum Node<'s> {
    Apex,
    DnsVersion,
    /// An empty non-terminal, or a name with records of no type we hold.
    Empty,
    /// A/AAAA records; `rotate` spreads clients that take the first address.
    Addresses {
        ips: Cow<'s, [IpAddr]>,
        rotate: bool,
    },
    /// A headless Service's name: its published addresses, rotated.
    Headless(&'s ServiceEntry),
    /// A topology-pinned name of a headless Service: its endpoints in the zone numbered `zone`
    /// ([`ServiceEntry::zone_number`]), or all of them (`None`: `prefer` and none in the zone).
    Zonal {
        entry: &'s ServiceEntry,
        zone: Option<u16>,
    },
    Srv {
        entry: &'s ServiceEntry,
        targets: SrvTargets<'s>,
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
    /// The TTL of headless answers in this response (see [`ZoneSettings::headless_ttl`]).
    pub headless_ttl: u32,
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
        let (answers, additionals, unbuilt) = rrset(zone, snapshot, &parsed, &node, q, qtype);
        if !answers.is_empty() {
            return Answer { unbuilt, ..Answer::records(answers, additionals) };
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
            let ips: &[IpAddr] = match snapshot.service(ns, svc).map(|e| &e.service.kind) {
                Some(ServiceKind::ClusterIp(ips)) => ips,
                _ => &[],
            };
            Some(Node::Addresses { ips: Cow::Borrowed(ips), rotate: false })
        }
        N::Namespace { namespace } => exists(snapshot.namespace(namespace).is_some()),
        N::Service { namespace, service } => service_node(exposed(zone, snapshot.service(namespace, service)?)?),
        // In a clusterset zone, `<clusterid>.<svc>` only holds the endpoint names of that
        // cluster: no records of its own (multicluster spec §2.3.4, §2.4.4).
        N::Endpoint { namespace, service, host: cluster } if zone.multicluster => {
            let entry = exposed(zone, snapshot.service(namespace, service)?)?;
            exists(entry.endpoints.iter().any(|e| e.host.rsplit_once('.').is_some_and(|(_, c)| c == cluster)))
        }
        N::Endpoint { namespace, service, host } => endpoint_node(zone, snapshot, namespace, service, host),
        N::ClusterEndpoint { namespace, service, host, cluster } if zone.multicluster => {
            endpoint_node(zone, snapshot, namespace, service, &format!("{host}.{cluster}"))
        }
        N::ClusterEndpoint { .. } => None,
        // `_tcp.<svc>` exists when a named `_<port>._tcp` name does below it.
        N::SrvProtocol { namespace, service, protocol } => {
            exists(has_named_port(snapshot.service(namespace, service)?, protocol))
        }
        N::Srv { namespace, service, port, protocol } => {
            let entry = exposed(zone, snapshot.service(namespace, service)?)?;
            let targets = srv_targets(entry, port, protocol);
            (targets.len() > 0).then_some(Node::Srv { entry, targets })
        }
        // Pods and topology-pinned names are the cluster's own, not the clusterset's.
        N::ZonalParent { .. } | N::Zonal { .. } | N::PodRoot | N::PodNamespace { .. } | N::Pod { .. }
            if zone.multicluster =>
        {
            None
        }
        N::ZonalParent { namespace, service } => zonal(zone, snapshot, namespace, service).map(|_| Node::Empty),
        // `pin` to a zone without endpoints is an empty name (NODATA, the same on every
        // replica whether the zone was drained or never existed); `prefer` widens to all.
        N::Zonal { namespace, service, zone: topology, prefer } => {
            let entry = zonal(zone, snapshot, namespace, service)?;
            match (entry.zone_number(topology), prefer) {
                (None, false) => Some(Node::Empty),
                (number, _) => Some(Node::Zonal { entry, zone: number }),
            }
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
            known.then(|| Node::Addresses { ips: Cow::Owned(vec![ip]), rotate: false })
        }
        N::Nonexistent => None,
    }
}

/// The Service, unless `ignore_empty_service` hides it: a Service with a cluster IP and no ready
/// endpoint, with every name below it, does not exist then.
fn exposed<'s>(zone: &ZoneSettings, entry: &'s ServiceEntry) -> Option<&'s ServiceEntry> {
    let empty = matches!(entry.service.kind, ServiceKind::ClusterIp(_)) && entry.endpoints.is_empty();
    (!(zone.ignore_empty_service && empty)).then_some(entry)
}

/// The published endpoints named `host` (`<hostname>.<clusterid>` in a clusterset zone).
fn endpoint_node<'s>(
    zone: &ZoneSettings,
    snapshot: &'s Snapshot,
    namespace: &str,
    service: &str,
    host: &str,
) -> Option<Node<'s>> {
    let entry = exposed(zone, snapshot.service(namespace, service)?)?;
    let ips: Vec<IpAddr> = entry.endpoints_named(host).map(|e| e.ip).collect();
    (!ips.is_empty()).then_some(Node::Addresses { ips: Cow::Owned(ips), rotate: true })
}

/// The headless Service whose topology-pinned names exist (with `--zonal`; never for a Service
/// with a cluster IP, whose address has no zone, nor for one without endpoints, which does not
/// exist at all).
fn zonal<'s>(zone: &ZoneSettings, snapshot: &'s Snapshot, namespace: &str, service: &str) -> Option<&'s ServiceEntry> {
    if !zone.zonal {
        return None;
    }
    match service_node(exposed(zone, snapshot.service(namespace, service)?)?)? {
        Node::Headless(entry) => Some(entry),
        _ => None,
    }
}

fn service_node(entry: &ServiceEntry) -> Option<Node<'_>> {
    match &entry.service.kind {
        ServiceKind::ClusterIp(ips) => Some(Node::Addresses { ips: Cow::Borrowed(ips), rotate: false }),
        ServiceKind::ExternalName(target) => Some(Node::Alias(target)),
        // DNS spec §2.4.1: a headless Service without ready endpoints has no name at all.
        ServiceKind::Headless if entry.endpoints.is_empty() => None,
        ServiceKind::Headless => Some(Node::Headless(entry)),
    }
}

/// The SRV targets of a Service for the named port `port` and `protocol`.
/// ClusterIP: one per port, targeting the Service. Headless: one per published endpoint and
/// port of its slice, targeting the endpoint's own name, with the endpoint's (target) port.
fn srv_targets<'s>(entry: &'s ServiceEntry, port: &str, protocol: &str) -> SrvTargets<'s> {
    match &entry.service.kind {
        ServiceKind::ClusterIp(ips) if !ips.is_empty() => {
            SrvTargets::Service(distinct(entry.service.ports_named(protocol, Some(port)).iter().map(|p| p.port)))
        }
        ServiceKind::Headless => match entry.srv_sets(protocol, Some(port)).first() {
            Some(set) => SrvTargets::Endpoints(Cow::Borrowed(&set.targets)),
            None => SrvTargets::Endpoints(Cow::Borrowed(&[])),
        },
        _ => SrvTargets::Service(Vec::new()),
    }
}

/// The SRV answer at a Service's own name (as CoreDNS and kube-dns give it): every port, named
/// or not, of every protocol.
fn all_srv_targets(entry: &ServiceEntry) -> SrvTargets<'_> {
    match &entry.service.kind {
        ServiceKind::ClusterIp(ips) if !ips.is_empty() => {
            SrvTargets::Service(distinct(entry.service.ports.iter().map(|p| p.port)))
        }
        ServiceKind::Headless => SrvTargets::Endpoints(Cow::Borrowed(entry.all_srv())),
        _ => SrvTargets::Service(Vec::new()),
    }
}

fn distinct(ports: impl Iterator<Item = u16>) -> Vec<u16> {
    let mut ports: Vec<u16> = ports.collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

fn has_named_port(entry: &ServiceEntry, protocol: &str) -> bool {
    let named = |name: &str| !name.is_empty();
    match &entry.service.kind {
        ServiceKind::ClusterIp(ips) if !ips.is_empty() => {
            entry.service.ports_named(protocol, None).iter().any(|p| named(&p.name))
        }
        ServiceKind::Headless => entry.srv_sets(protocol, None).iter().any(|s| named(&s.name)),
        _ => false,
    }
}

/// The items one answer holds: at most [`MAX_SECTION_RECORDS`], starting at `rotation`
/// (wrapping), so that clients taking the first spread evenly and a partial answer is a
/// different window for each query.
fn window<T>(items: &[T], rotation: usize) -> impl Iterator<Item = &T> {
    let start = if items.is_empty() { 0 } else { rotation % items.len() };
    items[start..].iter().chain(&items[..start]).take(MAX_SECTION_RECORDS)
}

/// How many of `len` items a [`window`] leaves out.
fn beyond_window(len: usize) -> usize {
    len.saturating_sub(MAX_SECTION_RECORDS)
}

fn rrset(
    zone: &ZoneSettings,
    snapshot: &Snapshot,
    name: &ClusterName<'_>,
    node: &Node<'_>,
    q: &Question<'_>,
    qtype: RecordType,
) -> (Vec<Record>, Vec<Record>, usize) {
    let owner = || q.name.clone();
    let none = (Vec::new(), Vec::new(), 0);
    match (node, qtype) {
        (Node::Apex, RecordType::SOA) => (vec![zone.soa(ZoneKind::Cluster, snapshot.serial)], Vec::new(), 0),
        (Node::Apex, RecordType::NS) => (vec![zone.ns(owner())], Vec::new(), 0),
        (Node::DnsVersion, RecordType::TXT) => {
            let version = if zone.multicluster { MULTICLUSTER_SPEC_VERSION } else { SPEC_VERSION };
            let txt = RData::TXT(TXT::new(vec![version.to_string()]));
            (vec![Record::from_rdata(owner(), SPEC_VERSION_TTL, txt)], Vec::new(), 0)
        }
        // Endpoint names rotate and jitter like the headless Service they belong to.
        (Node::Addresses { ips, rotate }, RecordType::A | RecordType::AAAA) => {
            let (rotation, ttl) = if *rotate { (q.rotation, q.headless_ttl) } else { (0, zone.ttl) };
            let family: Vec<IpAddr> = ips.iter().copied().filter(|ip| is_family(ip, qtype)).collect();
            (address_records(&owner(), window(&family, rotation), ttl), Vec::new(), beyond_window(family.len()))
        }
        (Node::Headless(entry), RecordType::A | RecordType::AAAA) => {
            let family = entry.family(qtype == RecordType::AAAA);
            let records = address_records(&owner(), window(family, q.rotation).map(|e| &e.ip), q.headless_ttl);
            (records, Vec::new(), beyond_window(family.len()))
        }
        (Node::Zonal { entry, zone: number }, RecordType::A | RecordType::AAAA) => {
            let family = entry.family(qtype == RecordType::AAAA);
            let in_zone = |e: &&ServedEndpoint| number.is_none_or(|n| e.zone == n);
            let ips: Vec<IpAddr> = family.iter().filter(in_zone).map(|e| e.ip).collect();
            (address_records(&owner(), window(&ips, q.rotation), q.headless_ttl), Vec::new(), beyond_window(ips.len()))
        }
        (Node::Zonal { entry, zone: number }, RecordType::SRV) => {
            let in_zone = |t: &&SrvTarget| number.is_none_or(|n| entry.endpoints[t.endpoint as usize].zone == n);
            let targets = SrvTargets::Endpoints(entry.all_srv().iter().filter(in_zone).copied().collect());
            if targets.len() == 0 {
                return none;
            }
            let (answers, additionals) = srv_rrset(zone, name, &owner(), entry, &targets, q);
            (answers, additionals, beyond_window(targets.len()))
        }
        (Node::Srv { entry, targets }, RecordType::SRV) => {
            let (answers, additionals) = srv_rrset(zone, name, &owner(), entry, targets, q);
            (answers, additionals, beyond_window(targets.len()))
        }
        (Node::Addresses { .. } | Node::Headless(_), RecordType::SRV) => {
            let ClusterName::Service { namespace, service } = *name else { return none };
            let Some(entry) = snapshot.service(namespace, service) else { return none };
            let targets = all_srv_targets(entry);
            if targets.len() == 0 {
                return none;
            }
            let (answers, additionals) = srv_rrset(zone, name, &owner(), entry, &targets, q);
            (answers, additionals, beyond_window(targets.len()))
        }
        _ => none,
    }
}

fn is_family(ip: &IpAddr, qtype: RecordType) -> bool {
    matches!((ip, qtype), (IpAddr::V4(_), RecordType::A) | (IpAddr::V6(_), RecordType::AAAA))
}

fn address_records<'a>(owner: &Name, ips: impl Iterator<Item = &'a IpAddr>, ttl: u32) -> Vec<Record> {
    ips.map(|ip| match ip {
        IpAddr::V4(v4) => RData::A(A(*v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
    })
    .map(|rdata| Record::from_rdata(owner.clone(), ttl, rdata))
    .collect()
}

/// The Service's and namespace's labels of an SRV name (or of the Service's own name).
fn service_labels<'a>(name: &ClusterName<'a>) -> (&'a str, &'a str) {
    match *name {
        ClusterName::Srv { namespace, service, .. }
        | ClusterName::Service { namespace, service }
        | ClusterName::Zonal { namespace, service, .. } => (service, namespace),
        _ => ("", ""),
    }
}

/// `[<host>.]<svc>.<ns>.svc.<zone>`; an imported endpoint's host is two labels,
/// `<hostname>.<clusterid>`.
fn target_name(zone: &ZoneSettings, name: &ClusterName<'_>, host: Option<&str>) -> Option<Name> {
    let (service, namespace) = service_labels(name);
    let labels: Vec<&str> = host.into_iter().flat_map(|h| h.split('.')).chain([service, namespace, "svc"]).collect();
    zone.cluster_name(&labels)
}

/// The SRV records of one answer window and, in the additional section, their targets' A and
/// AAAA records (RFC 2782: "the additional data section ... may contain the A records for the
/// targets"). CoreDNS's weight rule: the targets of one name share 100, at least 1 each.
fn srv_rrset(
    zone: &ZoneSettings,
    name: &ClusterName<'_>,
    owner: &Name,
    entry: &ServiceEntry,
    targets: &SrvTargets<'_>,
    q: &Question<'_>,
) -> (Vec<Record>, Vec<Record>) {
    let rotation = q.rotation;
    let ttl = if entry.is_headless() { q.headless_ttl } else { zone.ttl };
    let weight = (100 / targets.len()).max(1) as u16;
    let srv = |host: Option<&str>, port: u16| {
        let target = target_name(zone, name, host)?;
        Some(Record::from_rdata(owner.clone(), ttl, RData::SRV(SRV::new(0, weight, port, target))))
    };
    match targets {
        SrvTargets::Service(ports) => {
            let answers = window(ports, rotation).filter_map(|port| srv(None, *port)).collect();
            let ips = match &entry.service.kind {
                ServiceKind::ClusterIp(ips) => ips.as_slice(),
                _ => &[],
            };
            (answers, target_addresses(zone, name, None, ips.iter(), ttl))
        }
        SrvTargets::Endpoints(targets) => {
            let chosen: Vec<&SrvTarget> = window(targets.as_ref(), rotation).collect();
            let answers = chosen.iter().filter_map(|t| srv(Some(entry.target_host(t)), t.port)).collect();
            let hosts: BTreeSet<&str> = chosen.iter().map(|t| entry.target_host(t)).collect();
            let mut additionals = Vec::new();
            for host in hosts {
                let ips = entry.endpoints_named(host).map(|e| &e.ip);
                additionals.extend(target_addresses(zone, name, Some(host), ips, ttl));
                if additionals.len() >= MAX_SECTION_RECORDS {
                    break;
                }
            }
            (answers, additionals)
        }
    }
}

/// The A records, then the AAAA records, of one SRV target.
fn target_addresses<'a>(
    zone: &ZoneSettings,
    name: &ClusterName<'_>,
    host: Option<&str>,
    ips: impl Iterator<Item = &'a IpAddr> + Clone,
    ttl: u32,
) -> Vec<Record> {
    let Some(owner) = target_name(zone, name, host) else { return Vec::new() };
    let v4 = ips.clone().filter(|ip| ip.is_ipv4());
    let v6 = ips.filter(|ip| ip.is_ipv6());
    address_records(&owner, v4.chain(v6), ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_window_starts_at_the_rotation_and_holds_what_a_message_can() {
        let items: Vec<usize> = (0..10).collect();
        assert_eq!(window(&items, 13).copied().collect::<Vec<_>>(), [3, 4, 5, 6, 7, 8, 9, 0, 1, 2]);
        let many: Vec<usize> = (0..100_000).collect();
        let chosen: Vec<usize> = window(&many, 99_999).copied().collect();
        assert_eq!(chosen.len(), MAX_SECTION_RECORDS);
        assert_eq!(chosen[..2], [99_999, 0]);
        assert_eq!(window(&[] as &[usize], 5).count(), 0);
    }
}
