//! Memory of a whole-cluster manifest: a `kind: List` of about 240 MB, written the way
//! `kubectl get services,endpointslices -A -o yaml` prints a cluster (managed fields,
//! last-applied annotations, labels, status), served by the release binary from a folder.
//! Prints the load time, peak resident memory (VmHWM), resident memory once loaded, and
//! resident memory after the file is removed from the folder.
//!
//!   cargo bench --bench manifests [-- SERVICES]     (default 40,000 Services, 10 endpoints each)

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SERVICES: usize = 40_000;

fn managed_fields(manager: &str) -> String {
    format!(
        "    managedFields:\n    - apiVersion: v1\n      fieldsType: FieldsV1\n      fieldsV1:\n        f:metadata:\n          f:annotations:\n            .: {{}}\n            f:kubectl.kubernetes.io/last-applied-configuration: {{}}\n          f:labels:\n            .: {{}}\n            f:app: {{}}\n        f:spec:\n          f:ports:\n            .: {{}}\n            k:{{\"port\":80,\"protocol\":\"TCP\"}}:\n              .: {{}}\n              f:name: {{}}\n              f:port: {{}}\n              f:protocol: {{}}\n              f:targetPort: {{}}\n          f:selector: {{}}\n          f:sessionAffinity: {{}}\n          f:type: {{}}\n      manager: {manager}\n      operation: Update\n      time: \"2026-11-01T10:00:00Z\"\n"
    )
}

fn service(out: &mut String, i: usize) {
    let (ns, name) = (format!("ns{}", i % 200), format!("svc{i}"));
    let ip = format!("10.{}.{}.{}", 96 + i / 65536, i / 256 % 256, i % 256);
    write!(
        out,
        "- apiVersion: v1\n  kind: Service\n  metadata:\n    annotations:\n      kubectl.kubernetes.io/last-applied-configuration: |\n        {{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{{\"annotations\":{{}},\"labels\":{{\"app\":\"{name}\"}},\"name\":\"{name}\",\"namespace\":\"{ns}\"}},\"spec\":{{\"ports\":[{{\"name\":\"http\",\"port\":80,\"targetPort\":8080}}],\"selector\":{{\"app\":\"{name}\"}}}}}}\n    creationTimestamp: \"2026-11-01T10:00:00Z\"\n    labels:\n      app: {name}\n{}    name: {name}\n    namespace: {ns}\n    resourceVersion: \"{}\"\n    uid: 6b3c2f2e-{i:04x}-4c1e-9d2a-0f5e8c7b6a59\n  spec:\n    clusterIP: {ip}\n    clusterIPs:\n    - {ip}\n    internalTrafficPolicy: Cluster\n    ipFamilies:\n    - IPv4\n    ipFamilyPolicy: SingleStack\n    ports:\n    - name: http\n      port: 80\n      protocol: TCP\n      targetPort: 8080\n    selector:\n      app: {name}\n    sessionAffinity: None\n    type: ClusterIP\n  status:\n    loadBalancer: {{}}\n",
        managed_fields("kubectl-client-side-apply"),
        1000 + i
    )
    .unwrap();
    write!(out, "- addressType: IPv4\n  apiVersion: discovery.k8s.io/v1\n  endpoints:\n").unwrap();
    for e in 0..10 {
        write!(
            out,
            "  - addresses:\n    - 10.{}.{}.{}\n    conditions:\n      ready: true\n      serving: true\n      terminating: false\n    nodeName: node-{}\n    targetRef:\n      kind: Pod\n      name: {name}-7d9c8b6f5-{e:05}\n      namespace: {ns}\n      uid: 1f2e3d4c-{i:04x}-{e:04x}-8a9b-0c1d2e3f4a5b\n    zone: zone-{}\n",
            (i * 10 + e) / 65536 % 256, (i * 10 + e) / 256 % 256, (i * 10 + e) % 256, e % 50, e % 3
        )
        .unwrap();
    }
    write!(
        out,
        "  kind: EndpointSlice\n  metadata:\n    generateName: {name}-\n    labels:\n      endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io\n      kubernetes.io/service-name: {name}\n{}    name: {name}-abcde\n    namespace: {ns}\n    resourceVersion: \"{}\"\n  ports:\n  - name: http\n    port: 8080\n    protocol: TCP\n",
        managed_fields("kube-controller-manager"),
        2000 + i
    )
    .unwrap();
}

/// Resident memory once it stops changing (the server returns freed heap right after logging).
fn settled_rss_kib(pid: u32) -> u64 {
    let mut last = kib(pid, "VmRSS:");
    for _ in 0..25 {
        std::thread::sleep(Duration::from_millis(200));
        let now = kib(pid, "VmRSS:");
        if now == last {
            break;
        }
        last = now;
    }
    last
}

fn kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let count = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(SERVICES);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.yaml");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        file.write_all(b"apiVersion: v1\nitems:\n").unwrap();
        let mut chunk = String::new();
        for i in 0..count {
            service(&mut chunk, i);
            if chunk.len() > 1 << 20 {
                file.write_all(chunk.as_bytes()).unwrap();
                chunk.clear();
            }
        }
        file.write_all(chunk.as_bytes()).unwrap();
        file.write_all(b"kind: List\nmetadata:\n  resourceVersion: \"\"\n").unwrap();
    }
    let size = std::fs::metadata(&path).unwrap().len();
    println!("manifest: {count} Services and {count} EndpointSlices of 10 endpoints, {:.1} MB", size as f64 / 1e6);

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_clusterdns"))
        .args(["--listen", "127.0.0.1:0", "--resolv-conf", "/dev/null", "--manifest-max-size", "1Gi"])
        .arg("--manifests")
        .arg(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start clusterdns");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let server = Server(child);
    let pid = server.0.id();
    let wait_for = |needle: &str| loop {
        let line = rx.recv_timeout(Duration::from_secs(600)).expect("clusterdns logs");
        if line.contains(needle) {
            return line;
        }
    };
    let loaded = wait_for("manifests loaded");
    let load_time = started.elapsed();
    println!("loaded in {load_time:.2?}: {}", loaded.split("loaded ").nth(1).unwrap_or(""));
    println!("peak resident memory while loading: {:.1} MB", kib(pid, "VmHWM:") as f64 / 1024.0);
    println!("resident memory once loaded: {:.1} MB", settled_rss_kib(pid) as f64 / 1024.0);
    std::fs::remove_file(&path).unwrap();
    wait_for("files=0");
    println!("resident memory after the file was removed: {:.1} MB", settled_rss_kib(pid) as f64 / 1024.0);
}
