//! DNS-shaped objects: the few fields of Kubernetes objects that an answer depends on.
//!
//! Every constructor validates what it keeps. An object that DNS cannot use is rejected with an
//! [`ObjectError`] naming the field, so one bad object never poisons the rest of a load.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;

use hickory_proto::rr::Name;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;

/// Label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Legacy annotation with the meaning of `publishNotReadyAddresses` (DNS spec §2.1).
pub const TOLERATE_UNREADY_ANNOTATION: &str = "service.alpha.kubernetes.io/tolerate-unready-endpoints";
/// Namespace that namespaced objects without `metadata.namespace` belong to, as with `kubectl apply`.
pub const DEFAULT_NAMESPACE: &str = "default";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ObjectError {
    #[error("metadata.name is missing")]
    MissingName,
    #[error("{field} is missing")]
    MissingField { field: &'static str },
    #[error("{field}: {value:?} is not a valid IP address")]
    BadIp { field: &'static str, value: String },
    #[error("{field}: {value:?} is an IPv4-mapped IPv6 address, which Kubernetes does not allow")]
    MappedIp { field: &'static str, value: String },
    #[error("{field}: {value:?} is not a valid DNS name")]
    BadName { field: &'static str, value: String },
    #[error("{field}: {value:?} is not a valid {rule}")]
    BadLabel { field: &'static str, value: String, rule: &'static str },
    #[error("{field}: port {value} is out of range 1..=65535")]
    BadPort { field: &'static str, value: i32 },
    #[error("{field}: {value:?} is not one of {expected}")]
    NotOneOf { field: &'static str, value: String, expected: &'static str },
    #[error("{field}: {value:?} is not a valid CIDR")]
    BadCidr { field: &'static str, value: String },
    #[error("addressType {0:?} is not IPv4 or IPv6")]
    BadAddressType(String),
    #[error("address {address} does not match addressType {address_type}")]
    WrongFamily { address: IpAddr, address_type: &'static str },
}

/// How a Service is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// ClusterIP, NodePort or LoadBalancer: the allocated cluster IPs (empty until allocated).
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: answered from its ready endpoints.
    Headless,
    /// A CNAME to this name (always fully qualified). Boxed: a `Name` is large and few
    /// Services are ExternalName.
    ExternalName(Box<Name>),
}

/// A port, its name lower-cased the way SRV labels are matched (empty when unnamed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamedPort {
    pub name: String,
    pub protocol: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub kind: ServiceKind,
    /// Every port, ordered by protocol and name. An unnamed port (empty name) has no
    /// `_<port>._<proto>` SRV name; it is in the SRV answer at the Service's own name.
    pub ports: Vec<NamedPort>,
    /// Publish every endpoint, ready or not.
    pub publish_not_ready: bool,
    /// `spec.trafficDistribution`: where the Service's traffic should stay, when it says.
    pub traffic_distribution: Option<Prefer>,
}

/// A `spec.trafficDistribution` that keeps traffic close to its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefer {
    /// `PreferSameZone`, or `PreferClose` (its former name).
    SameZone,
    /// `PreferSameNode`.
    SameNode,
}

impl Prefer {
    /// The value of `spec.trafficDistribution`; `None` for values that ask for nothing known
    /// (kube-proxy ignores them too).
    pub fn parse(value: &str) -> Option<Prefer> {
        match value {
            "PreferSameZone" | "PreferClose" => Some(Prefer::SameZone),
            "PreferSameNode" => Some(Prefer::SameNode),
            _ => None,
        }
    }
}

impl Service {
    /// The named ports with `protocol` and name `name` (`None`: any), found by binary search:
    /// `ports` is ordered by protocol, then name.
    pub fn ports_named(&self, protocol: &str, name: Option<&str>) -> &[NamedPort] {
        let start =
            self.ports.partition_point(|p| (p.protocol.as_str(), p.name.as_str()) < (protocol, name.unwrap_or("")));
        let rest = &self.ports[start..];
        let end = rest.partition_point(|p| p.protocol == protocol && name.is_none_or(|n| p.name == n));
        &rest[..end]
    }
}

/// One address of an endpoint. An endpoint with several addresses becomes several of these
/// with the same hostname and condition: DNS answers them the same way, and the common single
/// address then needs no list of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub address: IpAddr,
    /// The endpoint's hostname, lower-cased; `None` means the dashed IP stands in.
    pub hostname: Option<Arc<str>>,
    /// `conditions.ready`, with absent meaning ready.
    pub ready: bool,
    /// The endpoint's topology zone, when zones are kept ([`TrimOptions::zones`]): an index
    /// into its slice's `zones`, 1-based; 0 means none. An index, not a string, so that
    /// keeping zones costs no memory per endpoint (it fits the struct's padding).
    pub zone: u16,
    /// Where the endpoint serves, when kept ([`TrimOptions::topology`]): an index into its
    /// slice's `places`, 1-based; 0 means nothing is known.
    pub place: u16,
}

/// Where one endpoint runs and whom it serves, for answers that prefer the client's node or
/// zone: its `nodeName`, and its `hints` (`forNodes`, `forZones`), names lower-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPlace {
    pub node: Option<Box<str>>,
    pub for_nodes: Box<[Box<str>]>,
    pub for_zones: Box<[Box<str>]>,
}

impl EndpointPlace {
    pub fn has_hints(&self) -> bool {
        !(self.for_nodes.is_empty() && self.for_zones.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSlice {
    pub namespace: String,
    pub name: String,
    /// The Service this slice belongs to, from its `kubernetes.io/service-name` label.
    pub service: String,
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<NamedPort>,
    /// The distinct topology zones of the endpoints, lower-cased (empty unless zones are kept).
    pub zones: Vec<Box<str>>,
    /// Where the endpoints serve (empty unless topology is kept).
    pub places: Vec<EndpointPlace>,
}

impl EndpointSlice {
    /// The topology zone of `endpoint`, if it has one.
    pub fn zone_of(&self, endpoint: &Endpoint) -> Option<&str> {
        let index = usize::from(endpoint.zone).checked_sub(1)?;
        self.zones.get(index).map(|zone| &**zone)
    }

    /// Where `endpoint` serves, if known.
    pub fn place_of(&self, endpoint: &Endpoint) -> Option<&EndpointPlace> {
        let index = usize::from(endpoint.place).checked_sub(1)?;
        self.places.get(index)
    }
}

/// Where a client or this instance runs: a node and that Node's topology zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub node: String,
    /// The Node's `topology.kubernetes.io/zone` label, lower-cased.
    pub zone: Option<String>,
}

/// The label that names a Node's topology zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// A Node: where it is, and, for a central instance (`--client-nodes`), the addresses its
/// clients send from: its pod CIDRs and its own InternalIPs (hostNetwork Pods).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub place: Place,
    /// `spec.podCIDRs` (or `spec.podCIDR`), each as its first and last address.
    pub pod_cidrs: Box<[RangeInclusive<IpAddr>]>,
    /// `status.addresses` of type InternalIP.
    pub addresses: Box<[IpAddr]>,
}

impl Node {
    /// A Node object's place, with its client addresses when `clients` (a bad CIDR or address
    /// is left out).
    pub fn trim(node: &core::Node, clients: bool) -> Result<Trimmed<Node>, ObjectError> {
        let name = name_of(&node.metadata)?;
        let zone = label_of(&node.metadata, ZONE_LABEL).map(|zone| zone.to_ascii_lowercase());
        let place = Place { node: name.to_ascii_lowercase(), zone };
        let (mut skipped, mut pod_cidrs, mut addresses) = (Vec::new(), Vec::new(), Vec::new());
        if clients {
            let spec = node.spec.as_ref();
            let cidrs: Vec<&String> = match spec.and_then(|s| s.pod_cidrs.as_ref()).filter(|c| !c.is_empty()) {
                Some(cidrs) => cidrs.iter().collect(),
                None => spec.and_then(|s| s.pod_cidr.as_ref()).into_iter().collect(),
            };
            pod_cidrs = each(cidrs, &mut skipped, |cidr| parse_cidr("spec.podCIDRs", cidr));
            let internal = node.status.iter().flat_map(|s| s.addresses.iter().flatten());
            let internal = internal.filter(|a| a.type_ == "InternalIP");
            addresses = each(internal, &mut skipped, |a| parse_ip("status.addresses[].address", &a.address));
        }
        let node = Node { place, pod_cidrs: pod_cidrs.into(), addresses: addresses.into() };
        Ok(Trimmed { object: node, skipped })
    }
}

/// `10.244.1.0/24` as its first and last address.
fn parse_cidr(field: &'static str, value: &str) -> Result<RangeInclusive<IpAddr>, ObjectError> {
    let bad = || ObjectError::BadCidr { field, value: value.to_string() };
    let (ip, bits) = value.split_once('/').ok_or_else(bad)?;
    let bits: u32 = bits.parse().map_err(|_| bad())?;
    match parse_ip(field, ip).map_err(|_| bad())? {
        IpAddr::V4(ip) if bits <= 32 => {
            let host = u32::MAX.checked_shr(bits).unwrap_or(0);
            let first = u32::from(ip) & !host;
            Ok(IpAddr::from(std::net::Ipv4Addr::from(first))..=IpAddr::from(std::net::Ipv4Addr::from(first | host)))
        }
        IpAddr::V6(ip) if bits <= 128 => {
            let host = u128::MAX.checked_shr(bits).unwrap_or(0);
            let first = u128::from(ip) & !host;
            Ok(IpAddr::from(std::net::Ipv6Addr::from(first))..=IpAddr::from(std::net::Ipv6Addr::from(first | host)))
        }
        _ => Err(bad()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub ips: Vec<IpAddr>,
    /// `spec.nodeName`, lower-cased, when kept ([`TrimOptions::pod_nodes`]).
    pub node: Option<Box<str>>,
}

/// Everything a source knows, in the shape the registry indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterObjects {
    pub namespaces: Vec<String>,
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    pub pods: Vec<Pod>,
    /// ServiceImports (Multi-Cluster Services), as Services of the clusterset zone.
    pub imports: Vec<Service>,
    /// Their EndpointSlices, endpoints named `<hostname>.<clusterid>`.
    pub imported_slices: Vec<EndpointSlice>,
}

impl ClusterObjects {
    pub fn extend(&mut self, other: ClusterObjects) {
        self.namespaces.extend(other.namespaces);
        self.services.extend(other.services);
        self.endpoint_slices.extend(other.endpoint_slices);
        self.pods.extend(other.pods);
        self.imports.extend(other.imports);
        self.imported_slices.extend(other.imported_slices);
    }
}

/// How objects are trimmed: the `kubernetes` plugin options that change what is kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrimOptions {
    /// An endpoint without a hostname is named after the Pod it targets (CoreDNS
    /// `endpoint_pod_names`), when that name is a valid label.
    pub endpoint_pod_names: bool,
    /// Endpoints keep their topology zone (`endpoints[].zone`), for zone-pinned names.
    pub zones: bool,
    /// Endpoints keep their zone, node and hints, for answers that prefer the client's node or
    /// zone (`--node-name`, `--client-nodes`).
    pub topology: bool,
    /// Pods keep their node, the node of their clients' queries (`--client-nodes pods`).
    pub pod_nodes: bool,
}

/// A converted object, and the parts of it that were left out because DNS cannot use them
/// (an endpoint with a bad address, a port out of range): one bad field drops that part, not
/// the object.
#[derive(Debug)]
pub struct Trimmed<T> {
    pub object: T,
    pub skipped: Vec<ObjectError>,
}

pub(super) type Meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub(super) fn name_of(meta: &Meta) -> Result<String, ObjectError> {
    meta.name.clone().filter(|n| !n.is_empty()).ok_or(ObjectError::MissingName)
}

/// A Service's name as Kubernetes validates it (a DNS-1035 label), since it is a DNS label.
pub(super) fn service_name_of(meta: &Meta) -> Result<String, ObjectError> {
    let name = name_of(meta)?;
    dns1035_label("metadata.name", &name)?;
    Ok(name)
}

pub(super) fn namespace_of(meta: &Meta) -> Result<String, ObjectError> {
    let namespace = meta.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    dns1123_label("metadata.namespace", &namespace)?;
    Ok(namespace)
}

/// Kubernetes' DNS-1123 label (namespaces, endpoint hostnames): lower-case letters, digits and
/// `-`, beginning and ending with a letter or digit, at most 63 characters.
pub(super) fn dns1123_label(field: &'static str, value: &str) -> Result<(), ObjectError> {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes = value.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|&c| alnum(c) || c == b'-')
        && alnum(bytes[0])
        && alnum(bytes[bytes.len() - 1]);
    if valid { Ok(()) } else { Err(ObjectError::BadLabel { field, value: value.to_string(), rule: "DNS-1123 label" }) }
}

/// Kubernetes' DNS-1035 label (Service names): a DNS-1123 label that begins with a letter.
pub(super) fn dns1035_label(field: &'static str, value: &str) -> Result<(), ObjectError> {
    let bad = || ObjectError::BadLabel { field, value: value.to_string(), rule: "DNS-1035 label" };
    dns1123_label(field, value).map_err(|_| bad())?;
    if value.as_bytes()[0].is_ascii_lowercase() { Ok(()) } else { Err(bad()) }
}

/// Kubernetes' IANA service name (port names, the `_<port>` label of SRV names): at most 15
/// lower-case letters, digits and `-`, with a letter, no `--`, not beginning or ending in `-`.
fn port_name(field: &'static str, value: &str) -> Result<String, ObjectError> {
    let name = value.to_ascii_lowercase();
    let bytes = name.as_bytes();
    let valid = (1..=15).contains(&bytes.len())
        && bytes.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && bytes.iter().any(u8::is_ascii_lowercase)
        && !name.contains("--")
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(name)
    } else {
        Err(ObjectError::BadLabel { field, value: value.to_string(), rule: "IANA service name" })
    }
}

/// An address DNS can publish. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are refused, as
/// Kubernetes refuses them: the same host would answer A and AAAA queries differently.
pub(super) fn parse_ip(field: &'static str, value: &str) -> Result<IpAddr, ObjectError> {
    match value.parse::<IpAddr>().map_err(|_| ObjectError::BadIp { field, value: value.to_string() })? {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
            Err(ObjectError::MappedIp { field, value: value.to_string() })
        }
        ip => Ok(ip),
    }
}

fn parse_port(field: &'static str, value: i32) -> Result<u16, ObjectError> {
    u16::try_from(value).ok().filter(|p| *p != 0).ok_or(ObjectError::BadPort { field, value })
}

/// A port; the protocol defaults to TCP as in the API. An unnamed port has an empty name.
pub(super) fn named_port(
    field: &'static str,
    name: Option<&String>,
    protocol: Option<&String>,
    port: i32,
) -> Result<Option<NamedPort>, ObjectError> {
    let port = parse_port(field, port)?;
    let name = match name.filter(|n| !n.is_empty()) {
        Some(name) => port_name("ports[].name", name)?,
        None => String::new(),
    };
    let protocol = protocol.map_or("tcp".to_string(), |p| p.to_ascii_lowercase());
    Ok(Some(NamedPort { name, protocol, port }))
}

fn is_true(annotations: Option<&BTreeMap<String, String>>, key: &str) -> bool {
    annotations.and_then(|a| a.get(key)).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Ports as a Service entry keeps them: ordered by protocol and name, for binary search.
pub(super) fn sorted_ports(ports: Vec<Option<NamedPort>>) -> Vec<NamedPort> {
    let mut ports: Vec<NamedPort> = ports.into_iter().flatten().collect();
    ports.sort_by(|a, b| (&a.protocol, &a.name).cmp(&(&b.protocol, &b.name)));
    ports
}

/// Runs `convert` on every item, keeping the good results and the errors apart.
pub(super) fn each<I, T>(
    items: impl IntoIterator<Item = I>,
    skipped: &mut Vec<ObjectError>,
    mut convert: impl FnMut(I) -> Result<T, ObjectError>,
) -> Vec<T> {
    let mut kept = Vec::new();
    for item in items {
        match convert(item) {
            Ok(value) => kept.push(value),
            Err(error) => skipped.push(error),
        }
    }
    kept
}

impl Service {
    /// The Service DNS answers for `svc`; bad ports are left out.
    pub fn trim(svc: &core::Service) -> Result<Trimmed<Service>, ObjectError> {
        let name = service_name_of(&svc.metadata)?;
        let namespace = namespace_of(&svc.metadata)?;
        let spec = svc.spec.as_ref().ok_or(ObjectError::MissingField { field: "spec" })?;
        let kind = service_kind(spec)?;
        let mut skipped = Vec::new();
        let ports = spec.ports.iter().flatten();
        let ports = each(ports, &mut skipped, |p| {
            named_port("spec.ports[].port", p.name.as_ref(), p.protocol.as_ref(), p.port)
        });
        let ports = sorted_ports(ports);
        let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false)
            || is_true(svc.metadata.annotations.as_ref(), TOLERATE_UNREADY_ANNOTATION);
        let traffic_distribution = spec.traffic_distribution.as_deref().and_then(Prefer::parse);
        let service = Service { namespace, name, kind, ports, publish_not_ready, traffic_distribution };
        Ok(Trimmed { object: service, skipped })
    }
}

fn service_kind(spec: &core::ServiceSpec) -> Result<ServiceKind, ObjectError> {
    if spec.type_.as_deref() == Some("ExternalName") {
        let target = spec
            .external_name
            .as_deref()
            .filter(|n| !n.is_empty())
            .ok_or(ObjectError::MissingField { field: "spec.externalName" })?;
        return external_name(target).map(|name| ServiceKind::ExternalName(Box::new(name)));
    }
    // `clusterIPs` is authoritative when present; `clusterIP` is its first entry.
    let ips: Vec<&String> = match &spec.cluster_ips {
        Some(ips) if !ips.is_empty() => ips.iter().collect(),
        _ => spec.cluster_ip.iter().collect(),
    };
    if ips.iter().any(|ip| ip.as_str() == "None") {
        return Ok(ServiceKind::Headless);
    }
    let ips = ips
        .into_iter()
        .filter(|ip| !ip.is_empty())
        .map(|ip| parse_ip("spec.clusterIPs", ip))
        .collect::<Result<_, _>>()?;
    Ok(ServiceKind::ClusterIp(ips))
}

fn external_name(target: &str) -> Result<Name, ObjectError> {
    let bad = || ObjectError::BadName { field: "spec.externalName", value: target.to_string() };
    let mut name = Name::from_ascii(target).map_err(|_| bad())?;
    if name.is_root() || target.starts_with('.') {
        return Err(bad());
    }
    name.set_fqdn(true);
    Ok(name)
}

impl EndpointSlice {
    /// The endpoints DNS answers with from `slice`; a bad endpoint or port is left out.
    pub fn trim(slice: &discovery::EndpointSlice, options: TrimOptions) -> Result<Trimmed<EndpointSlice>, ObjectError> {
        let owner = Owner { label: SERVICE_NAME_LABEL, field: "metadata.labels[kubernetes.io/service-name]" };
        EndpointSlice::trim_owned(slice, options, owner)
    }

    /// The same, for a slice whose owner is named by `owner`'s label.
    pub(super) fn trim_owned(
        slice: &discovery::EndpointSlice,
        options: TrimOptions,
        owner: Owner,
    ) -> Result<Trimmed<EndpointSlice>, ObjectError> {
        let name = name_of(&slice.metadata)?;
        let namespace = namespace_of(&slice.metadata)?;
        let service = label_of(&slice.metadata, owner.label).ok_or(ObjectError::MissingField { field: owner.field })?;
        let family = match slice.address_type.as_str() {
            "IPv4" => "IPv4",
            "IPv6" => "IPv6",
            "" => return Err(ObjectError::MissingField { field: "addressType" }),
            other => return Err(ObjectError::BadAddressType(other.to_string())),
        };
        let mut skipped = Vec::new();
        let mut zones = Zones::default();
        let mut places = Vec::new();
        let keep_zones = options.zones || options.topology;
        let endpoints = each(&slice.endpoints, &mut skipped, |e| {
            let zone = e.zone.as_deref().filter(|_| keep_zones).map_or(0, |zone| zones.index(zone));
            let place = match endpoint_place(e).filter(|_| options.topology) {
                // Past 65,535 places an endpoint's place is unknown: it is answered as before.
                Some(place) if places.len() < usize::from(u16::MAX) => {
                    places.push(place);
                    places.len() as u16
                }
                _ => 0,
            };
            endpoint(e, family, options, zone, place)
        });
        let endpoints = endpoints.into_iter().flatten().collect();
        let ports = slice.ports.iter().flatten().filter_map(|p| Some((p, p.port?)));
        let ports = each(ports, &mut skipped, |(p, port)| {
            named_port("ports[].port", p.name.as_ref(), p.protocol.as_ref(), port)
        });
        let ports = ports.into_iter().flatten().collect();
        let zones = zones.0;
        Ok(Trimmed { object: EndpointSlice { namespace, name, service, endpoints, ports, zones, places }, skipped })
    }
}

/// The label naming what an EndpointSlice belongs to, and how an error names it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Owner {
    pub label: &'static str,
    pub field: &'static str,
}

/// A label's value, if set and not empty.
pub(super) fn label_of(meta: &Meta, label: &str) -> Option<String> {
    meta.labels.as_ref().and_then(|l| l.get(label)).filter(|s| !s.is_empty()).cloned()
}

/// Every address of one endpoint, or why the endpoint cannot be used.
fn endpoint(
    e: &discovery::Endpoint,
    family: &'static str,
    options: TrimOptions,
    zone: u16,
    place: u16,
) -> Result<Vec<Endpoint>, ObjectError> {
    let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
    let hostname = e.hostname.as_ref().filter(|h| !h.is_empty()).map(|h| h.to_ascii_lowercase());
    if let Some(hostname) = &hostname {
        dns1123_label("endpoints[].hostname", hostname)?;
    }
    let hostname: Option<Arc<str>> = hostname.or_else(|| pod_name(e, options)).map(Into::into);
    let mut addresses = Vec::with_capacity(e.addresses.len());
    for address in &e.addresses {
        let address = parse_ip("endpoints[].addresses", address)?;
        if address.is_ipv4() != (family == "IPv4") {
            return Err(ObjectError::WrongFamily { address, address_type: family });
        }
        addresses.push(Endpoint { address, hostname: hostname.clone(), ready, zone, place });
    }
    Ok(addresses)
}

/// Where an endpoint runs and whom its hints say it serves; `None` when it says nothing.
fn endpoint_place(e: &discovery::Endpoint) -> Option<EndpointPlace> {
    let lower = |name: &str| -> Box<str> { name.to_ascii_lowercase().into() };
    let node = e.node_name.as_deref().filter(|n| !n.is_empty()).map(lower);
    let hints = e.hints.as_ref();
    let names = |names: Option<Vec<&str>>| -> Box<[Box<str>]> {
        names.into_iter().flatten().filter(|n| !n.is_empty()).map(lower).collect()
    };
    let for_nodes =
        names(hints.and_then(|h| h.for_nodes.as_ref()).map(|f| f.iter().map(|n| n.name.as_str()).collect()));
    let for_zones =
        names(hints.and_then(|h| h.for_zones.as_ref()).map(|f| f.iter().map(|z| z.name.as_str()).collect()));
    let place = EndpointPlace { node, for_nodes, for_zones };
    (place != EndpointPlace::default()).then_some(place)
}

/// The distinct zone names of one slice, each numbered from 1 in order of appearance.
#[derive(Default)]
struct Zones(Vec<Box<str>>);

impl Zones {
    /// The number of `zone` (compared without case), added if new; 0 past 65,535 zones.
    fn index(&mut self, zone: &str) -> u16 {
        let zones = &mut self.0;
        let position = match zones.iter().position(|z| z.eq_ignore_ascii_case(zone)) {
            Some(position) => position,
            None => {
                zones.push(zone.to_ascii_lowercase().into());
                zones.len() - 1
            }
        };
        u16::try_from(position + 1).unwrap_or(0)
    }
}

/// With `endpoint_pod_names`, the name of the Pod an endpoint targets, as CoreDNS takes it: when
/// it is under 64 characters (and, here, a valid DNS label; a Pod name may hold dots). Otherwise
/// the endpoint keeps its dashed-IP name.
fn pod_name(e: &discovery::Endpoint, options: TrimOptions) -> Option<String> {
    let target = e.target_ref.as_ref().filter(|_| options.endpoint_pod_names)?;
    let name = target.name.as_ref().filter(|_| target.kind.as_deref() == Some("Pod"))?.to_ascii_lowercase();
    dns1123_label("endpoints[].targetRef.name", &name).ok().map(|()| name)
}

impl Pod {
    /// A Pod's IPs. Pods that have finished (`Succeeded`, `Failed`) keep none: their addresses
    /// may be reused. A bad address is left out.
    pub fn trim(pod: &core::Pod, options: TrimOptions) -> Result<Trimmed<Pod>, ObjectError> {
        let name = name_of(&pod.metadata)?;
        let namespace = namespace_of(&pod.metadata)?;
        let status = pod.status.as_ref();
        let finished = matches!(status.and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"));
        let mut skipped = Vec::new();
        let mut ips = Vec::new();
        if !finished && let Some(status) = status {
            ips = each(status.pod_ips.iter().flatten(), &mut skipped, |ip| parse_ip("status.podIPs", &ip.ip));
            if let (true, Some(ip)) = (ips.is_empty(), status.pod_ip.as_ref()) {
                ips = each([ip], &mut skipped, |ip| parse_ip("status.podIP", ip));
            }
        }
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|_| options.pod_nodes);
        let node = node.filter(|n| !n.is_empty()).map(|n| n.to_ascii_lowercase().into());
        Ok(Trimmed { object: Pod { namespace, name, ips, node }, skipped })
    }
}

/// The name of a Namespace object.
pub fn namespace_name(ns: &core::Namespace) -> Result<String, ObjectError> {
    let name = name_of(&ns.metadata)?;
    dns1123_label("metadata.name", &name)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_kubernetes_rules() {
        for ok in ["web", "a", "web-2", "0ab"] {
            assert!(dns1123_label("f", ok).is_ok(), "{ok}");
        }
        for bad in ["", "Web", "a.b", "-a", "a-", &"a".repeat(64), "a_b"] {
            assert!(dns1123_label("f", bad).is_err(), "{bad}");
        }
        assert!(dns1035_label("f", "0ab").is_err(), "a Service name begins with a letter");
        assert!(dns1035_label("f", "web-upper").is_ok());
        assert_eq!(port_name("f", "HTTP"), Ok("http".to_string()));
        for bad in ["8080", "a--b", "-a", &"a".repeat(16)] {
            assert!(port_name("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv4_mapped_ipv6_addresses_are_refused() {
        assert!(parse_ip("f", "::ffff:10.0.0.1").is_err());
        assert!(parse_ip("f", "fd00::1").is_ok());
        assert!(parse_ip("f", "10.0.0.1").is_ok());
    }

    #[test]
    fn one_bad_endpoint_drops_that_endpoint_not_the_slice() {
        let slice: discovery::EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s", "namespace": "apps", "labels": {SERVICE_NAME_LABEL: "db"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.0.0.1"]},
                {"addresses": ["10.0.0.300"]},
                {"addresses": ["10.0.0.3"], "hostname": "x".repeat(70)},
                {"addresses": ["10.0.0.4"], "hostname": "db-0"}
            ],
            "ports": [{"name": "http", "port": 80}, {"name": "bad", "port": 70000}]
        }))
        .unwrap();
        let trimmed = EndpointSlice::trim(&slice, TrimOptions::default()).unwrap();
        let kept: Vec<String> = trimmed.object.endpoints.iter().map(|e| e.address.to_string()).collect();
        assert_eq!(kept, ["10.0.0.1", "10.0.0.4"]);
        assert_eq!(trimmed.object.ports.len(), 1);
        assert_eq!(trimmed.skipped.len(), 3, "{:?}", trimmed.skipped);
        assert!(trimmed.skipped[0].to_string().contains("endpoints[].addresses"));
    }
}
