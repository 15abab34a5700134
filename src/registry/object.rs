//! DNS-shaped objects: the few fields of Kubernetes objects that an answer depends on.
//!
//! Every constructor validates what it keeps. An object that DNS cannot use is rejected with an
//! [`ObjectError`] naming the field, so one bad object never poisons the rest of a load.

use std::collections::BTreeMap;
use std::net::IpAddr;

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
    #[error("{field}: {value:?} is not a valid DNS name")]
    BadName { field: &'static str, value: String },
    #[error("{field}: port {value} is out of range 1..=65535")]
    BadPort { field: &'static str, value: i32 },
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

/// A named port, lower-cased the way SRV labels are matched.
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
    /// Named ports only: unnamed ports have no SRV record.
    pub ports: Vec<NamedPort>,
    /// Publish every endpoint, ready or not.
    pub publish_not_ready: bool,
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
    pub hostname: Option<Box<str>>,
    /// `conditions.ready`, with absent meaning ready.
    pub ready: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSlice {
    pub namespace: String,
    pub name: String,
    /// The Service this slice belongs to, from its `kubernetes.io/service-name` label.
    pub service: String,
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<NamedPort>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub ips: Vec<IpAddr>,
}

/// Everything a source knows, in the shape the registry indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterObjects {
    pub namespaces: Vec<String>,
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    pub pods: Vec<Pod>,
}

impl ClusterObjects {
    pub fn extend(&mut self, other: ClusterObjects) {
        self.namespaces.extend(other.namespaces);
        self.services.extend(other.services);
        self.endpoint_slices.extend(other.endpoint_slices);
        self.pods.extend(other.pods);
    }
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Result<String, ObjectError> {
    meta.name.clone().filter(|n| !n.is_empty()).ok_or(ObjectError::MissingName)
}

fn namespace_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| DEFAULT_NAMESPACE.to_string())
}

fn parse_ip(field: &'static str, value: &str) -> Result<IpAddr, ObjectError> {
    value.parse().map_err(|_| ObjectError::BadIp { field, value: value.to_string() })
}

fn parse_port(field: &'static str, value: i32) -> Result<u16, ObjectError> {
    u16::try_from(value).ok().filter(|p| *p != 0).ok_or(ObjectError::BadPort { field, value })
}

/// Keeps the named ports; the protocol defaults to TCP as in the API.
fn named_port(
    field: &'static str,
    name: Option<&String>,
    protocol: Option<&String>,
    port: i32,
) -> Result<Option<NamedPort>, ObjectError> {
    let port = parse_port(field, port)?;
    Ok(name.filter(|n| !n.is_empty()).map(|name| NamedPort {
        name: name.to_ascii_lowercase(),
        protocol: protocol.map_or("tcp".to_string(), |p| p.to_ascii_lowercase()),
        port,
    }))
}

fn is_true(annotations: Option<&BTreeMap<String, String>>, key: &str) -> bool {
    annotations.and_then(|a| a.get(key)).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

impl TryFrom<&core::Service> for Service {
    type Error = ObjectError;

    fn try_from(svc: &core::Service) -> Result<Self, ObjectError> {
        let name = name_of(&svc.metadata)?;
        let namespace = namespace_of(&svc.metadata);
        let spec = svc.spec.as_ref().ok_or(ObjectError::MissingField { field: "spec" })?;
        let kind = service_kind(spec)?;
        let mut ports = Vec::new();
        for p in spec.ports.iter().flatten() {
            ports.extend(named_port("spec.ports[].port", p.name.as_ref(), p.protocol.as_ref(), p.port)?);
        }
        let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false)
            || is_true(svc.metadata.annotations.as_ref(), TOLERATE_UNREADY_ANNOTATION);
        ports.sort_by(|a, b| (&a.protocol, &a.name).cmp(&(&b.protocol, &b.name)));
        Ok(Service { namespace, name, kind, ports, publish_not_ready })
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

impl TryFrom<&discovery::EndpointSlice> for EndpointSlice {
    type Error = ObjectError;

    fn try_from(slice: &discovery::EndpointSlice) -> Result<Self, ObjectError> {
        let name = name_of(&slice.metadata)?;
        let namespace = namespace_of(&slice.metadata);
        let service = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
            .filter(|s| !s.is_empty())
            .cloned()
            .ok_or(ObjectError::MissingField { field: "metadata.labels[kubernetes.io/service-name]" })?;
        let family = match slice.address_type.as_str() {
            "IPv4" => "IPv4",
            "IPv6" => "IPv6",
            "" => {
                return Err(ObjectError::MissingField { field: "addressType" });
            }
            other => return Err(ObjectError::BadAddressType(other.to_string())),
        };
        let mut endpoints = Vec::with_capacity(slice.endpoints.len());
        for e in &slice.endpoints {
            add_endpoint(e, family, &mut endpoints)?;
        }
        let mut ports = Vec::new();
        for p in slice.ports.iter().flatten() {
            let Some(port) = p.port else { continue };
            ports.extend(named_port("ports[].port", p.name.as_ref(), p.protocol.as_ref(), port)?);
        }
        Ok(EndpointSlice { namespace, name, service, endpoints, ports })
    }
}

fn add_endpoint(e: &discovery::Endpoint, family: &'static str, out: &mut Vec<Endpoint>) -> Result<(), ObjectError> {
    let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
    let hostname: Option<Box<str>> =
        e.hostname.as_ref().filter(|h| !h.is_empty()).map(|h| h.to_ascii_lowercase().into());
    for address in &e.addresses {
        let address = parse_ip("endpoints[].addresses", address)?;
        if address.is_ipv4() != (family == "IPv4") {
            return Err(ObjectError::WrongFamily { address, address_type: family });
        }
        out.push(Endpoint { address, hostname: hostname.clone(), ready });
    }
    Ok(())
}

impl TryFrom<&core::Pod> for Pod {
    type Error = ObjectError;

    /// Pods that have finished (`Succeeded`, `Failed`) keep no IPs: their addresses may be reused.
    fn try_from(pod: &core::Pod) -> Result<Self, ObjectError> {
        let name = name_of(&pod.metadata)?;
        let namespace = namespace_of(&pod.metadata);
        let status = pod.status.as_ref();
        let finished = matches!(status.and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"));
        let mut ips = Vec::new();
        if !finished && let Some(status) = status {
            for ip in status.pod_ips.iter().flatten() {
                ips.push(parse_ip("status.podIPs", &ip.ip)?);
            }
            if let (true, Some(ip)) = (ips.is_empty(), status.pod_ip.as_ref()) {
                ips.push(parse_ip("status.podIP", ip)?);
            }
        }
        Ok(Pod { namespace, name, ips })
    }
}

/// The name of a Namespace object.
pub fn namespace_name(ns: &core::Namespace) -> Result<String, ObjectError> {
    name_of(&ns.metadata)
}
