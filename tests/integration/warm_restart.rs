//! `--snapshot-file`: an instance saves its last good view of the cluster, and one restarted
//! while the Kubernetes API is unreachable answers from it (saying so in /ready, the metrics
//! and the log) instead of SERVFAIL, until the API's lists replace it.

use std::path::Path;
use std::time::Duration;

use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::RecordType;

use crate::apiserver::{ApiServer, Resource};
use crate::fixture;
use crate::harness::{DnsServer, file_appears, rdatas};

const WAIT: Duration = Duration::from_secs(20);

fn args(snapshot: &Path) -> Vec<String> {
    let snapshot = snapshot.to_str().unwrap().to_string();
    ["--snapshot-file", &snapshot, "--admin", "127.0.0.1:0", "--startup-timeout", "300ms"].map(String::from).to_vec()
}

fn start(api: &ApiServer, args: &[String]) -> DnsServer {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    DnsServer::start_api(api, &args)
}

/// Runs an instance with `args` until it has listed and saved `snapshot`; returns it running.
fn run_until_saved(api: &ApiServer, args: &[String], snapshot: &Path) -> DnsServer {
    let server = start(api, args);
    server.expect_log("initial sync complete", WAIT);
    assert!(file_appears(snapshot, WAIT), "{} was never written", snapshot.display());
    server
}

fn saved_snapshot_metric(server: &DnsServer) -> f64 {
    let (_, metrics) = server.admin_get("/metrics");
    let line = metrics.lines().find(|l| l.starts_with("clusterdns_serving_saved_snapshot_timestamp_seconds "));
    line.and_then(|l| l.rsplit(' ').next()?.parse().ok()).expect("the saved-snapshot metric")
}

#[tokio::test]
async fn a_restart_while_the_api_is_down_answers_from_the_saved_snapshot_until_the_lists_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snapshot.json");
    let api = ApiServer::start();
    fixture::apply(&api);
    {
        let first = run_until_saved(&api, &args(&snapshot), &snapshot);
        assert_eq!(saved_snapshot_metric(&first), 0.0, "a fresh list, not a saved snapshot");
    }

    // The API goes away, the instance restarts, and the cluster changes meanwhile.
    api.set_unavailable(true);
    api.delete(Resource::Services, "apps", "web");
    let second = start(&api, &args(&snapshot));
    second.expect_log("answering from the saved snapshot", WAIT);
    assert_eq!(rdatas(&second.query("web.apps.svc.cluster.local.", RecordType::A).await.answers), ["10.96.1.10"]);
    let headless = second.query("db.apps.svc.cluster.local.", RecordType::A).await;
    assert!(!headless.answers.is_empty(), "headless answers come back too: {headless}");
    let (status, body) = second.admin_get("/ready");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("saved at"), "{body}");
    assert!(saved_snapshot_metric(&second) > 0.0);

    // The API is back: its lists replace the saved view, the deleted Service included.
    api.set_unavailable(false);
    second.expect_log("the saved snapshot no longer answers", WAIT);
    let gone = second.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(gone.metadata.response_code, ResponseCode::NXDomain, "{gone}");
    assert_eq!(second.admin_get("/ready"), (200, "OK\n".to_string()));
    assert_eq!(saved_snapshot_metric(&second), 0.0);
}

#[tokio::test]
async fn a_snapshot_last_current_longer_ago_than_the_maximum_age_is_not_answered_from() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snapshot.json");
    let api = ApiServer::start();
    fixture::apply(&api);
    drop(run_until_saved(&api, &args(&snapshot), &snapshot));
    // As if saved, and last confirmed, two hours ago: a node that was down since.
    let text = std::fs::read_to_string(&snapshot).unwrap();
    let at = text.find("\"clusterdns/saved-at\":\"").unwrap() + "\"clusterdns/saved-at\":\"".len();
    let saved_at: u64 = text[at..].split('"').next().unwrap().parse().unwrap();
    std::fs::write(&snapshot, text.replacen(&saved_at.to_string(), &(saved_at - 7200).to_string(), 1)).unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options().write(true).open(&snapshot).unwrap().set_modified(two_hours_ago).unwrap();

    api.set_unavailable(true);
    let server = start(&api, &args(&snapshot));
    server.expect_log("older than --snapshot-max-age", WAIT);
    let early = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(early.metadata.response_code, ResponseCode::ServFail, "the default maximum is an hour: {early}");
    drop(server);
    let mut any_age = args(&snapshot);
    any_age.extend(["--snapshot-max-age".to_string(), "0".to_string()]);
    let server = start(&api, &any_age);
    server.expect_log("answering from the saved snapshot", WAIT);
    assert_eq!(rdatas(&server.query("web.apps.svc.cluster.local.", RecordType::A).await.answers), ["10.96.1.10"]);
}

#[tokio::test]
async fn a_corrupt_or_foreign_snapshot_is_ignored_with_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snapshot.json");
    let api = ApiServer::start();
    fixture::apply(&api);
    api.set_unavailable(true);
    for contents in ["{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[]}", "\u{0}garbage"] {
        std::fs::write(&snapshot, contents).unwrap();
        let server = start(&api, &args(&snapshot));
        server.expect_log("saved snapshot ignored", WAIT);
        let early = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
        assert_eq!(early.metadata.response_code, ResponseCode::ServFail, "nothing to answer from yet: {early}");
        assert_eq!(server.admin_get("/ready").0, 503);
    }
}

#[tokio::test]
async fn a_snapshot_saved_with_namespace_labels_reads_back_whole() {
    // The saved namespaces passed the label selector already; the file does not keep labels.
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snapshot.json");
    let api = ApiServer::start();
    fixture::apply(&api);
    fixture::apply_text(&api, "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps, labels: {team: a}}\n");
    let mut with_labels = args(&snapshot);
    with_labels.extend(["--namespace-labels".to_string(), "team=a".to_string()]);
    drop(run_until_saved(&api, &with_labels, &snapshot));
    api.set_unavailable(true);
    let second = start(&api, &with_labels);
    second.expect_log("answering from the saved snapshot", WAIT);
    assert_eq!(rdatas(&second.query("web.apps.svc.cluster.local.", RecordType::A).await.answers), ["10.96.1.10"]);
}
