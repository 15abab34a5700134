//! The configuration file and environment: precedence, errors, check-config.

use std::time::Duration;

use hickory_net::proto::rr::RecordType;

use crate::fixture;
use crate::harness::{DnsServer, run_with_env};

fn config(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clusterdns.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_string();
    (dir, path)
}

fn effective(args: &[&str], env: &[(&str, Option<&str>)]) -> String {
    let (code, stdout, stderr) = run_with_env(args, env);
    assert_eq!(code, 0, "{stderr}");
    stdout
}

#[test]
fn flags_beat_environment_beats_file_beats_default() {
    let (_dir, path) = config("ttl = 30\nlameduck = \"2s\"\nmanifests = [\"zones/demo\"]\n");
    let ttl = |out: String| out.lines().find(|l| l.starts_with("ttl = ")).unwrap().to_string();
    let no_env = [("CLUSTERDNS_TTL", None)];
    assert_eq!(ttl(effective(&["check-config", "--config", &path], &no_env)), "ttl = 30");
    let env = [("CLUSTERDNS_TTL", Some("20"))];
    assert_eq!(ttl(effective(&["check-config", "--config", &path], &env)), "ttl = 20");
    assert_eq!(ttl(effective(&["check-config", "--config", &path, "--ttl", "10"], &env)), "ttl = 10");
    let out = effective(&["--check-config"], &[("CLUSTERDNS_CONFIG", Some(&path)), ("CLUSTERDNS_TTL", None)]);
    assert!(
        out.contains("ttl = 30")
            && out.contains("lameduck = \"2s\"")
            && out.contains("cache-max-ttl = \"30s\"")
            && out.contains("manifests = [\"zones/demo\"]"),
        "{out}"
    );
}

#[test]
fn config_errors_name_the_key_and_the_file_and_exit_64() {
    let cases = [
        ("colour = \"blue\"\n", "unknown key \"colour\""),
        ("lameduck = \"soon\"\n", "key \"lameduck\""),
        ("listen = [\"localhost\"]\n", "key \"listen\""),
        ("ttl = \n", "clusterdns.toml"),
    ];
    for (text, expected) in cases {
        let (_dir, path) = config(text);
        let (code, _, stderr) = run_with_env(&["--config", &path, "--manifests", "zones/demo"], &[]);
        assert_eq!(code, 64, "{text}: {stderr}");
        assert!(stderr.contains(expected) && stderr.contains(&path), "{text}: {stderr}");
    }
}

#[tokio::test]
async fn the_server_runs_with_the_file_settings() {
    let (_dir, path) = config("ttl = 42\n");
    let server = DnsServer::start(&fixture::files(), &["--config", &path]);
    let answer = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(answer.answers[0].ttl, 42);
}

#[tokio::test]
async fn a_changed_file_is_applied_live_and_a_broken_one_is_not() {
    let (_dir, path) = config("ttl = 42\n");
    let server = DnsServer::start(&fixture::files(), &["--config", &path]);
    let web = "web.apps.svc.cluster.local.";
    assert_eq!(server.query(web, RecordType::A).await.answers[0].ttl, 42);
    std::fs::write(&path, "ttl = 7\nlog-queries = true\n").unwrap();
    let reloaded = server.eventually(web, RecordType::A, Duration::from_secs(10), |r| r.answers[0].ttl == 7).await;
    assert_eq!(reloaded.answers[0].ttl, 7);
    server.expect_log("configuration reloaded", Duration::from_secs(5));
    server.query("db.apps.svc.cluster.local.", RecordType::A).await;
    server.expect_log("db.apps.svc.cluster.local", Duration::from_secs(5));

    std::fs::write(&path, "ttl = \"soon\"\n").unwrap();
    let failed = server.expect_log("configuration reload failed", Duration::from_secs(10));
    assert!(failed.contains("ttl"), "{failed}");
    assert_eq!(server.query(web, RecordType::A).await.answers[0].ttl, 7, "the running configuration stays");
}

#[tokio::test]
async fn sighup_reloads_and_restart_only_keys_are_named() {
    let (_dir, path) = config("ttl = 42\n");
    let server = DnsServer::start(&fixture::files(), &["--config", &path]);
    std::fs::write(&path, "ttl = 42\nudp-workers = 3\n").unwrap();
    server.signal("HUP");
    let warned = server.expect_log("takes effect after a restart", Duration::from_secs(10));
    assert!(warned.contains("udp-workers"), "{warned}");
}

#[tokio::test]
async fn a_restart_only_change_is_named_once_and_never_applied_by_a_later_reload() {
    let (_dir, path) = config("ttl = 42\n");
    let server = DnsServer::start(&fixture::files(), &["--config", &path]);
    let web = "web.apps.svc.cluster.local.";
    std::fs::write(&path, "ttl = 42\nzone = \"other.example\"\n").unwrap();
    let warned = server.expect_log("takes effect after a restart", Duration::from_secs(10));
    assert!(warned.contains("zone"), "{warned}");
    // Another reload, of a live key: the zone stays what the server started with.
    std::fs::write(&path, "ttl = 7\nzone = \"other.example\"\n").unwrap();
    let reloaded = server.eventually(web, RecordType::A, Duration::from_secs(10), |r| r.answers[0].ttl == 7).await;
    assert_eq!(reloaded.answers[0].ttl, 7);
    let other = server.query("web.apps.svc.other.example.", RecordType::A).await;
    assert!(other.answers.is_empty(), "not served under the new zone before a restart: {other}");
    let warnings = server.logs().iter().filter(|l| l.contains("takes effect after a restart")).count();
    assert_eq!(warnings, 1, "{}", server.logs().join("\n"));
}

fn cache_entries(server: &DnsServer) -> f64 {
    let (_, metrics) = server.admin_get("/metrics");
    let line = metrics.lines().find(|l| l.starts_with("clusterdns_cache_entries ")).expect("the cache entries metric");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn metrics_count_the_entries_of_the_cache_in_use_after_a_reload() {
    let upstream = crate::upstream::Upstream::start(1);
    let (_dir, path) = config(&format!("upstream = [\"{}\"]\n", upstream.arg()));
    let server = DnsServer::start(&fixture::files(), &["--config", &path, "--admin", "127.0.0.1:0"]);
    for name in ["a.example.", "a.example.", "b.example."] {
        server.query(name, RecordType::A).await;
    }
    assert_eq!(cache_entries(&server), 2.0, "one entry per name, hits included");
    // A new forwarder, with a cache of its own.
    std::fs::write(&path, format!("upstream = [\"{}\"]\nupstream-timeout = \"3s\"\n", upstream.arg())).unwrap();
    server.expect_log("configuration reloaded", Duration::from_secs(10));
    server.query("c.example.", RecordType::A).await;
    assert_eq!(cache_entries(&server), 1.0);
}
