//! The CPU one SRV query costs the server, for a headless Service of 100 to 100,000 ready
//! endpoints: the release binary serves them from manifests, queries go one at a time over one
//! TCP connection for about two seconds, and the server's CPU time is read from
//! `/proc/<pid>/task/*/schedstat` (nanoseconds, every thread) before and after.
//!
//!   cargo bench --bench srv [-- SIZE...]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};

const SIZES: [usize; 4] = [100, 1_000, 10_000, 100_000];
const RUN: Duration = Duration::from_secs(2);

/// A headless Service with `count` ready endpoints in slices of 1,000, one named port.
fn manifests(count: usize) -> String {
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: apps}\nspec:\n  clusterIP: None\n  ports: [{name: http, port: 80}]\n",
    );
    for (slice, start) in (0..count).step_by(1000).enumerate() {
        write!(
            yaml,
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-{slice}\n  namespace: apps\n  \
             labels: {{kubernetes.io/service-name: big}}\naddressType: IPv4\nports: [{{name: http, port: 8080, protocol: TCP}}]\nendpoints:\n"
        )
        .unwrap();
        for i in start..count.min(start + 1000) {
            writeln!(yaml, "- addresses: [10.{}.{}.{}]", 1 + i / 65536, i / 256 % 256, i % 256).unwrap();
        }
    }
    yaml
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &std::path::Path) -> (Server, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clusterdns"))
        .args(["--listen", "127.0.0.1:0", "--resolv-conf", "/dev/null", "--udp-workers", "1", "--manifests"])
        .arg(dir)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start clusterdns");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut addr = None;
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(at) = line.split("listening for TCP on ").nth(1) {
            addr = Some(at.trim().parse().unwrap());
        }
        if line.contains("serving the cluster zone") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    (Server(child), addr.expect("a TCP listening line"))
}

/// CPU time of every thread of `pid`, in nanoseconds.
fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// One query over `stream`: the reply's answer count.
fn ask(stream: &mut TcpStream, query: &[u8]) -> usize {
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed).unwrap();
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut reply).unwrap();
    usize::from(u16::from_be_bytes([reply[6], reply[7]]))
}

fn main() {
    let mut query = Message::query();
    query.add_query(Query::query(Name::from_ascii("_http._tcp.big.apps.svc.cluster.local.").unwrap(), RecordType::SRV));
    let query = query.to_vec().unwrap();
    println!("{:>10} {:>9} {:>14} {:>8}", "endpoints", "queries", "CPU per query", "answers");
    let chosen: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    for count in if chosen.is_empty() { SIZES.to_vec() } else { chosen } {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big.yaml"), manifests(count)).unwrap();
        let (server, addr) = start(dir.path());
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let answers = ask(&mut stream, &query);
        let pid = server.0.id();
        let (before, started) = (cpu_ns(pid), Instant::now());
        let mut queries = 0u64;
        while started.elapsed() < RUN || queries < 3 {
            ask(&mut stream, &query);
            queries += 1;
        }
        let per_query = Duration::from_nanos((cpu_ns(pid) - before) / queries);
        println!("{count:>10} {queries:>9} {:>14?} {answers:>8}", per_query);
    }
}
