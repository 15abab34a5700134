//! Static zones from zone files: served authoritatively, chased into the cluster, reloaded,
//! and kept when an edit breaks them.

use std::time::Duration;

use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::RecordType;

use crate::fixture;
use crate::harness::{DnsServer, rdatas};

const STATIC_ZONE: &str = "$ORIGIN corp.example.\n$TTL 300\n\
    @ IN SOA ns1 hostmaster 1 7200 900 86400 60\n\
    @ IN NS ns1\n\
    ns1 IN A 10.9.0.1\n\
    www IN A 10.9.0.10\n\
    shop IN CNAME web.apps.svc.cluster.local.\n";

#[tokio::test]
async fn a_static_zone_is_served_and_reloaded_and_a_broken_edit_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let zone_path = dir.path().join("corp.example.zone");
    std::fs::write(&zone_path, STATIC_ZONE).unwrap();
    let zone_arg = zone_path.to_str().unwrap().to_string();
    let server = DnsServer::start(&fixture::files(), &["--zone-file", &zone_arg]);
    let www = server.query("www.corp.example.", RecordType::A).await;
    assert!(www.metadata.authoritative);
    assert_eq!(rdatas(&www.answers), ["10.9.0.10"]);
    let shop = server.query("shop.corp.example.", RecordType::A).await;
    assert_eq!(rdatas(&shop.answers), ["10.96.1.10", "web.apps.svc.cluster.local."], "CNAME into the cluster, chased");
    let nx = server.query("nope.corp.example.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(nx.authorities[0].name.to_string(), "corp.example.");

    std::fs::write(&zone_path, STATIC_ZONE.replace("10.9.0.10", "10.9.0.20")).unwrap();
    let reloaded = server
        .eventually("www.corp.example.", RecordType::A, Duration::from_secs(10), |r| {
            rdatas(&r.answers) == ["10.9.0.20"]
        })
        .await;
    assert_eq!(rdatas(&reloaded.answers), ["10.9.0.20"]);

    std::fs::write(&zone_path, STATIC_ZONE.replace("10.9.0.10", "10.9.0.999")).unwrap();
    let logged = server.expect_log("zone file not loaded", Duration::from_secs(10));
    assert!(logged.contains("line 6"), "{logged}");
    assert_eq!(rdatas(&server.query("www.corp.example.", RecordType::A).await.answers), ["10.9.0.20"]);
}

#[tokio::test]
async fn the_example_zone_in_zones_loads() {
    let zone = concat!(env!("CARGO_MANIFEST_DIR"), "/zones/corp.example.zone");
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/zones/demo");
    let server = DnsServer::start(&[], &["--manifests", demo, "--zone-file", zone]);
    assert_eq!(rdatas(&server.query("intranet.corp.example.", RecordType::A).await.answers), ["10.20.0.80"]);
    let shop = server.query("shop.corp.example.", RecordType::A).await;
    assert_eq!(rdatas(&shop.answers), ["10.96.0.20", "web.shop.svc.cluster.local."]);
}
