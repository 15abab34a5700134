//! Where the clients of a central instance run (`--client-nodes`): the node a query's source
//! address belongs to, and that node's zone, for headless answers that prefer nearby endpoints.
//!
//! A source address is a Pod's IP (its Pod names its node), a Node's own InternalIP (a
//! hostNetwork Pod), or an address in a Node's pod CIDR. The first two are exact; the CIDR is
//! only as good as the cluster's IP allocation (see `--client-nodes`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;

use super::object::Node;

/// A node and, when known, its zone, borrowed from a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaceRef<'a> {
    pub node: &'a str,
    pub zone: Option<&'a str>,
}

/// The client-side view a snapshot carries. Persistent maps: Pods come and go far more often
/// than a snapshot is copied, so a change costs one entry, not the table.
#[derive(Debug, Default, Clone)]
pub struct Clients {
    /// The node of each Pod IP and Node address.
    by_ip: imbl::HashMap<IpAddr, Arc<str>>,
    /// The Nodes' pod CIDRs, ordered by first address; they do not overlap.
    pod_cidrs: Arc<[(RangeInclusive<IpAddr>, Arc<str>)]>,
    /// Each Node's zone, by node name.
    zones: Arc<HashMap<Arc<str>, Box<str>>>,
}

impl Clients {
    /// Where the client at `ip` runs, when a Pod, a Node address or a pod CIDR says.
    pub fn place_of(&self, ip: IpAddr) -> Option<PlaceRef<'_>> {
        let node = self.by_ip.get(&ip).or_else(|| self.in_pod_cidr(ip))?;
        Some(PlaceRef { node, zone: self.zones.get(node).map(|zone| &**zone) })
    }

    fn in_pod_cidr(&self, ip: IpAddr) -> Option<&Arc<str>> {
        let after = self.pod_cidrs.partition_point(|(range, _)| *range.start() <= ip);
        let (range, node) = self.pod_cidrs.get(after.checked_sub(1)?)?;
        range.contains(&ip).then_some(node)
    }

    /// The Nodes are now `nodes`: their zones and pod CIDRs replace the old ones.
    pub fn set_nodes<'a>(&mut self, nodes: impl Iterator<Item = &'a Node>) {
        let mut zones = HashMap::new();
        let mut cidrs = Vec::new();
        for node in nodes {
            let name: Arc<str> = node.place.node.as_str().into();
            cidrs.extend(node.pod_cidrs.iter().map(|range| (range.clone(), name.clone())));
            if let Some(zone) = &node.place.zone {
                zones.insert(name, zone.as_str().into());
            }
        }
        // Overlapping CIDRs are a misconfigured cluster; ordering by name as well keeps the
        // choice the same on every replica.
        cidrs.sort_by(|a, b| (a.0.start(), a.0.end(), &a.1).cmp(&(b.0.start(), b.0.end(), &b.1)));
        self.pod_cidrs = cidrs.into();
        self.zones = Arc::new(zones);
    }

    /// The client at `ip` runs on `node` (`None`: no Pod or Node has it now).
    pub fn set_node_of(&mut self, ip: IpAddr, node: Option<Arc<str>>) {
        match node {
            Some(node) => self.by_ip.insert(ip, node),
            None => self.by_ip.remove(&ip),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::object::Place;

    fn node(name: &str, zone: Option<&str>, cidrs: &[(&str, &str)]) -> Node {
        let pod_cidrs = cidrs.iter().map(|(a, b)| a.parse().unwrap()..=b.parse().unwrap()).collect();
        Node { place: Place { node: name.into(), zone: zone.map(Into::into) }, pod_cidrs, addresses: Box::new([]) }
    }

    #[test]
    fn a_client_is_placed_by_its_address_then_by_pod_cidr() {
        let mut clients = Clients::default();
        let nodes = [
            node("n1", Some("a"), &[("10.244.1.0", "10.244.1.255"), ("fd00:1::", "fd00:1::ffff")]),
            node("n2", None, &[("10.244.2.0", "10.244.2.255")]),
        ];
        clients.set_nodes(nodes.iter());
        clients.set_node_of("10.0.0.7".parse().unwrap(), Some("n2".into()));
        let place = |clients: &Clients, ip: &str| {
            clients.place_of(ip.parse().unwrap()).map(|p| (p.node.to_string(), p.zone.map(String::from)))
        };
        assert_eq!(place(&clients, "10.244.1.9"), Some(("n1".into(), Some("a".into()))));
        assert_eq!(place(&clients, "fd00:1::9"), Some(("n1".into(), Some("a".into()))), "IPv6 CIDRs too");
        assert_eq!(place(&clients, "10.244.2.255"), Some(("n2".into(), None)), "the last address is in the range");
        assert_eq!(place(&clients, "10.244.3.0"), None, "past every range");
        assert_eq!(place(&clients, "10.0.0.7"), Some(("n2".into(), None)), "a Pod IP outside every pod CIDR");
        assert_eq!(place(&clients, "10.244.0.255"), None, "before the first range");
        clients.set_node_of("10.244.1.9".parse().unwrap(), Some("n2".into()));
        assert_eq!(place(&clients, "10.244.1.9"), Some(("n2".into(), None)), "a Pod's own node wins over the CIDR");
        clients.set_node_of("10.0.0.7".parse().unwrap(), None);
        assert_eq!(place(&clients, "10.0.0.7"), None);
    }
}
