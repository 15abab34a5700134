//! Answers the Kubernetes DNS specification leaves open and CoreDNS's `kubernetes` plugin gives,
//! which workloads rely on: checked through manifests and through the API watch alike.

use std::time::Duration;

use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::RecordType;

use crate::apiserver::ApiServer;
use crate::fixture;
use crate::harness::{DnsServer, rdatas};

const WAIT: Duration = Duration::from_secs(20);

const CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.96.7.1, ports: [{name: http, port: 80}, {port: 81}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.7.0.1], hostname: web-a}
- {addresses: [10.7.0.2]}
---
apiVersion: v1
kind: Service
metadata: {name: admin, namespace: shop}
spec: {clusterIP: 10.96.7.2}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: admin-1, namespace: shop, labels: {kubernetes.io/service-name: admin}}
addressType: IPv4
endpoints:
- {addresses: [10.7.0.1]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: None}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, namespace: shop, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
endpoints:
- {addresses: [10.7.1.1], targetRef: {kind: Pod, name: db-7c9f8}}
- {addresses: [10.7.1.2], hostname: db-1, targetRef: {kind: Pod, name: db-7c9f9}}
- {addresses: [10.7.1.3], targetRef: {kind: Pod, name: a-pod-name-that-is-much-too-long-to-be-a-dns-label-by-kubernetes-rules}}
---
apiVersion: v1
kind: Service
metadata: {name: idle, namespace: shop}
spec: {clusterIP: 10.96.7.3, ports: [{name: http, port: 80}]}
"#;

/// The same cluster served from manifests and from the API.
fn serve_both(args: &[&str]) -> (Vec<DnsServer>, ApiServer) {
    let from_files = DnsServer::start(&[("cluster.yaml", CLUSTER)], args);
    let api = ApiServer::start();
    fixture::apply_text(&api, CLUSTER);
    let from_api = DnsServer::start_api(&api, args);
    from_api.expect_log("initial sync complete", WAIT);
    (vec![from_files, from_api], api)
}

#[tokio::test]
async fn endpoints_of_a_service_with_a_cluster_ip_have_names_and_ptrs() {
    let (servers, _api) = serve_both(&[]);
    for server in &servers {
        let a = server.query("web-a.web.shop.svc.cluster.local.", RecordType::A).await;
        assert_eq!(rdatas(&a.answers), ["10.7.0.1"]);
        let dashed = server.query("10-7-0-2.web.shop.svc.cluster.local.", RecordType::A).await;
        assert_eq!(rdatas(&dashed.answers), ["10.7.0.2"]);
        assert_eq!(rdatas(&server.query("web.shop.svc.cluster.local.", RecordType::A).await.answers), ["10.96.7.1"]);
        // One PTR per Service the address is an endpoint of.
        let ptr = server.query("1.0.7.10.in-addr.arpa.", RecordType::PTR).await;
        assert_eq!(
            rdatas(&ptr.answers),
            ["10-7-0-1.admin.shop.svc.cluster.local.", "web-a.web.shop.svc.cluster.local."]
        );
        let missing = server.query("nope.web.shop.svc.cluster.local.", RecordType::A).await;
        assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    }
}

#[tokio::test]
async fn srv_at_the_service_name_lists_every_port() {
    let (servers, _api) = serve_both(&[]);
    for server in &servers {
        let srv = server.query("web.shop.svc.cluster.local.", RecordType::SRV).await;
        assert_eq!(
            rdatas(&srv.answers),
            ["0 50 80 web.shop.svc.cluster.local.", "0 50 81 web.shop.svc.cluster.local."]
        );
        assert_eq!(rdatas(&srv.additionals), ["10.96.7.1"]);
        // A Service without ports has no SRV records: NODATA.
        let none = server.query("admin.shop.svc.cluster.local.", RecordType::SRV).await;
        assert_eq!(none.metadata.response_code, ResponseCode::NoError);
        assert!(none.answers.is_empty() && none.authorities.len() == 1);
    }
}

#[tokio::test]
async fn endpoint_pod_names_name_endpoints_after_their_pods() {
    let (servers, _api) = serve_both(&["--endpoint-pod-names"]);
    for server in &servers {
        let a = server.query("db-7c9f8.db.shop.svc.cluster.local.", RecordType::A).await;
        assert_eq!(rdatas(&a.answers), ["10.7.1.1"]);
        let hostname = server.query("db-1.db.shop.svc.cluster.local.", RecordType::A).await;
        assert_eq!(rdatas(&hostname.answers), ["10.7.1.2"], "a hostname still wins");
        let long = server.query("10-7-1-3.db.shop.svc.cluster.local.", RecordType::A).await;
        assert_eq!(rdatas(&long.answers), ["10.7.1.3"], "a Pod name over 63 characters is not a name");
        let ptr = server.query("1.1.7.10.in-addr.arpa.", RecordType::PTR).await;
        assert_eq!(rdatas(&ptr.answers), ["db-7c9f8.db.shop.svc.cluster.local."]);
    }
    let (plain, _api) = serve_both(&[]);
    for server in &plain {
        let dashed = server.query("10-7-1-1.db.shop.svc.cluster.local.", RecordType::A).await;
        assert_eq!(rdatas(&dashed.answers), ["10.7.1.1"], "without the option, the dashed IP");
    }
}

#[tokio::test]
async fn no_endpoints_reads_no_endpoint_slices() {
    let (servers, api) = serve_both(&["--no-endpoints"]);
    for server in &servers {
        assert_eq!(rdatas(&server.query("web.shop.svc.cluster.local.", RecordType::A).await.answers), ["10.96.7.1"]);
        for name in ["db.shop.svc.cluster.local.", "web-a.web.shop.svc.cluster.local."] {
            let reply = server.query(name, RecordType::A).await;
            assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain, "{name}");
        }
    }
    assert!(!api.requests().iter().any(|r| r.contains("endpointslices")), "no EndpointSlice watch");
}

#[tokio::test]
async fn ignore_empty_service_makes_a_service_without_ready_endpoints_nxdomain() {
    let (servers, _api) = serve_both(&["--ignore-empty-service"]);
    for server in &servers {
        for (name, qtype) in [
            ("idle.shop.svc.cluster.local.", RecordType::A),
            ("_http._tcp.idle.shop.svc.cluster.local.", RecordType::SRV),
        ] {
            let reply = server.query(name, qtype).await;
            assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain, "{name}");
        }
        assert_eq!(rdatas(&server.query("web.shop.svc.cluster.local.", RecordType::A).await.answers), ["10.96.7.1"]);
    }
    let (plain, _api) = serve_both(&[]);
    let idle = plain[0].query("idle.shop.svc.cluster.local.", RecordType::A).await;
    assert_eq!(rdatas(&idle.answers), ["10.96.7.3"], "without the option, the cluster IP");
}

#[tokio::test]
async fn fallthrough_sends_nxdomain_names_of_a_listed_zone_upstream() {
    let upstream = crate::upstream::Upstream::start(9);
    let up = upstream.arg();
    let zone_file = format!("{}/zones/corp.example.zone", env!("CARGO_MANIFEST_DIR"));
    let (servers, _api) =
        serve_both(&["--upstream", &up, "--zone-file", &zone_file, "--fallthrough", "cluster.local,corp.example"]);
    for (i, server) in servers.iter().enumerate() {
        for name in ["nope.shop.svc.cluster.local.", "nope.corp.example."] {
            let reply = server.query(name, RecordType::A).await;
            assert_eq!(rdatas(&reply.answers), ["192.0.2.9"], "{name} was answered upstream");
            assert_eq!(upstream.asked(name, "udp"), i + 1);
        }
        // Names that exist are still ours, and NODATA is not NXDOMAIN.
        assert_eq!(rdatas(&server.query("web.shop.svc.cluster.local.", RecordType::A).await.answers), ["10.96.7.1"]);
        let nodata = server.query("web.shop.svc.cluster.local.", RecordType::TXT).await;
        assert!(nodata.answers.is_empty() && upstream.asked("web.shop.svc.cluster.local.", "udp") == 0);
    }
    // Without the option, NXDOMAIN stays ours.
    let plain = DnsServer::start(&[("cluster.yaml", CLUSTER)], &["--upstream", &up]);
    let nx = plain.query("other.shop.svc.cluster.local.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn several_cluster_domains_answer_the_same_names() {
    let (servers, _api) = serve_both(&["--zone", "cluster.local,corp.internal"]);
    for server in &servers {
        for zone in ["cluster.local", "corp.internal"] {
            let web = server.query(&format!("web.shop.svc.{zone}."), RecordType::A).await;
            assert_eq!(rdatas(&web.answers), ["10.96.7.1"], "{zone}");
            let srv = server.query(&format!("_http._tcp.web.shop.svc.{zone}."), RecordType::SRV).await;
            assert_eq!(rdatas(&srv.answers), [format!("0 100 80 web.shop.svc.{zone}.")], "targets in the asked zone");
            let missing = server.query(&format!("nope.shop.svc.{zone}."), RecordType::A).await;
            assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
            assert_eq!(missing.authorities[0].name.to_string(), format!("{zone}."), "the SOA of the asked zone");
        }
        let ptr = server.query("1.7.96.10.in-addr.arpa.", RecordType::PTR).await;
        assert_eq!(rdatas(&ptr.answers), ["web.shop.svc.cluster.local."], "PTR targets in the first zone");
    }
}

const LABELLED: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: open, labels: {dns: public}}
---
apiVersion: v1
kind: Namespace
metadata: {name: closed}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: open}
spec: {clusterIP: 10.96.8.1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: closed}
spec: {clusterIP: 10.96.8.2}
"#;

#[tokio::test]
async fn namespace_labels_expose_only_matching_namespaces() {
    let from_files = DnsServer::start(&[("cluster.yaml", LABELLED)], &["--namespace-labels", "dns=public"]);
    let api = ApiServer::start();
    fixture::apply_text(&api, LABELLED);
    let from_api = DnsServer::start_api(&api, &["--namespace-labels", "dns=public"]);
    from_api.expect_log("initial sync complete", WAIT);
    for server in [&from_files, &from_api] {
        assert_eq!(rdatas(&server.query("web.open.svc.cluster.local.", RecordType::A).await.answers), ["10.96.8.1"]);
        for (name, qtype) in [
            ("web.closed.svc.cluster.local.", RecordType::A),
            ("closed.svc.cluster.local.", RecordType::A),
            ("2.8.96.10.in-addr.arpa.", RecordType::PTR),
        ] {
            let reply = server.query(name, qtype).await;
            assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain, "{name}");
        }
    }
    assert!(api.requests().iter().any(|r| r.contains("/namespaces?") && r.contains("labelSelector=dns=public")));
    // Labelling the namespace exposes what is in it.
    fixture::apply_text(&api, "apiVersion: v1\nkind: Namespace\nmetadata: {name: closed, labels: {dns: public}}\n");
    let reply =
        from_api.eventually("web.closed.svc.cluster.local.", RecordType::A, WAIT, |r| !r.answers.is_empty()).await;
    assert_eq!(rdatas(&reply.answers), ["10.96.8.2"]);
    let (code, _, stderr) = crate::harness::run_to_exit(&["--namespace-labels", "env in (a", "--manifests", "x"]);
    assert_eq!(code, 64, "{stderr}");
}

const ZONED: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: kv, namespace: shop}
spec: {clusterIP: None, ports: [{name: client, port: 2379}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: kv-1, namespace: shop, labels: {kubernetes.io/service-name: kv}}
addressType: IPv4
ports: [{name: client, port: 2379}]
endpoints:
- {addresses: [10.9.0.1], hostname: kv-0, zone: eu-west-1a}
- {addresses: [10.9.0.2], hostname: kv-1, zone: eu-west-1b}
- {addresses: [10.9.0.3], hostname: kv-2, zone: eu-west-1b}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.96.9.1}
"#;

#[tokio::test]
async fn zonal_names_hold_the_endpoints_of_one_topology_zone() {
    let from_files = DnsServer::start(&[("cluster.yaml", ZONED)], &["--zonal"]);
    let api = ApiServer::start();
    fixture::apply_text(&api, ZONED);
    let from_api = DnsServer::start_api(&api, &["--zonal"]);
    from_api.expect_log("initial sync complete", WAIT);
    for server in [&from_files, &from_api] {
        let pin = server.query("eu-west-1b.pin._zone.kv.shop.svc.cluster.local.", RecordType::A).await;
        assert_eq!(rdatas(&pin.answers), ["10.9.0.2", "10.9.0.3"]);
        let srv = server.query("eu-west-1a.pin._zone.kv.shop.svc.cluster.local.", RecordType::SRV).await;
        assert_eq!(rdatas(&srv.answers), ["0 100 2379 kv-0.kv.shop.svc.cluster.local."]);
        assert_eq!(rdatas(&srv.additionals), ["10.9.0.1"]);
        let drained = server.query("eu-west-1c.pin._zone.kv.shop.svc.cluster.local.", RecordType::A).await;
        assert_eq!(drained.metadata.response_code, ResponseCode::NoError);
        assert!(drained.answers.is_empty() && drained.authorities.len() == 1, "NODATA with the SOA");
        let prefer = server.query("eu-west-1c.prefer._zone.kv.shop.svc.cluster.local.", RecordType::A).await;
        assert_eq!(rdatas(&prefer.answers), ["10.9.0.1", "10.9.0.2", "10.9.0.3"]);
        let cluster_ip = server.query("eu-west-1a.pin._zone.web.shop.svc.cluster.local.", RecordType::A).await;
        assert_eq!(cluster_ip.metadata.response_code, ResponseCode::NXDomain);
    }
    // An endpoint moving zone moves between the pinned names.
    fixture::apply_text(&api, &ZONED.replace("hostname: kv-2, zone: eu-west-1b", "hostname: kv-2, zone: eu-west-1a"));
    let name = "eu-west-1a.pin._zone.kv.shop.svc.cluster.local.";
    let moved = from_api.eventually(name, RecordType::A, WAIT, |r| r.answers.len() == 2).await;
    assert_eq!(rdatas(&moved.answers), ["10.9.0.1", "10.9.0.3"]);
    // Without the option the names do not exist, as before.
    let plain = DnsServer::start(&[("cluster.yaml", ZONED)], &[]);
    let reply = plain.query("eu-west-1b.pin._zone.kv.shop.svc.cluster.local.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
}
