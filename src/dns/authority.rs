//! The authoritative side: which of our zones a name falls in, its answer, and in-zone CNAME
//! chasing for ExternalName Services.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{LowerName, Name, RecordType};

use super::answer::Answer;
use super::cluster::{self, Pick, Question};
use super::fast;
use super::qname::relative_labels;
use super::reverse;
use super::zone::{ZoneKind, ZoneSettings};
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::metrics::ZoneKind as MetricZone;
use crate::registry::{Registry, Snapshot};
use crate::zones::Zones;

/// The most CNAMEs followed for one question.
const MAX_CNAME_HOPS: usize = 10;

pub struct Authority {
    /// Replaced whole when the configuration is reloaded.
    zone: Arc<ArcSwap<ZoneSettings>>,
    registry: Registry,
    /// Static zones from zone files, next to the cluster zone.
    static_zones: Zones,
}

thread_local! {
    /// Where rotated answers start. Per thread, so that queries on different UDP workers never
    /// contend for one counter; each starts at a random point.
    static ROTATION: std::cell::Cell<usize> = std::cell::Cell::new(rand::random::<u32>() as usize);
}

/// What one query brings to every name its answer holds: where rotated lists start, and who
/// asked.
#[derive(Debug, Clone, Copy)]
struct Asked {
    rotation: usize,
    client: Option<IpAddr>,
}

fn next_rotation() -> usize {
    ROTATION.with(|r| {
        let value = r.get();
        r.set(value.wrapping_add(1));
        value
    })
}

/// Pins where the next rotated answer on this thread starts (tests comparing two answers).
#[cfg(test)]
pub(crate) fn set_rotation(value: usize) {
    ROTATION.with(|r| r.set(value));
}

impl Authority {
    pub fn new(zone: Arc<ArcSwap<ZoneSettings>>, registry: Registry, static_zones: Zones) -> Authority {
        Authority { zone, registry, static_zones }
    }

    /// The primary cluster zone (the one kubelet writes into pods' search lists) and its TTL,
    /// if `name` is in it and in no other zone of ours nested below it.
    pub fn primary_zone_of(&self, name: &LowerName) -> Option<(Name, u32)> {
        let settings = self.zone.load();
        let primary = std::ptr::eq(settings.for_name(name), &**settings);
        (primary && !settings.multicluster && settings.cluster_lower.zone_of(name))
            .then(|| (settings.cluster.clone(), settings.ttl))
    }

    /// Whether `namespace` exists and, with `verify`, `client` is a running Pod in it.
    pub fn namespace_holds(&self, namespace: &str, client: std::net::IpAddr, verify: bool) -> bool {
        let snapshot = self.registry.snapshot();
        // An IPv4 client of a dual-stack socket arrives as ::ffff:a.b.c.d.
        snapshot.namespace(namespace).is_some_and(|entry| !verify || entry.pod_ips.contains(&client.to_canonical()))
    }

    /// The answer for a name in one of our zones, or `None` when the name is not ours. `name`
    /// is the name as asked (its case is echoed in owner names), `lower` the same lower-cased;
    /// `client` the address it came from, for answers that prefer endpoints near it.
    pub fn answer(&self, name: &Name, lower: &LowerName, qtype: RecordType, client: Option<IpAddr>) -> Option<Answer> {
        let snapshot = self.registry.snapshot();
        let asked = Asked { rotation: next_rotation(), client };
        let mut answer = self.answer_one(&snapshot, name, lower, qtype, asked)?;
        self.chase(&snapshot, lower, &mut answer, qtype, asked);
        // Before the first complete view of the cluster, a missing name may only be missing
        // from us: NXDOMAIN would be cached downstream, SERVFAIL is retried.
        if !snapshot.synced && answer.rcode == ResponseCode::NXDomain {
            answer.rcode = ResponseCode::ServFail;
            answer.soa = None;
        }
        Some(answer)
    }

    /// The fast path's reply ([`fast`]) in `out`, when this configuration lets it answer: one
    /// cluster zone, no zone files, and a complete view of the cluster.
    pub fn answer_fast(
        &self,
        query: &fast::Query<'_>,
        client: IpAddr,
        udp: bool,
        out: &mut Vec<u8>,
    ) -> Option<fast::Written> {
        let settings = self.zone.load();
        if !settings.is_only_zone() || !self.static_zones.load().is_empty() {
            return None;
        }
        let snapshot = self.registry.snapshot();
        if !snapshot.synced {
            return None;
        }
        let pick = Pick { rotation: next_rotation(), headless_ttl: settings.headless_ttl(), client: Some(client) };
        fast::answer(&settings, &snapshot, query, pick, udp, out)
    }

    fn answer_one(
        &self,
        snapshot: &Snapshot,
        name: &Name,
        lower: &LowerName,
        qtype: RecordType,
        asked: Asked,
    ) -> Option<Answer> {
        let settings = self.zone.load();
        let zone = settings.for_name(lower);
        let builtin = zone.zone_of(lower);
        // The longest matching origin wins, between the cluster zones and the static ones.
        let static_zones = self.static_zones.load();
        let best_static = static_zones.iter().filter(|z| z.origin.zone_of(lower)).max_by_key(|z| z.origin.num_labels());
        if let Some(zone) = best_static
            && builtin.is_none_or(|(_, apex)| zone.origin.num_labels() > apex.num_labels())
        {
            return Some(Answer { zone: MetricZone::Static, ..zone.answer(name, lower, qtype) });
        }
        let (kind, apex) = builtin?;
        let labels = relative_labels(lower, apex)?;
        let question = Question {
            name,
            labels: &labels,
            qtype,
            rotation: asked.rotation,
            headless_ttl: zone.headless_ttl(),
            client: asked.client,
        };
        Some(match kind {
            ZoneKind::Cluster if zone.multicluster => cluster::answer(zone, snapshot.clusterset(), &question),
            ZoneKind::Cluster => cluster::answer(zone, snapshot, &question),
            ZoneKind::ReverseV4 | ZoneKind::ReverseV6 => {
                Answer { zone: MetricZone::Reverse, ..reverse::answer(zone, snapshot, kind, &question) }
            }
        })
    }

    /// Follows CNAMEs whose targets are in our zones, appending the targets' records; the
    /// rcode and SOA become those of the last name in the chain (RFC 6604 §3). A target outside
    /// our zones is left in `external` for the forwarder; a loop or too many hops ends the
    /// chain with what we have. The CNAME is never dropped.
    fn chase(&self, snapshot: &Snapshot, name: &LowerName, answer: &mut Answer, qtype: RecordType, asked: Asked) {
        if answer.chase.is_none() {
            return;
        }
        let mut seen = vec![name.clone()];
        while let Some(target) = answer.chase.take() {
            let lower = LowerName::new(&target);
            if seen.len() > MAX_CNAME_HOPS || seen.contains(&lower) {
                break;
            }
            let Some(next) = self.answer_one(snapshot, &target, &lower, qtype, asked) else {
                answer.external = Some(target);
                break;
            };
            seen.push(lower);
            answer.answers.extend(next.answers);
            answer.additionals.extend(next.additionals);
            answer.unbuilt += next.unbuilt;
            answer.rcode = next.rcode;
            answer.soa = next.soa;
            answer.chase = next.chase;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use hickory_proto::op::ResponseCode::{self, NXDomain, NoError};
    use hickory_proto::rr::Record;
    use hickory_proto::rr::RecordType::{self, A, AAAA, ANY, CNAME, PTR, SOA, SRV, TXT};

    use super::*;
    use crate::config::PodMode;
    use crate::source::documents;

    const CLUSTER: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.96.0.20, clusterIPs: [10.96.0.20, "fd00::20"], ports: [{name: http, port: 80}, {port: 81}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: None, ports: [{name: pg, port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: pay, namespace: shop}
spec: {type: ExternalName, externalName: web.shop.svc.cluster.local}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, namespace: shop, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
ports: [{name: pg, port: 15432}]
endpoints:
- {addresses: [10.1.0.1], hostname: db-0}
- {addresses: [10.1.0.2], conditions: {ready: false}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.1.0.1], hostname: web-a}
- {addresses: [10.1.5.5]}
"#;

    fn authority() -> Authority {
        let zone = ZoneSettings::new(Name::from_ascii("cluster.local.").unwrap(), 5, PodMode::Insecure);
        authority_of(CLUSTER, documents::ReadOptions::default(), zone)
    }

    fn authority_of(cluster: &str, options: documents::ReadOptions, zone: ZoneSettings) -> Authority {
        let multicluster = options.multicluster;
        let text = cluster.as_bytes();
        let objects = documents::parse(Path::new("cluster.yaml"), text, text.len() as u64, options).unwrap();
        let (registry, mut writer) = Registry::new();
        if multicluster {
            writer.enable_clusterset();
        }
        writer.replace(&objects.objects, true);
        Authority::new(Arc::new(ArcSwap::from_pointee(zone)), registry, Zones::default())
    }

    /// The answer as zone-file lines: answers, then `;authority`, then `;additional` ones.
    /// Expected SOA lines are prefixes, so the serial need not be spelled out.
    fn lines(answer: &Answer) -> Vec<String> {
        let text = |r: &Record| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data);
        let mut out: Vec<String> = answer.answers.iter().map(text).collect();
        out.extend(answer.soa.iter().map(|r| format!(";authority {}", text(r))));
        out.extend(answer.additionals.iter().map(|r| format!(";additional {}", text(r))));
        out
    }

    #[test]
    fn answers_are_built_by_the_spec() {
        let authority = authority();
        let soa = ";authority cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local.";
        let cases: &[Case<'_>] = &[
            ("web.shop.svc.cluster.local.", A, NoError, &["web.shop.svc.cluster.local. 5 A 10.96.0.20"]),
            ("web.shop.svc.cluster.local.", AAAA, NoError, &["web.shop.svc.cluster.local. 5 AAAA fd00::20"]),
            ("web.shop.svc.cluster.local.", TXT, NoError, &[soa]),
            ("db.shop.svc.cluster.local.", A, NoError, &["db.shop.svc.cluster.local. 5 A 10.1.0.1"]),
            ("db-0.db.shop.svc.cluster.local.", A, NoError, &["db-0.db.shop.svc.cluster.local. 5 A 10.1.0.1"]),
            ("10-1-0-2.db.shop.svc.cluster.local.", A, NXDomain, &[soa]),
            (
                "_http._tcp.web.shop.svc.cluster.local.",
                SRV,
                NoError,
                &[
                    "_http._tcp.web.shop.svc.cluster.local. 5 SRV 0 100 80 web.shop.svc.cluster.local.",
                    ";additional web.shop.svc.cluster.local. 5 A 10.96.0.20",
                    ";additional web.shop.svc.cluster.local. 5 AAAA fd00::20",
                ],
            ),
            (
                "_pg._tcp.db.shop.svc.cluster.local.",
                SRV,
                NoError,
                &[
                    "_pg._tcp.db.shop.svc.cluster.local. 5 SRV 0 100 15432 db-0.db.shop.svc.cluster.local.",
                    ";additional db-0.db.shop.svc.cluster.local. 5 A 10.1.0.1",
                ],
            ),
            ("_tcp.db.shop.svc.cluster.local.", SRV, NoError, &[soa]),
            ("_udp.db.shop.svc.cluster.local.", SRV, NXDomain, &[soa]),
            (
                "pay.shop.svc.cluster.local.",
                A,
                NoError,
                &[
                    "pay.shop.svc.cluster.local. 5 CNAME web.shop.svc.cluster.local.",
                    "web.shop.svc.cluster.local. 5 A 10.96.0.20",
                ],
            ),
            (
                "pay.shop.svc.cluster.local.",
                CNAME,
                NoError,
                &["pay.shop.svc.cluster.local. 5 CNAME web.shop.svc.cluster.local."],
            ),
            ("web.shop.svc.cluster.local.", ANY, NoError, &["web.shop.svc.cluster.local. 5 A 10.96.0.20"]),
            ("20.0.96.10.in-addr.arpa.", PTR, NoError, &["20.0.96.10.in-addr.arpa. 5 PTR web.shop.svc.cluster.local."]),
            (
                "1.0.1.10.in-addr.arpa.",
                PTR,
                NoError,
                &[
                    "1.0.1.10.in-addr.arpa. 5 PTR db-0.db.shop.svc.cluster.local.",
                    "1.0.1.10.in-addr.arpa. 5 PTR web-a.web.shop.svc.cluster.local.",
                ],
            ),
            (
                "5.5.1.10.in-addr.arpa.",
                PTR,
                NoError,
                &["5.5.1.10.in-addr.arpa. 5 PTR 10-1-5-5.web.shop.svc.cluster.local."],
            ),
            // Endpoint names of a Service with a cluster IP, as CoreDNS answers them.
            ("web-a.web.shop.svc.cluster.local.", A, NoError, &["web-a.web.shop.svc.cluster.local. 5 A 10.1.0.1"]),
            (
                "10-1-5-5.web.shop.svc.cluster.local.",
                A,
                NoError,
                &["10-1-5-5.web.shop.svc.cluster.local. 5 A 10.1.5.5"],
            ),
            // SRV at the Service's own name: every port, named or not.
            (
                "web.shop.svc.cluster.local.",
                SRV,
                NoError,
                &[
                    "web.shop.svc.cluster.local. 5 SRV 0 50 80 web.shop.svc.cluster.local.",
                    "web.shop.svc.cluster.local. 5 SRV 0 50 81 web.shop.svc.cluster.local.",
                    ";additional web.shop.svc.cluster.local. 5 A 10.96.0.20",
                    ";additional web.shop.svc.cluster.local. 5 AAAA fd00::20",
                ],
            ),
            (
                "db.shop.svc.cluster.local.",
                SRV,
                NoError,
                &[
                    "db.shop.svc.cluster.local. 5 SRV 0 100 15432 db-0.db.shop.svc.cluster.local.",
                    ";additional db-0.db.shop.svc.cluster.local. 5 A 10.1.0.1",
                ],
            ),
            (
                "2.0.1.10.in-addr.arpa.",
                PTR,
                NXDomain,
                &[";authority in-addr.arpa. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local."],
            ),
            ("dns-version.cluster.local.", TXT, NoError, &["dns-version.cluster.local. 28800 TXT 1.1.0"]),
            ("10-2-3-4.shop.pod.cluster.local.", A, NoError, &["10-2-3-4.shop.pod.cluster.local. 5 A 10.2.3.4"]),
            ("nope.shop.svc.cluster.local.", A, NXDomain, &[soa]),
            ("shop.svc.cluster.local.", A, NoError, &[soa]),
        ];
        check(&authority, cases);
    }

    type Case<'a> = (&'a str, RecordType, ResponseCode, &'a [&'a str]);

    /// Asks every case's question and compares the answer as a set of lines.
    fn check(authority: &Authority, cases: &[Case<'_>]) {
        for (qname, qtype, rcode, want) in cases {
            let name = Name::from_ascii(qname).unwrap();
            let answer = authority.answer(&name, &LowerName::new(&name), *qtype, None).unwrap();
            assert_eq!(answer.rcode, *rcode, "{qname} {qtype}");
            // Rotated answers come in any order: compare as sets.
            let mut got = lines(&answer);
            got.sort();
            let mut want = want.to_vec();
            want.sort();
            assert_eq!(got.len(), want.len(), "{qname} {qtype}: {got:#?}");
            for (got, want) in got.iter().zip(want.iter()) {
                let same = if want.contains(" SOA ") { got.starts_with(want) } else { got == want };
                assert!(same, "{qname} {qtype}:\n got  {got}\n want {want}");
            }
        }
    }

    /// CoreDNS's zonal test cluster: a headless Service with endpoints in two zones, a third
    /// zone that only another Service occupies, and a Service with a cluster IP.
    const ZONAL: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: hdls, namespace: testns}
spec: {clusterIP: None}
---
apiVersion: v1
kind: Service
metadata: {name: clstr, namespace: testns}
spec: {clusterIP: 10.0.0.10, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: testns}
spec: {clusterIP: None}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: hdls-1, namespace: testns, labels: {kubernetes.io/service-name: hdls}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints:
- {addresses: [172.0.0.1], zone: us-west-2a}
- {addresses: [172.0.0.2], zone: US-West-2b}
- {addresses: [172.0.0.3], zone: us-west-2b}
- {addresses: [172.0.0.4], zone: us-west-2c, conditions: {ready: false}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: clstr-1, namespace: testns, labels: {kubernetes.io/service-name: clstr}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints:
- {addresses: [172.0.1.1], zone: us-west-2a}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: other-1, namespace: testns, labels: {kubernetes.io/service-name: other}}
addressType: IPv4
endpoints:
- {addresses: [172.0.2.1], zone: us-west-2c}
"#;

    fn zonal_authority(zonal: bool) -> Authority {
        let mut zone = ZoneSettings::new(Name::from_ascii("cluster.local.").unwrap(), 5, PodMode::Disabled);
        zone.zonal = zonal;
        let options = documents::ReadOptions {
            trim: crate::registry::object::TrimOptions { zones: zonal, ..Default::default() },
            ..Default::default()
        };
        authority_of(ZONAL, options, zone)
    }

    #[test]
    fn topology_pinned_names_hold_the_endpoints_of_one_zone() {
        let soa = ";authority cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local.";
        let pin_b = "us-west-2b.pin._zone.hdls.testns.svc.cluster.local.";
        let prefer_c = "us-west-2c.prefer._zone.hdls.testns.svc.cluster.local.";
        let cases: &[Case<'_>] = &[
            (
                "us-west-2a.pin._zone.hdls.testns.svc.cluster.local.",
                A,
                NoError,
                &["us-west-2a.pin._zone.hdls.testns.svc.cluster.local. 5 A 172.0.0.1"],
            ),
            // Zones compare without case, in the name and in the EndpointSlice.
            (pin_b, A, NoError, &[&format!("{pin_b} 5 A 172.0.0.2"), &format!("{pin_b} 5 A 172.0.0.3")]),
            (
                "US-WEST-2B.PIN._zone.hdls.testns.svc.cluster.local.",
                A,
                NoError,
                &[
                    "US-WEST-2B.PIN._zone.hdls.testns.svc.cluster.local. 5 A 172.0.0.2",
                    "US-WEST-2B.PIN._zone.hdls.testns.svc.cluster.local. 5 A 172.0.0.3",
                ],
            ),
            // A zone holding none of the Service's ready endpoints: NODATA for every type.
            ("us-west-2c.pin._zone.hdls.testns.svc.cluster.local.", A, NoError, &[soa]),
            ("us-west-2c.pin._zone.hdls.testns.svc.cluster.local.", TXT, NoError, &[soa]),
            ("nowhere.pin._zone.hdls.testns.svc.cluster.local.", SRV, NoError, &[soa]),
            ("us-west-2a.pin._zone.hdls.testns.svc.cluster.local.", AAAA, NoError, &[soa]),
            ("us-west-2a.prefer._zone.hdls.testns.svc.cluster.local.", TXT, NoError, &[soa]),
            (
                "us-west-2a.prefer._zone.hdls.testns.svc.cluster.local.",
                A,
                NoError,
                &["us-west-2a.prefer._zone.hdls.testns.svc.cluster.local. 5 A 172.0.0.1"],
            ),
            // `prefer`: a zone without endpoints widens to all of them.
            (
                prefer_c,
                A,
                NoError,
                &[
                    &format!("{prefer_c} 5 A 172.0.0.1"),
                    &format!("{prefer_c} 5 A 172.0.0.2"),
                    &format!("{prefer_c} 5 A 172.0.0.3"),
                ],
            ),
            (
                prefer_c,
                SRV,
                NoError,
                &[
                    &format!("{prefer_c} 5 SRV 0 33 80 172-0-0-1.hdls.testns.svc.cluster.local."),
                    &format!("{prefer_c} 5 SRV 0 33 80 172-0-0-2.hdls.testns.svc.cluster.local."),
                    &format!("{prefer_c} 5 SRV 0 33 80 172-0-0-3.hdls.testns.svc.cluster.local."),
                    ";additional 172-0-0-1.hdls.testns.svc.cluster.local. 5 A 172.0.0.1",
                    ";additional 172-0-0-2.hdls.testns.svc.cluster.local. 5 A 172.0.0.2",
                    ";additional 172-0-0-3.hdls.testns.svc.cluster.local. 5 A 172.0.0.3",
                ],
            ),
            (
                pin_b,
                SRV,
                NoError,
                &[
                    &format!("{pin_b} 5 SRV 0 50 80 172-0-0-2.hdls.testns.svc.cluster.local."),
                    &format!("{pin_b} 5 SRV 0 50 80 172-0-0-3.hdls.testns.svc.cluster.local."),
                    ";additional 172-0-0-2.hdls.testns.svc.cluster.local. 5 A 172.0.0.2",
                    ";additional 172-0-0-3.hdls.testns.svc.cluster.local. 5 A 172.0.0.3",
                ],
            ),
            // The names above them exist (RFC 8020: an NXDOMAIN would deny the whole subtree).
            ("_zone.hdls.testns.svc.cluster.local.", A, NoError, &[soa]),
            ("pin._zone.hdls.testns.svc.cluster.local.", A, NoError, &[soa]),
            ("prefer._zone.hdls.testns.svc.cluster.local.", A, NoError, &[soa]),
            // An unknown directive, a missing Service, a Service with a cluster IP, too many labels.
            ("us-west-2a.florp._zone.hdls.testns.svc.cluster.local.", A, NXDomain, &[soa]),
            ("florp._zone.hdls.testns.svc.cluster.local.", A, NXDomain, &[soa]),
            ("us-west-2a.pin._zone.ghost.testns.svc.cluster.local.", A, NXDomain, &[soa]),
            ("us-west-2a.pin._zone.clstr.testns.svc.cluster.local.", A, NXDomain, &[soa]),
            ("_zone.clstr.testns.svc.cluster.local.", A, NXDomain, &[soa]),
            ("x.us-west-2a.pin._zone.hdls.testns.svc.cluster.local.", A, NXDomain, &[soa]),
        ];
        check(&zonal_authority(true), cases);
    }

    #[test]
    fn without_zonal_the_pinned_names_do_not_exist() {
        let soa = ";authority cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local.";
        let cases: &[Case<'_>] = &[
            ("us-west-2a.pin._zone.hdls.testns.svc.cluster.local.", A, NXDomain, &[soa]),
            ("us-west-2a.prefer._zone.hdls.testns.svc.cluster.local.", A, NXDomain, &[soa]),
            ("pin._zone.hdls.testns.svc.cluster.local.", A, NXDomain, &[soa]),
            ("_zone.hdls.testns.svc.cluster.local.", A, NXDomain, &[soa]),
            (
                "hdls.testns.svc.cluster.local.",
                A,
                NoError,
                &[
                    "hdls.testns.svc.cluster.local. 5 A 172.0.0.1",
                    "hdls.testns.svc.cluster.local. 5 A 172.0.0.2",
                    "hdls.testns.svc.cluster.local. 5 A 172.0.0.3",
                ],
            ),
        ];
        check(&zonal_authority(false), cases);
    }

    /// A local Service and, from two clusters, a ClusterSetIP and a headless ServiceImport.
    const CLUSTERSET: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.96.0.20}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.1.5.5]}]
---
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceImport
metadata: {name: web, namespace: shop}
spec: {type: ClusterSetIP, ips: [10.42.0.1], ports: [{name: http, protocol: TCP, port: 80}]}
---
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceImport
metadata: {name: db, namespace: shop}
spec: {type: Headless, ports: [{name: pg, protocol: TCP, port: 5432}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-east
  namespace: shop
  labels: {multicluster.kubernetes.io/service-name: db, multicluster.kubernetes.io/source-cluster: east}
addressType: IPv4
ports: [{name: pg, port: 5432}]
endpoints:
- {addresses: [10.1.0.1], hostname: db-0}
- {addresses: [10.1.0.2]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-west
  namespace: shop
  labels: {multicluster.kubernetes.io/service-name: db, multicluster.kubernetes.io/source-cluster: west}
addressType: IPv4
ports: [{name: pg, port: 5432}]
endpoints:
- {addresses: [10.2.0.1], hostname: db-0}
"#;

    #[test]
    fn service_imports_answer_in_the_clusterset_zone() {
        use clap::Parser;
        let args = ["clusterdns", "--manifests", "x", "--multicluster", "clusterset.local", "--pods", "insecure"];
        let cli = crate::config::Cli::try_parse_from(args).unwrap();
        let options = documents::ReadOptions { multicluster: true, ..Default::default() };
        let authority = authority_of(CLUSTERSET, options, ZoneSettings::from_config(&cli, &cli.live));
        let soa = ";authority clusterset.local. 5 SOA ns.dns.clusterset.local. hostmaster.clusterset.local.";
        let local_soa = ";authority cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local.";
        let pg = "_pg._tcp.db.shop.svc.clusterset.local.";
        let cases: &[Case<'_>] = &[
            ("web.shop.svc.clusterset.local.", A, NoError, &["web.shop.svc.clusterset.local. 5 A 10.42.0.1"]),
            ("web.shop.svc.cluster.local.", A, NoError, &["web.shop.svc.cluster.local. 5 A 10.96.0.20"]),
            (
                "_http._tcp.web.shop.svc.clusterset.local.",
                SRV,
                NoError,
                &[
                    "_http._tcp.web.shop.svc.clusterset.local. 5 SRV 0 100 80 web.shop.svc.clusterset.local.",
                    ";additional web.shop.svc.clusterset.local. 5 A 10.42.0.1",
                ],
            ),
            (
                "db.shop.svc.clusterset.local.",
                A,
                NoError,
                &[
                    "db.shop.svc.clusterset.local. 5 A 10.1.0.1",
                    "db.shop.svc.clusterset.local. 5 A 10.1.0.2",
                    "db.shop.svc.clusterset.local. 5 A 10.2.0.1",
                ],
            ),
            (
                "db-0.east.db.shop.svc.clusterset.local.",
                A,
                NoError,
                &["db-0.east.db.shop.svc.clusterset.local. 5 A 10.1.0.1"],
            ),
            (
                "DB-0.West.db.shop.svc.clusterset.local.",
                A,
                NoError,
                &["DB-0.West.db.shop.svc.clusterset.local. 5 A 10.2.0.1"],
            ),
            (
                "10-1-0-2.east.db.shop.svc.clusterset.local.",
                A,
                NoError,
                &["10-1-0-2.east.db.shop.svc.clusterset.local. 5 A 10.1.0.2"],
            ),
            // No record picks one cluster's backends (§2.4.4); the name holds endpoint names.
            ("east.db.shop.svc.clusterset.local.", A, NoError, &[soa]),
            ("south.db.shop.svc.clusterset.local.", A, NXDomain, &[soa]),
            ("db-0.south.db.shop.svc.clusterset.local.", A, NXDomain, &[soa]),
            (
                pg,
                SRV,
                NoError,
                &[
                    &format!("{pg} 5 SRV 0 33 5432 10-1-0-2.east.db.shop.svc.clusterset.local."),
                    &format!("{pg} 5 SRV 0 33 5432 db-0.east.db.shop.svc.clusterset.local."),
                    &format!("{pg} 5 SRV 0 33 5432 db-0.west.db.shop.svc.clusterset.local."),
                    ";additional 10-1-0-2.east.db.shop.svc.clusterset.local. 5 A 10.1.0.2",
                    ";additional db-0.east.db.shop.svc.clusterset.local. 5 A 10.1.0.1",
                    ";additional db-0.west.db.shop.svc.clusterset.local. 5 A 10.2.0.1",
                ],
            ),
            ("dns-version.clusterset.local.", TXT, NoError, &["dns-version.clusterset.local. 28800 TXT 1.0.0"]),
            ("dns-version.cluster.local.", TXT, NoError, &["dns-version.cluster.local. 28800 TXT 1.1.0"]),
            ("clusterset.local.", SOA, NoError, &[&soa[";authority ".len()..]]),
            ("shop.svc.clusterset.local.", A, NoError, &[soa]),
            ("ghost.shop.svc.clusterset.local.", A, NXDomain, &[soa]),
            ("10-1-2-3.shop.pod.clusterset.local.", A, NXDomain, &[soa]),
            ("10-1-2-3.shop.pod.cluster.local.", A, NoError, &["10-1-2-3.shop.pod.cluster.local. 5 A 10.1.2.3"]),
            ("db-0.east.db.shop.svc.cluster.local.", A, NXDomain, &[local_soa]),
            ("db.shop.svc.cluster.local.", A, NXDomain, &[local_soa]),
            // PTRs: this cluster's first; an address only the clusterset knows, there.
            ("20.0.96.10.in-addr.arpa.", PTR, NoError, &["20.0.96.10.in-addr.arpa. 5 PTR web.shop.svc.cluster.local."]),
            (
                "5.5.1.10.in-addr.arpa.",
                PTR,
                NoError,
                &["5.5.1.10.in-addr.arpa. 5 PTR 10-1-5-5.web.shop.svc.cluster.local."],
            ),
            (
                "1.0.42.10.in-addr.arpa.",
                PTR,
                NoError,
                &["1.0.42.10.in-addr.arpa. 5 PTR web.shop.svc.clusterset.local."],
            ),
            (
                "1.0.1.10.in-addr.arpa.",
                PTR,
                NoError,
                &["1.0.1.10.in-addr.arpa. 5 PTR db-0.east.db.shop.svc.clusterset.local."],
            ),
            ("2.10.in-addr.arpa.", PTR, NoError, &[";authority in-addr.arpa. 5 SOA ns.dns.cluster.local."]),
        ];
        check(&authority, cases);
    }

    #[test]
    fn names_outside_our_zones_are_not_ours() {
        let name = Name::from_ascii("example.com.").unwrap();
        assert!(authority().answer(&name, &LowerName::new(&name), A, None).is_none());
    }

    #[test]
    fn before_the_first_sync_missing_names_are_servfail_and_known_ones_answer() {
        let (registry, _writer) = Registry::new();
        let zone = ZoneSettings::new(Name::from_ascii("cluster.local.").unwrap(), 5, PodMode::Disabled);
        let authority = Authority::new(Arc::new(ArcSwap::from_pointee(zone)), registry, Zones::default());
        let name = Name::from_ascii("web.shop.svc.cluster.local.").unwrap();
        let answer = authority.answer(&name, &LowerName::new(&name), A, None).unwrap();
        assert_eq!(answer.rcode, ResponseCode::ServFail);
        let apex = Name::from_ascii("cluster.local.").unwrap();
        assert_eq!(authority.answer(&apex, &LowerName::new(&apex), SOA, None).unwrap().rcode, NoError);
    }
}
