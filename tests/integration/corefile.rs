//! Running from a CoreDNS Corefile (`--corefile`): the corpus in tests/corefiles, each run as
//! written inside a network namespace and a mount namespace whose `/etc` holds it (so its
//! `forward . /etc/resolv.conf` reaches a loopback upstream, and its health, ready and metrics
//! ports are its own); errors at start and at reload.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_net::proto::op::{Message, ResponseCode};
use hickory_net::proto::rr::RecordType;
use hickory_net::runtime::TokioRuntimeProvider;

use crate::harness::{DnsServer, UDP, exchange, http_get, query_message, rdatas, run_to_exit};
use crate::netns::Netns;
use crate::upstream::Upstream;

const WAIT: Duration = Duration::from_secs(20);

/// The cluster the corpus Corefiles serve, as manifests.
const CLUSTER: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec: {clusterIP: 10.96.0.10}
"#;

/// A corpus Corefile running as in a pod: the namespace, its upstreams, and clusterdns.
struct Pod {
    netns: Netns,
    server: DnsServer,
    upstreams: Vec<Upstream>,
    _etc: tempfile::TempDir,
    _manifests: tempfile::TempDir,
}

impl Pod {
    /// Runs tests/corefiles/`corpus` as `/etc/coredns`, or `None` (said loudly) without root.
    fn start(corpus: &str, extra_args: &[&str]) -> Option<Pod> {
        let tools = [("unshare", "--version"), ("ip", "-V")];
        if !crate::requires::root_and("the Corefile corpus", &tools, "util-linux iproute2") {
            return None;
        }
        let netns = Netns::create(&["fd00::52".parse().unwrap(), "fd00::53".parse().unwrap()]);
        // Upstreams by id: 1 the resolv.conf one, 2 and 3 stub and upstream addresses of the
        // corpus, 4 a stub on another port.
        let addresses = ["[::1]:53", "[fd00::52]:53", "[fd00::53]:53", "127.0.0.54:5353"];
        let upstreams = netns.run(|| {
            addresses.iter().zip(1..).map(|(a, id)| Upstream::start_on(a.parse().unwrap(), id)).collect::<Vec<_>>()
        });
        let etc = tempfile::tempdir().unwrap();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corefiles").join(corpus),
            &etc.path().join("coredns"),
        );
        std::fs::write(etc.path().join("resolv.conf"), "nameserver ::1\n").unwrap();
        let manifests = tempfile::tempdir().unwrap();
        std::fs::write(manifests.path().join("cluster.yaml"), CLUSTER).unwrap();
        let manifests_dir = manifests.path().to_str().unwrap().to_string();
        let mut args = vec!["--corefile", "/etc/coredns/Corefile", "--manifests", manifests_dir.as_str()];
        args.extend_from_slice(extra_args);
        let server = DnsServer::start_with_etc(&netns, etc.path(), &args);
        server.expect_log("serving the cluster zone", WAIT);
        Some(Pod { netns, server, upstreams, _etc: etc, _manifests: manifests })
    }

    fn ask(&self, name: &str, rtype: RecordType) -> Message {
        let addr: SocketAddr = "127.0.0.1:53".parse().unwrap();
        self.netns.block_on(|| async move {
            exchange(addr, query_message(name, rtype, None), UDP.transport, &TokioRuntimeProvider::default()).await
        })
    }

    fn http(&self, port: u16, path: &str) -> u16 {
        self.netns.run(|| http_get(SocketAddr::from(([127, 0, 0, 1], port)), path).0)
    }

    /// What every default Corefile gives: the cluster, forwarding through /etc/resolv.conf,
    /// and CoreDNS's health (8080), ready (8181) and metrics (9153) ports.
    fn assert_defaults(&self, ttl: u32) {
        let web = self.ask("web.shop.svc.cluster.local.", RecordType::A);
        assert_eq!(rdatas(&web.answers), ["10.96.0.20"]);
        assert_eq!(web.answers[0].ttl, ttl, "the kubernetes plugin's ttl");
        let ptr = self.ask("20.0.96.10.in-addr.arpa.", RecordType::PTR);
        assert_eq!(rdatas(&ptr.answers), ["web.shop.svc.cluster.local."]);
        let outside = self.ask("www.example.com.", RecordType::A);
        assert_eq!(rdatas(&outside.answers), ["192.0.2.1"], "forwarded to the resolv.conf upstream");
        assert_eq!(self.upstreams[0].asked("www.example.com.", "udp"), 1);
        let nx = self.ask("nope.shop.svc.cluster.local.", RecordType::A);
        assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(self.upstreams[0].asked("nope.shop.svc.cluster.local.", "udp"), 0, "no fallthrough there");
        for (port, path) in [(8080, "/health"), (8181, "/ready"), (9153, "/metrics")] {
            assert_eq!(self.http(port, path), 200, "{path} on {port}");
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_kubeadm_eks_and_older_kubeadm_corefiles_run_unchanged() {
    for (corpus, ttl) in [("kubeadm", 30), ("kubeadm-1.32", 30), ("eks", 5)] {
        let Some(pod) = Pod::start(corpus, &[]) else { return };
        pod.assert_defaults(ttl);
        pod.server.expect_log("running from the Corefile", WAIT);
    }
}

#[test]
fn the_k3s_corefile_answers_its_node_hosts() {
    let Some(pod) = Pod::start("k3s", &[]) else { return };
    pod.assert_defaults(5);
    let vm1 = pod.ask("vm1.", RecordType::A);
    assert_eq!(rdatas(&vm1.answers), ["10.65.94.238"]);
    assert_eq!(vm1.answers[0].ttl, 60);
    assert!(vm1.metadata.authoritative);
    let ptr = pod.ask("238.94.65.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(rdatas(&ptr.answers), ["vm1."]);
}

#[test]
fn the_aks_corefile_with_coredns_custom_imports() {
    let Some(pod) = Pod::start("aks", &[]) else { return };
    pod.assert_defaults(30);
    // custom/log.override: every query logged; custom/corp.server: a stub domain.
    pod.server.expect_log("qname=www.example.com.", WAIT);
    let corp = pod.ask("intranet.corp.example.", RecordType::A);
    assert_eq!(rdatas(&corp.answers), ["192.0.2.3"]);
    assert_eq!(pod.upstreams[2].asked("intranet.corp.example.", "udp"), 1);
    // Its templates: NXDOMAIN for deep internal.cloudapp.net names and all of reddog.microsoft.com.
    let deep = pod.ask("a.b.c.d.internal.cloudapp.net.", RecordType::A);
    assert_eq!(deep.metadata.response_code, ResponseCode::NXDomain);
    let shallow = pod.ask("vm.internal.cloudapp.net.", RecordType::A);
    assert_eq!(rdatas(&shallow.answers), ["192.0.2.1"], "not matched: falls through to the upstream");
    let reddog = pod.ask("x.reddog.microsoft.com.", RecordType::AAAA);
    assert_eq!(reddog.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(pod.upstreams[0].asked("x.reddog.microsoft.com.", "udp"), 0);
}

#[test]
fn stub_domains_as_server_blocks_route_by_the_longest_zone() {
    let Some(pod) = Pod::start("stub-domains", &[]) else { return };
    let consul = pod.ask("web.service.consul.local.", RecordType::A);
    assert_eq!(rdatas(&consul.answers), ["192.0.2.4"], "the consul.local block's upstream, on port 5353");
    let outside = pod.ask("www.example.com.", RecordType::A);
    assert_eq!(rdatas(&outside.answers), ["192.0.2.2"], "policy sequential: the first upstream");
    assert_eq!(pod.upstreams[2].asked("www.example.com.", "udp"), 0);
    assert_eq!(rdatas(&pod.ask("web.shop.svc.cluster.local.", RecordType::A).answers), ["10.96.0.20"]);
}

#[test]
fn inline_hosts_entries_answer_before_the_cluster_and_the_upstream() {
    let Some(pod) = Pod::start("hosts", &[]) else { return };
    let a = pod.ask("registry.corp.example.", RecordType::A);
    assert_eq!((rdatas(&a.answers), a.answers[0].ttl), (vec!["10.10.0.5".to_string()], 120));
    let aaaa = pod.ask("registry.corp.example.", RecordType::AAAA);
    assert_eq!(rdatas(&aaaa.answers), ["fd00:10::5"]);
    let short = pod.ask("registry.", RecordType::A);
    assert_eq!(rdatas(&short.answers), ["10.10.0.5"]);
    let ptr = pod.ask("5.0.10.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(rdatas(&ptr.answers), ["registry.", "registry.corp.example."]);
    let other = pod.ask("www.example.com.", RecordType::A);
    assert_eq!(rdatas(&other.answers), ["192.0.2.1"], "fallthrough");
}

/// A Corefile in a temporary folder.
fn corefile(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Corefile");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn a_corefile_clusterdns_cannot_run_is_a_usage_error_naming_the_line() {
    let cases = [
        (
            ".:53 {\n  kubernetes cluster.local\n  whoami\n}\n",
            "Corefile:3: the whoami plugin: not supported by clusterdns",
        ),
        (".:53 {\n  frobnicate\n}\n", "Corefile:2: unknown directive \"frobnicate\""),
        (".:53 {\n  kubernetes cluster.local {\n    pods sometimes\n  }\n}\n", "Corefile:3 (key \"pods\")"),
        (
            ".:53 {\n  kubernetes cluster.local {\n    upstream\n  }\n}\n",
            "Corefile:3: kubernetes: unknown property \"upstream\"",
        ),
        (".:53 {\n  errors\n", "Corefile:1: '{' is not closed"),
        (".:53 {\n  import Corefile\n}\n", "Corefile:2: import cycle"),
        (".:53 {\n  import missing.conf\n}\n", "Corefile:2: file to import not found"),
    ];
    for (text, want) in cases {
        let (_dir, path) = corefile(text);
        let path = path.to_str().unwrap();
        let (code, _, stderr) = run_to_exit(&["--corefile", path, "--manifests", "zones/demo", "--check-config"]);
        assert_eq!(code, 64, "{text:?}: {stderr}");
        assert!(stderr.contains(want), "{text:?}: {stderr}");
        let (code, stdout, stderr) = run_to_exit(&["corefile", "check", path]);
        assert_eq!(code, 64, "corefile check {text:?}: {stdout}{stderr}");
    }
    // What cannot be served may be left out on request.
    let (_dir, path) = corefile(".:53 {\n  kubernetes cluster.local\n  whoami\n}\n");
    let path = path.to_str().unwrap();
    let args = ["--corefile", path, "--corefile-ignore-unsupported", "--manifests", "zones/demo", "--check-config"];
    let (code, _, stderr) = run_to_exit(&args);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn corefile_translate_prints_a_configuration_that_serves_the_same() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corefiles/kubeadm/Corefile");
    let (code, toml, stderr) = run_to_exit(&["corefile", "translate", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    for line in
        ["ttl = 30", "pods = \"insecure\"", "zone = [\"cluster.local\"]", "max-concurrent = 1000", "lameduck = \"5s\""]
    {
        assert!(toml.lines().any(|l| l.starts_with(line)), "{line} in\n{toml}");
    }
    assert!(toml.contains("# ") && toml.contains("Corefile:21: reload"), "every line accounted for:\n{toml}");
    // The translation, as a configuration file, serves what the Corefile serves.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("clusterdns.toml");
    let toml = toml.replace("\"0.0.0.0:", "\"127.0.0.1:").replace(":8080\"", ":0\"").replace(":8181\"", ":0\"");
    let toml = toml.replace(":9153\"", ":0\"");
    std::fs::write(&config, toml).unwrap();
    let cluster = [("cluster.yaml", CLUSTER)];
    let server = DnsServer::start(&cluster, &["--config", config.to_str().unwrap()]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let web = runtime.block_on(server.query("web.shop.svc.cluster.local.", RecordType::A));
    assert_eq!((rdatas(&web.answers), web.answers[0].ttl), (vec!["10.96.0.20".to_string()], 30));
}

#[test]
fn every_corpus_corefile_translates_to_a_configuration_clusterdns_accepts() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corefiles");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&corpus).unwrap().flatten().filter(|e| e.path().is_dir()) {
        let corefile = entry.path().join("Corefile");
        let (code, toml, stderr) = run_to_exit(&["corefile", "translate", corefile.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {stderr}", corefile.display());
        assert!(!toml.contains("# Not translated"), "{}:\n{toml}", corefile.display());
        let config = dir.path().join("clusterdns.toml");
        std::fs::write(&config, &toml).unwrap();
        let (code, _, stderr) =
            run_to_exit(&["--config", config.to_str().unwrap(), "--manifests", "zones/demo", "--check-config"]);
        assert_eq!(code, 0, "{}:\n{toml}\n{stderr}", corefile.display());
    }
    // A cache disabled for a forwarded zone is a setting; for the cluster zone, nothing to do.
    let (_dir, path) = corefile(
        ".:53 {\n  kubernetes cluster.local\n  cache 30 {\n    disable success example.com cluster.local\n  }\n}\n",
    );
    let (code, toml, stderr) = run_to_exit(&["corefile", "translate", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(toml.contains("cache-disable-success = [\"example.com\"]"), "{toml}");
    // The Corefile as a key of the configuration file, and through the environment.
    let config = dir.path().join("with-corefile.toml");
    std::fs::write(&config, format!("corefile = {:?}\n", path.to_str().unwrap())).unwrap();
    let (code, out, stderr) =
        run_to_exit(&["--config", config.to_str().unwrap(), "--manifests", "zones/demo", "--check-config"]);
    assert!(code == 0 && out.contains("cache-disable-success = [\"example.com\"]"), "{out}{stderr}");
    let env = [("CLUSTERDNS_COREFILE", Some(path.to_str().unwrap()))];
    let (code, out, stderr) = crate::harness::run_with_env(&["--manifests", "zones/demo", "--check-config"], &env);
    assert!(code == 0 && out.contains("cache-disable-success = [\"example.com\"]"), "{out}{stderr}");
}

#[tokio::test]
async fn a_changed_corefile_is_applied_and_a_broken_one_keeps_the_running_configuration() {
    let (dir, path) = corefile(".:53 {\n  kubernetes cluster.local {\n    ttl 30\n  }\n}\n");
    let path_arg = path.to_str().unwrap().to_string();
    let cluster = [("cluster.yaml", CLUSTER)];
    let server = DnsServer::start(&cluster, &["--corefile", &path_arg, "--admin", "127.0.0.1:0"]);
    let ttl = |m: &Message| m.answers.first().map(|r| r.ttl);
    assert_eq!(ttl(&server.query("web.shop.svc.cluster.local.", RecordType::A).await), Some(30));
    std::fs::write(&path, ".:53 {\n  kubernetes cluster.local {\n    ttl 7\n  }\n}\n").unwrap();
    let name = "web.shop.svc.cluster.local.";
    let changed = server.eventually(name, RecordType::A, WAIT, |m| ttl(m) == Some(7)).await;
    assert_eq!(ttl(&changed), Some(7));
    // A broken import keeps the running configuration, with the file and line logged.
    std::fs::write(dir.path().join("extra.conf"), "ttl 9\n").unwrap();
    std::fs::write(&path, ".:53 {\n  kubernetes cluster.local {\n    import extra.conf\n    ttl 9 {\n  }\n}\n")
        .unwrap();
    let line = server.wait_for_log("configuration reload failed", WAIT).expect("the failed reload logged");
    assert!(line.contains("Corefile:"), "{line}");
    assert_eq!(ttl(&server.query(name, RecordType::A).await), Some(7));
}

#[test]
fn rewritten_names_are_answered_under_the_name_asked() {
    let Some(pod) = Pod::start("rewrite", &[]) else { return };
    let exact = pod.ask("db.corp.example.", RecordType::A);
    assert_eq!(rdatas(&exact.answers), ["10.96.0.20"]);
    assert_eq!(exact.answers[0].name.to_string(), "db.corp.example.", "exact rules give the name back");
    assert_eq!(exact.queries[0].name().to_string(), "db.corp.example.");
    let regex = pod.ask("web.apps.example.com.", RecordType::A);
    assert_eq!(rdatas(&regex.answers), ["10.96.0.20"]);
    assert_eq!(regex.answers[0].name.to_string(), "web.apps.example.com.", "answer name");
    let other = pod.ask("www.example.com.", RecordType::A);
    assert_eq!(rdatas(&other.answers), ["192.0.2.1"]);
}

#[test]
fn templates_answer_nxdomain_for_a_suffix_and_addresses_from_names() {
    let Some(pod) = Pod::start("template", &[]) else { return };
    let invalid = pod.ask("anything.invalid.", RecordType::A);
    assert_eq!(invalid.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(invalid.authorities.first().map(|r| r.name.to_string()).as_deref(), Some("invalid."));
    assert_eq!(pod.upstreams[0].asked("anything.invalid.", "udp"), 0);
    let nip = pod.ask("ip-10-1-2-3.nip.example.", RecordType::A);
    assert_eq!((rdatas(&nip.answers), nip.answers[0].ttl), (vec!["10.1.2.3".to_string()], 60));
    let unmatched = pod.ask("www.nip.example.", RecordType::A);
    assert_eq!(rdatas(&unmatched.answers), ["192.0.2.1"], "fallthrough to the upstream");
}
