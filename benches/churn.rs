//! Churn benchmark: clusterdns fed by the in-process test API server (the real list/watch
//! protocol, as in the integration tests) with 10,000 Services and 150,000 endpoints, then
//! 1,000 endpoint changes per second for 30 s while dnsperf queries it.
//!
//! Prints: sync time, resident memory after sync and its peak during a forced relist,
//! DNS programming latency (event arrival to answer served, from clusterdns's own per-publish
//! log lines), and queries per second with and without churn.
//!
//!   cargo bench --bench churn            (needs dnsperf; bench/churn.sh installs it)

#[allow(dead_code)]
#[path = "../tests/integration/apiserver.rs"]
mod apiserver;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apiserver::ApiServer;
use k8s_openapi::api::core::v1::{Namespace, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

const NAMESPACES: usize = 100;
const SERVICES: usize = 10_000;
/// Headless Services; the rest are ClusterIP. Endpoints: 9,000 x 10 + 1,000 x 60 = 150,000.
const HEADLESS: usize = 1_000;
const CLUSTER_IP_ENDPOINTS: usize = 10;
const HEADLESS_ENDPOINTS: usize = 60;
const CHURN_PER_SECOND: usize = 1_000;
const CHURN_SECONDS: u64 = 30;
const QUIET_SECONDS: u64 = 10;
const DNS_PORT: u16 = 15360;

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: Some(ns.into()), ..ObjectMeta::default() }
}

fn service(i: usize) -> Service {
    let (ns, name) = names(i);
    let ip = if i < HEADLESS { "None".to_string() } else { format!("10.96.{}.{}", i / 250, i % 250 + 1) };
    let spec = ServiceSpec {
        cluster_ip: Some(ip.clone()),
        cluster_ips: Some(vec![ip]),
        ports: Some(vec![ServicePort { name: Some("http".into()), port: 80, ..ServicePort::default() }]),
        ..ServiceSpec::default()
    };
    Service { metadata: meta(&ns, &name), spec: Some(spec), ..Service::default() }
}

fn names(i: usize) -> (String, String) {
    (format!("ns{}", i % NAMESPACES), if i < HEADLESS { format!("hl{i}") } else { format!("svc{i}") })
}

/// The slice of Service `i`; `generation` shifts the addresses so every call is a change.
fn slice(i: usize, generation: usize) -> EndpointSlice {
    let (ns, name) = names(i);
    let count = if i < HEADLESS { HEADLESS_ENDPOINTS } else { CLUSTER_IP_ENDPOINTS };
    let mut metadata = meta(&ns, &format!("{name}-1"));
    metadata.labels = Some(BTreeMap::from([("kubernetes.io/service-name".to_string(), name)]));
    let endpoints = (0..count)
        .map(|k| {
            let n = i * 64 + k + generation;
            Endpoint {
                addresses: vec![format!("10.{}.{}.{}", 100 + n / 65536 % 100, n / 256 % 256, n % 256)],
                hostname: (i < HEADLESS).then(|| format!("pod-{k}")),
                conditions: Some(EndpointConditions { ready: Some(true), ..EndpointConditions::default() }),
                ..Endpoint::default()
            }
        })
        .collect();
    let ports = vec![EndpointPort { name: Some("http".into()), port: Some(8080), ..EndpointPort::default() }];
    EndpointSlice { metadata, address_type: "IPv4".into(), endpoints, ports: Some(ports) }
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Server {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first, so a profiler wrapping the server can write its report.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.logs.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// `CLUSTERDNS_WRAPPER` (e.g. `valgrind --tool=massif`) runs the server under another program.
fn start_clusterdns(api: &ApiServer, extra: &[&str]) -> Server {
    let wrapper = std::env::var("CLUSTERDNS_WRAPPER").unwrap_or_default();
    let mut words: Vec<&str> = wrapper.split_whitespace().collect();
    words.push(env!("CARGO_BIN_EXE_clusterdns"));
    let mut child = Command::new(words[0])
        .args(&words[1..])
        .args(["--kubeconfig", &api.kubeconfig_arg(), "--listen", &format!("127.0.0.1:{DNS_PORT}")])
        .args(["--startup-timeout", "120s", "--log-level", "info,clusterdns::source::kube=debug"])
        .args(["--resolv-conf", "/dev/null", "--lameduck", "0s"])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start clusterdns");
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = logs.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    Server { child, logs }
}

fn dnsperf(queries: &std::path::Path, seconds: u64) -> f64 {
    let out = Command::new("dnsperf")
        .args(["-s", "127.0.0.1", "-p", &DNS_PORT.to_string(), "-d", queries.to_str().unwrap()])
        .args(["-l", &seconds.to_string(), "-c", "8", "-q", "200"])
        .output()
        .expect("dnsperf (apt-get install dnsperf)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.contains("Queries per second"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Per-change latencies from "published changes=N latency_us=X" lines: each change counts
/// with its batch's latency, the latest-arriving change's, so these are upper bounds.
fn latencies(logs: &[String]) -> Vec<u64> {
    let field = |line: &str, name: &str| -> Option<u64> {
        line.split_whitespace().find_map(|w| w.strip_prefix(name)).and_then(|v| v.parse().ok())
    };
    let mut samples = Vec::new();
    for line in logs.iter().filter(|l| l.contains("published")) {
        if let (Some(changes), Some(latency)) = (field(line, "changes="), field(line, "latency_us=")) {
            samples.extend(std::iter::repeat_n(latency, changes as usize));
        }
    }
    samples.sort_unstable();
    samples
}

/// `count` running Pods, each with one container as a Deployment makes them, on `count / 100`
/// Nodes spread over three zones, each Node with its pod CIDR.
fn load_client_pods(api: &ApiServer, count: usize) {
    let nodes = count.div_ceil(100);
    for n in 0..nodes {
        let node = serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("node-{n}"), "labels": {
                "topology.kubernetes.io/zone": format!("zone-{}", n % 3), "kubernetes.io/os": "linux"}},
            "spec": {"podCIDR": format!("10.{}.{}.0/24", 128 + n / 256, n % 256),
                     "podCIDRs": [format!("10.{}.{}.0/24", 128 + n / 256, n % 256)]},
            "status": {"addresses": [{"type": "InternalIP", "address": format!("192.168.{}.{}", n / 256, n % 256)}]},
        });
        api.apply(&node);
    }
    for i in 0..count {
        let (n, slot) = (i / 100, i % 100);
        let ip = format!("10.{}.{}.{}", 128 + n / 256, n % 256, slot + 2);
        let pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("app-{i}-7d9c6b5f4-x2k8p"), "namespace": format!("ns{}", i % NAMESPACES),
                "labels": {"app": format!("app-{}", i / 10), "pod-template-hash": "7d9c6b5f4"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("app-{}-7d9c6b5f4", i / 10),
                    "uid": "0b6f9a2e-1c3d-4e5f-8a9b-0c1d2e3f4a5b", "controller": true}]},
            "spec": {"nodeName": format!("node-{n}"), "containers": [{"name": "app",
                "image": "registry.example/app:1.2.3", "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}]},
        });
        api.apply(&pod);
    }
    println!("client nodes: {count} Pods on {nodes} Nodes");
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() { 0 } else { sorted[((sorted.len() - 1) as f64 * q) as usize] }
}

fn main() {
    let api = ApiServer::start();
    // CHURN_STREAMING_LISTS=1: the API server offers streaming lists, as Kubernetes 1.34 and
    // later do; otherwise it refuses them, as 1.33 does, and clusterdns lists.
    let streaming = std::env::var("CHURN_STREAMING_LISTS").is_ok_and(|v| v == "1");
    if streaming {
        api.serve_streaming_lists();
    }
    println!("API server: streaming lists {}", if streaming { "served" } else { "refused (LIST and WATCH)" });
    let load_start = Instant::now();
    for n in 0..NAMESPACES {
        let name = format!("ns{n}");
        api.apply(&Namespace {
            metadata: ObjectMeta { name: Some(name), ..ObjectMeta::default() },
            ..Namespace::default()
        });
    }
    for i in 0..SERVICES {
        api.apply(&service(i));
        api.apply(&slice(i, 0));
    }
    println!(
        "cluster: {SERVICES} services ({HEADLESS} headless) in {NAMESPACES} namespaces, {} endpoints; loaded into the test API server in {:.1}s",
        (SERVICES - HEADLESS) * CLUSTER_IP_ENDPOINTS + HEADLESS * HEADLESS_ENDPOINTS,
        load_start.elapsed().as_secs_f64()
    );

    // CHURN_CLIENT_PODS=N: N running Pods on N/100 Nodes, and clusterdns places its clients
    // (`--client-nodes`, CHURN_CLIENT_NODES: `pods`, the default, or `pod-cidrs`), for what
    // those watches cost.
    let client_pods: usize = std::env::var("CHURN_CLIENT_PODS").ok().and_then(|n| n.parse().ok()).unwrap_or(0);
    let client_nodes = std::env::var("CHURN_CLIENT_NODES").unwrap_or_else(|_| "pods".to_string());
    if client_pods > 0 {
        load_client_pods(&api, client_pods);
        println!("clusterdns with --client-nodes {client_nodes}");
    }
    let extra: Vec<&str> = if client_pods > 0 { vec!["--client-nodes", &client_nodes] } else { Vec::new() };
    let sync_start = Instant::now();
    let server = start_clusterdns(&api, &extra);
    assert!(server.wait_for("initial sync complete", Duration::from_secs(300)), "clusterdns did not sync");
    let pid = server.child.id();
    println!("initial sync: {:.2}s", sync_start.elapsed().as_secs_f64());
    if std::env::var("CHURN_SHOW_LISTS").is_ok() {
        for line in server.logs.lock().unwrap().iter().filter(|l| l.contains("list complete") || l.contains("watching"))
        {
            println!("  {line}");
        }
    }
    let api_load = |label: &str, requests: usize, bytes: u64| {
        println!("API server load, {label}: {requests} requests, {:.1} MB sent", bytes as f64 / 1e6);
    };
    api_load("initial sync", api.requests().len(), api.bytes_sent());
    let (requests_synced, bytes_synced) = (api.requests().len(), api.bytes_sent());
    std::thread::sleep(Duration::from_secs(2));
    let steady = rss_kb(pid, "VmRSS:");
    let objects = ((SERVICES - HEADLESS) * CLUSTER_IP_ENDPOINTS + HEADLESS * HEADLESS_ENDPOINTS + SERVICES) as f64;
    let coredns_mb = objects / 1000.0 + 54.0;
    let goal_mb = objects / 5000.0 + 15.0;
    println!(
        "resident memory after sync: {:.1} MB (CoreDNS estimate {coredns_mb:.0} MB; target <= 67 MB, goal {goal_mb:.0} MB)",
        steady as f64 / 1024.0,
    );

    // Peak during a forced relist: reset the high-water mark, expire every resource version.
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let relists_before = server.logs.lock().unwrap().iter().filter(|l| l.contains("list complete")).count();
    // Services, EndpointSlices and Namespaces, and Pods and Nodes with client pods.
    let watches = 3 + usize::from(client_pods > 0) + usize::from(client_pods > 0 && client_nodes == "pods");
    api.force_relist();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline
        && server.logs.lock().unwrap().iter().filter(|l| l.contains("list complete")).count() < relists_before + watches
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    api_load("forced relist", api.requests().len() - requests_synced, api.bytes_sent() - bytes_synced);
    let peak = rss_kb(pid, "VmHWM:");
    println!(
        "resident memory peak during a forced relist: {:.1} MB ({:.2}x steady; target < 1.3x)",
        peak as f64 / 1024.0,
        peak as f64 / steady as f64
    );

    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("queries.txt");
    let mut file = std::fs::File::create(&queries).unwrap();
    for i in (0..SERVICES).step_by(7) {
        let (ns, name) = names(i);
        writeln!(file, "{name}.{ns}.svc.cluster.local A").unwrap();
    }
    drop(file);
    let quiet_qps = dnsperf(&queries, QUIET_SECONDS);

    let published_before = server.logs.lock().unwrap().len();
    let (requests_before, bytes_before) = (api.requests().len(), api.bytes_sent());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        let api = Arc::new(api);
        let api_for_thread = api.clone();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut changes = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // 1,000 per second, sent in 10 ms steps of 10.
                let due = (start.elapsed().as_secs_f64() * CHURN_PER_SECOND as f64) as usize;
                while changes < due {
                    let i = changes % HEADLESS;
                    api_for_thread.apply(&slice(i, 1 + changes / HEADLESS));
                    changes += 1;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            (changes, start.elapsed())
        });
        (thread, api)
    };
    let churn_qps = dnsperf(&queries, CHURN_SECONDS);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (changes, elapsed) = churn.0.join().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let logs: Vec<String> = server.logs.lock().unwrap()[published_before..].to_vec();
    let samples = latencies(&logs);
    println!(
        "churn: {changes} endpoint slice changes in {:.1}s ({:.0}/s)",
        elapsed.as_secs_f64(),
        changes as f64 / elapsed.as_secs_f64()
    );
    println!(
        "DNS programming latency (event arrival to answer served, upper bound per change): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} changes (target p99 < 10 ms)",
        percentile(&samples, 0.5) as f64 / 1000.0,
        percentile(&samples, 0.99) as f64 / 1000.0,
        percentile(&samples, 1.0) as f64 / 1000.0,
        samples.len()
    );
    let (requests, bytes) = (churn.1.requests().len() - requests_before, churn.1.bytes_sent() - bytes_before);
    println!(
        "API server load during churn: {requests} requests, {:.1} MB sent ({:.0} KB/s, {:.0} bytes per change)",
        bytes as f64 / 1e6,
        bytes as f64 / 1e3 / elapsed.as_secs_f64(),
        bytes as f64 / changes.max(1) as f64
    );
    println!(
        "queries per second: {quiet_qps:.0} without churn, {churn_qps:.0} during churn ({:.2}x)",
        churn_qps / quiet_qps.max(1.0)
    );
    drop(churn.1);
}
