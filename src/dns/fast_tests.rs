//! The fast path against the general one: for every kind of question, in every case spelling,
//! with and without EDNS, over UDP and TCP, both give the same reply (same rotation, no TTL
//! jitter), and the questions the fast path exists for do take it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use arc_swap::{ArcSwap, ArcSwapOption};
use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RecordType};
use hickory_server::net::xfer::Protocol;

use super::{DnsHandler, Fallthrough, Outcome};
use crate::config::PodMode;
use crate::dns::authority::{Authority, set_rotation};
use crate::dns::rules::Rules;
use crate::dns::zone::ZoneSettings;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::source::documents;

const CLUSTER: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.20
  clusterIPs: [10.96.0.20, "fd00::20"]
  ports: [{name: http, port: 80}, {port: 81}, {name: dns, port: 53, protocol: UDP}, {name: http, port: 80, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: None, ports: [{name: pg, port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: mp, namespace: shop}
spec: {clusterIP: None, ports: [{name: a, port: 1000}, {name: b, port: 2000}]}
---
apiVersion: v1
kind: Service
metadata: {name: pay, namespace: shop}
spec: {type: ExternalName, externalName: web.shop.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: big, namespace: shop}
spec: {clusterIP: None, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec: {clusterIP: 10.96.0.10, ports: [{name: dns, port: 53, protocol: UDP}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, namespace: shop, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
ports: [{name: pg, port: 15432}]
endpoints:
- {addresses: [10.1.0.1], hostname: db-0}
- {addresses: [10.1.0.3], hostname: db-1}
- {addresses: [10.1.0.4]}
- {addresses: [10.1.0.2], conditions: {ready: false}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-2, namespace: shop, labels: {kubernetes.io/service-name: db}}
addressType: IPv6
ports: [{name: pg, port: 15432}]
endpoints:
- {addresses: ["fd00::1:1"], hostname: db-0}
- {addresses: ["fd00::1:5"]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: mp-1, namespace: shop, labels: {kubernetes.io/service-name: mp}}
addressType: IPv4
ports: [{name: a, port: 1000}, {name: b, port: 2000}]
endpoints:
- {addresses: [10.2.0.1], hostname: m-1}
- {addresses: [10.2.0.2], hostname: m-0}
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

/// 60 endpoints: more than a 512-byte reply holds.
fn big_slice() -> String {
    let endpoints: String = (1..=60).map(|i| format!("- {{addresses: [10.3.0.{i}], hostname: b-{i}}}\n")).collect();
    format!(
        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: big-1, namespace: shop, \
         labels: {{kubernetes.io/service-name: big}}}}\naddressType: IPv4\nports: [{{name: http, port: 80}}]\n\
         endpoints:\n{endpoints}"
    )
}

fn handler() -> DnsHandler {
    let text = format!("{CLUSTER}{}", big_slice());
    let options = documents::ReadOptions::default();
    let objects = documents::parse(Path::new("cluster.yaml"), text.as_bytes(), text.len() as u64, options).unwrap();
    let (registry, mut writer) = Registry::new();
    writer.replace(&objects.objects, true);
    let zone = ZoneSettings::new(Name::from_ascii("cluster.local.").unwrap(), 5, PodMode::Insecure);
    let authority = Authority::new(Arc::new(ArcSwap::from_pointee(zone)), registry, Default::default());
    DnsHandler::new(
        authority,
        Arc::new(ArcSwapOption::empty()),
        Fallthrough::default(),
        Arc::new(Metrics::new()),
        Arc::new(AtomicBool::new(false)),
        Arc::new(ArcSwap::from_pointee(Rules::default())),
    )
}

const NAMES: &[&str] = &[
    "cluster.local.",
    "svc.cluster.local.",
    "shop.svc.cluster.local.",
    "web.shop.svc.cluster.local.",
    "db.shop.svc.cluster.local.",
    "mp.shop.svc.cluster.local.",
    "big.shop.svc.cluster.local.",
    "pay.shop.svc.cluster.local.",
    "nope.shop.svc.cluster.local.",
    "nope.nope.svc.cluster.local.",
    "x.y.z.w.v.cluster.local.",
    "dns-version.cluster.local.",
    "ns.dns.cluster.local.",
    "_http._tcp.web.shop.svc.cluster.local.",
    "_http._udp.web.shop.svc.cluster.local.",
    "_dns._udp.web.shop.svc.cluster.local.",
    "_tcp.web.shop.svc.cluster.local.",
    "_pg._tcp.db.shop.svc.cluster.local.",
    "_a._tcp.mp.shop.svc.cluster.local.",
    "_b._tcp.mp.shop.svc.cluster.local.",
    "_http._tcp.big.shop.svc.cluster.local.",
    "_nope._tcp.db.shop.svc.cluster.local.",
    "web-a.web.shop.svc.cluster.local.",
    "10-1-5-5.web.shop.svc.cluster.local.",
    "db-0.db.shop.svc.cluster.local.",
    "10-1-0-4.db.shop.svc.cluster.local.",
    "fd00--1-5.db.shop.svc.cluster.local.",
    "b-7.big.shop.svc.cluster.local.",
    "10-1-0-1.shop.pod.cluster.local.",
    "10-1-0-1.nope.pod.cluster.local.",
    "20.0.96.10.in-addr.arpa.",
    "1.0.1.10.in-addr.arpa.",
    "5.5.1.10.in-addr.arpa.",
    "9.9.9.10.in-addr.arpa.",
    "0.96.10.in-addr.arpa.",
    "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
    "1.0.0.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
    "example.com.",
];

const TYPES: &[RecordType] =
    &[RecordType::A, RecordType::AAAA, RecordType::SRV, RecordType::PTR, RecordType::TXT, RecordType::ANY];

/// The name with every other letter upper-cased, from `phase` on.
fn mixed_case(name: &str, phase: usize) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| if (i + phase).is_multiple_of(2) { c.to_ascii_uppercase() } else { c })
        .collect()
}

fn query(name: &str, qtype: RecordType, edns: Option<u16>, id: u16) -> Vec<u8> {
    let mut message = Message::query();
    message.metadata.id = id;
    message.metadata.recursion_desired = id.is_multiple_of(2);
    message.metadata.checking_disabled = id.is_multiple_of(3);
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut opt = Edns::new();
        opt.set_max_payload(size);
        message.set_edns(opt);
    }
    message.to_vec().unwrap()
}

fn reply(outcome: Outcome, out: &[u8]) -> Message {
    assert!(matches!(outcome, Outcome::Reply), "a reply");
    Message::from_vec(out).expect("a well-formed reply")
}

/// Everything a reply says, TTLs included (hickory's record equality ignores them), and the
/// answers' owner names in their case: the question's. Other names may take any case (the
/// general path's compression sometimes points into the question).
fn describe(message: &Message) -> Vec<String> {
    let record = |r: &hickory_proto::rr::Record| {
        format!("{} {} {} {}", r.ttl, r.dns_class, r.record_type(), r.data).to_ascii_lowercase()
    };
    let mut lines = vec![format!("{:?}", message.metadata), format!("{:?}", message.queries)];
    lines.extend(message.answers.iter().map(|r| format!("an {} {}", r.name, record(r))));
    for (section, records) in [("ns", &message.authorities), ("ar", &message.additionals)] {
        lines.extend(records.iter().map(|r| format!("{section} {} {}", r.name.to_lowercase(), record(r))));
    }
    lines.push(format!("{:?}", message.edns));
    lines
}

#[test]
fn the_fast_path_answers_exactly_as_the_general_path() {
    let handler = handler();
    let src: SocketAddr = "127.0.0.1:5353".parse().unwrap();
    let (mut fast, mut general) = (Vec::new(), Vec::new());
    let mut taken = 0;
    let mut compared = 0;
    for (i, name) in NAMES.iter().enumerate() {
        for &qtype in TYPES {
            for edns in [None, Some(100), Some(512), Some(1232), Some(4096)] {
                for protocol in [Protocol::Udp, Protocol::Tcp] {
                    for rotation in [0, 7] {
                        let id = (compared % 60_000) as u16;
                        let packet = query(&mixed_case(name, i + rotation), qtype, edns, id);
                        set_rotation(rotation);
                        let started = std::time::Instant::now();
                        let general_reply =
                            reply(handler.answer_general(&packet, src, protocol, started, &mut general), &general);
                        set_rotation(rotation);
                        if handler.answer_fast(&packet, src, protocol, &mut fast).is_some() {
                            taken += 1;
                            let fast_reply = Message::from_vec(&fast).expect("a well-formed fast reply");
                            let what = format!("{name} {qtype} edns {edns:?} {protocol:?} rotation {rotation}");
                            assert_eq!(describe(&fast_reply), describe(&general_reply), "{what}");
                        }
                        compared += 1;
                    }
                }
            }
        }
    }
    assert!(taken > compared / 4, "the fast path took {taken} of {compared}");
}

#[test]
fn the_questions_most_queries_ask_take_the_fast_path() {
    let client: SocketAddr = "127.0.0.1:5353".parse().unwrap();
    let handler = handler();
    let mut out = Vec::new();
    let fast = [
        ("web.shop.svc.cluster.local.", RecordType::A),
        ("web.shop.svc.cluster.local.", RecordType::AAAA),
        ("db.shop.svc.cluster.local.", RecordType::A),
        ("db.shop.svc.cluster.local.", RecordType::AAAA),
        ("mp.shop.svc.cluster.local.", RecordType::AAAA),
        ("nope.shop.svc.cluster.local.", RecordType::A),
        ("_http._tcp.web.shop.svc.cluster.local.", RecordType::SRV),
        ("_pg._tcp.db.shop.svc.cluster.local.", RecordType::SRV),
        ("db.shop.svc.cluster.local.", RecordType::SRV),
        ("db-0.db.shop.svc.cluster.local.", RecordType::A),
        ("10-1-0-1.shop.pod.cluster.local.", RecordType::A),
        ("20.0.96.10.in-addr.arpa.", RecordType::PTR),
    ];
    for (name, qtype) in fast {
        for edns in [None, Some(1232)] {
            let packet = query(&mixed_case(name, 1), qtype, edns, 1);
            assert!(handler.answer_fast(&packet, client, Protocol::Udp, &mut out).is_some(), "{name} {qtype} {edns:?}");
        }
    }
    // Too large for 512 bytes: the general path truncates.
    let packet = query("big.shop.svc.cluster.local.", RecordType::A, None, 1);
    assert!(handler.answer_fast(&packet, client, Protocol::Udp, &mut out).is_none());
    assert!(handler.answer_fast(&packet, client, Protocol::Tcp, &mut out).is_some());
}
