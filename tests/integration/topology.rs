//! Topology-aware headless answers in node-local mode (`--node-name`): the instance learns its
//! zone from its Node object through the API, and headless Services that prefer nearby
//! endpoints (`spec.trafficDistribution`, or hints on their EndpointSlices) answer with the
//! endpoints on its node, else in its zone, first (`--topology only`: alone).

use std::collections::BTreeSet;
use std::time::Duration;

use hickory_net::proto::rr::RecordType;

use crate::apiserver::ApiServer;
use crate::fixture;
use hickory_net::proto::rr::Record;

use crate::harness::DnsServer;

const WAIT: Duration = Duration::from_secs(20);

const NODE_IN_ZONE_A: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: node-1, labels: {topology.kubernetes.io/zone: zone-a}}
"#;

const NODE_IN_ZONE_B: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: node-1, labels: {topology.kubernetes.io/zone: zone-b}}
"#;

const SERVICES: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: zonal, namespace: shop}
spec: {clusterIP: None, trafficDistribution: PreferSameZone}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: zonal-1, namespace: shop, labels: {kubernetes.io/service-name: zonal}}
addressType: IPv4
endpoints:
- {addresses: [10.3.0.1], zone: zone-c, nodeName: node-5}
- {addresses: [10.3.0.2], zone: zone-a, nodeName: node-2}
- {addresses: [10.3.0.3], zone: zone-b, nodeName: node-3}
- {addresses: [10.3.0.4], zone: zone-a, nodeName: node-1}
- {addresses: [10.3.0.5], zone: zone-b, nodeName: node-4}
---
apiVersion: v1
kind: Service
metadata: {name: hinted, namespace: shop}
spec: {clusterIP: None}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: hinted-1, namespace: shop, labels: {kubernetes.io/service-name: hinted}}
addressType: IPv4
endpoints:
- {addresses: [10.4.0.1], zone: zone-a, hints: {forZones: [{name: zone-b}]}}
- {addresses: [10.4.0.2], zone: zone-b, hints: {forZones: [{name: zone-a}]}}
- {addresses: [10.4.0.3], zone: zone-c, hints: {forZones: [{name: zone-c}]}}
---
apiVersion: v1
kind: Service
metadata: {name: same-node, namespace: shop}
spec: {clusterIP: None, trafficDistribution: PreferSameNode}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: same-node-1, namespace: shop, labels: {kubernetes.io/service-name: same-node}}
addressType: IPv4
endpoints:
- {addresses: [10.5.0.1], zone: zone-a, nodeName: node-2}
- {addresses: [10.5.0.2], zone: zone-b, nodeName: node-3}
- {addresses: [10.5.0.3], zone: zone-a, nodeName: node-1}
---
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: shop}
spec: {clusterIP: None}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: plain-1, namespace: shop, labels: {kubernetes.io/service-name: plain}}
addressType: IPv4
endpoints:
- {addresses: [10.6.0.1], zone: zone-a, nodeName: node-1}
- {addresses: [10.6.0.2], zone: zone-b, nodeName: node-3}
- {addresses: [10.6.0.3], zone: zone-a, nodeName: node-2}
- {addresses: [10.6.0.4], zone: zone-c, nodeName: node-5}
---
apiVersion: v1
kind: Service
metadata: {name: far, namespace: shop}
spec: {clusterIP: None, trafficDistribution: PreferClose}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: far-1, namespace: shop, labels: {kubernetes.io/service-name: far}}
addressType: IPv4
endpoints:
- {addresses: [10.7.0.1], zone: zone-c, nodeName: node-5}
- {addresses: [10.7.0.2], zone: zone-c, nodeName: node-6}
"#;

/// The addresses of answer records, in the order sent.
fn in_order(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.data.to_string()).collect()
}

/// The A answers of `service` in `shop`, in the order given, for `count` queries in a row.
async fn answers(server: &DnsServer, service: &str, count: usize) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for _ in 0..count {
        all.push(in_order(&server.query(&format!("{service}.shop.svc.cluster.local"), RecordType::A).await.answers));
    }
    all
}

fn set(ips: &[&str]) -> BTreeSet<String> {
    ips.iter().map(|ip| ip.to_string()).collect()
}

/// Every answer holds `all`, its first `near.len()` records are `near`, and each near endpoint
/// leads some answer (the near group rotates on its own).
fn assert_near_first(answers: &[Vec<String>], near: &[&str], all: &[&str]) {
    let mut leaders = BTreeSet::new();
    for answer in answers {
        let got: BTreeSet<String> = answer.iter().cloned().collect();
        assert_eq!(got, set(all), "every endpoint is in the answer: {answer:?}");
        let first: BTreeSet<String> = answer[..near.len()].iter().cloned().collect();
        assert_eq!(first, set(near), "the near endpoints come first: {answer:?}");
        leaders.insert(answer[0].clone());
    }
    assert_eq!(leaders, set(near), "each near endpoint leads in turn: {answers:?}");
}

fn start(api: &ApiServer, extra: &[&str]) -> DnsServer {
    let mut args = vec!["--node-name", "node-1", "--udp-workers", "1"];
    args.extend_from_slice(extra);
    DnsServer::start_api(api, &args)
}

#[tokio::test]
async fn headless_answers_list_the_endpoints_near_this_node_first() {
    let api = ApiServer::start();
    fixture::apply_text(&api, NODE_IN_ZONE_A);
    fixture::apply_text(&api, SERVICES);
    let server = start(&api, &[]);
    assert!(
        api.requests().iter().any(|r| r.starts_with("GET /api/v1/nodes?") && r.contains("fieldSelector=metadata.name")),
        "only this instance's Node is watched: {:?}",
        api.requests()
    );

    let zonal_all = ["10.3.0.1", "10.3.0.2", "10.3.0.3", "10.3.0.4", "10.3.0.5"];
    assert_near_first(&answers(&server, "zonal", 4).await, &["10.3.0.2", "10.3.0.4"], &zonal_all);
    // Hints win over where an endpoint runs.
    assert_near_first(&answers(&server, "hinted", 3).await, &["10.4.0.2"], &["10.4.0.1", "10.4.0.2", "10.4.0.3"]);
    // PreferSameNode: this node's endpoint, before the others of its zone.
    assert_near_first(&answers(&server, "same-node", 3).await, &["10.5.0.3"], &["10.5.0.1", "10.5.0.2", "10.5.0.3"]);

    // A Service that asks for nothing rotates through all of its endpoints as before.
    let plain = answers(&server, "plain", 4).await;
    let leaders: BTreeSet<String> = plain.iter().map(|a| a[0].clone()).collect();
    assert_eq!(leaders, set(&["10.6.0.1", "10.6.0.2", "10.6.0.3", "10.6.0.4"]), "{plain:?}");
    // None in this zone: every endpoint, in the usual rotation.
    let far: BTreeSet<String> = answers(&server, "far", 2).await.iter().map(|a| a[0].clone()).collect();
    assert_eq!(far, set(&["10.7.0.1", "10.7.0.2"]));

    // The Node moves to another zone: the answers follow the watch.
    fixture::apply_text(&api, NODE_IN_ZONE_B);
    let moved = server
        .eventually("zonal.shop.svc.cluster.local", RecordType::A, WAIT, |m| {
            let first: BTreeSet<String> = in_order(&m.answers).into_iter().take(2).collect();
            first == set(&["10.3.0.3", "10.3.0.5"])
        })
        .await;
    assert_eq!(in_order(&moved.answers)[..2].iter().cloned().collect::<BTreeSet<_>>(), set(&["10.3.0.3", "10.3.0.5"]));
    assert_eq!(moved.answers.len(), zonal_all.len(), "{moved:?}");
}

#[tokio::test]
async fn with_topology_only_the_near_endpoints_are_answered_while_there_are_any() {
    let api = ApiServer::start();
    fixture::apply_text(&api, NODE_IN_ZONE_A);
    fixture::apply_text(&api, SERVICES);
    let server = start(&api, &["--topology", "only"]);
    for answer in answers(&server, "zonal", 2).await {
        assert_eq!(answer.iter().cloned().collect::<BTreeSet<_>>(), set(&["10.3.0.2", "10.3.0.4"]));
    }
    assert_eq!(answers(&server, "same-node", 1).await, [["10.5.0.3"]]);
    let far = answers(&server, "far", 1).await;
    assert_eq!(far[0].iter().cloned().collect::<BTreeSet<_>>(), set(&["10.7.0.1", "10.7.0.2"]), "none near: all");
}

#[tokio::test]
async fn without_its_node_object_an_instance_still_prefers_its_own_node() {
    // No Node in the API (or no permission to read it): the zone is unknown, the node is not.
    let api = ApiServer::start();
    fixture::apply_text(&api, SERVICES);
    let server = start(&api, &[]);
    assert_near_first(&answers(&server, "same-node", 3).await, &["10.5.0.3"], &["10.5.0.1", "10.5.0.2", "10.5.0.3"]);
    let zonal = answers(&server, "zonal", 5).await;
    let leaders: BTreeSet<String> = zonal.iter().map(|a| a[0].clone()).collect();
    assert_eq!(leaders.len(), 5, "no zone known, no zone preferred: {zonal:?}");
}

/// Three Nodes whose pod CIDRs and InternalIPs are loopback ranges, so that a test client
/// choosing its source address runs "on" one of them.
const CLIENT_NODES: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: node-1, labels: {topology.kubernetes.io/zone: zone-a}}
spec: {podCIDR: 127.0.1.0/24, podCIDRs: [127.0.1.0/24, "fd00:1::/64"]}
status: {addresses: [{type: InternalIP, address: 127.0.10.1}, {type: Hostname, address: node-1}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-2, labels: {topology.kubernetes.io/zone: zone-a}}
spec: {podCIDRs: [127.0.2.0/24]}
---
apiVersion: v1
kind: Node
metadata: {name: node-3, labels: {topology.kubernetes.io/zone: zone-b}}
spec: {podCIDRs: [127.0.3.0/24]}
status: {addresses: [{type: InternalIP, address: 127.0.30.1}]}
"#;

fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

/// The A answers of `service` in `shop` for a client at `source`, `count` queries in a row.
async fn answers_from(server: &DnsServer, source: &str, service: &str, count: usize) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for _ in 0..count {
        let name = format!("{service}.shop.svc.cluster.local");
        all.push(in_order(&server.query_from(ip(source), &name, RecordType::A).await.answers));
    }
    all
}

fn start_central(api: &ApiServer, client_nodes: &str) -> DnsServer {
    DnsServer::start_api(api, &["--client-nodes", client_nodes, "--udp-workers", "1"])
}

#[tokio::test]
async fn central_replicas_place_each_client_by_its_nodes_pod_cidr() {
    let api = ApiServer::start();
    fixture::apply_text(&api, CLIENT_NODES);
    fixture::apply_text(&api, SERVICES);
    let server = start_central(&api, "pod-cidrs");
    let requests = api.requests();
    assert!(
        requests.iter().any(|r| r.starts_with("GET /api/v1/nodes?") && !r.contains("fieldSelector")),
        "every Node is watched: {requests:?}"
    );
    assert!(!requests.iter().any(|r| r.contains("/pods")), "no Pod watch for pod CIDRs: {requests:?}");

    let zonal_all = ["10.3.0.1", "10.3.0.2", "10.3.0.3", "10.3.0.4", "10.3.0.5"];
    // A Pod on node-1 (zone-a), one on node-3 (zone-b), and a hostNetwork Pod on node-3.
    assert_near_first(&answers_from(&server, "127.0.1.5", "zonal", 4).await, &["10.3.0.2", "10.3.0.4"], &zonal_all);
    assert_near_first(&answers_from(&server, "127.0.3.5", "zonal", 4).await, &["10.3.0.3", "10.3.0.5"], &zonal_all);
    assert_near_first(&answers_from(&server, "127.0.30.1", "zonal", 4).await, &["10.3.0.3", "10.3.0.5"], &zonal_all);
    let same_node = ["10.5.0.1", "10.5.0.2", "10.5.0.3"];
    assert_near_first(&answers_from(&server, "127.0.1.5", "same-node", 3).await, &["10.5.0.3"], &same_node);
    assert_near_first(&answers_from(&server, "127.0.2.5", "same-node", 3).await, &["10.5.0.1"], &same_node);
    assert_near_first(&answers_from(&server, "127.0.10.1", "same-node", 3).await, &["10.5.0.3"], &same_node);
    assert_near_first(
        &answers_from(&server, "127.0.1.5", "hinted", 3).await,
        &["10.4.0.2"],
        &["10.4.0.1", "10.4.0.2", "10.4.0.3"],
    );

    // A client no Node places (outside every pod CIDR) gets the usual rotation.
    let unplaced = answers_from(&server, "127.0.0.1", "zonal", 5).await;
    let leaders: BTreeSet<String> = unplaced.iter().map(|a| a[0].clone()).collect();
    assert_eq!(leaders, set(&zonal_all), "{unplaced:?}");

    // A Node's zone changes: its clients' answers follow the watch.
    fixture::apply_text(&api, &CLIENT_NODES.replace("zone-b", "zone-c"));
    assert!(leads_eventually(&server, "127.0.3.5", "zonal", "10.3.0.1").await, "node-3 is in zone-c now");
}

/// Polls until `service`'s answers to a client at `source` start with `first`.
async fn leads_eventually(server: &DnsServer, source: &str, service: &str, first: &str) -> bool {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if answers_from(server, source, service, 1).await[0].first().map(String::as_str) == Some(first) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

const CLIENT_PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop}
spec: {nodeName: node-2}
status: {phase: Running, podIP: 127.0.9.9, podIPs: [{ip: 127.0.9.9}]}
"#;

#[tokio::test]
async fn with_client_nodes_pods_a_client_is_placed_by_its_pods_node() {
    let api = ApiServer::start();
    fixture::apply_text(&api, CLIENT_NODES);
    fixture::apply_text(&api, SERVICES);
    fixture::apply_text(&api, CLIENT_PODS);
    // --pods stays disabled: the Pod watch is started for the clients alone.
    let server = start_central(&api, "pods");
    let same_node = ["10.5.0.1", "10.5.0.2", "10.5.0.3"];
    // 127.0.9.9 is in no pod CIDR: only its Pod says it runs on node-2.
    assert_near_first(&answers_from(&server, "127.0.9.9", "same-node", 3).await, &["10.5.0.1"], &same_node);
    let zonal_all = ["10.3.0.1", "10.3.0.2", "10.3.0.3", "10.3.0.4", "10.3.0.5"];
    assert_near_first(&answers_from(&server, "127.0.9.9", "zonal", 4).await, &["10.3.0.2", "10.3.0.4"], &zonal_all);
    // The pod CIDRs still place clients no Pod names.
    assert_near_first(&answers_from(&server, "127.0.3.5", "same-node", 3).await, &["10.5.0.2"], &same_node);

    // The Pod is replaced by one on node-3 with the same IP: the answers follow the watch.
    fixture::apply_text(&api, &CLIENT_PODS.replace("node-2", "node-3"));
    assert!(leads_eventually(&server, "127.0.9.9", "same-node", "10.5.0.2").await, "the client runs on node-3 now");
    // Gone: the client is no longer placed, and every endpoint leads in turn.
    api.delete(crate::apiserver::Resource::Pods, "shop", "client");
    let mut unplaced = false;
    for _ in 0..200 {
        let leaders: BTreeSet<String> =
            answers_from(&server, "127.0.9.9", "same-node", 3).await.iter().map(|a| a[0].clone()).collect();
        if leaders.len() == 3 {
            unplaced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(unplaced, "a deleted Pod's address places no client");
}

#[tokio::test]
async fn clients_placed_by_their_pods_stay_placed_when_a_restart_answers_from_the_saved_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snapshot.json");
    let snapshot = snapshot.to_str().unwrap();
    let api = ApiServer::start();
    fixture::apply_text(&api, SERVICES);
    fixture::apply_text(&api, CLIENT_PODS);
    let args =
        ["--client-nodes", "pods", "--udp-workers", "1", "--snapshot-file", snapshot, "--startup-timeout", "300ms"];
    {
        let first = DnsServer::start_api(&api, &args);
        first.expect_log("initial sync complete", WAIT);
        let saved = crate::harness::file_appears(std::path::Path::new(snapshot), WAIT);
        assert!(saved, "the snapshot was never saved");
    }
    // Without the API, the saved Pods still say which node 127.0.9.9 runs on.
    api.set_unavailable(true);
    let second = DnsServer::start_api(&api, &args);
    second.expect_log("answering from the saved snapshot", WAIT);
    let same_node = ["10.5.0.1", "10.5.0.2", "10.5.0.3"];
    assert_near_first(&answers_from(&second, "127.0.9.9", "same-node", 3).await, &["10.5.0.1"], &same_node);
}
