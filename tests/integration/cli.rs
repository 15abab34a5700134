//! Flags: bad values exit 64 naming the flag; help explains; the demo data loads.

use hickory_net::proto::rr::RecordType;

use crate::harness::{DnsServer, rdatas, run_to_exit};

#[test]
fn bad_flags_exit_64_and_name_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--manifests", "zones/demo", "--ttl", "99999"], "--ttl"),
        (&["--manifests", "zones/demo", "--ttl", "-1"], "--ttl"),
        (&["--manifests", "zones/demo", "--pods", "maybe"], "--pods"),
        (&["--manifests", "zones/demo", "--listen", "127.0.0.1"], "--listen"),
        (&["--manifests", "zones/demo", "--zone", "bad..zone"], "--zone"),
        (&["--manifests", "zones/demo", "--log-level", "chatty=="], "--log-level"),
        (&["--manifests", "zones/demo", "--no-such-flag"], "--no-such-flag"),
        (&["--manifests", "/nonexistent/clusterdns-manifests"], "--manifests"),
    ];
    for (args, flag) in cases {
        let (code, _, stderr) = run_to_exit(args);
        assert_eq!(code, 64, "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}

#[test]
fn help_explains_every_flag() {
    let (code, stdout, _) = run_to_exit(&["--help"]);
    assert_eq!(code, 0);
    for flag in ["--manifests", "--listen", "--zone", "--ttl", "--pods", "--log-level"] {
        assert!(stdout.contains(flag), "{flag} missing from --help:\n{stdout}");
    }
}

#[test]
fn port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, _, stderr) = run_to_exit(&["--manifests", "zones/demo", "--listen", &addr]);
    assert_eq!(code, 1);
    assert!(stderr.contains(&format!("cannot listen for TCP on {addr}")), "{stderr}");
}

#[tokio::test]
async fn demo_data_in_zones_is_served() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/zones/demo");
    let server = DnsServer::start(&[], &["--manifests", demo]);
    assert_eq!(rdatas(&server.query("web.shop.svc.cluster.local.", RecordType::A).await.answers), ["10.96.0.20"]);
    let db = server.query("db.shop.svc.cluster.local.", RecordType::A).await;
    assert_eq!(rdatas(&db.answers), ["10.244.1.20", "10.244.2.21"]);
    // The harness gives no upstreams, which is worth its warning; nothing else may warn.
    let logs: Vec<String> = server.logs().into_iter().filter(|l| !l.contains("no upstream resolvers")).collect();
    let logs = logs.join("\n");
    assert!(!logs.contains("ERROR") && !logs.contains("WARN"), "the demo data loads cleanly:\n{logs}");
}
