//! An immutable, indexed view of the cluster: everything one answer needs, found by hash lookups.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;

use tracing::warn;

use super::object::{ClusterObjects, EndpointSlice, NamedPort, Service, ServiceKind};

/// One published address of a headless Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedEndpoint {
    pub ip: IpAddr,
    /// The first label of the endpoint's own name: its hostname or its dashed IP.
    pub host: String,
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

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NamespaceEntry {
    pub services: HashMap<String, ServiceEntry>,
    /// IPs of running Pods in this namespace (`--pods verified`).
    pub pod_ips: HashSet<IpAddr>,
}

/// What a PTR record for an IP points at: `[<host>.]<service>.<namespace>.svc.<zone>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReverseTarget {
    pub host: Option<String>,
    pub service: String,
    pub namespace: String,
}

#[derive(Debug, Default)]
pub struct Snapshot {
    /// SOA serial; changes whenever DNS-visible data changes.
    pub serial: u32,
    /// False until the source has delivered a complete view of the cluster.
    pub synced: bool,
    namespaces: HashMap<String, NamespaceEntry>,
    reverse: BTreeMap<IpAddr, Vec<ReverseTarget>>,
}

impl Snapshot {
    pub fn build(objects: &ClusterObjects, serial: u32) -> Snapshot {
        let mut namespaces: HashMap<String, NamespaceEntry> = HashMap::new();
        for ns in &objects.namespaces {
            namespaces.entry(ns.clone()).or_default();
        }
        let slices = slices_by_service(&objects.endpoint_slices);
        for svc in &objects.services {
            let no_slices = Vec::new();
            let svc_slices = slices.get(&(svc.namespace.as_str(), svc.name.as_str())).unwrap_or(&no_slices);
            let entry = ServiceEntry { service: svc.clone(), endpoints: served_endpoints(svc, svc_slices) };
            let services = &mut namespaces.entry(svc.namespace.clone()).or_default().services;
            if services.insert(svc.name.clone(), entry).is_some() {
                warn!(namespace = %svc.namespace, service = %svc.name, "service defined twice; the last definition wins");
            }
        }
        // A namespace exists if any namespaced object names it.
        for slice in &objects.endpoint_slices {
            namespaces.entry(slice.namespace.clone()).or_default();
        }
        for pod in &objects.pods {
            namespaces.entry(pod.namespace.clone()).or_default().pod_ips.extend(&pod.ips);
        }
        let reverse = reverse_index(&namespaces);
        Snapshot { serial, synced: true, namespaces, reverse }
    }

    pub fn namespace(&self, name: &str) -> Option<&NamespaceEntry> {
        self.namespaces.get(name)
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceEntry> {
        self.namespaces.get(namespace)?.services.get(name)
    }

    /// PTR targets of one IP.
    pub fn reverse(&self, ip: IpAddr) -> &[ReverseTarget] {
        self.reverse.get(&ip).map_or(&[], Vec::as_slice)
    }

    /// Whether any IP with a PTR record falls in the range (an empty non-terminal test).
    pub fn has_reverse_in(&self, range: RangeInclusive<IpAddr>) -> bool {
        self.reverse.range(range).next().is_some()
    }

    pub fn service_count(&self) -> usize {
        self.namespaces.values().map(|n| n.services.len()).sum()
    }

    /// Whether two snapshots answer every question the same way (the serial aside).
    pub fn same_data(&self, other: &Snapshot) -> bool {
        self.namespaces == other.namespaces && self.synced == other.synced
    }
}

fn slices_by_service(slices: &[EndpointSlice]) -> HashMap<(&str, &str), Vec<&EndpointSlice>> {
    let mut by_service: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
    for slice in slices {
        by_service.entry((&slice.namespace, &slice.service)).or_default().push(slice);
    }
    by_service
}

/// The addresses a headless Service publishes (DNS spec §2.4): ready ones, or all of them when
/// the Service publishes not-ready addresses; merged over its slices and deduplicated by IP.
fn served_endpoints(svc: &Service, slices: &[&EndpointSlice]) -> Vec<ServedEndpoint> {
    if svc.kind != ServiceKind::Headless {
        return Vec::new();
    }
    let mut served: BTreeMap<IpAddr, ServedEndpoint> = BTreeMap::new();
    for slice in slices {
        let ports: Arc<[NamedPort]> = slice.ports.clone().into();
        for endpoint in slice.endpoints.iter().filter(|e| e.ready || svc.publish_not_ready) {
            for &ip in &endpoint.addresses {
                let host = endpoint.hostname.clone().unwrap_or_else(|| dashed_ip(ip));
                served.entry(ip).or_insert_with(|| ServedEndpoint { ip, host, ports: ports.clone() });
            }
        }
    }
    served.into_values().collect()
}

fn reverse_index(namespaces: &HashMap<String, NamespaceEntry>) -> BTreeMap<IpAddr, Vec<ReverseTarget>> {
    let mut reverse: BTreeMap<IpAddr, Vec<ReverseTarget>> = BTreeMap::new();
    for (ns, entry) in namespaces {
        for (name, svc) in &entry.services {
            let target = |host: Option<&String>| ReverseTarget {
                host: host.cloned(),
                service: name.clone(),
                namespace: ns.clone(),
            };
            if let ServiceKind::ClusterIp(ips) = &svc.service.kind {
                for ip in ips {
                    reverse.entry(*ip).or_default().push(target(None));
                }
            }
            for e in &svc.endpoints {
                reverse.entry(e.ip).or_default().push(target(Some(&e.host)));
            }
        }
    }
    // HashMap iteration order is random: sort so that answers are stable.
    for targets in reverse.values_mut() {
        targets.sort_by(|a, b| (&a.namespace, &a.service, &a.host).cmp(&(&b.namespace, &b.service, &b.host)));
    }
    reverse
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
