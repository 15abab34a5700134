//! The writer's side of the registry: every trimmed object by key, and what changed since the
//! last snapshot. Publishing rebuilds only the entries that changed (a Service and its
//! endpoints, a namespace, a pod IP) on top of the previous snapshot's persistent maps, so a
//! change costs the same in a cluster of ten services as in one of ten thousand.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use tracing::warn;

use super::object::{ClusterObjects, EndpointSlice, Node, Place, Pod, Service, ServiceKind};
use super::snapshot::{NamespaceEntry, ReverseIndex, ReverseTarget, ServiceEntry, ServiceName, Snapshot};

/// `(namespace, name)`; Namespaces themselves use an empty namespace.
pub type Key = (String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Service,
    EndpointSlice,
    Namespace,
    Pod,
    /// A ServiceImport (Multi-Cluster Services), as the Service the clusterset zone answers.
    ServiceImport,
    /// An EndpointSlice of a ServiceImport.
    ImportedSlice,
    /// The Node this instance runs on (`--node-name`), for its zone; or every Node, for where
    /// clients run (`--client-nodes`).
    Node,
}

/// A trimmed object of any kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Service(Service),
    EndpointSlice(EndpointSlice),
    Namespace(String),
    Pod(Pod),
    ServiceImport(Service),
    ImportedSlice(EndpointSlice),
    Node(Node),
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Service(_) => Kind::Service,
            Object::EndpointSlice(_) => Kind::EndpointSlice,
            Object::Namespace(_) => Kind::Namespace,
            Object::Pod(_) => Kind::Pod,
            Object::ServiceImport(_) => Kind::ServiceImport,
            Object::ImportedSlice(_) => Kind::ImportedSlice,
            Object::Node(_) => Kind::Node,
        }
    }

    pub fn key(&self) -> Key {
        match self {
            Object::Service(s) | Object::ServiceImport(s) => (s.namespace.clone(), s.name.clone()),
            Object::EndpointSlice(s) | Object::ImportedSlice(s) => (s.namespace.clone(), s.name.clone()),
            Object::Namespace(n) => (String::new(), n.clone()),
            Object::Pod(p) => (p.namespace.clone(), p.name.clone()),
            Object::Node(node) => (String::new(), node.place.node.clone()),
        }
    }
}

/// The objects of a [`Model`], shared, for saving them (`--snapshot-file`).
#[derive(Debug, Default)]
pub struct Saved {
    pub namespaces: Vec<String>,
    pub services: Vec<Arc<Service>>,
    pub slices: Vec<Arc<EndpointSlice>>,
    pub pods: Vec<Pod>,
}

#[derive(Default)]
pub struct Model {
    /// Shared with the snapshot's entries: a Service is stored once.
    services: HashMap<Key, Arc<Service>>,
    /// Shared with what is saved (`--snapshot-file`), so saving copies no slice.
    slices: HashMap<Key, Arc<EndpointSlice>>,
    /// Slice names of each Service, by the Service's key, ordered: most Services have one or two,
    /// and a sorted vector holds them in a few bytes where a tree node takes hundreds.
    slices_of: HashMap<Key, Vec<String>>,
    namespaces: HashSet<String>,
    pods: HashMap<Key, Pod>,
    /// Namespaced objects per namespace: a namespace exists while any object names it.
    in_namespace: HashMap<String, usize>,
    /// Running Pods per (namespace, IP): hostNetwork Pods share their node's IP.
    pod_ips: HashMap<(String, IpAddr), usize>,
    dirty_services: HashSet<Key>,
    dirty_namespaces: HashSet<String>,
    dirty_pod_ips: HashSet<(String, IpAddr)>,
    /// A namespace exists only with its Namespace object (see `restrict_namespaces`).
    restricted: bool,
    /// The ServiceImports and their slices, as Services and slices of their own model, which
    /// publishes the clusterset zone's snapshot (`None`: Multi-Cluster Services are off).
    clusterset: Option<Box<Model>>,
    /// Where this instance runs (`None` without `--node-name`).
    here: Option<Arc<Place>>,
    here_dirty: bool,
    /// Every Node, by name, when this instance serves clients of many nodes (`--client-nodes`).
    nodes: HashMap<String, Node>,
    nodes_dirty: bool,
    /// The nodes each client address belongs to, counted: a Pod's IPs, a Node's own addresses.
    client_ips: HashMap<IpAddr, Vec<(Arc<str>, usize)>>,
    dirty_client_ips: HashSet<IpAddr>,
}

impl Model {
    /// Whether anything changed since the last publication.
    pub fn is_dirty(&self) -> bool {
        !(self.dirty_services.is_empty() && self.dirty_namespaces.is_empty() && self.dirty_pod_ips.is_empty())
            || self.here_dirty
            || self.nodes_dirty
            || !self.dirty_client_ips.is_empty()
            || self.clusterset.as_ref().is_some_and(|c| c.is_dirty())
    }

    /// The cluster's objects as they are now, to be saved (the clusterset's are not): shared,
    /// not copied, so this costs the assembler a pointer per object.
    pub fn saved(&self) -> Saved {
        Saved {
            namespaces: self.namespaces.iter().cloned().collect(),
            services: self.services.values().cloned().collect(),
            slices: self.slices.values().cloned().collect(),
            pods: self.pods.values().cloned().collect(),
        }
    }

    /// This instance runs on `node`, in no known zone until its Node object says.
    pub fn set_node(&mut self, node: &str) {
        self.set_place(Place { node: node.to_ascii_lowercase(), zone: None });
    }

    /// Where this instance runs; returns whether that changed.
    fn set_place(&mut self, place: Place) -> bool {
        if self.here.as_deref() == Some(&place) {
            return false;
        }
        self.here = Some(Arc::new(place));
        self.here_dirty = true;
        true
    }

    /// Whether `key` names this instance's Node.
    fn is_here(&self, node: &str) -> bool {
        self.here.as_ref().is_some_and(|here| here.node == node)
    }

    pub fn restrict_namespaces(&mut self) {
        self.restricted = true;
        if let Some(clusterset) = &mut self.clusterset {
            clusterset.restrict_namespaces();
        }
    }

    /// Keeps ServiceImports and their slices from now on. Namespaces are shared (namespace
    /// sameness: a namespace of the clusterset is the one of that name here).
    pub fn enable_clusterset(&mut self) {
        let namespaces = self.namespaces.clone();
        let dirty_namespaces = namespaces.clone();
        let restricted = self.restricted;
        self.clusterset = Some(Box::new(Model { namespaces, dirty_namespaces, restricted, ..Model::default() }));
    }

    /// With restricted namespaces, a namespace coming or going changes whether everything in it
    /// is answered.
    fn namespace_changed(&mut self, namespace: &str) {
        self.dirty_namespaces.insert(namespace.to_string());
        if self.restricted {
            let services = self.services.keys().filter(|k| k.0 == namespace).cloned();
            self.dirty_services.extend(services.collect::<Vec<_>>());
            let ips = self.pod_ips.keys().filter(|k| k.0 == namespace).cloned();
            self.dirty_pod_ips.extend(ips.collect::<Vec<_>>());
        }
    }

    /// Adds or replaces an object; returns whether anything changed.
    pub fn upsert(&mut self, object: Object) -> bool {
        if let (Object::Namespace(name), Some(clusterset)) = (&object, &mut self.clusterset) {
            clusterset.upsert(Object::Namespace(name.clone()));
        }
        match object {
            Object::ServiceImport(svc) => {
                return self.clusterset.as_mut().is_some_and(|c| c.upsert(Object::Service(svc)));
            }
            Object::ImportedSlice(slice) => {
                return self.clusterset.as_mut().is_some_and(|c| c.upsert(Object::EndpointSlice(slice)));
            }
            Object::Service(svc) => {
                let key = (svc.namespace.clone(), svc.name.clone());
                if self.services.get(&key).is_some_and(|held| **held == svc) {
                    return false;
                }
                if self.services.insert(key.clone(), Arc::new(svc)).is_none() {
                    self.enter_namespace(&key.0);
                }
                self.dirty_services.insert(key);
            }
            Object::EndpointSlice(slice) => {
                let key = (slice.namespace.clone(), slice.name.clone());
                if self.slices.get(&key).is_some_and(|held| **held == slice) {
                    return false;
                }
                let service = (slice.namespace.clone(), slice.service.clone());
                match self.slices.insert(key.clone(), Arc::new(slice)) {
                    Some(old) => self.unlink_slice(&key, &old),
                    None => self.enter_namespace(&key.0),
                }
                let names = self.slices_of.entry(service.clone()).or_default();
                if let Err(at) = names.binary_search(&key.1) {
                    names.insert(at, key.1);
                }
                self.dirty_services.insert(service);
            }
            Object::Namespace(name) => {
                if !self.namespaces.insert(name.clone()) {
                    return false;
                }
                self.namespace_changed(&name);
            }
            // With --node-name only the Node this instance runs on is watched, and any other is
            // not ours; without, every Node is a place clients run.
            Object::Node(node) if self.here.is_some() => {
                return self.is_here(&node.place.node) && self.set_place(node.place);
            }
            Object::Node(node) => {
                if self.nodes.get(&node.place.node) == Some(&node) {
                    return false;
                }
                self.count_node_addresses(&node, 1);
                if let Some(old) = self.nodes.insert(node.place.node.clone(), node) {
                    self.count_node_addresses(&old, -1);
                }
                self.nodes_dirty = true;
            }
            Object::Pod(pod) => {
                let key = (pod.namespace.clone(), pod.name.clone());
                if self.pods.get(&key) == Some(&pod) {
                    return false;
                }
                self.count_pod_ips(&pod, 1);
                match self.pods.insert(key.clone(), pod) {
                    Some(old) => self.count_pod_ips(&old, -1),
                    None => self.enter_namespace(&key.0),
                }
            }
        }
        true
    }

    /// Removes an object; returns whether it was there.
    pub fn delete(&mut self, kind: Kind, key: &Key) -> bool {
        if let (Kind::Namespace, Some(clusterset)) = (kind, &mut self.clusterset) {
            clusterset.delete(Kind::Namespace, key);
        }
        match kind {
            Kind::ServiceImport => return self.clusterset.as_mut().is_some_and(|c| c.delete(Kind::Service, key)),
            Kind::ImportedSlice => return self.clusterset.as_mut().is_some_and(|c| c.delete(Kind::EndpointSlice, key)),
            Kind::Service => {
                if self.services.remove(key).is_none() {
                    return false;
                }
                self.leave_namespace(&key.0);
                self.dirty_services.insert(key.clone());
            }
            Kind::EndpointSlice => {
                let Some(old) = self.slices.remove(key) else { return false };
                self.unlink_slice(key, &old);
                self.leave_namespace(&key.0);
            }
            Kind::Namespace => {
                if !self.namespaces.remove(&key.1) {
                    return false;
                }
                self.namespace_changed(&key.1);
            }
            Kind::Pod => {
                let Some(old) = self.pods.remove(key) else { return false };
                self.count_pod_ips(&old, -1);
                self.leave_namespace(&key.0);
            }
            // Without its Node object, this instance's zone is unknown; its node is still its own.
            Kind::Node if self.here.is_some() => {
                return self.is_here(&key.1) && self.set_place(Place { node: key.1.clone(), zone: None });
            }
            Kind::Node => {
                let Some(old) = self.nodes.remove(&key.1) else { return false };
                self.count_node_addresses(&old, -1);
                self.nodes_dirty = true;
            }
        }
        true
    }

    /// Whether the model holds exactly this object already.
    pub fn holds(&self, object: &Object) -> bool {
        let key = object.key();
        match object {
            Object::Service(svc) => self.services.get(&key).is_some_and(|held| **held == *svc),
            Object::EndpointSlice(slice) => self.slices.get(&key).is_some_and(|held| **held == *slice),
            Object::Namespace(name) => self.namespaces.contains(name),
            Object::Pod(pod) => self.pods.get(&key) == Some(pod),
            Object::ServiceImport(svc) => {
                self.clusterset.as_ref().is_some_and(|c| c.holds(&Object::Service(svc.clone())))
            }
            Object::ImportedSlice(slice) => {
                self.clusterset.as_ref().is_some_and(|c| c.holds(&Object::EndpointSlice(slice.clone())))
            }
            Object::Node(node) => match &self.here {
                Some(here) => **here == node.place,
                None => self.nodes.get(&key.1) == Some(node),
            },
        }
    }

    /// Makes the objects of `kind` (in `namespace`, or everywhere) exactly those `listed`:
    /// what is not listed is deleted, and `changed` (the listed objects the model does not hold
    /// as they are) are stored. Returns whether anything changed.
    pub fn replace_kind(
        &mut self,
        kind: Kind,
        namespace: Option<&str>,
        listed: &HashSet<Key>,
        changed: Vec<Object>,
    ) -> bool {
        let stale: Vec<Key> =
            self.keys(kind).filter(|k| namespace.is_none_or(|ns| k.0 == ns) && !listed.contains(k)).collect();
        let mut any = false;
        for key in stale {
            any |= self.delete(kind, &key);
        }
        for object in changed {
            any |= self.upsert(object);
        }
        any
    }

    /// Makes the model exactly `objects`.
    pub fn replace_all(&mut self, objects: &ClusterObjects) -> bool {
        let wrap = |kind: Kind| -> Vec<Object> {
            match kind {
                Kind::Service => objects.services.iter().cloned().map(Object::Service).collect(),
                Kind::EndpointSlice => objects.endpoint_slices.iter().cloned().map(Object::EndpointSlice).collect(),
                Kind::Namespace => objects.namespaces.iter().cloned().map(Object::Namespace).collect(),
                Kind::Pod => objects.pods.iter().cloned().map(Object::Pod).collect(),
                Kind::ServiceImport => objects.imports.iter().cloned().map(Object::ServiceImport).collect(),
                Kind::ImportedSlice => objects.imported_slices.iter().cloned().map(Object::ImportedSlice).collect(),
                // Manifests carry no Node: the one this instance runs on comes from its watch.
                Kind::Node => Vec::new(),
            }
        };
        let mut changed = false;
        let kinds =
            [Kind::Namespace, Kind::Service, Kind::EndpointSlice, Kind::Pod, Kind::ServiceImport, Kind::ImportedSlice];
        for kind in kinds {
            let list = wrap(kind);
            warn_duplicates(&list);
            let listed: HashSet<Key> = list.iter().map(Object::key).collect();
            changed |= self.replace_kind(kind, None, &listed, list);
        }
        changed
    }

    fn keys(&self, kind: Kind) -> Box<dyn Iterator<Item = Key> + '_> {
        match kind {
            Kind::Service => Box::new(self.services.keys().cloned()),
            Kind::EndpointSlice => Box::new(self.slices.keys().cloned()),
            Kind::Namespace => Box::new(self.namespaces.iter().map(|n| (String::new(), n.clone()))),
            Kind::Pod => Box::new(self.pods.keys().cloned()),
            // The Node counts as held once its object has given a zone.
            Kind::Node => Box::new(
                self.here
                    .iter()
                    .filter(|here| here.zone.is_some())
                    .map(|here| (String::new(), here.node.clone()))
                    .chain(self.nodes.keys().map(|name| (String::new(), name.clone()))),
            ),
            Kind::ServiceImport | Kind::ImportedSlice => match &self.clusterset {
                Some(clusterset) if kind == Kind::ServiceImport => clusterset.keys(Kind::Service),
                Some(clusterset) => clusterset.keys(Kind::EndpointSlice),
                None => Box::new(std::iter::empty()),
            },
        }
    }

    fn unlink_slice(&mut self, key: &Key, old: &EndpointSlice) {
        let service = (old.namespace.clone(), old.service.clone());
        if let Some(names) = self.slices_of.get_mut(&service) {
            if let Ok(at) = names.binary_search(&key.1) {
                names.remove(at);
            }
            if names.is_empty() {
                self.slices_of.remove(&service);
            }
        }
        self.dirty_services.insert(service);
    }

    fn enter_namespace(&mut self, namespace: &str) {
        *self.in_namespace.entry(namespace.to_string()).or_default() += 1;
        self.dirty_namespaces.insert(namespace.to_string());
    }

    fn leave_namespace(&mut self, namespace: &str) {
        if let Some(count) = self.in_namespace.get_mut(namespace) {
            *count -= 1;
            if *count == 0 {
                self.in_namespace.remove(namespace);
            }
        }
        self.dirty_namespaces.insert(namespace.to_string());
    }

    fn count_pod_ips(&mut self, pod: &Pod, delta: isize) {
        if let Some(node) = &pod.node {
            self.count_client_ips(&pod.ips, node, delta);
        }
        for ip in &pod.ips {
            let key = (pod.namespace.clone(), *ip);
            let count = self.pod_ips.entry(key.clone()).or_default();
            *count = count.saturating_add_signed(delta);
            if *count == 0 {
                self.pod_ips.remove(&key);
            }
            self.dirty_pod_ips.insert(key);
        }
    }

    fn count_node_addresses(&mut self, node: &Node, delta: isize) {
        self.count_client_ips(&node.addresses, &node.place.node, delta);
    }

    /// Counts `ips` as clients on `node` (`delta` 1), or no longer (-1).
    fn count_client_ips(&mut self, ips: &[IpAddr], node: &str, delta: isize) {
        for ip in ips {
            let nodes = self.client_ips.entry(*ip).or_default();
            match nodes.iter().position(|(n, _)| &**n == node) {
                Some(at) => {
                    nodes[at].1 = nodes[at].1.saturating_add_signed(delta);
                    if nodes[at].1 == 0 {
                        nodes.remove(at);
                    }
                }
                None if delta > 0 => nodes.push((node.into(), delta.unsigned_abs())),
                None => {}
            }
            if nodes.is_empty() {
                self.client_ips.remove(ip);
            }
            self.dirty_client_ips.insert(*ip);
        }
    }

    fn namespace_exists(&self, namespace: &str) -> bool {
        self.namespaces.contains(namespace) || (!self.restricted && self.in_namespace.contains_key(namespace))
    }

    fn service_entry(&self, key: &Key) -> Option<Arc<ServiceEntry>> {
        if !self.namespace_exists(&key.0) {
            return None;
        }
        let service = self.services.get(key)?;
        let slices = self.slices_of.get(key).into_iter().flatten();
        let slices = slices.filter_map(|name| self.slices.get(&(key.0.clone(), name.clone())).map(|s| &**s));
        Some(Arc::new(ServiceEntry::new(service.clone(), slices)))
    }

    /// The next snapshot: `previous` with every changed entry rebuilt. Serial and sync state
    /// are the caller's.
    pub fn publish(&mut self, previous: &Snapshot) -> Snapshot {
        let mut next = previous.clone();
        if std::mem::take(&mut self.here_dirty) {
            next.here = self.here.clone();
        }
        if std::mem::take(&mut self.nodes_dirty) {
            next.clients.set_nodes(self.nodes.values());
        }
        for ip in std::mem::take(&mut self.dirty_client_ips) {
            // An address two nodes claim at once (reused before its old Pod is gone) belongs
            // to the one that claimed it first.
            next.clients.set_node_of(ip, self.client_ips.get(&ip).and_then(|nodes| nodes.first()).map(|n| n.0.clone()));
        }
        let dirty_namespaces = std::mem::take(&mut self.dirty_namespaces);
        for ns in &dirty_namespaces {
            if self.namespace_exists(ns) && !next.namespaces.contains_key(ns) {
                next.namespaces.insert(ns.clone(), NamespaceEntry::default());
            }
        }
        for key in std::mem::take(&mut self.dirty_services) {
            let old = next.namespaces.get(&key.0).and_then(|n| n.services.get(&key.1)).cloned();
            let new = self.service_entry(&key);
            if let Some(old) = &old {
                update_reverse(&mut next.reverse, &key, old, false);
            }
            if let Some(new) = &new {
                update_reverse(&mut next.reverse, &key, new, true);
            }
            if let Some(entry) = next.namespaces.get_mut(&key.0) {
                match new {
                    Some(new) => entry.services.insert(key.1.clone(), new),
                    None => entry.services.remove(&key.1),
                };
            }
        }
        for (ns, ip) in std::mem::take(&mut self.dirty_pod_ips) {
            let running = self.pod_ips.contains_key(&(ns.clone(), ip));
            if let Some(entry) = next.namespaces.get_mut(&ns) {
                if running {
                    entry.pod_ips.insert(ip);
                } else {
                    entry.pod_ips.remove(&ip);
                }
            }
        }
        for ns in &dirty_namespaces {
            if !self.namespace_exists(ns) {
                next.namespaces.remove(ns);
            }
        }
        if let Some(clusterset) = &mut self.clusterset
            && (clusterset.is_dirty() || next.clusterset.is_none())
        {
            let empty = Snapshot::default();
            next.clusterset = Some(Arc::new(clusterset.publish(previous.clusterset.as_deref().unwrap_or(&empty))));
        }
        next
    }
}

/// Adds (`add`) or removes the PTR targets of one Service entry: its cluster IPs and, for a
/// headless Service, its published endpoints.
fn update_reverse(reverse: &mut ReverseIndex, key: &Key, entry: &ServiceEntry, add: bool) {
    let service = Arc::new(ServiceName { namespace: key.0.clone(), name: key.1.clone() });
    let mut targets: Vec<(IpAddr, ReverseTarget)> = Vec::new();
    if let ServiceKind::ClusterIp(ips) = &entry.service.kind {
        targets.extend(ips.iter().map(|ip| (*ip, ReverseTarget::service(service.clone()))));
    }
    targets.extend(entry.endpoints.iter().map(|e| (e.ip, ReverseTarget::endpoint(service.clone(), entry.hostname(e)))));
    for (ip, target) in targets {
        let mut list: Vec<ReverseTarget> = reverse.get(ip).to_vec();
        if add {
            if let Err(at) = list.binary_search(&target) {
                list.insert(at, target);
            }
        } else {
            list.retain(|t| t != &target);
        }
        reverse.set(ip, list);
    }
}

fn warn_duplicates(objects: &[Object]) {
    let mut seen = HashSet::new();
    for object in objects {
        let key = object.key();
        if !seen.insert(key.clone()) {
            warn!(kind = ?object.kind(), namespace = %key.0, name = %key.1, "object defined twice; the last definition wins");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::registry::object::{Endpoint, NamedPort};

    fn service(ns: &str, name: &str, variant: u32) -> Service {
        let kind = match variant % 3 {
            0 => ServiceKind::Headless,
            1 => ServiceKind::ClusterIp(vec![format!("10.96.{}.{}", variant % 7, variant % 200 + 1).parse().unwrap()]),
            _ => ServiceKind::ExternalName(Box::new(hickory_proto::rr::Name::from_ascii("example.com.").unwrap())),
        };
        let ports = vec![NamedPort { name: "http".into(), protocol: "tcp".into(), port: 80 }];
        Service {
            namespace: ns.into(),
            name: name.into(),
            kind,
            ports,
            publish_not_ready: variant.is_multiple_of(5),
            traffic_distribution: None,
        }
    }

    fn slice(ns: &str, name: &str, service: &str, variant: u32) -> EndpointSlice {
        let endpoints = (0..variant % 4)
            .map(|i| Endpoint {
                address: format!("10.1.{}.{}", variant % 5, i + 1).parse().unwrap(),
                hostname: i.is_multiple_of(2).then(|| format!("pod-{i}").into()),
                ready: !(variant + i).is_multiple_of(3),
                zone: 0,
                place: 0,
            })
            .collect();
        let ports = vec![NamedPort { name: "http".into(), protocol: "tcp".into(), port: 8080 }];
        EndpointSlice {
            namespace: ns.into(),
            name: name.into(),
            service: service.into(),
            endpoints,
            ports,
            zones: Vec::new(),
            places: Vec::new(),
        }
    }

    type Visible = (BTreeMap<String, Vec<(String, ServiceEntry)>>, Vec<(IpAddr, Vec<ReverseTarget>)>);

    /// Everything a query can see, in the cluster and the clusterset zone, comparably.
    fn visible(s: &Snapshot) -> (Visible, Visible) {
        (visible_zone(s), visible_zone(s.clusterset()))
    }

    fn visible_zone(s: &Snapshot) -> Visible {
        let namespaces = s
            .namespaces
            .iter()
            .map(|(ns, entry)| {
                let mut services: Vec<(String, ServiceEntry)> =
                    entry.services.iter().map(|(n, e)| (n.clone(), (**e).clone())).collect();
                services.sort_by(|a, b| a.0.cmp(&b.0));
                (ns.clone(), services)
            })
            .collect();
        (namespaces, s.reverse.iter().map(|(ip, t)| (ip, t.to_vec())).collect())
    }

    #[test]
    fn incremental_publishing_matches_a_full_build() {
        let mut model = Model::default();
        model.enable_clusterset();
        let mut snapshot = Snapshot::default();
        let mut truth: BTreeMap<(Kind, Key), Object> = BTreeMap::new();
        let mut seed: u32 = 12345;
        let mut next = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            seed >> 8
        };
        for step in 0..3000 {
            let (r, variant) = (next(), next());
            let ns = ["a", "b", "c"][(r % 3) as usize];
            let svc = format!("s{}", r / 3 % 6);
            let object = match r / 18 % 6 {
                0 => Object::Service(service(ns, &svc, variant)),
                1 | 2 => Object::EndpointSlice(slice(ns, &format!("{svc}-{}", variant % 2), &svc, variant)),
                3 => Object::ServiceImport(service(ns, &svc, variant)),
                4 => Object::ImportedSlice(slice(ns, &format!("{svc}-{}", variant % 2), &svc, variant)),
                _ => Object::Namespace(["a", "b", "n1"][(variant % 3) as usize].into()),
            };
            let key = (object.kind(), object.key());
            if next() % 4 == 0 {
                model.delete(key.0, &key.1);
                truth.remove(&key);
            } else {
                model.upsert(object.clone());
                truth.insert(key, object);
            }
            if step % 7 == 0 {
                snapshot = model.publish(&snapshot);
            }
        }
        snapshot = model.publish(&snapshot);
        let mut objects = ClusterObjects::default();
        for object in truth.into_values() {
            match object {
                Object::Service(s) => objects.services.push(s),
                Object::EndpointSlice(s) => objects.endpoint_slices.push(s),
                Object::Namespace(n) => objects.namespaces.push(n),
                Object::Pod(p) => objects.pods.push(p),
                Object::ServiceImport(s) => objects.imports.push(s),
                Object::ImportedSlice(s) => objects.imported_slices.push(s),
                Object::Node(_) => unreachable!("the random objects hold no Node"),
            }
        }
        let mut whole = Model::default();
        whole.enable_clusterset();
        whole.replace_all(&objects);
        let full = whole.publish(&Snapshot::default());
        assert!(full.clusterset().service_count() > 0, "the run leaves imports to compare");
        assert_eq!(visible(&snapshot), visible(&full));
    }

    #[test]
    fn a_client_address_stays_placed_while_a_pod_or_node_claims_it() {
        let node = |name: &str, address: &str| Node {
            place: Place { node: name.into(), zone: Some(format!("zone-{name}")) },
            pod_cidrs: Box::new([]),
            addresses: Box::new([address.parse().unwrap()]),
        };
        let pod = |name: &str, on: &str, ip: &str| Pod {
            namespace: "shop".into(),
            name: name.into(),
            ips: vec![ip.parse().unwrap()],
            node: Some(on.into()),
        };
        let mut model = Model::default();
        let mut snapshot = Snapshot::default();
        let mut placed = |model: &mut Model, ip: &str| {
            snapshot = model.publish(&snapshot);
            snapshot.place_of(Some(ip.parse().unwrap())).map(|p| (p.node.to_string(), p.zone.map(String::from)))
        };
        model.upsert(Object::Node(node("n1", "10.0.0.1")));
        // A hostNetwork Pod shares its Node's address; deleting it leaves the Node's claim.
        model.upsert(Object::Pod(pod("host", "n1", "10.0.0.1")));
        model.delete(Kind::Pod, &("shop".into(), "host".into()));
        assert_eq!(placed(&mut model, "10.0.0.1"), Some(("n1".into(), Some("zone-n1".into()))));
        // The same client on a dual-stack socket.
        assert_eq!(placed(&mut model, "::ffff:10.0.0.1").map(|p| p.0), Some("n1".into()));
        // An IP reused on another node before the old Pod is gone: the first claim holds until
        // it ends, then the second.
        model.upsert(Object::Pod(pod("old", "n1", "10.1.0.5")));
        model.upsert(Object::Pod(pod("new", "n2", "10.1.0.5")));
        assert_eq!(placed(&mut model, "10.1.0.5").map(|p| p.0), Some("n1".into()));
        model.delete(Kind::Pod, &("shop".into(), "old".into()));
        assert_eq!(placed(&mut model, "10.1.0.5"), Some(("n2".into(), None)), "n2's Node is unknown: no zone");
        model.delete(Kind::Pod, &("shop".into(), "new".into()));
        assert_eq!(placed(&mut model, "10.1.0.5"), None);
        model.delete(Kind::Node, &(String::new(), "n1".into()));
        assert_eq!(placed(&mut model, "10.0.0.1"), None);
    }
}
