//! Manifests edited, added, removed and broken while the server runs.

use std::time::Duration;

use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::RecordType;

use crate::fixture;
use crate::harness::{DnsServer, rdatas, soa_serial};

const RELOAD_WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn edited_manifest_is_served_after_reload_with_a_new_serial() {
    let server = DnsServer::start(&fixture::files(), &[]);
    let name = "web.apps.svc.cluster.local.";
    let serial_before = soa_serial(&server.query("cluster.local.", RecordType::SOA).await).unwrap();
    let edited = fixture::SERVICES.replace("10.96.1.10", "10.96.1.77");
    std::fs::write(server.manifest_path("services.yaml"), edited).unwrap();
    let response = server.eventually(name, RecordType::A, RELOAD_WAIT, |r| rdatas(&r.answers) == ["10.96.1.77"]).await;
    assert_eq!(rdatas(&response.answers), ["10.96.1.77"]);
    let serial_after = soa_serial(&server.query("cluster.local.", RecordType::SOA).await).unwrap();
    assert!(serial_after > serial_before, "{serial_before} -> {serial_after}");
    let old_ptr = server.query("10.1.96.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(old_ptr.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn broken_manifest_keeps_the_old_data_and_names_the_file() {
    let server = DnsServer::start(&fixture::files(), &[]);
    let name = "web.apps.svc.cluster.local.";
    let path = server.manifest_path("services.yaml");
    std::fs::write(&path, "apiVersion: v1\nkind: Service\nmetadata: {name: web\n  bad: [").unwrap();
    let logged = server.expect_log("manifest not loaded", RELOAD_WAIT);
    assert!(logged.contains("services.yaml"), "{logged}");
    assert_eq!(rdatas(&server.query(name, RecordType::A).await.answers), ["10.96.1.10"]);
    assert_eq!(
        rdatas(&server.query("db.apps.svc.cluster.local.", RecordType::A).await.answers),
        ["10.1.0.10", "10.1.0.11"]
    );

    // Fixed again: the new contents are served.
    std::fs::write(&path, fixture::SERVICES.replace("10.96.1.10", "10.96.1.88")).unwrap();
    let fixed = server.eventually(name, RecordType::A, RELOAD_WAIT, |r| rdatas(&r.answers) == ["10.96.1.88"]).await;
    assert_eq!(rdatas(&fixed.answers), ["10.96.1.88"]);
}

#[tokio::test]
async fn document_that_does_not_match_its_kind_is_reported_with_its_number() {
    let server = DnsServer::start(&fixture::files(), &[]);
    let broken = format!(
        "{}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: bad, namespace: apps}}\nspec: {{ports: 7}}\n",
        fixture::SERVICES
    );
    std::fs::write(server.manifest_path("services.yaml"), broken).unwrap();
    let logged = server.expect_log("manifest not loaded", RELOAD_WAIT);
    assert!(logged.contains("services.yaml") && logged.contains("document 16"), "{logged}");
    assert_eq!(rdatas(&server.query("web.apps.svc.cluster.local.", RecordType::A).await.answers), ["10.96.1.10"]);
}

#[tokio::test]
async fn invalid_object_is_skipped_and_the_rest_of_its_file_loads() {
    let extra = "apiVersion: v1\nkind: Service\nmetadata: {name: badip, namespace: apps}\nspec: {clusterIP: 10.96.1.300}\n---\n\
        apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: notype, namespace: apps, labels: {kubernetes.io/service-name: db}}\n\
        endpoints: [{addresses: [10.1.0.50]}]\n---\n\
        apiVersion: v1\nkind: Service\nmetadata: {name: good, namespace: apps}\nspec: {clusterIP: 10.96.1.50}\n---\n\
        apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ignored, namespace: apps}\n";
    let mut files = fixture::files();
    files.push(("extra.yaml", extra));
    let server = DnsServer::start(&files, &[]);
    assert_eq!(rdatas(&server.query("good.apps.svc.cluster.local.", RecordType::A).await.answers), ["10.96.1.50"]);
    let bad = server.query("badip.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(bad.metadata.response_code, ResponseCode::NXDomain);
    let logs = server.logs().join("\n");
    assert!(logs.contains("badip") && logs.contains("10.96.1.300"), "{logs}");
    assert!(logs.contains("notype") && logs.contains("addressType"), "{logs}");
    assert_eq!(
        rdatas(&server.query("db.apps.svc.cluster.local.", RecordType::A).await.answers),
        ["10.1.0.10", "10.1.0.11"]
    );
}

#[tokio::test]
async fn added_and_removed_files_are_picked_up() {
    let server = DnsServer::start(&fixture::files(), &[]);
    let new = "apiVersion: v1\nkind: Service\nmetadata: {name: late, namespace: apps}\nspec: {clusterIP: 10.96.1.60}\n";
    let sub = server.manifest_dir().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("late.yml"), new).unwrap();
    let added =
        server.eventually("late.apps.svc.cluster.local.", RecordType::A, RELOAD_WAIT, |r| !r.answers.is_empty()).await;
    assert_eq!(rdatas(&added.answers), ["10.96.1.60"]);
    std::fs::remove_file(sub.join("late.yml")).unwrap();
    let removed = server
        .eventually("late.apps.svc.cluster.local.", RecordType::A, RELOAD_WAIT, |r| {
            r.metadata.response_code == ResponseCode::NXDomain
        })
        .await;
    assert_eq!(removed.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn json_manifests_load_too() {
    let json = r#"{"apiVersion":"v1","kind":"List","items":[
        {"apiVersion":"v1","kind":"Service","metadata":{"name":"api","namespace":"json"},"spec":{"clusterIP":"10.96.2.1","clusterIPs":["10.96.2.1"]}}]}"#;
    let server = DnsServer::start(&[("objects.json", json)], &[]);
    assert_eq!(rdatas(&server.query("api.json.svc.cluster.local.", RecordType::A).await.answers), ["10.96.2.1"]);
}

#[tokio::test]
async fn a_manifest_folder_that_disappears_keeps_the_data_and_is_logged_once() {
    let server = DnsServer::start(&fixture::files(), &[]);
    let moved = server.manifest_dir().with_extension("moved");
    std::fs::rename(server.manifest_dir(), &moved).unwrap();
    server.expect_log("cannot read a manifest path", RELOAD_WAIT);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(rdatas(&server.query("web.apps.svc.cluster.local.", RecordType::A).await.answers), ["10.96.1.10"]);
    let lines = server.logs().iter().filter(|l| l.contains("cannot read a manifest path")).count();
    assert_eq!(lines, 1, "logged once, not per poll");
    std::fs::rename(&moved, server.manifest_dir()).unwrap();
    server.expect_log("manifest path can be read again", RELOAD_WAIT);
}
