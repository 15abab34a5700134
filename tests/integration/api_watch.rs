//! The Kubernetes API source, against the in-process test API server: sync, changes, relists,
//! outages and bursts, with the real binary answering over UDP.

use std::collections::BTreeMap;
use std::time::Duration;

use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::RecordType;
use k8s_openapi::api::core::v1::{Namespace, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::apiserver::{ApiServer, Resource};
use crate::fixture;
use crate::harness::{DnsServer, rdatas, run_with_env};

const WAIT: Duration = Duration::from_secs(20);

fn meta(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: Some(namespace.into()), ..ObjectMeta::default() }
}

fn namespace(name: &str) -> Namespace {
    Namespace { metadata: ObjectMeta { name: Some(name.into()), ..ObjectMeta::default() }, ..Namespace::default() }
}

fn cluster_ip(namespace: &str, name: &str, ip: &str) -> Service {
    let spec = ServiceSpec {
        type_: Some("ClusterIP".into()),
        cluster_ip: Some(ip.into()),
        cluster_ips: Some(vec![ip.into()]),
        ports: Some(vec![ServicePort {
            name: Some("http".into()),
            port: 80,
            protocol: Some("TCP".into()),
            ..ServicePort::default()
        }]),
        ..ServiceSpec::default()
    };
    Service { metadata: meta(namespace, name), spec: Some(spec), ..Service::default() }
}

fn headless(namespace: &str, name: &str) -> Service {
    let spec = ServiceSpec {
        cluster_ip: Some("None".into()),
        cluster_ips: Some(vec!["None".into()]),
        ..ServiceSpec::default()
    };
    Service { metadata: meta(namespace, name), spec: Some(spec), ..Service::default() }
}

fn external(namespace: &str, name: &str, target: &str) -> Service {
    let spec = ServiceSpec {
        type_: Some("ExternalName".into()),
        external_name: Some(target.into()),
        ..ServiceSpec::default()
    };
    Service { metadata: meta(namespace, name), spec: Some(spec), ..Service::default() }
}

/// A slice of `service` with (ip, hostname, ready) endpoints.
fn slice(namespace: &str, name: &str, service: &str, endpoints: &[(&str, Option<&str>, bool)]) -> EndpointSlice {
    let mut metadata = meta(namespace, name);
    metadata.labels = Some(BTreeMap::from([("kubernetes.io/service-name".to_string(), service.to_string())]));
    let endpoints = endpoints
        .iter()
        .map(|(ip, host, ready)| Endpoint {
            addresses: vec![ip.to_string()],
            hostname: host.map(str::to_string),
            conditions: Some(EndpointConditions { ready: Some(*ready), ..EndpointConditions::default() }),
            ..Endpoint::default()
        })
        .collect();
    let ports = vec![EndpointPort {
        name: Some("http".into()),
        port: Some(8080),
        protocol: Some("TCP".into()),
        ..EndpointPort::default()
    }];
    EndpointSlice { metadata, address_type: "IPv4".into(), endpoints, ports: Some(ports) }
}

async fn a_records(server: &DnsServer, name: &str) -> Vec<String> {
    rdatas(&server.query(name, RecordType::A).await.answers)
}

async fn eventually_a(server: &DnsServer, name: &str, want: &[&str]) {
    let response = server.eventually(name, RecordType::A, WAIT, |r| rdatas(&r.answers) == want).await;
    assert_eq!(rdatas(&response.answers), want, "{name}: {response}");
}

async fn eventually_rcode(server: &DnsServer, name: &str, rcode: ResponseCode) {
    let response = server.eventually(name, RecordType::A, WAIT, |r| r.metadata.response_code == rcode).await;
    assert_eq!(response.metadata.response_code, rcode, "{name}: {response}");
}

#[tokio::test]
async fn before_the_first_list_unknown_names_are_servfail_then_answered() {
    let api = ApiServer::start();
    api.apply(&namespace("apps"));
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    api.hold_lists(true);
    let server = DnsServer::start_api(&api, &["--startup-timeout", "300ms"]);
    assert!(server.logs().iter().any(|l| l.contains("no complete list from the API yet")));
    let early = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(early.metadata.response_code, ResponseCode::ServFail, "never NXDOMAIN before the sync");
    api.hold_lists(false);
    eventually_a(&server, "web.apps.svc.cluster.local.", &["10.96.5.1"]).await;
    server.expect_log("initial sync complete", WAIT);
    let missing = server.query("nope.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn every_record_kind_is_served_from_the_watch() {
    let api = ApiServer::start();
    fixture::apply(&api);
    let server = DnsServer::start_api(&api, &["--pods", "verified"]);
    server.expect_log("initial sync complete", WAIT);
    assert_eq!(a_records(&server, "web.apps.svc.cluster.local.").await, ["10.96.1.10"]);
    assert_eq!(rdatas(&server.query("dual.apps.svc.cluster.local.", RecordType::AAAA).await.answers), ["fd00::20"]);
    assert_eq!(a_records(&server, "db.apps.svc.cluster.local.").await, ["10.1.0.10", "10.1.0.11"]);
    assert_eq!(a_records(&server, "db-0.db.apps.svc.cluster.local.").await, ["10.1.0.10"]);
    assert_eq!(a_records(&server, "pub.apps.svc.cluster.local.").await, ["10.1.0.30"]);
    assert_eq!(
        a_records(&server, "alias.apps.svc.cluster.local.").await,
        ["10.96.1.10", "web.apps.svc.cluster.local."]
    );
    let srv = server.query("_postgres._tcp.db.apps.svc.cluster.local.", RecordType::SRV).await;
    assert_eq!(
        rdatas(&srv.answers),
        ["0 50 15432 db-0.db.apps.svc.cluster.local.", "0 50 15432 db-1.db.apps.svc.cluster.local."]
    );
    let ptr = server.query("10.1.96.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(rdatas(&ptr.answers), ["web.apps.svc.cluster.local."]);
    assert_eq!(a_records(&server, "10-1-0-10.apps.pod.cluster.local.").await, ["10.1.0.10"]);
    let empty_ns = server.query("empty.svc.cluster.local.", RecordType::A).await;
    assert_eq!((empty_ns.metadata.response_code, empty_ns.answers.len()), (ResponseCode::NoError, 0));
    let idle = server.query("idle.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(idle.metadata.response_code, ResponseCode::NXDomain);
    // Least privilege: nothing but list and watch.
    assert!(api.requests().iter().all(|r| r.starts_with("GET ")), "{:?}", api.requests());
}

#[tokio::test]
async fn services_and_endpoints_created_updated_and_deleted_show_in_the_next_answers() {
    let api = ApiServer::start();
    api.apply(&namespace("apps"));
    let server = DnsServer::start_api(&api, &[]);
    server.expect_log("initial sync complete", WAIT);
    let web = "web.apps.svc.cluster.local.";
    eventually_rcode(&server, web, ResponseCode::NXDomain).await;

    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    eventually_a(&server, web, &["10.96.5.1"]).await;
    api.apply(&cluster_ip("apps", "web", "10.96.5.2"));
    eventually_a(&server, web, &["10.96.5.2"]).await;
    api.delete(Resource::Services, "apps", "web");
    eventually_rcode(&server, web, ResponseCode::NXDomain).await;

    let db = "db.apps.svc.cluster.local.";
    api.apply(&headless("apps", "db"));
    api.apply(&slice("apps", "db-1", "db", &[("10.1.0.1", Some("db-0"), true), ("10.1.0.2", Some("db-1"), true)]));
    eventually_a(&server, db, &["10.1.0.1", "10.1.0.2"]).await;
    // An endpoint turning unready leaves the answer at once.
    api.apply(&slice("apps", "db-1", "db", &[("10.1.0.1", Some("db-0"), true), ("10.1.0.2", Some("db-1"), false)]));
    eventually_a(&server, db, &["10.1.0.1"]).await;
    eventually_rcode(&server, "db-1.db.apps.svc.cluster.local.", ResponseCode::NXDomain).await;
    api.delete(Resource::EndpointSlices, "apps", "db-1");
    eventually_rcode(&server, db, ResponseCode::NXDomain).await;
}

#[tokio::test]
async fn a_service_changing_type_changes_its_answer() {
    let api = ApiServer::start();
    api.apply(&namespace("apps"));
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    let server = DnsServer::start_api(&api, &[]);
    let web = "web.apps.svc.cluster.local.";
    eventually_a(&server, web, &["10.96.5.1"]).await;
    api.apply(&external("apps", "web", "example.com"));
    eventually_a(&server, web, &["example.com."]).await;
    let ptr = server.query("1.5.96.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(ptr.metadata.response_code, ResponseCode::NXDomain, "the old cluster IP has no PTR any more");
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    eventually_a(&server, web, &["10.96.5.1"]).await;
}

#[tokio::test]
async fn a_relist_after_410_gone_drops_objects_deleted_during_the_gap() {
    let api = ApiServer::start();
    api.apply(&namespace("apps"));
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    api.apply(&cluster_ip("apps", "gone", "10.96.5.9"));
    let server = DnsServer::start_api(&api, &[]);
    eventually_a(&server, "gone.apps.svc.cluster.local.", &["10.96.5.9"]).await;
    assert!(api.wait_for_watches("services", 1, WAIT));
    let lists_before = api.requests().iter().filter(|r| r.contains("/services") && !r.contains("watch=true")).count();
    api.delete_during_gap(Resource::Services, "apps", "gone");
    eventually_rcode(&server, "gone.apps.svc.cluster.local.", ResponseCode::NXDomain).await;
    assert_eq!(a_records(&server, "web.apps.svc.cluster.local.").await, ["10.96.5.1"], "the rest survives the relist");
    let lists_after = api.requests().iter().filter(|r| r.contains("/services") && !r.contains("watch=true")).count();
    assert!(lists_after > lists_before, "a relist happened");
}

#[tokio::test]
async fn where_the_api_server_streams_lists_nothing_is_listed_and_a_relist_streams_too() {
    let api = ApiServer::start();
    api.serve_streaming_lists();
    api.apply(&namespace("apps"));
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    api.apply(&cluster_ip("apps", "gone", "10.96.5.9"));
    let server = DnsServer::start_api(&api, &[]);
    eventually_a(&server, "gone.apps.svc.cluster.local.", &["10.96.5.9"]).await;
    let lists = |api: &ApiServer| api.requests().into_iter().filter(|r| !r.contains("watch=true")).collect::<Vec<_>>();
    assert_eq!(lists(&api), Vec::<String>::new(), "every list is a streaming list");
    let requests = api.requests();
    for plural in ["services", "endpointslices", "namespaces"] {
        let streamed = |r: &String| r.contains(&format!("/{plural}?")) && r.contains("sendInitialEvents=true");
        assert!(requests.iter().any(streamed), "{plural}: {requests:?}");
    }
    api.apply(&cluster_ip("apps", "new", "10.96.5.2"));
    eventually_a(&server, "new.apps.svc.cluster.local.", &["10.96.5.2"]).await;
    // 410 Gone: the relist streams too, and drops what was deleted while the watch was away.
    api.delete_during_gap(Resource::Services, "apps", "gone");
    eventually_rcode(&server, "gone.apps.svc.cluster.local.", ResponseCode::NXDomain).await;
    assert_eq!(a_records(&server, "web.apps.svc.cluster.local.").await, ["10.96.5.1"], "the rest survives the relist");
    assert_eq!(lists(&api), Vec::<String>::new(), "the relist is a streaming list");
    assert!(!server.logs().iter().any(|l| l.contains("does not offer streaming lists")));
}

#[tokio::test]
async fn where_the_api_server_refuses_streaming_lists_each_watch_lists_instead() {
    // The test API server refuses them by default, as Kubernetes 1.33 does (422).
    let api = ApiServer::start();
    api.apply(&namespace("apps"));
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    let server = DnsServer::start_api(&api, &[]);
    eventually_a(&server, "web.apps.svc.cluster.local.", &["10.96.5.1"]).await;
    let requests = api.requests();
    for plural in ["services", "endpointslices", "namespaces"] {
        let on = |r: &&String| r.contains(&format!("/{plural}?"));
        let streamed = requests.iter().filter(on).position(|r| r.contains("sendInitialEvents=true"));
        let listed = requests.iter().filter(on).position(|r| !r.contains("watch=true"));
        assert!(
            matches!((streamed, listed), (Some(s), Some(l)) if s < l),
            "{plural}: tried, then listed: {requests:?}"
        );
    }
    let said = server.logs().iter().filter(|l| l.contains("does not offer streaming lists")).count();
    assert_eq!(said, 1, "said once, not once per watch");
    api.apply(&cluster_ip("apps", "new", "10.96.5.2"));
    eventually_a(&server, "new.apps.svc.cluster.local.", &["10.96.5.2"]).await;
}

#[tokio::test]
async fn with_no_streaming_lists_the_watches_list_even_where_streaming_is_offered() {
    let api = ApiServer::start();
    api.serve_streaming_lists();
    api.apply(&namespace("apps"));
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    let server = DnsServer::start_api(&api, &["--no-streaming-lists"]);
    eventually_a(&server, "web.apps.svc.cluster.local.", &["10.96.5.1"]).await;
    let requests = api.requests();
    assert!(!requests.iter().any(|r| r.contains("sendInitialEvents")), "{requests:?}");
    assert!(requests.iter().any(|r| r.contains("/services?") && !r.contains("watch=true")), "{requests:?}");
}

#[tokio::test]
async fn a_cut_watch_stream_resumes_without_relisting() {
    let api = ApiServer::start();
    api.apply(&namespace("apps"));
    let server = DnsServer::start_api(&api, &[]);
    server.expect_log("initial sync complete", WAIT);
    assert!(api.wait_for_watches("services", 1, WAIT));
    let lists = |api: &ApiServer| {
        api.requests().iter().filter(|r| r.contains("/services") && !r.contains("watch=true")).count()
    };
    let lists_before = lists(&api);
    api.cut_watches();
    assert!(api.wait_for_watches("services", 2, WAIT), "the watch is opened again");
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    eventually_a(&server, "web.apps.svc.cluster.local.", &["10.96.5.1"]).await;
    assert_eq!(lists(&api), lists_before, "resumed from its resourceVersion, no relist");
}

#[tokio::test]
async fn an_api_outage_keeps_the_last_good_data_and_recovers() {
    let api = ApiServer::start();
    api.apply(&namespace("apps"));
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    let server = DnsServer::start_api(&api, &[]);
    eventually_a(&server, "web.apps.svc.cluster.local.", &["10.96.5.1"]).await;
    api.set_unavailable(true);
    server.expect_log("watch failed", WAIT);
    // Several retries happen while down; the data stays and nothing turns SERVFAIL or NXDOMAIN.
    for _ in 0..10 {
        assert_eq!(a_records(&server, "web.apps.svc.cluster.local.").await, ["10.96.5.1"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let failures = server.logs().iter().filter(|l| l.contains("watch failed") && l.contains("services")).count();
    assert_eq!(failures, 1, "one line per state change, not per retry");
    api.set_unavailable(false);
    api.apply(&cluster_ip("apps", "late", "10.96.5.7"));
    eventually_a(&server, "late.apps.svc.cluster.local.", &["10.96.5.7"]).await;
    server.expect_log("watch recovered", WAIT);
}

#[tokio::test]
async fn a_burst_of_endpoint_updates_ends_in_the_last_state() {
    let api = ApiServer::start();
    api.apply(&namespace("apps"));
    api.apply(&headless("apps", "db"));
    let server = DnsServer::start_api(&api, &[]);
    server.expect_log("initial sync complete", WAIT);
    for i in 0..1000u32 {
        let ip = format!("10.3.{}.{}", i / 250, i % 250 + 1);
        api.apply(&slice("apps", "db-1", "db", &[(ip.as_str(), None, true)]));
    }
    eventually_a(&server, "db.apps.svc.cluster.local.", &["10.3.3.250"]).await;
    let ptr = server.query("250.3.3.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(rdatas(&ptr.answers), ["10-3-3-250.db.apps.svc.cluster.local."]);
}

#[tokio::test]
async fn objects_dns_cannot_use_are_skipped_and_named() {
    let api = ApiServer::start();
    api.apply(&namespace("apps"));
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    api.apply(&cluster_ip("apps", "broken", "10.96.5.300"));
    let server = DnsServer::start_api(&api, &[]);
    eventually_a(&server, "web.apps.svc.cluster.local.", &["10.96.5.1"]).await;
    let warning = server.expect_log("object skipped", WAIT);
    assert!(warning.contains("broken") && warning.contains("10.96.5.300"), "{warning}");
    let broken = server.query("broken.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(broken.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn namespaces_and_labels_limit_what_is_served() {
    let api = ApiServer::start();
    for ns in ["apps", "other"] {
        api.apply(&namespace(ns));
        api.apply(&cluster_ip(ns, "web", "10.96.5.1"));
    }
    let mut skipped = cluster_ip("apps", "hidden", "10.96.5.2");
    skipped.metadata.labels = Some(BTreeMap::from([("dns".to_string(), "skip".to_string())]));
    api.apply(&skipped);
    let server = DnsServer::start_api(&api, &["--namespaces", "apps", "--labels", "dns!=skip"]);
    eventually_a(&server, "web.apps.svc.cluster.local.", &["10.96.5.1"]).await;
    let other = server.query("web.other.svc.cluster.local.", RecordType::A).await;
    assert_eq!(other.metadata.response_code, ResponseCode::NXDomain);
    let hidden = server.query("hidden.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(hidden.metadata.response_code, ResponseCode::NXDomain);
    let requests = api.requests();
    assert!(
        requests.iter().all(|r| r.contains("/namespaces/apps/")),
        "only the listed namespace is asked: {requests:?}"
    );
}

#[test]
fn without_manifests_or_api_configuration_it_exits_64_saying_what_was_tried() {
    let home = tempfile::tempdir().unwrap();
    let env = [("HOME", home.path().to_str()), ("KUBECONFIG", None), ("KUBERNETES_SERVICE_HOST", None)];
    let (code, _, stderr) = run_with_env(&["--listen", "127.0.0.1:0"], &env);
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains("--manifests") && stderr.contains("KUBERNETES_SERVICE_HOST") && stderr.contains(".kube/config"),
        "{stderr}"
    );
    let (code, _, stderr) = run_with_env(&["--kubeconfig", "/nonexistent/kubeconfig"], &env);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("--kubeconfig /nonexistent/kubeconfig"), "{stderr}");
}

/// A kubeconfig whose current context points at a closed port and whose `live` context points
/// at `api`.
fn two_context_kubeconfig(dir: &std::path::Path, api: &ApiServer) -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let live = std::fs::read_to_string(&api.kubeconfig).unwrap();
    let server = live.split("server: \"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: dead\n\
             clusters: [{{name: dead, cluster: {{server: \"http://{closed}\"}}}}, {{name: live, cluster: {{server: \"{server}\"}}}}]\n\
             users: [{{name: u, user: {{}}}}]\n\
             contexts: [{{name: dead, context: {{cluster: dead, user: u}}}}, {{name: live, context: {{cluster: live, user: u}}}}]\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test]
async fn context_flag_picks_the_kubeconfig_context() {
    let api = ApiServer::start();
    api.apply(&namespace("apps"));
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = two_context_kubeconfig(dir.path(), &api);
    let server = DnsServer::start_with(&["--kubeconfig", &kubeconfig, "--context", "live"]);
    eventually_a(&server, "web.apps.svc.cluster.local.", &["10.96.5.1"]).await;
}

#[tokio::test]
async fn an_unreachable_api_at_start_gives_servfail_not_nxdomain() {
    let api = ApiServer::start();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = two_context_kubeconfig(dir.path(), &api);
    let server = DnsServer::start_with(&["--kubeconfig", &kubeconfig, "--startup-timeout", "200ms"]);
    server.expect_log("watch failed", WAIT);
    let response = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
    let apex = server.query("cluster.local.", RecordType::SOA).await;
    assert_eq!(apex.metadata.response_code, ResponseCode::NoError, "names that need no data still answer");
}

#[tokio::test]
async fn the_api_over_https_is_watched_with_the_bearer_token_and_a_wrong_token_is_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api = ApiServer::start_https(listener, "the-token");
    api.apply(&namespace("apps"));
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    let server = DnsServer::start_api(&api, &[]);
    eventually_a(&server, "web.apps.svc.cluster.local.", &["10.96.5.1"]).await;
    assert_eq!(api.unauthorized(), 0);

    let kubeconfig = std::fs::read_to_string(&api.kubeconfig).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("kubeconfig");
    std::fs::write(&wrong, kubeconfig.replace("the-token", "another-token")).unwrap();
    let refused = DnsServer::start_with(&["--kubeconfig", wrong.to_str().unwrap(), "--startup-timeout", "200ms"]);
    refused.expect_log("watch failed", WAIT);
    assert!(api.unauthorized() > 0);
    let response = refused.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn a_watch_silenced_by_a_network_partition_is_re_established() {
    let api = ApiServer::start();
    api.apply(&namespace("apps"));
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    let server = DnsServer::start_api(&api, &["--watch-timeout", "2s"]);
    eventually_a(&server, "web.apps.svc.cluster.local.", &["10.96.5.1"]).await;
    // Every open watch goes silent for good; nothing is closed.
    api.partition(true);
    api.apply(&cluster_ip("apps", "new", "10.96.5.2"));
    api.partition(false);
    // Served once the silent watch is noticed (2 s + 5 s without a word) and renewed.
    eventually_a(&server, "new.apps.svc.cluster.local.", &["10.96.5.2"]).await;
}

#[tokio::test]
async fn an_unreachable_api_is_retried_with_growing_delays_and_logged_once_per_change() {
    let api = ApiServer::start();
    api.apply(&namespace("apps"));
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    api.set_unavailable(true);
    let server = DnsServer::start_api(&api, &["--startup-timeout", "200ms"]);
    // Attempts to list: a streaming list (kept trying while the server answers 503, which
    // says nothing about streaming) or a LIST.
    let service_lists = || {
        let requests = api.requests();
        let listing = |r: &&String| !r.contains("watch=true") || r.contains("sendInitialEvents=true");
        requests.iter().filter(|r| r.starts_with("GET /api/v1/services?")).filter(listing).count()
    };
    let wait_for_lists = |count: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while service_lists() < count {
            assert!(std::time::Instant::now() < deadline, "only {} attempts", service_lists());
            std::thread::sleep(Duration::from_millis(20));
        }
        std::time::Instant::now()
    };
    let first = wait_for_lists(1);
    let fifth = wait_for_lists(5);
    // At least half of 0.8 + 1.6 + 3.2 + 6.4 s between the first attempt and the fifth.
    assert!(fifth - first >= Duration::from_millis(5500), "retried after {:?}", fifth - first);
    let count = |needle: &str| server.logs().iter().filter(|l| l.contains(needle)).count();
    // Services, EndpointSlices and Namespaces: one line each, and no false recoveries.
    assert_eq!(count("watch failed"), 3, "{}", server.logs().join("\n"));
    assert_eq!(count("watch recovered"), 0);
    api.set_unavailable(false);
    eventually_a(&server, "web.apps.svc.cluster.local.", &["10.96.5.1"]).await;
    server.expect_log("initial sync complete", WAIT);
    assert_eq!(count("watch recovered"), 3);
}

/// Waits until the test API server has seen `count` requests; when that happened.
fn when_requests_reach(api: &ApiServer, count: usize) -> std::time::Instant {
    let deadline = std::time::Instant::now() + WAIT;
    while api.requests().len() < count {
        assert!(std::time::Instant::now() < deadline, "{} requests: {:?}", api.requests().len(), api.requests());
        std::thread::sleep(Duration::from_millis(5));
    }
    std::time::Instant::now()
}

#[tokio::test]
async fn api_requests_are_held_to_the_configured_rate() {
    let api = ApiServer::start();
    api.apply(&namespace("apps"));
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    let server = DnsServer::start_api(&api, &["--api-qps", "2", "--api-burst", "2", "--startup-timeout", "100ms"]);
    // Three lists and three watches: two at once, then two per second.
    let first = when_requests_reach(&api, 1);
    let sixth = when_requests_reach(&api, 6);
    assert!(sixth - first >= Duration::from_millis(1500), "six requests in {:?}", sixth - first);
    eventually_a(&server, "web.apps.svc.cluster.local.", &["10.96.5.1"]).await;
}

#[tokio::test]
async fn api_requests_in_flight_are_limited() {
    let api = ApiServer::start();
    api.apply(&namespace("apps"));
    api.apply(&cluster_ip("apps", "web", "10.96.5.1"));
    api.hold_lists(true);
    let server = DnsServer::start_api(&api, &["--api-max-inflight", "1", "--startup-timeout", "100ms"]);
    // The streaming lists the server refuses come and go; then the first LIST is held.
    let deadline = std::time::Instant::now() + WAIT;
    while !api.requests().iter().any(|r| !r.contains("watch=true")) {
        assert!(std::time::Instant::now() < deadline, "no LIST: {:?}", api.requests());
        std::thread::sleep(Duration::from_millis(5));
    }
    let sent = api.requests().len();
    // The held list keeps the only place: nothing else is sent meanwhile.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(api.requests().len(), sent, "{:?}", api.requests());
    api.hold_lists(false);
    eventually_a(&server, "web.apps.svc.cluster.local.", &["10.96.5.1"]).await;
}
