//! The resolvers pods link, against the real binary: glibc's and musl's getaddrinfo, c-ares as
//! Envoy uses it, and Go's own resolver. clusterdns listens on 127.0.0.1:53 inside a network
//! namespace the test creates; each client runs there (`ip netns exec`) with a pod's
//! resolv.conf (search list, `ndots:5`), so stub resolvers that only speak to port 53 work and
//! nothing reaches the machine's own resolver. The client programs are in tests/clients/ and
//! are built once per run. Needs root, gcc, musl-gcc, go and libc-ares-dev.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::harness::DnsServer;
use crate::netns::Netns;
use crate::requires;

/// What a pod's resolv.conf says in namespace `apps`.
const POD_RESOLV_CONF: &str =
    "nameserver 127.0.0.1\nsearch apps.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n";

/// The headless Services of the matrix, by ready endpoints.
const SIZES: [usize; 4] = [3, 100, 1000, 5000];

fn can_run(test: &str) -> bool {
    let tools = [("gcc", "--version"), ("musl-gcc", "--version"), ("go", "version"), ("ip", "-V")];
    requires::root_tools_and_files(
        test,
        &tools,
        &["/usr/include/ares.h"],
        "gcc musl-tools golang-go libc-ares-dev iproute2",
    )
}

/// The client programs, built once.
struct Clients {
    glibc: PathBuf,
    musl: PathBuf,
    cares: PathBuf,
    go: PathBuf,
}

fn clients() -> &'static Clients {
    static CLIENTS: OnceLock<Clients> = OnceLock::new();
    CLIENTS.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("clients");
        std::fs::create_dir_all(&out).unwrap();
        let clients = Clients {
            glibc: out.join("glibc-getaddrinfo"),
            musl: out.join("musl-getaddrinfo"),
            cares: out.join("cares"),
            go: out.join("goresolve"),
        };
        let gai = source.join("getaddrinfo.c");
        build(Command::new("gcc").args(["-O2", "-o"]).arg(&clients.glibc).arg(&gai));
        build(Command::new("musl-gcc").args(["-O2", "-static", "-o"]).arg(&clients.musl).arg(&gai));
        build(Command::new("gcc").args(["-O2", "-o"]).arg(&clients.cares).arg(source.join("cares.c")).arg("-lcares"));
        build(
            Command::new("go")
                .args(["build", "-o"])
                .arg(&clients.go)
                .arg("goresolve.go")
                .current_dir(&source)
                .env("CGO_ENABLED", "0")
                .env("GOCACHE", out.join("go-cache"))
                .env("GOFLAGS", "-mod=mod")
                .env("GO111MODULE", "off"),
        );
        clients
    })
}

fn build(command: &mut Command) {
    let out = command.output().expect("run the compiler");
    assert!(out.status.success(), "{command:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A headless Service `name` in `apps` with `count` ready endpoints of `family`, and a named
/// port `grpc`.
fn headless(yaml: &mut String, name: &str, count: usize, ipv6: bool) {
    write!(
        yaml,
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: apps}}\n\
         spec: {{clusterIP: None, ports: [{{name: grpc, port: 50051}}]}}\n"
    )
    .unwrap();
    for (slice, start) in (0..count).step_by(1000).enumerate() {
        let family = if ipv6 { "IPv6" } else { "IPv4" };
        write!(
            yaml,
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {{name: {name}-{slice}, namespace: apps, labels: {{kubernetes.io/service-name: {name}}}}}\n\
             addressType: {family}\nports: [{{name: grpc, port: 50051, protocol: TCP}}]\nendpoints:\n"
        )
        .unwrap();
        for i in start..count.min(start + 1000) {
            let address = if ipv6 {
                format!("fd00::{:x}", i + 1)
            } else {
                format!("10.{}.{}.{}", 1 + i / 65536, i / 256 % 256, i % 256)
            };
            writeln!(yaml, "- addresses: [\"{address}\"]").unwrap();
        }
    }
}

/// The matrix's cluster: a ClusterIP Service, headless Services of every size, a dual-stack
/// one (`dual`, 3 + 3), an IPv6-only one, SRV-sized ones, and an ExternalName to `web`.
fn cluster() -> String {
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: apps}\nspec: {clusterIP: 10.96.0.50}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: alias, namespace: apps}\n\
         spec: {type: ExternalName, externalName: web.apps.svc.cluster.local}\n",
    );
    for size in SIZES {
        headless(&mut yaml, &format!("h{size}"), size, false);
    }
    headless(&mut yaml, "srv2000", 2000, false);
    headless(&mut yaml, "v6only", 3, true);
    // Dual-stack: one Service, a slice of each family.
    headless(&mut yaml, "dual", 3, false);
    let mut v6 = String::new();
    headless(&mut v6, "dual", 3, true);
    let slice = v6.split("---\n").filter(|d| d.contains("EndpointSlice")).collect::<Vec<_>>().join("");
    yaml.push_str("---\n");
    yaml.push_str(&slice.replace("name: dual-0,", "name: dual-v6,"));
    yaml
}

/// clusterdns on 127.0.0.1:53 in a namespace of its own, with TTL 0 and every query logged.
struct Pod {
    netns: Netns,
    server: DnsServer,
}

impl Pod {
    fn start() -> Pod {
        let netns = Netns::create(&[]);
        netns.set_resolv_conf(POD_RESOLV_CONF);
        let cluster = cluster();
        let args = ["--listen", "127.0.0.1:53", "--ttl", "0", "--log-queries", "--udp-workers", "1"];
        let server = DnsServer::start_in_netns(&netns, &[("cluster.yaml", cluster.as_str())], &args);
        Pod { netns, server }
    }

    /// Runs a client: (exit code, the lines it printed).
    fn resolve(&self, client: &Path, args: &[&str]) -> (i32, Vec<String>) {
        let out = self.netns.exec(client).args(args).output().expect("run the client");
        let lines = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
        (out.status.code().unwrap_or(-1), lines)
    }

    /// The distinct first words of what a client printed (addresses, or SRV targets).
    fn distinct(&self, client: &Path, args: &[&str]) -> usize {
        let (code, lines) = self.resolve(client, args);
        assert!(code == 0 || lines.is_empty(), "{client:?} {args:?}: exit {code} with output");
        lines.iter().filter_map(|l| l.split_whitespace().next()).collect::<BTreeSet<_>>().len()
    }

    /// Queries clusterdns logged for names containing `needle`.
    fn queries_for(&self, needle: &str) -> usize {
        self.server.logs().iter().filter(|l| l.contains(" query ") && l.contains(needle)).count()
    }
}

/// Every client that retries over TCP gets all of a headless Service up to 1,000 endpoints and
/// at least 4,000 of 5,000 (what fits in one TCP message), from a short name.
fn all_sizes(pod: &Pod, client: &Path, family_v4: &str) -> Vec<usize> {
    SIZES.iter().map(|size| pod.distinct(client, &[&format!("h{size}"), family_v4])).collect()
}

fn assert_tcp_client_sizes(client: &str, got: &[usize]) {
    assert_eq!(got[..3], [3, 100, 1000], "{client}: {got:?}");
    assert!((4000..5000).contains(&got[3]), "{client}: 5,000 endpoints gave {}", got[3]);
}

#[test]
fn glibc_getaddrinfo_gets_every_address_it_can_through_the_search_list() {
    if !can_run("glibc_getaddrinfo_gets_every_address_it_can_through_the_search_list") {
        return;
    }
    let (pod, glibc) = (Pod::start(), &clients().glibc);
    let sizes = all_sizes(&pod, glibc, "4");
    assert_tcp_client_sizes("glibc", &sizes);
    assert_eq!(pod.resolve(glibc, &["web", "4"]).1, ["10.96.0.50"]);
    assert_eq!(pod.resolve(glibc, &["alias", "4"]).1, ["10.96.0.50"], "ExternalName to an in-cluster name");
    assert_eq!(pod.distinct(glibc, &["dual", "4"]), 3);
    assert_eq!(pod.distinct(glibc, &["dual", "6"]), 3);
    assert_eq!(pod.distinct(glibc, &["dual", "any"]), 6);
    let (code, _) = pod.resolve(glibc, &["nope.apps.svc.cluster.local", "4"]);
    assert_eq!(code, 2, "NXDOMAIN, not a timeout");
    assert_eq!(pod.queries_for("nope.apps"), 4, "three search domains and the name itself, once each");
    eprintln!("resolver matrix: glibc 2.36 getaddrinfo: {sizes:?}");
}

#[test]
fn musl_1_2_3_without_tcp_fallback_still_gets_addresses_for_every_size() {
    if !can_run("musl_1_2_3_without_tcp_fallback_still_gets_addresses_for_every_size") {
        return;
    }
    let (pod, musl) = (Pod::start(), &clients().musl);
    let sizes = all_sizes(&pod, musl, "4");
    assert_eq!(sizes[0], 3);
    // A 512-byte UDP reply holds 29 A records: what musl keeps when it does not retry over TCP.
    for (size, got) in SIZES.iter().zip(&sizes).skip(1) {
        assert!((20..*size).contains(got), "{size} endpoints gave {got}: a partial answer, not none");
    }
    assert_eq!(pod.resolve(musl, &["web", "4"]).1, ["10.96.0.50"]);
    assert_eq!(pod.distinct(musl, &["dual", "any"]), 6);
    let (code, _) = pod.resolve(musl, &["nope.apps.svc.cluster.local", "4"]);
    assert_eq!(code, 2);
    assert_eq!(pod.queries_for("nope.apps"), 4);
    eprintln!("resolver matrix: musl 1.2.3 getaddrinfo: {sizes:?}");
}

#[test]
fn c_ares_as_envoy_uses_it_gets_every_family_size_and_srv_target() {
    if !can_run("c_ares_as_envoy_uses_it_gets_every_family_size_and_srv_target") {
        return;
    }
    let (pod, cares) = (Pod::start(), &clients().cares);
    let sizes = all_sizes(&pod, cares, "v4");
    assert_tcp_client_sizes("c-ares", &sizes);
    // Envoy's V4_ONLY, V6_ONLY, AUTO (IPv6, else IPv4) and ALL.
    assert_eq!(pod.distinct(cares, &["dual", "v4"]), 3);
    assert_eq!(pod.distinct(cares, &["dual", "v6"]), 3);
    assert_eq!(pod.distinct(cares, &["dual", "auto"]), 3);
    assert_eq!(pod.distinct(cares, &["h3", "auto"]), 3, "AUTO falls back to IPv4");
    assert_eq!(pod.distinct(cares, &["v6only", "auto"]), 3);
    assert_eq!(pod.distinct(cares, &["dual", "all"]), 6);
    assert_eq!(pod.distinct(cares, &["alias", "v4"]), 1);
    let srv1000 = pod.distinct(cares, &["_grpc._tcp.h1000.apps.svc.cluster.local.", "srv"]);
    let srv2000 = pod.distinct(cares, &["_grpc._tcp.srv2000.apps.svc.cluster.local.", "srv"]);
    assert_eq!(srv1000, 1000);
    assert!((1000..2000).contains(&srv2000), "2,000 SRV targets gave {srv2000}");
    let (_, lines) = pod.resolve(cares, &["h100", "v4"]);
    assert!(lines.iter().all(|l| l.ends_with(" 0")), "TTL 0 stays 0: {lines:?}");
    let (code, _) = pod.resolve(cares, &["nope.apps.svc.cluster.local", "v4"]);
    assert_eq!(code, 2);
    assert_eq!(pod.queries_for("nope.apps"), 4);
    eprintln!("resolver matrix: c-ares 1.18 ares_getaddrinfo: {sizes:?}, SRV 1000 -> {srv1000}, 2000 -> {srv2000}");
}

#[test]
fn go_pure_resolver_gets_every_address_and_srv_target_even_from_a_partial_tcp_answer() {
    if !can_run("go_pure_resolver_gets_every_address_and_srv_target_even_from_a_partial_tcp_answer") {
        return;
    }
    let (pod, go) = (Pod::start(), &clients().go);
    let sizes = all_sizes(&pod, go, "ip4");
    assert_tcp_client_sizes("Go", &sizes);
    assert_eq!(pod.distinct(go, &["dual", "ip"]), 6);
    assert_eq!(pod.distinct(go, &["dual", "ip6"]), 3);
    assert_eq!(pod.resolve(go, &["alias", "ip4"]).1, ["10.96.0.50"]);
    let srv1000 = pod.distinct(go, &["_grpc._tcp.h1000.apps.svc.cluster.local.", "srv"]);
    let srv2000 = pod.distinct(go, &["_grpc._tcp.srv2000.apps.svc.cluster.local.", "srv"]);
    assert_eq!(srv1000, 1000);
    assert!((1000..2000).contains(&srv2000), "2,000 SRV targets gave {srv2000}");
    let (code, _) = pod.resolve(go, &["nope.apps.svc.cluster.local", "ip4"]);
    assert_eq!(code, 2);
    assert_eq!(pod.queries_for("nope.apps"), 4);
    eprintln!("resolver matrix: Go 1.19 net (PreferGo): {sizes:?}, SRV 1000 -> {srv1000}, 2000 -> {srv2000}");
}
