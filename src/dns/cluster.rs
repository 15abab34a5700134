//! Answers for names in the cluster zone, computed from the current snapshot on every query.

use std::borrow::Cow;
use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::answer::Answer;
use super::qname::{ClusterName, parse_cluster_name};
use super::zone::{ZoneKind, ZoneSettings};
use crate::config::{PodMode, TopologyAnswers};
use crate::registry::Snapshot;
use crate::registry::object::ServiceKind;
use crate::registry::snapshot::{Near, ServiceEntry, SrvTarget};

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
pub(super) enum SrvTargets<'s> {
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
pub(super) enum Node<'s> {
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
    /// Who asked, for answers that prefer endpoints near the client.
    pub client: Option<IpAddr>,
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
pub(super) fn resolve<'s>(zone: &ZoneSettings, snapshot: &'s Snapshot, name: &ClusterName<'_>) -> Option<Node<'s>> {
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
            exists(entry.endpoints.iter().any(|e| entry.host(e).rsplit_once('.').is_some_and(|(_, c)| c == cluster)))
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
/// different window for each query; and how many items it leaves out.
fn window<I: Iterator + Clone>(items: I, rotation: usize) -> (impl Iterator<Item = I::Item>, usize) {
    let len = items.clone().count();
    let start = if len == 0 { 0 } else { rotation % len };
    let chosen = items.clone().skip(start).chain(items.take(start)).take(MAX_SECTION_RECORDS);
    (chosen, len.saturating_sub(MAX_SECTION_RECORDS))
}

/// Where the records of an answer go: hickory records for the general path, wire bytes for
/// the fast one ([`super::fast`]). Both are fed by [`records`], so they cannot disagree.
pub(super) trait Sink {
    /// An A or AAAA record owned by the question's name.
    fn address(&mut self, ip: IpAddr, ttl: u32);
    /// An SRV record owned by the question's name, targeting `[<host>.]<svc>.<ns>.svc.<zone>`.
    fn srv(&mut self, host: Option<&str>, weight: u16, port: u16, ttl: u32);
    /// An additional A or AAAA record of an SRV target, first named by the `first`th call to
    /// [`Sink::srv`] of this answer.
    fn target_address(&mut self, host: Option<&str>, first: usize, ip: IpAddr, ttl: u32);
}

/// What varies between two answers to the same question.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pick {
    /// Where rotated address lists start.
    pub rotation: usize,
    /// The TTL of headless answers in this response.
    pub headless_ttl: u32,
    /// Who asked.
    pub client: Option<IpAddr>,
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
    match (node, qtype) {
        (Node::Apex, RecordType::SOA) => (vec![zone.soa(ZoneKind::Cluster, snapshot.serial)], Vec::new(), 0),
        (Node::Apex, RecordType::NS) => (vec![zone.ns(owner())], Vec::new(), 0),
        (Node::DnsVersion, RecordType::TXT) => {
            let version = if zone.multicluster { MULTICLUSTER_SPEC_VERSION } else { SPEC_VERSION };
            let txt = RData::TXT(TXT::new(vec![version.to_string()]));
            (vec![Record::from_rdata(owner(), SPEC_VERSION_TTL, txt)], Vec::new(), 0)
        }
        _ => {
            let mut sink = Records { zone, name, owner: q.name, answers: Vec::new(), additionals: Vec::new() };
            let pick = Pick { rotation: q.rotation, headless_ttl: q.headless_ttl, client: q.client };
            let unbuilt = records(zone, snapshot, name, node, pick, qtype, &mut sink);
            (sink.answers, sink.additionals, unbuilt)
        }
    }
}

/// The A, AAAA and SRV records of `node` for `qtype`, into `sink`; returns how many answer
/// records were left unbuilt (no message could hold them). Nothing for other types.
pub(super) fn records(
    zone: &ZoneSettings,
    snapshot: &Snapshot,
    name: &ClusterName<'_>,
    node: &Node<'_>,
    pick: Pick,
    qtype: RecordType,
    sink: &mut impl Sink,
) -> usize {
    match (node, qtype) {
        // Endpoint names rotate and jitter like the headless Service they belong to.
        (Node::Addresses { ips, rotate }, RecordType::A | RecordType::AAAA) => {
            let (rotation, ttl) = if *rotate { (pick.rotation, pick.headless_ttl) } else { (0, zone.ttl) };
            let (chosen, left_out) = window(ips.iter().filter(|ip| is_family(ip, qtype)), rotation);
            chosen.for_each(|ip| sink.address(*ip, ttl));
            left_out
        }
        (Node::Headless(entry), RecordType::A | RecordType::AAAA) => {
            let ipv6 = qtype == RecordType::AAAA;
            // Only Services that prefer nearby endpoints look the client up.
            let place = (entry.prefers_near() && zone.topology != TopologyAnswers::Off)
                .then(|| snapshot.place_of(pick.client))
                .flatten();
            let near = place.map_or_else(Near::default, |place| entry.near(ipv6, place));
            if !near.is_empty() {
                return near_first(entry, ipv6, near, zone.topology == TopologyAnswers::Only, pick, sink);
            }
            let (chosen, left_out) = window(entry.family(ipv6).iter(), pick.rotation);
            chosen.for_each(|e| sink.address(e.ip, pick.headless_ttl));
            left_out
        }
        (Node::Zonal { entry, zone: number }, RecordType::A | RecordType::AAAA) => {
            let family = entry.family(qtype == RecordType::AAAA);
            let in_zone = family.iter().filter(|e| number.is_none_or(|n| e.zone == n));
            let (chosen, left_out) = window(in_zone, pick.rotation);
            chosen.for_each(|e| sink.address(e.ip, pick.headless_ttl));
            left_out
        }
        (Node::Zonal { entry, zone: number }, RecordType::SRV) => {
            let in_zone = |t: &&SrvTarget| number.is_none_or(|n| entry.endpoints[t.endpoint as usize].zone == n);
            let targets = SrvTargets::Endpoints(entry.all_srv().iter().filter(in_zone).copied().collect());
            srv_records(zone, entry, &targets, pick, sink)
        }
        (Node::Srv { entry, targets }, RecordType::SRV) => srv_records(zone, entry, targets, pick, sink),
        (Node::Addresses { .. } | Node::Headless(_), RecordType::SRV) => {
            let ClusterName::Service { namespace, service } = *name else { return 0 };
            let Some(entry) = snapshot.service(namespace, service) else { return 0 };
            srv_records(zone, entry, &all_srv_targets(entry), pick, sink)
        }
        _ => 0,
    }
}

/// A headless answer with the endpoints near the client first (`only`: alone). Each group
/// rotates on its own, so clients that take the first address stay near and still spread.
fn near_first(entry: &ServiceEntry, ipv6: bool, near: Near<'_>, only: bool, pick: Pick, sink: &mut impl Sink) -> usize {
    let offset = if ipv6 { entry.ipv6_start() } else { 0 };
    let family = entry.family(ipv6);
    let near_ones = near.iter().map(|i| &entry.endpoints[i as usize]);
    let is_near = move |i: usize| near.contains(u32::try_from(i + offset).expect("fewer than 2^32 endpoints"));
    let others = family.iter().enumerate().filter(move |(i, _)| !only && !is_near(*i)).map(|(_, e)| e);
    let ((first, _), (then, _)) = (window(near_ones, pick.rotation), window(others, pick.rotation));
    first.chain(then).take(MAX_SECTION_RECORDS).for_each(|e| sink.address(e.ip, pick.headless_ttl));
    let total = if only { near.len() } else { family.len() };
    total.saturating_sub(MAX_SECTION_RECORDS)
}

fn is_family(ip: &IpAddr, qtype: RecordType) -> bool {
    matches!((ip, qtype), (IpAddr::V4(_), RecordType::A) | (IpAddr::V6(_), RecordType::AAAA))
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

thread_local! {
    /// The SRV targets of one answer (endpoint, first position), reused from query to query.
    static TARGETS: std::cell::Cell<Vec<(u32, u32)>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The SRV records of one answer window and, in the additional section, their targets' A and
/// AAAA records (RFC 2782: "the additional data section ... may contain the A records for the
/// targets"), in target name order. CoreDNS's weight rule: the targets of one name share 100,
/// at least 1 each.
fn srv_records(
    zone: &ZoneSettings,
    entry: &ServiceEntry,
    targets: &SrvTargets<'_>,
    pick: Pick,
    sink: &mut impl Sink,
) -> usize {
    if targets.len() == 0 {
        return 0;
    }
    let ttl = if entry.is_headless() { pick.headless_ttl } else { zone.ttl };
    let weight = (100 / targets.len()).max(1) as u16;
    match targets {
        SrvTargets::Service(ports) => {
            let (chosen, left_out) = window(ports.iter(), pick.rotation);
            chosen.for_each(|port| sink.srv(None, weight, *port, ttl));
            if let ServiceKind::ClusterIp(ips) = &entry.service.kind {
                let (v4, v6) = (ips.iter().filter(|ip| ip.is_ipv4()), ips.iter().filter(|ip| ip.is_ipv6()));
                v4.chain(v6).for_each(|ip| sink.target_address(None, 0, *ip, ttl));
            }
            left_out
        }
        SrvTargets::Endpoints(targets) => {
            let (chosen, left_out) = window(targets.iter(), pick.rotation);
            let mut hosts = TARGETS.take();
            hosts.clear();
            for (position, target) in chosen.enumerate() {
                sink.srv(Some(&entry.target_host(target)), weight, target.port, ttl);
                hosts.push((target.endpoint, position as u32));
            }
            let host = |endpoint: u32| entry.host(&entry.endpoints[endpoint as usize]);
            hosts.sort_unstable_by(|a, b| (*host(a.0)).cmp(&*host(b.0)).then(a.1.cmp(&b.1)));
            hosts.dedup_by(|later, first| *host(later.0) == *host(first.0));
            let mut written = 0;
            for &(endpoint, first) in &hosts {
                let host = host(endpoint);
                let ips = entry.endpoints_named(&host).map(|e| e.ip);
                let (v4, v6) = (ips.clone().filter(IpAddr::is_ipv4), ips.filter(IpAddr::is_ipv6));
                for ip in v4.chain(v6) {
                    sink.target_address(Some(&host), first as usize, ip, ttl);
                    written += 1;
                }
                if written >= MAX_SECTION_RECORDS {
                    break;
                }
            }
            TARGETS.set(hosts);
            left_out
        }
    }
}

/// The general path's sink: hickory records.
struct Records<'a> {
    zone: &'a ZoneSettings,
    name: &'a ClusterName<'a>,
    owner: &'a Name,
    answers: Vec<Record>,
    additionals: Vec<Record>,
}

fn address_rdata(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}

impl Sink for Records<'_> {
    fn address(&mut self, ip: IpAddr, ttl: u32) {
        self.answers.push(Record::from_rdata(self.owner.clone(), ttl, address_rdata(ip)));
    }

    fn srv(&mut self, host: Option<&str>, weight: u16, port: u16, ttl: u32) {
        if let Some(target) = target_name(self.zone, self.name, host) {
            let srv = RData::SRV(SRV::new(0, weight, port, target));
            self.answers.push(Record::from_rdata(self.owner.clone(), ttl, srv));
        }
    }

    fn target_address(&mut self, host: Option<&str>, _first: usize, ip: IpAddr, ttl: u32) {
        if let Some(owner) = target_name(self.zone, self.name, host) {
            self.additionals.push(Record::from_rdata(owner, ttl, address_rdata(ip)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_window_starts_at_the_rotation_and_holds_what_a_message_can() {
        let items: Vec<usize> = (0..10).collect();
        let (chosen, left_out) = window(items.iter(), 13);
        assert_eq!(chosen.copied().collect::<Vec<_>>(), [3, 4, 5, 6, 7, 8, 9, 0, 1, 2]);
        assert_eq!(left_out, 0);
        let many: Vec<usize> = (0..100_000).collect();
        let (chosen, left_out) = window(many.iter(), 99_999);
        let chosen: Vec<usize> = chosen.copied().collect();
        assert_eq!(chosen.len(), MAX_SECTION_RECORDS);
        assert_eq!(chosen[..2], [99_999, 0]);
        assert_eq!(left_out, 100_000 - MAX_SECTION_RECORDS);
        assert_eq!(window([].iter() as std::slice::Iter<'_, usize>, 5).0.count(), 0);
    }
}
