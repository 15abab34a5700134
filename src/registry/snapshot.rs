//! An immutable, indexed view of the cluster: everything one answer needs, found by hash lookups.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;

use super::object::{ClusterObjects, EndpointSlice, NamedPort, Service, ServiceKind};

/// One published address of a headless Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedEndpoint {
    pub ip: IpAddr,
    /// The first label of the endpoint's own name: its hostname or its dashed IP. Shared with
    /// the endpoint's PTR target.
    pub host: Arc<str>,
    /// The named ports of the EndpointSlice the address came from.
    pub ports: Arc<[NamedPort]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub service: Service,
    /// Headless Services only: published addresses, deduplicated, ordered by IP.
    pub endpoints: Vec<ServedEndpoint>,
}

impl ServiceEntry {
    pub fn is_headless(&self) -> bool {
        self.service.kind == ServiceKind::Headless
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
    pub host: Option<Arc<str>>,
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
    /// Most IPs have one target; a boxed slice holds exactly what is there.
    pub(super) reverse: imbl::OrdMap<IpAddr, Box<[ReverseTarget]>>,
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

    pub fn namespace(&self, name: &str) -> Option<&NamespaceEntry> {
        self.namespaces.get(name)
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceEntry> {
        self.namespaces.get(namespace)?.services.get(name).map(|entry| &**entry)
    }

    /// PTR targets of one IP.
    pub fn reverse(&self, ip: IpAddr) -> &[ReverseTarget] {
        self.reverse.get(&ip).map_or(&[], |targets| &**targets)
    }

    /// Whether any IP with a PTR record falls in the range (an empty non-terminal test).
    pub fn has_reverse_in(&self, range: RangeInclusive<IpAddr>) -> bool {
        self.reverse.range(range).next().is_some()
    }

    pub fn service_count(&self) -> usize {
        self.namespaces.values().map(|n| n.services.len()).sum()
    }

    /// Published headless endpoints.
    pub fn endpoint_count(&self) -> usize {
        self.namespaces.values().flat_map(|n| n.services.values()).map(|s| s.endpoints.len()).sum()
    }
}

/// The addresses a headless Service publishes (DNS spec §2.4): ready ones, or all of them when
/// the Service publishes not-ready addresses; merged over its slices and deduplicated by IP.
pub(super) fn served_endpoints<'a>(
    svc: &Service,
    slices: impl Iterator<Item = &'a EndpointSlice>,
) -> Vec<ServedEndpoint> {
    if svc.kind != ServiceKind::Headless {
        return Vec::new();
    }
    let mut served: BTreeMap<IpAddr, ServedEndpoint> = BTreeMap::new();
    for slice in slices {
        let ports: Arc<[NamedPort]> = slice.ports.clone().into();
        for endpoint in slice.endpoints.iter().filter(|e| e.ready || svc.publish_not_ready) {
            let ip = endpoint.address;
            served.entry(ip).or_insert_with(|| {
                let host = endpoint.hostname.as_deref().map_or_else(|| dashed_ip(ip).into(), Arc::from);
                ServedEndpoint { ip, host, ports: ports.clone() }
            });
        }
    }
    served.into_values().collect()
}

/// The label that names an address without a hostname: `10-0-0-1`, or for IPv6 the compressed
/// form with `-` for `:` (`2001-db8--1`), with a `0` added where it would end in `-`.
pub fn dashed_ip(ip: IpAddr) -> String {
    let mut s = ip.to_string().replace(['.', ':'], "-");
    if s.ends_with('-') {
        s.push('0');
    }
    s
}

/// The inverse of [`dashed_ip`]; `None` when the label is not an address.
pub fn parse_dashed_ip(label: &str) -> Option<IpAddr> {
    if label.bytes().filter(|b| *b == b'-').count() == 3 && !label.contains("--") {
        return label.replace('-', ".").parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4);
    }
    label.replace('-', ":").parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn dashed_ip_rejects_non_addresses() {
        for label in ["web", "10-0-0", "10-0-0-256", "10-0-0-01", "1-2-3-4-5", "g--1"] {
            assert_eq!(parse_dashed_ip(label), None, "{label}");
        }
    }
}
