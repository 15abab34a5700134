//! An immutable, indexed view of the cluster: everything one answer needs, found by hash lookups.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;

use super::clients::{Clients, PlaceRef};
use super::object::{ClusterObjects, EndpointPlace, EndpointSlice, NamedPort, Place, Prefer, Service, ServiceKind};

/// One published address of a Service: its endpoint name and, for a headless Service, one of
/// its A/AAAA answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedEndpoint {
    pub ip: IpAddr,
    /// The first label of the endpoint's own name: its hostname, an index into
    /// [`ServiceEntry::hostnames`], or [`NO_HOSTNAME`] for its dashed IP, written out when a
    /// query needs it. Most endpoints have no hostname: a string each would cost more than the
    /// endpoint, and an index instead of a pointer keeps the endpoint at 24 bytes.
    hostname: u32,
    /// Its topology zone: an index into [`ServiceEntry::zones`], 1-based; 0 means none.
    pub zone: u16,
}

/// [`ServedEndpoint::hostname`] of an endpoint named by its dashed IP.
const NO_HOSTNAME: u32 = u32::MAX;

/// The first label of `endpoint`'s own name, its hostname taken from `hostnames`.
fn host_label<'a>(endpoint: &ServedEndpoint, hostnames: &'a [Arc<str>]) -> HostLabel<'a> {
    match hostnames.get(endpoint.hostname as usize) {
        Some(name) => HostLabel::Named(name),
        None => HostLabel::Dashed(DashedIp::new(endpoint.ip)),
    }
}

/// An endpoint's name label: its hostname, or its dashed IP written on the stack.
#[derive(Debug, Clone, Copy)]
pub enum HostLabel<'a> {
    Named(&'a str),
    Dashed(DashedIp),
}

impl std::ops::Deref for HostLabel<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            HostLabel::Named(name) => name,
            HostLabel::Dashed(dashed) => dashed.as_str(),
        }
    }
}

/// The longest dashed IP: eight groups of four hex digits and seven dashes.
const DASHED_MAX: usize = 40;

/// The label that names an address without a hostname ([`dashed_ip`]), without allocating.
#[derive(Debug, Clone, Copy)]
pub struct DashedIp {
    bytes: [u8; DASHED_MAX],
    len: u8,
}

impl DashedIp {
    pub fn new(ip: IpAddr) -> DashedIp {
        use std::fmt::Write;
        let mut dashed = DashedIp { bytes: [0; DASHED_MAX], len: 0 };
        let _ = write!(dashed, "{ip}");
        for byte in &mut dashed.bytes[..usize::from(dashed.len)] {
            if matches!(*byte, b'.' | b':') {
                *byte = b'-';
            }
        }
        if dashed.as_str().ends_with('-') {
            let _ = dashed.write_str("0");
        }
        dashed
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("an address is ASCII")
    }
}

impl std::fmt::Write for DashedIp {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let at = usize::from(self.len);
        let to = self.bytes.get_mut(at..at + s.len()).ok_or(std::fmt::Error)?;
        to.copy_from_slice(s.as_bytes());
        self.len += s.len() as u8;
        Ok(())
    }
}

/// One SRV record of a headless Service before it is built: which endpoint (an index into
/// [`ServiceEntry::endpoints`], whose name is the target) and the port it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrvTarget {
    pub endpoint: u32,
    pub port: u16,
}

/// The SRV targets of one named port of a headless Service (`_<name>._<protocol>`), ordered by
/// target name, then port, without duplicates (RFC 2181 §5: an RRset holds no record twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvSet {
    pub protocol: Box<str>,
    pub name: Box<str>,
    pub targets: Box<[SrvTarget]>,
}

/// A Service as DNS answers it. Everything an answer needs that depends only on the data is
/// computed here, when the entry is built, so that a query costs what its answer holds and no
/// more, however many endpoints the Service has. Indices rather than copies keep it small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub service: Arc<Service>,
    /// Published addresses of every Service with EndpointSlices (they name its endpoints and
    /// their PTRs), deduplicated, ordered by IP (so the IPv4 ones come first): for a headless
    /// Service the A and AAAA answers are two ranges of it.
    pub endpoints: Vec<ServedEndpoint>,
    /// Where the IPv6 addresses start in `endpoints`.
    ipv6_start: usize,
    /// The hostnames of the endpoints that have one (shared with the objects they came from).
    hostnames: Box<[Arc<str>]>,
    /// Indices into `endpoints` that have a hostname, ordered by it and then by IP: the
    /// endpoints of one name are adjacent and found by binary search.
    by_host: Box<[u32]>,
    /// Headless Services only: SRV targets per port, ordered by protocol, then name (unnamed
    /// ports, with an empty name, first).
    pub srv: Box<[SrvSet]>,
    /// Headless Services with more than one port: every port's targets together, for the SRV
    /// answer at the Service's own name (with one port, that port's set serves).
    all_srv: Box<[SrvTarget]>,
    /// The topology zones of the published endpoints, lower-cased (empty unless zones are kept).
    zones: Box<[Box<str>]>,
    /// Headless Services that prefer nearby endpoints: which endpoints are near what.
    topology: Option<Box<Topology>>,
}

impl ServiceEntry {
    /// The entry of `service`, whose published endpoints (DNS spec §2.4) come from `slices`.
    pub fn new<'a>(service: Arc<Service>, slices: impl Iterator<Item = &'a EndpointSlice>) -> ServiceEntry {
        let Published { endpoints, hostnames, targets: ports, zones, topology } = published(&service, slices);
        let ipv6_start = endpoints.partition_point(|e| e.ip.is_ipv4());
        let index = |i: usize| u32::try_from(i).expect("fewer than 2^32 endpoints");
        let named = (0..endpoints.len()).filter(|&i| endpoints[i].hostname != NO_HOSTNAME);
        let mut by_host: Vec<u32> = named.map(index).collect();
        let hostname = |i: &u32| &hostnames[endpoints[*i as usize].hostname as usize];
        by_host.sort_by(|a, b| hostname(a).cmp(hostname(b)));
        let order = |a: &SrvTarget, b: &SrvTarget| {
            let host = |t: &SrvTarget| host_label(&endpoints[t.endpoint as usize], &hostnames);
            (*host(a)).cmp(&*host(b)).then(a.port.cmp(&b.port))
        };
        let srv = ports.into_iter().map(|((protocol, name), mut targets)| {
            targets.sort_by(order);
            targets.dedup_by(|a, b| order(a, b).is_eq());
            SrvSet { protocol: protocol.into(), name: name.into(), targets: targets.into() }
        });
        let srv: Box<[SrvSet]> = srv.collect();
        let mut all_srv: Vec<SrvTarget> = Vec::new();
        if srv.len() > 1 {
            all_srv = srv.iter().flat_map(|s| s.targets.iter().copied()).collect();
            all_srv.sort_by(order);
            all_srv.dedup_by(|a, b| order(a, b).is_eq());
        }
        let by_host = by_host.into();
        let (all_srv, zones, hostnames) = (all_srv.into(), zones.into(), hostnames.into());
        ServiceEntry { service, endpoints, ipv6_start, hostnames, by_host, srv, all_srv, zones, topology }
    }

    pub fn is_headless(&self) -> bool {
        self.service.kind == ServiceKind::Headless
    }

    /// The published IPv4 (`ipv6: false`) or IPv6 endpoints, ordered by IP.
    pub fn family(&self, ipv6: bool) -> &[ServedEndpoint] {
        if ipv6 { &self.endpoints[self.ipv6_start..] } else { &self.endpoints[..self.ipv6_start] }
    }

    /// Whether this Service's answers prefer endpoints near the client.
    pub fn prefers_near(&self) -> bool {
        self.topology.is_some()
    }

    /// The published IPv4 (`ipv6: false`) or IPv6 endpoints near `here`: those that serve its
    /// node or, when none does, its zone. Empty when none is near, or the Service prefers
    /// nothing.
    pub fn near(&self, ipv6: bool, here: PlaceRef<'_>) -> Near<'_> {
        let Some(topology) = &self.topology else { return Near(&[]) };
        let index = |i: usize| u32::try_from(i).expect("fewer than 2^32 endpoints");
        let range = if ipv6 { index(self.ipv6_start)..index(self.endpoints.len()) } else { 0..index(self.ipv6_start) };
        let on_node = Topology::serving(&topology.nodes, here.node, &range);
        match here.zone {
            Some(zone) if on_node.is_empty() => Topology::serving(&topology.zones, zone, &range),
            _ => on_node,
        }
    }

    /// Where this Service's IPv6 endpoints start in [`Self::endpoints`].
    pub fn ipv6_start(&self) -> usize {
        self.ipv6_start
    }

    /// The published endpoints named `host`: those with that hostname, ordered by IP, then the
    /// one without a hostname whose dashed IP it is.
    pub fn endpoints_named<'s>(&'s self, host: &str) -> impl Iterator<Item = &'s ServedEndpoint> + Clone {
        let hostname = |i: &u32| self.hostname(&self.endpoints[*i as usize]).map_or("", |h| &**h);
        let start = self.by_host.partition_point(|i| hostname(i) < host);
        let rest = &self.by_host[start..];
        let end = rest.partition_point(|i| hostname(i) == host);
        let dashed = parse_dashed_ip(host)
            .filter(|ip| DashedIp::new(*ip).as_str() == host)
            .and_then(|ip| self.endpoints.binary_search_by(|e| e.ip.cmp(&ip)).ok())
            .map(|i| &self.endpoints[i])
            .filter(|e| e.hostname == NO_HOSTNAME);
        rest[..end].iter().map(move |i| &self.endpoints[*i as usize]).chain(dashed)
    }

    /// The SRV targets of every port of a headless Service (its bare name's SRV answer).
    pub fn all_srv(&self) -> &[SrvTarget] {
        match &*self.srv {
            [one] => &one.targets,
            _ => &self.all_srv,
        }
    }

    /// The name of an SRV target.
    pub fn target_host(&self, target: &SrvTarget) -> HostLabel<'_> {
        self.host(&self.endpoints[target.endpoint as usize])
    }

    /// The first label of one of this Service's endpoints' own name.
    pub fn host(&self, endpoint: &ServedEndpoint) -> HostLabel<'_> {
        host_label(endpoint, &self.hostnames)
    }

    /// The hostname of one of this Service's endpoints, if it has one.
    pub fn hostname(&self, endpoint: &ServedEndpoint) -> Option<&Arc<str>> {
        self.hostnames.get(endpoint.hostname as usize)
    }

    /// The number [`ServedEndpoint::zone`] has for the topology zone `zone` (lower-case), if
    /// any published endpoint is in it.
    pub fn zone_number(&self, zone: &str) -> Option<u16> {
        let position = self.zones.iter().position(|z| **z == *zone)?;
        u16::try_from(position + 1).ok()
    }

    /// The SRV target sets of the named port `name` (`None`: any) with `protocol`.
    pub fn srv_sets(&self, protocol: &str, name: Option<&str>) -> &[SrvSet] {
        let start = self.srv.partition_point(|s| (&*s.protocol, &*s.name) < (protocol, name.unwrap_or("")));
        let rest = &self.srv[start..];
        let end = rest.partition_point(|s| &*s.protocol == protocol && name.is_none_or(|name| &*s.name == name));
        &rest[..end]
    }
}

#[derive(Debug, Default, Clone)]
pub struct NamespaceEntry {
    pub services: imbl::HashMap<String, Arc<ServiceEntry>>,
    /// IPs of running Pods in this namespace (`--pods verified`).
    pub pod_ips: imbl::HashSet<IpAddr>,
}

/// A Service's namespace and name, shared by all of its PTR targets.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceName {
    pub namespace: String,
    pub name: String,
}

/// What a PTR record for an IP points at: `[<host>.]<service>.<namespace>.svc.<zone>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReverseTarget {
    pub service: Arc<ServiceName>,
    /// `None` for the Service's own cluster IP; an endpoint's hostname, or the one shared
    /// empty name for an endpoint named by its dashed IP.
    host: Option<Arc<str>>,
}

/// The host of every endpoint PTR target named by its dashed IP: one allocation for all.
static DASHED: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));

impl ReverseTarget {
    /// The PTR target of a cluster IP: the Service's own name.
    pub fn service(service: Arc<ServiceName>) -> ReverseTarget {
        ReverseTarget { service, host: None }
    }

    /// The PTR target of an endpoint: its own name, its hostname or (`None`) its dashed IP,
    /// below the Service's.
    pub fn endpoint(service: Arc<ServiceName>, hostname: Option<&Arc<str>>) -> ReverseTarget {
        ReverseTarget { service, host: Some(hostname.cloned().unwrap_or_else(|| DASHED.clone())) }
    }

    /// The label before the Service's name in the target of `ip`'s PTR record, if any.
    pub fn host(&self, ip: IpAddr) -> Option<HostLabel<'_>> {
        match self.host.as_deref()? {
            "" => Some(HostLabel::Dashed(DashedIp::new(ip))),
            name => Some(HostLabel::Named(name)),
        }
    }
}

/// The PTR targets of one address: almost always one, kept inline; more in a shared list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Targets {
    One(ReverseTarget),
    Many(Arc<[ReverseTarget]>),
}

impl Targets {
    fn as_slice(&self) -> &[ReverseTarget] {
        match self {
            Targets::One(target) => std::slice::from_ref(target),
            Targets::Many(targets) => targets,
        }
    }
}

/// PTR targets by address, IPv4 and IPv6 apart: a key is 4 or 16 bytes (an `IpAddr` is 17,
/// padded to 24 beside a pointer), and the one target nearly every address has is stored in
/// the map's own node, not in an allocation of its own. A map entry is 32 bytes for IPv4.
#[derive(Debug, Default, Clone)]
pub struct ReverseIndex {
    v4: imbl::OrdMap<u32, Targets>,
    v6: imbl::OrdMap<[u8; 16], Targets>,
}

impl ReverseIndex {
    pub fn get(&self, ip: IpAddr) -> &[ReverseTarget] {
        let targets = match ip {
            IpAddr::V4(v4) => self.v4.get(&u32::from(v4)),
            IpAddr::V6(v6) => self.v6.get(&v6.octets()),
        };
        targets.map_or(&[], Targets::as_slice)
    }

    /// Replaces the targets of `ip`, ordered; none removes the address.
    pub fn set(&mut self, ip: IpAddr, mut targets: Vec<ReverseTarget>) {
        let value = match targets.len() {
            0 => None,
            1 => targets.pop().map(Targets::One),
            _ => Some(Targets::Many(targets.into())),
        };
        match (ip, value) {
            (IpAddr::V4(v4), Some(value)) => drop(self.v4.insert(u32::from(v4), value)),
            (IpAddr::V4(v4), None) => drop(self.v4.remove(&u32::from(v4))),
            (IpAddr::V6(v6), Some(value)) => drop(self.v6.insert(v6.octets(), value)),
            (IpAddr::V6(v6), None) => drop(self.v6.remove(&v6.octets())),
        }
    }

    /// Whether any address in the range (both ends of one family) has a PTR record.
    pub fn any_in(&self, range: RangeInclusive<IpAddr>) -> bool {
        match (*range.start(), *range.end()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => self.v4.range(u32::from(a)..=u32::from(b)).next().is_some(),
            (IpAddr::V6(a), IpAddr::V6(b)) => self.v6.range(a.octets()..=b.octets()).next().is_some(),
            _ => false,
        }
    }

    /// Every address with its targets, IPv4 first, each family in address order.
    pub fn iter(&self) -> impl Iterator<Item = (IpAddr, &[ReverseTarget])> {
        let v4 = self.v4.iter().map(|(ip, t)| (IpAddr::from(std::net::Ipv4Addr::from(*ip)), t.as_slice()));
        let v6 = self.v6.iter().map(|(ip, t)| (IpAddr::from(std::net::Ipv6Addr::from(*ip)), t.as_slice()));
        v4.chain(v6)
    }
}

/// One consistent view of the cluster. Its maps are persistent (structurally shared), so the
/// next snapshot is this one with a few entries replaced, not a copy.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// SOA serial; changes whenever DNS-visible data changes.
    pub serial: u32,
    /// False until the source has delivered a complete view of the cluster.
    pub synced: bool,
    pub(super) namespaces: imbl::HashMap<String, NamespaceEntry>,
    pub(super) reverse: ReverseIndex,
    /// The ServiceImports, answered in the clusterset zone (`None`: Multi-Cluster Services off).
    pub(super) clusterset: Option<Arc<Snapshot>>,
    /// Where this instance runs (`--node-name`).
    pub(super) here: Option<Arc<Place>>,
    /// Where the clients run, for an instance that serves many nodes (`--client-nodes`).
    pub(super) clients: Clients,
}

impl Snapshot {
    /// A complete snapshot of `objects`.
    pub fn build(objects: &ClusterObjects, serial: u32) -> Snapshot {
        let mut model = super::model::Model::default();
        model.replace_all(objects);
        let mut snapshot = model.publish(&Snapshot::default());
        snapshot.serial = serial;
        snapshot.synced = true;
        snapshot
    }

    /// Where this instance runs, when it knows (`--node-name`).
    pub fn here(&self) -> Option<&Place> {
        self.here.as_deref()
    }

    /// Where the client at `client` runs: this instance's own place in node-local mode, else
    /// what the Pods and Nodes say (`--client-nodes`).
    pub fn place_of(&self, client: Option<IpAddr>) -> Option<PlaceRef<'_>> {
        match self.here() {
            Some(here) => Some(PlaceRef { node: &here.node, zone: here.zone.as_deref() }),
            // An IPv4 client of a dual-stack socket arrives as ::ffff:a.b.c.d.
            None => self.clients.place_of(client?.to_canonical()),
        }
    }

    /// The view of the clusterset zone: ServiceImports as Services (empty when off).
    pub fn clusterset(&self) -> &Snapshot {
        static EMPTY: std::sync::LazyLock<Snapshot> = std::sync::LazyLock::new(Snapshot::default);
        self.clusterset.as_deref().unwrap_or(&EMPTY)
    }

    pub fn namespace(&self, name: &str) -> Option<&NamespaceEntry> {
        self.namespaces.get(name)
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceEntry> {
        self.namespaces.get(namespace)?.services.get(name).map(|entry| &**entry)
    }

    /// PTR targets of one IP.
    pub fn reverse(&self, ip: IpAddr) -> &[ReverseTarget] {
        self.reverse.get(ip)
    }

    /// Whether any IP with a PTR record falls in the range (an empty non-terminal test).
    pub fn has_reverse_in(&self, range: RangeInclusive<IpAddr>) -> bool {
        self.reverse.any_in(range)
    }

    pub fn service_count(&self) -> usize {
        self.namespaces.values().map(|n| n.services.len()).sum()
    }

    /// Published endpoints, of every Service.
    pub fn endpoint_count(&self) -> usize {
        self.namespaces.values().flat_map(|n| n.services.values()).map(|s| s.endpoints.len()).sum()
    }
}

/// The addresses a Service publishes (DNS spec §2.4 for headless ones; endpoint names of other
/// Services as CoreDNS publishes them): ready ones, or all of them when the Service publishes
/// not-ready addresses; merged over its slices, deduplicated by IP and ordered by it. With them,
/// for a headless Service, the SRV targets of each named port: every published address of a
/// slice serves that slice's ports (a Service with a cluster IP is its own SRV target).
type PortTargets<'a> = BTreeMap<(&'a str, &'a str), Vec<SrvTarget>>;

#[derive(Default)]
struct Published<'a> {
    endpoints: Vec<ServedEndpoint>,
    hostnames: Vec<Arc<str>>,
    targets: PortTargets<'a>,
    zones: Vec<Box<str>>,
    topology: Option<Box<Topology>>,
}

/// A published address before its position is known: hostname, the ports of its first slice,
/// zone, and where it serves.
type Served<'a> = (Option<Arc<str>>, &'a [NamedPort], u16, Option<&'a EndpointPlace>);

fn published<'a>(svc: &Service, slices: impl Iterator<Item = &'a EndpointSlice>) -> Published<'a> {
    if matches!(svc.kind, ServiceKind::ExternalName(_)) {
        return Published::default();
    }
    let headless = svc.kind == ServiceKind::Headless;
    let mut zones: Vec<Box<str>> = Vec::new();
    // First the addresses, each with the ports, zone and place of the first slice that has it...
    let mut served: BTreeMap<IpAddr, Served<'a>> = BTreeMap::new();
    for slice in slices {
        for endpoint in slice.endpoints.iter().filter(|e| e.ready || svc.publish_not_ready) {
            let ip = endpoint.address;
            if let Entry::Vacant(vacant) = served.entry(ip) {
                let hostname = endpoint.hostname.clone();
                let zone = slice.zone_of(endpoint).map_or(0, |zone| zone_index(&mut zones, zone));
                vacant.insert((hostname, &slice.ports, zone, slice.place_of(endpoint)));
            }
        }
    }
    // ...then, with their final positions known, the targets.
    let mut targets: PortTargets<'a> = BTreeMap::new();
    let mut endpoints = Vec::with_capacity(served.len());
    let mut hostnames = Vec::new();
    let mut nearness = TopologyBuilder::new(if headless { svc.traffic_distribution } else { None });
    for (index, (ip, (hostname, ports, zone, place))) in served.into_iter().enumerate() {
        let endpoint = u32::try_from(index).expect("fewer than 2^32 endpoints");
        for port in ports.iter().filter(|_| headless) {
            targets.entry((&port.protocol, &port.name)).or_default().push(SrvTarget { endpoint, port: port.port });
        }
        let hostname = match hostname {
            Some(name) => {
                hostnames.push(name);
                u32::try_from(hostnames.len() - 1).expect("fewer than 2^32 endpoints")
            }
            None => NO_HOSTNAME,
        };
        if headless {
            let zone_name = usize::from(zone).checked_sub(1).map(|i| &*zones[i]);
            nearness.add(endpoint, zone_name, place);
        }
        endpoints.push(ServedEndpoint { ip, hostname, zone });
    }
    Published { endpoints, hostnames, targets, zones, topology: nearness.build() }
}

/// Which published endpoints of a headless Service serve which node and zone, for answers that
/// list the endpoints near the client first. Only Services that ask for it have one: those with
/// a `trafficDistribution` of PreferSameNode, PreferSameZone or PreferClose, and those whose
/// slices carry hints (the EndpointSlice controller's, for either of those or for
/// topology-aware routing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// `(node, endpoint)`: an endpoint serves the nodes its `hints.forNodes` names or, without
    /// them and with PreferSameNode, the node it runs on. Ordered, so the endpoints of one node
    /// are adjacent and in IP order.
    nodes: Box<[(Box<str>, u32)]>,
    /// `(zone, endpoint)`: the zones its `hints.forZones` names or, without them and with any
    /// preference, the zone it runs in. Ordered likewise.
    zones: Box<[(Box<str>, u32)]>,
}

/// The endpoints of one family near a client: indices into [`ServiceEntry::endpoints`], ordered.
#[derive(Debug, Clone, Copy, Default)]
pub struct Near<'a>(&'a [(Box<str>, u32)]);

impl<'a> Near<'a> {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, endpoint: u32) -> bool {
        self.0.binary_search_by_key(&endpoint, |(_, i)| *i).is_ok()
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + Clone + 'a {
        self.0.iter().map(|(_, i)| *i)
    }
}

impl Topology {
    /// The endpoints in `range` (one family's indices) that serve `name`.
    fn serving<'a>(pairs: &'a [(Box<str>, u32)], name: &str, range: &std::ops::Range<u32>) -> Near<'a> {
        let start = pairs.partition_point(|(n, i)| (&**n, *i) < (name, range.start));
        let rest = &pairs[start..];
        Near(&rest[..rest.partition_point(|(n, i)| &**n == name && *i < range.end)])
    }
}

/// Collects [`Topology`] while the endpoints are published.
struct TopologyBuilder {
    prefer: Option<Prefer>,
    hinted: bool,
    nodes: Vec<(Box<str>, u32)>,
    zones: Vec<(Box<str>, u32)>,
}

impl TopologyBuilder {
    fn new(prefer: Option<Prefer>) -> TopologyBuilder {
        TopologyBuilder { prefer, hinted: false, nodes: Vec::new(), zones: Vec::new() }
    }

    fn add(&mut self, endpoint: u32, zone: Option<&str>, place: Option<&EndpointPlace>) {
        self.hinted |= place.is_some_and(EndpointPlace::has_hints);
        let (for_nodes, for_zones, node) = match place {
            Some(place) => (&*place.for_nodes, &*place.for_zones, place.node.as_deref()),
            None => (&[][..], &[][..], None),
        };
        // Hints name whom an endpoint serves; without them, where it runs, when the Service asks.
        let own_node = node.filter(|_| for_nodes.is_empty() && self.prefer == Some(Prefer::SameNode));
        let own_zone = zone.filter(|_| for_zones.is_empty() && self.prefer.is_some());
        self.nodes.extend(for_nodes.iter().map(|n| &**n).chain(own_node).map(|n| (n.into(), endpoint)));
        self.zones.extend(for_zones.iter().map(|z| &**z).chain(own_zone).map(|z| (z.into(), endpoint)));
    }

    fn build(mut self) -> Option<Box<Topology>> {
        if self.prefer.is_none() && !self.hinted || self.nodes.is_empty() && self.zones.is_empty() {
            return None;
        }
        for pairs in [&mut self.nodes, &mut self.zones] {
            pairs.sort();
            pairs.dedup();
        }
        Some(Box::new(Topology { nodes: self.nodes.into(), zones: self.zones.into() }))
    }
}

/// The 1-based number of `zone` in `zones`, added if new; 0 past 65,535 zones.
fn zone_index(zones: &mut Vec<Box<str>>, zone: &str) -> u16 {
    let position = zones.iter().position(|z| **z == *zone).unwrap_or_else(|| {
        zones.push(zone.into());
        zones.len() - 1
    });
    u16::try_from(position + 1).unwrap_or(0)
}

/// The label that names an address without a hostname: `10-0-0-1`, or for IPv6 the compressed
/// form with `-` for `:` (`2001-db8--1`), with a `0` added where it would end in `-`.
pub fn dashed_ip(ip: IpAddr) -> String {
    DashedIp::new(ip).as_str().to_string()
}

/// The inverse of [`dashed_ip`]; `None` when the label is not an address. Without allocating:
/// every query for an endpoint's name asks it.
pub fn parse_dashed_ip(label: &str) -> Option<IpAddr> {
    if label.len() > DASHED_MAX || !label.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return None;
    }
    let v4 = label.bytes().filter(|b| *b == b'-').count() == 3 && !label.contains("--");
    let mut text = [0u8; DASHED_MAX];
    for (to, byte) in text.iter_mut().zip(label.bytes()) {
        *to = match (byte, v4) {
            (b'-', true) => b'.',
            (b'-', false) => b':',
            _ => byte,
        };
    }
    let text = std::str::from_utf8(&text[..label.len()]).ok()?;
    match v4 {
        true => text.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
        false => text.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every endpoint of the cluster is one of these (and one object endpoint): the zone index
    /// lives in padding, so keeping zones costs nothing per endpoint.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn endpoints_stay_small() {
        assert_eq!(std::mem::size_of::<ServedEndpoint>(), 24);
        assert_eq!(std::mem::size_of::<super::super::object::Endpoint>(), 40);
    }

    #[test]
    fn dashed_ip_round_trips() {
        for (ip, label) in
            [("10.0.0.1", "10-0-0-1"), ("2001:db8::1", "2001-db8--1"), ("2001:db8::", "2001-db8--0"), ("::1", "--1")]
        {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(dashed_ip(ip), label);
            assert_eq!(parse_dashed_ip(label), Some(ip));
        }
    }

    fn slice(ports: &[(&str, &str, u16)], endpoints: &[(&str, Option<&str>)]) -> EndpointSlice {
        use super::super::object::{Endpoint, NamedPort};
        EndpointSlice {
            namespace: "ns".into(),
            name: "s".into(),
            service: "svc".into(),
            endpoints: endpoints
                .iter()
                .map(|(ip, host)| Endpoint {
                    address: ip.parse().unwrap(),
                    hostname: host.map(Into::into),
                    ready: true,
                    zone: 0,
                    place: 0,
                })
                .collect(),
            ports: ports
                .iter()
                .map(|(protocol, name, port)| NamedPort {
                    name: name.to_string(),
                    protocol: protocol.to_string(),
                    port: *port,
                })
                .collect(),
            zones: Vec::new(),
            places: Vec::new(),
        }
    }

    #[test]
    fn a_headless_entry_indexes_names_families_and_srv_targets() {
        let service = Service {
            namespace: "ns".into(),
            name: "svc".into(),
            kind: ServiceKind::Headless,
            ports: Vec::new(),
            publish_not_ready: false,
            traffic_distribution: None,
        };
        let one =
            slice(&[("tcp", "http", 8080), ("udp", "dns", 53)], &[("10.0.0.2", Some("b")), ("fd00::1", Some("a"))]);
        let two = slice(&[("tcp", "http", 9090)], &[("10.0.0.1", Some("b")), ("10.0.0.2", Some("c"))]);
        let entry = ServiceEntry::new(Arc::new(service), [one, two].iter());
        let hosts: Vec<(String, String)> =
            entry.endpoints.iter().map(|e| (entry.host(e).to_string(), e.ip.to_string())).collect();
        let expected = [("b", "10.0.0.1"), ("b", "10.0.0.2"), ("a", "fd00::1")];
        assert_eq!(hosts, expected.map(|(h, ip)| (h.to_string(), ip.to_string())));
        assert_eq!(entry.endpoints_named("b").count(), 2);
        assert_eq!(entry.endpoints_named("c").count(), 0, "10.0.0.2 came first from the slice naming it b");
        let ipv4: Vec<IpAddr> = entry.family(false).iter().map(|e| e.ip).collect();
        assert_eq!(ipv4, [IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2])]);
        assert_eq!(entry.family(true).len(), 1);
        let http = entry.srv_sets("tcp", Some("http"));
        let targets: Vec<(String, u16)> =
            http[0].targets.iter().map(|t| (entry.target_host(t).to_string(), t.port)).collect();
        assert_eq!(targets, [("a", 8080), ("b", 8080), ("b", 9090)].map(|(h, p)| (h.to_string(), p)));
        assert_eq!(entry.srv_sets("udp", None).len(), 1);
        assert!(entry.srv_sets("udp", Some("http")).is_empty());
        assert!(entry.srv_sets("sctp", None).is_empty());
    }

    #[test]
    fn near_endpoints_are_found_per_family_by_node_then_zone() {
        use super::super::object::Endpoint;
        let service = Service {
            namespace: "ns".into(),
            name: "svc".into(),
            kind: ServiceKind::Headless,
            ports: Vec::new(),
            publish_not_ready: false,
            traffic_distribution: Some(Prefer::SameZone),
        };
        // (address, zone, node, hinted zones)
        let endpoints = [
            ("10.0.0.3", "a", "n2", &[][..]),
            ("10.0.0.1", "b", "n1", &[]),
            ("fd00::2", "a", "n3", &[]),
            ("10.0.0.2", "a", "n3", &[]),
            ("fd00::1", "b", "n1", &["a"][..]),
        ];
        let mut slice = slice(&[], &[]);
        slice.zones = vec!["a".into(), "b".into()];
        for (i, (ip, zone, node, hints)) in endpoints.iter().enumerate() {
            let place = EndpointPlace {
                node: Some((*node).into()),
                for_nodes: Box::new([]),
                for_zones: hints.iter().map(|h| (*h).into()).collect(),
            };
            slice.places.push(place);
            let zone = if *zone == "a" { 1 } else { 2 };
            let place = u16::try_from(i + 1).unwrap();
            slice.endpoints.push(Endpoint { address: ip.parse().unwrap(), hostname: None, ready: true, zone, place });
        }
        let entry = ServiceEntry::new(Arc::new(service), [slice].iter());
        let near = |ipv6: bool, node: &str, zone: Option<&str>| -> Vec<String> {
            let here = PlaceRef { node, zone };
            entry.near(ipv6, here).iter().map(|i| entry.endpoints[i as usize].ip.to_string()).collect()
        };
        assert_eq!(near(false, "n1", Some("a")), ["10.0.0.2", "10.0.0.3"], "PreferSameZone: the zone's, in IP order");
        assert_eq!(near(true, "n1", Some("a")), ["fd00::1", "fd00::2"], "a hint names the zone an endpoint serves");
        assert_eq!(near(false, "n1", Some("b")), ["10.0.0.1"]);
        assert_eq!(near(true, "n1", Some("b")), Vec::<String>::new(), "the hinted endpoint serves zone a alone");
        assert_eq!(near(false, "n1", None), Vec::<String>::new(), "no zone known, no node preference");
        assert_eq!(near(false, "n9", Some("c")), Vec::<String>::new());
    }

    #[test]
    fn endpoints_without_a_hostname_are_found_by_their_dashed_ip() {
        let service = Service {
            namespace: "ns".into(),
            name: "svc".into(),
            kind: ServiceKind::Headless,
            ports: Vec::new(),
            publish_not_ready: false,
            traffic_distribution: None,
        };
        let endpoints =
            [("10.0.0.1", None), ("10.0.0.2", Some("10-0-0-1")), ("fd00::1", None), ("10.0.0.3", Some("x"))];
        let entry = ServiceEntry::new(Arc::new(service), [slice(&[], &endpoints)].iter());
        let named = |host: &str| entry.endpoints_named(host).map(|e| e.ip.to_string()).collect::<Vec<_>>();
        assert_eq!(named("10-0-0-1"), ["10.0.0.2", "10.0.0.1"], "the hostname first, then the dashed IP");
        assert_eq!(named("fd00--1"), ["fd00::1"]);
        assert_eq!(named("10-0-0-2"), Vec::<String>::new(), "an endpoint with a hostname has no dashed name");
        assert_eq!(named("10-0-0-3"), Vec::<String>::new());
        assert_eq!(named("fd00-0--1"), Vec::<String>::new(), "only the canonical spelling names it");
        assert_eq!(named("x"), ["10.0.0.3"]);
        let hosts: Vec<String> = entry.endpoints.iter().map(|e| entry.host(e).to_string()).collect();
        assert_eq!(hosts, ["10-0-0-1", "10-0-0-1", "x", "fd00--1"]);
    }

    #[test]
    fn dashed_ip_rejects_non_addresses() {
        for label in ["web", "10-0-0", "10-0-0-256", "10-0-0-01", "1-2-3-4-5", "g--1"] {
            assert_eq!(parse_dashed_ip(label), None, "{label}");
        }
    }
}

#[cfg(test)]
mod size_tests {
    /// An address's PTR target is stored in the map's node (see [`super::ReverseIndex`]): a
    /// larger `Targets` costs memory for every endpoint of the cluster.
    #[test]
    fn one_ptr_target_is_three_words() {
        assert_eq!(std::mem::size_of::<super::Targets>(), 24);
    }
}
