//! Manifests that are broken in the ways real folders are: symlink loops, FIFOs and device
//! links, files too large or built to expand, bad fields in one endpoint, names DNS cannot
//! serve. The server names what it skipped, serves the rest, and never says "synced" (or
//! NXDOMAIN) for data it could not read.

use std::ffi::CString;
use std::time::Duration;

use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::RecordType;

use crate::fixture;
use crate::harness::{DnsServer, rdatas};

const WAIT: Duration = Duration::from_secs(10);

fn mkfifo(path: &std::path::Path) {
    let path = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0, "{}", std::io::Error::last_os_error());
}

fn peak_resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// The fixture, plus whatever `prepare` puts into its folder, served with `args`.
fn serve(prepare: impl FnOnce(&std::path::Path), args: &[&str]) -> DnsServer {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in fixture::files() {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    prepare(dir.path());
    let path = dir.path().to_str().unwrap().to_string();
    let mut all = vec!["--manifests", path.as_str()];
    all.extend_from_slice(args);
    let server = DnsServer::start_with(&all);
    std::mem::forget(dir); // the server keeps reading it; the OS temp cleaner takes it later
    server
}

#[tokio::test]
async fn symlink_loops_are_named_and_skipped_and_the_rest_is_served() {
    let server = serve(
        |dir| {
            std::os::unix::fs::symlink(dir, dir.join("again")).unwrap();
            std::fs::create_dir(dir.join("sub")).unwrap();
            std::os::unix::fs::symlink(dir, dir.join("sub/up")).unwrap();
            std::os::unix::fs::symlink(dir.join("b.yaml"), dir.join("a.yaml")).unwrap();
            std::os::unix::fs::symlink(dir.join("a.yaml"), dir.join("b.yaml")).unwrap();
        },
        &[],
    );
    let web = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(rdatas(&web.answers), ["10.96.1.10"], "{}", server.logs().join("\n"));
    for skipped in ["again", "sub/up", "a.yaml"] {
        let line = server.expect_log(&format!("{skipped} problem="), WAIT);
        assert!(line.contains("cannot read a manifest path"), "{line}");
    }
}

#[tokio::test]
async fn fifos_and_device_links_are_skipped_not_read() {
    let server = serve(
        |dir| {
            mkfifo(&dir.join("pipe.yaml"));
            std::os::unix::fs::symlink("/dev/zero", dir.join("zero.yaml")).unwrap();
        },
        &[],
    );
    let web = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(rdatas(&web.answers), ["10.96.1.10"]);
    server.expect_log("pipe.yaml problem=not a regular file", WAIT);
    server.expect_log("zero.yaml problem=not a regular file", WAIT);
    assert!(peak_resident_bytes(server.pid()) < 200 << 20, "nothing was read from /dev/zero");
}

#[tokio::test]
async fn a_manifest_root_that_cannot_be_read_is_never_reported_synced() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("cluster.yaml");
    mkfifo(&fifo);
    let server = DnsServer::start_with(&[
        "--manifests",
        fifo.to_str().unwrap(),
        "--startup-timeout",
        "200ms",
        "--admin",
        "127.0.0.1:0",
    ]);
    server.expect_log("cluster.yaml problem=not a regular file or folder", WAIT);
    assert_eq!(server.admin_get("/ready").0, 503, "not ready without the data");
    let web = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(web.metadata.response_code, ResponseCode::ServFail, "never NXDOMAIN for data not read");
}

#[tokio::test]
async fn a_file_over_the_size_limit_is_skipped_and_named() {
    let server = serve(
        |dir| {
            let big = format!("# {}\n{}", "x".repeat(4096), fixture::big_headless(10));
            std::fs::write(dir.join("big.yaml"), big).unwrap();
        },
        &["--manifest-max-size", "4Ki"],
    );
    server.expect_log("more than --manifest-max-size (4096 bytes)", WAIT);
    let big = server.query("big.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(big.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(server.query("web.apps.svc.cluster.local.", RecordType::A).await.answers.len(), 1);
}

#[tokio::test]
async fn aliases_cannot_make_a_small_manifest_take_gigabytes() {
    let server = serve(
        |dir| {
            // 1 MB of scalar, then 3,000 aliases to it: 3 GB once expanded.
            let mut bomb = format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: bomb}}\ndata:\n  big: &big {}\n  copies: [",
                "x".repeat(1 << 20)
            );
            bomb.push_str(&vec!["*big"; 3000].join(", "));
            bomb.push_str("]\n");
            std::fs::write(dir.join("bomb.yaml"), bomb).unwrap();
        },
        &[],
    );
    server.expect_log("bomb.yaml", WAIT);
    assert_eq!(server.query("web.apps.svc.cluster.local.", RecordType::A).await.answers.len(), 1);
    let peak = peak_resident_bytes(server.pid());
    assert!(peak < 200 << 20, "peak resident memory {} MiB", peak >> 20);
}

const ODD_OBJECTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: odd, namespace: apps}
spec: {clusterIP: None}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: odd-1, namespace: apps, labels: {kubernetes.io/service-name: odd}}
addressType: IPv4
endpoints:
- addresses: [10.9.0.1]
  hostname: db-0
- addresses: [10.9.0.999]
- addresses: [10.9.0.3]
  hostname: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
---
apiVersion: v1
kind: Service
metadata: {name: Web-Upper, namespace: apps}
spec: {clusterIP: 10.96.9.1}
---
apiVersion: v1
kind: Service
metadata: {name: mapped, namespace: apps}
spec: {clusterIP: "::ffff:10.96.9.2"}
"#;

#[tokio::test]
async fn one_bad_endpoint_is_skipped_not_its_whole_slice() {
    let server = serve(|dir| std::fs::write(dir.join("odd.yaml"), ODD_OBJECTS).unwrap(), &[]);
    let odd = server.query("odd.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(rdatas(&odd.answers), ["10.9.0.1"], "the healthy endpoint still answers");
    server.expect_log("\"10.9.0.999\" is not a valid IP address", WAIT);
    let line = server.expect_log("endpoints[].hostname", WAIT);
    assert!(line.contains("part of an object skipped") && line.contains("name=odd-1"), "{line}");
}

#[tokio::test]
async fn names_dns_cannot_serve_are_refused_on_the_way_in() {
    let server = serve(|dir| std::fs::write(dir.join("odd.yaml"), ODD_OBJECTS).unwrap(), &["--no-reverse-fallthrough"]);
    server.expect_log("name=Web-Upper", WAIT);
    server.expect_log("IPv4-mapped", WAIT);
    for name in ["web-upper.apps.svc.cluster.local.", "Web-Upper.apps.svc.cluster.local."] {
        assert_eq!(server.query(name, RecordType::A).await.metadata.response_code, ResponseCode::NXDomain);
    }
    // No PTR for what was refused, and never an empty answer without the SOA.
    for ip in ["1.9.96.10.in-addr.arpa.", "3.0.9.10.in-addr.arpa."] {
        let ptr = server.query(ip, RecordType::PTR).await;
        assert_eq!(ptr.metadata.response_code, ResponseCode::NXDomain, "{ip}: {ptr}");
        assert_eq!(ptr.authorities.len(), 1, "{ip}: the SOA");
    }
}
