//! The zones clusterdns is authoritative for, and what they share: apex records and TTLs.

use hickory_proto::rr::rdata::{NS, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record};
use hickory_proto::serialize::binary::BinEncodable;

use crate::config::PodMode;

/// SOA timers (RFC 1912 §2.2 values, as CoreDNS uses).
pub(super) const SOA_REFRESH: i32 = 7200;
pub(super) const SOA_RETRY: i32 = 1800;
pub(super) const SOA_EXPIRE: i32 = 86400;
/// The SOA record's own TTL is `min(ttl, 300)`.
pub(super) const SOA_MAX_TTL: u32 = 300;

/// Settings every authoritative answer is built with.
#[derive(Debug, Clone)]
pub struct ZoneSettings {
    /// The cluster zone, e.g. `cluster.local.`.
    pub cluster: Name,
    pub cluster_lower: LowerName,
    /// The cluster zone in wire format, lower-cased (what the fast path matches names with).
    pub wire: Box<[u8]>,
    /// TTL of every record built from Kubernetes data.
    pub ttl: u32,
    /// Headless answers get a TTL up to this many percent lower, chosen per response.
    pub ttl_jitter: u32,
    /// A Service with a cluster IP but no ready endpoint does not exist (NXDOMAIN).
    pub ignore_empty_service: bool,
    /// Topology-pinned names (`<zone>.pin|prefer._zone.<svc>...`) of headless Services exist.
    pub zonal: bool,
    /// How headless answers treat the endpoints near this instance (`--topology`).
    pub topology: crate::config::TopologyAnswers,
    /// A clusterset zone: Multi-Cluster Services (ServiceImports) answer here, not Services.
    pub multicluster: bool,
    pub pods: PodMode,
    /// `ns.dns.<zone>.`: the name server in SOA and NS records.
    pub name_server: Name,
    /// `hostmaster.<zone>.`: the SOA mailbox.
    pub hostmaster: Name,
    in_addr: LowerName,
    ip6: LowerName,
    /// More cluster zones answering the same names (`--zone` given more than once), each with
    /// its own apex names and the same TTLs.
    others: Vec<ZoneSettings>,
}

/// The zones we answer for, found by the longest suffix of the query name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneKind {
    Cluster,
    ReverseV4,
    ReverseV6,
}

impl ZoneSettings {
    pub fn new(cluster: Name, ttl: u32, pods: PodMode) -> ZoneSettings {
        let cluster = cluster.to_lowercase();
        let child = |label: &str| Name::from_ascii(label).and_then(|n| n.append_domain(&cluster));
        ZoneSettings {
            cluster_lower: LowerName::new(&cluster),
            wire: cluster.to_bytes().expect("a valid name encodes").into(),
            name_server: child("ns.dns").expect("a valid zone has a valid ns.dns child"),
            hostmaster: child("hostmaster").expect("a valid zone has a valid hostmaster child"),
            cluster,
            ttl,
            ttl_jitter: 0,
            ignore_empty_service: false,
            zonal: false,
            topology: crate::config::TopologyAnswers::Off,
            multicluster: false,
            pods,
            in_addr: LowerName::new(&Name::from_ascii("in-addr.arpa.").expect("static name")),
            ip6: LowerName::new(&Name::from_ascii("ip6.arpa.").expect("static name")),
            others: Vec::new(),
        }
    }

    /// The settings of the cluster zones (the first is the primary): restart-only ones from the
    /// running configuration, the others from `live`.
    pub fn from_config(running: &crate::config::Cli, live: &crate::config::LiveSettings) -> ZoneSettings {
        let one = |zone: &Name| ZoneSettings {
            ttl_jitter: live.ttl_jitter,
            ignore_empty_service: live.ignore_empty_service,
            zonal: running.zonal,
            topology: running.topology,
            ..ZoneSettings::new(zone.clone(), live.ttl, live.pods)
        };
        let (first, rest) = running.zones.split_first().expect("at least one cluster zone");
        let clustersets = running.multicluster.iter().map(|zone| ZoneSettings { multicluster: true, ..one(zone) });
        ZoneSettings { others: rest.iter().map(one).chain(clustersets).collect(), ..one(first) }
    }

    /// Whether this is the only zone with Kubernetes names (no `--zone` given twice, no
    /// clusterset zone).
    pub fn is_only_zone(&self) -> bool {
        self.others.is_empty() && !self.multicluster
    }

    /// The clusterset zone PTR targets of imported addresses are named in, if any.
    pub fn clusterset(&self) -> Option<&ZoneSettings> {
        std::iter::once(self).chain(&self.others).find(|z| z.multicluster)
    }

    /// The settings that answer `name`: the cluster zone it is in (the longest, when zones
    /// nest), else the primary one (reverse zones and everything else).
    pub fn for_name(&self, name: &LowerName) -> &ZoneSettings {
        std::iter::once(self)
            .chain(&self.others)
            .filter(|z| z.cluster_lower.zone_of(name))
            .max_by_key(|z| z.cluster_lower.num_labels())
            .unwrap_or(self)
    }

    /// The TTL of one headless answer: `ttl`, lowered by a random part of `ttl_jitter` percent
    /// of it. One value for every record of the response (an RRset has one TTL, RFC 2181 §5.2);
    /// different responses expire at different times, so clients that refresh on expiry (Envoy
    /// with `respect_dns_ttl`, gRPC) do not all come back at once. TTL 0 stays 0.
    pub fn headless_ttl(&self) -> u32 {
        let spread = u64::from(self.ttl) * u64::from(self.ttl_jitter.min(100)) / 100;
        if spread == 0 {
            return self.ttl;
        }
        self.ttl - u32::try_from(rand::random_range(0..=spread)).unwrap_or(0)
    }

    pub fn zone_of(&self, name: &LowerName) -> Option<(ZoneKind, &LowerName)> {
        if self.cluster_lower.zone_of(name) {
            return Some((ZoneKind::Cluster, &self.cluster_lower));
        }
        for (kind, apex) in [(ZoneKind::ReverseV4, &self.in_addr), (ZoneKind::ReverseV6, &self.ip6)] {
            if apex.zone_of(name) {
                return Some((kind, apex));
            }
        }
        None
    }

    pub fn apex(&self, kind: ZoneKind) -> Name {
        match kind {
            ZoneKind::Cluster => self.cluster.clone(),
            ZoneKind::ReverseV4 => (*self.in_addr).clone(),
            ZoneKind::ReverseV6 => (*self.ip6).clone(),
        }
    }

    /// `ns.dns.<zone>. hostmaster.<zone>. <serial> 7200 1800 86400 <ttl>`, owned by the apex.
    pub fn soa(&self, kind: ZoneKind, serial: u32) -> Record {
        let soa = SOA::new(
            self.name_server.clone(),
            self.hostmaster.clone(),
            serial,
            SOA_REFRESH,
            SOA_RETRY,
            SOA_EXPIRE,
            self.ttl,
        );
        Record::from_rdata(self.apex(kind), self.ttl.min(SOA_MAX_TTL), RData::SOA(soa))
    }

    pub fn ns(&self, owner: Name) -> Record {
        Record::from_rdata(owner, self.ttl, RData::NS(NS(self.name_server.clone())))
    }

    /// `<labels...>.<zone>.`
    pub fn cluster_name(&self, labels: &[&str]) -> Option<Name> {
        Name::from_labels(labels.iter().map(|l| l.as_bytes())).ok()?.append_domain(&self.cluster).ok()
    }
}
