//! Multi-Cluster Services (KEP-1645): `--multicluster clusterset.local` answers ServiceImports
//! and their EndpointSlices by the multicluster DNS specification, from manifests and from the
//! API alike; a cluster without the ServiceImport CRD still serves everything else.

use std::time::Duration;

use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::RecordType;

use crate::apiserver::ApiServer;
use crate::fixture;
use crate::harness::{DnsServer, rdatas};

const WAIT: Duration = Duration::from_secs(20);
const ARGS: &[&str] = &["--multicluster", "clusterset.local"];

const LOCAL: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.96.5.1}
"#;

const IMPORTS: &str = r#"
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceImport
metadata: {name: web, namespace: shop}
spec: {type: ClusterSetIP, ips: [10.42.5.1], ports: [{name: http, protocol: TCP, port: 80}]}
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
- {addresses: [10.5.1.1], hostname: db-0}
- {addresses: [10.5.1.2], hostname: db-1, conditions: {ready: false}}
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
- {addresses: [10.5.2.1], hostname: db-0}
"#;

async fn assert_clusterset_answers(server: &DnsServer) {
    let web = server.query("web.shop.svc.clusterset.local.", RecordType::A).await;
    assert_eq!(rdatas(&web.answers), ["10.42.5.1"]);
    assert!(web.metadata.authoritative);
    let srv = server.query("_http._tcp.web.shop.svc.clusterset.local.", RecordType::SRV).await;
    assert_eq!(rdatas(&srv.answers), ["0 100 80 web.shop.svc.clusterset.local."]);
    let db = server.query("db.shop.svc.clusterset.local.", RecordType::A).await;
    assert_eq!(rdatas(&db.answers), ["10.5.1.1", "10.5.2.1"], "ready endpoints of every cluster");
    let pet = server.query("db-0.west.db.shop.svc.clusterset.local.", RecordType::A).await;
    assert_eq!(rdatas(&pet.answers), ["10.5.2.1"]);
    let pg = server.query("_pg._tcp.db.shop.svc.clusterset.local.", RecordType::SRV).await;
    assert_eq!(
        rdatas(&pg.answers),
        ["0 50 5432 db-0.east.db.shop.svc.clusterset.local.", "0 50 5432 db-0.west.db.shop.svc.clusterset.local."]
    );
    let version = server.query("dns-version.clusterset.local.", RecordType::TXT).await;
    assert_eq!(rdatas(&version.answers), ["1.0.0"]);
    let ptr = server.query("1.2.5.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(rdatas(&ptr.answers), ["db-0.west.db.shop.svc.clusterset.local."]);
    let one_cluster = server.query("east.db.shop.svc.clusterset.local.", RecordType::A).await;
    assert_eq!(one_cluster.metadata.response_code, ResponseCode::NoError);
    assert!(one_cluster.answers.is_empty(), "no record picks one cluster's backends");
    let local = server.query("web.shop.svc.cluster.local.", RecordType::A).await;
    assert_eq!(rdatas(&local.answers), ["10.96.5.1"]);
}

#[tokio::test]
async fn service_imports_answer_under_clusterset_local() {
    let files = [("local.yaml", LOCAL), ("imports.yaml", IMPORTS)];
    let from_files = DnsServer::start(&files, ARGS);
    assert_clusterset_answers(&from_files).await;

    let api = ApiServer::start();
    api.install_mcs_crd();
    fixture::apply_text(&api, LOCAL);
    fixture::apply_text(&api, IMPORTS);
    let from_api = DnsServer::start_api(&api, ARGS);
    from_api.expect_log("initial sync complete", WAIT);
    assert_clusterset_answers(&from_api).await;
    let requests = api.requests();
    assert!(requests.iter().any(|r| r.contains("/apis/multicluster.x-k8s.io/v1alpha1/serviceimports?")));
    let imported = |r: &&String| r.contains("endpointslices") && r.contains("multicluster.kubernetes.io/service-name");
    assert!(requests.iter().any(|r| imported(&r)), "imported slices are watched by their label");

    // A pod becoming ready in a member cluster shows up through the watch.
    fixture::apply_text(&api, &IMPORTS.replace("hostname: db-1, conditions: {ready: false}", "hostname: db-1"));
    let name = "db.shop.svc.clusterset.local.";
    let grown = from_api.eventually(name, RecordType::A, WAIT, |r| r.answers.len() == 3).await;
    assert_eq!(rdatas(&grown.answers), ["10.5.1.1", "10.5.1.2", "10.5.2.1"]);

    // Without --multicluster nothing of it is read or watched, and the zone is not ours.
    let plain = DnsServer::start(&files, &["--resolv-conf", "/dev/null"]);
    let reply = plain.query("web.shop.svc.clusterset.local.", RecordType::A).await;
    assert_ne!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(!reply.metadata.authoritative);
}

#[tokio::test]
async fn a_cluster_without_the_service_import_crd_serves_everything_else() {
    let api = ApiServer::start();
    fixture::apply_text(&api, LOCAL);
    let server = DnsServer::start_api(&api, ARGS);
    server.expect_log("initial sync complete", WAIT);
    server.expect_log("the Multi-Cluster Services CRD is not installed", WAIT);
    let local = server.query("web.shop.svc.cluster.local.", RecordType::A).await;
    assert_eq!(rdatas(&local.answers), ["10.96.5.1"]);
    let missing = server.query("web.shop.svc.clusterset.local.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain, "synced: NXDOMAIN, not SERVFAIL");
    // Installing the CRD later is picked up without a restart.
    api.install_mcs_crd();
    fixture::apply_text(&api, IMPORTS);
    let name = "web.shop.svc.clusterset.local.";
    let found = server.eventually(name, RecordType::A, Duration::from_secs(40), |r| !r.answers.is_empty()).await;
    assert_eq!(rdatas(&found.answers), ["10.42.5.1"]);
    server.expect_log("watch recovered", WAIT);
}

#[test]
fn a_clusterset_zone_that_overlaps_the_cluster_zone_is_a_usage_error() {
    let (code, _, stderr) =
        crate::harness::run_to_exit(&["--manifests", "zones/demo", "--multicluster", "cluster.local"]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("--multicluster cluster.local overlaps a cluster zone"), "{stderr}");
}
