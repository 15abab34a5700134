//! Running it: health, readiness, metrics, and shutdown under load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hickory_net::proto::op::{Message, Query};
use hickory_net::proto::rr::{Name, RecordType};

use crate::apiserver::ApiServer;
use crate::fixture;
use crate::harness::DnsServer;
use crate::upstream::Upstream;

#[tokio::test]
async fn health_is_up_at_once_and_ready_only_after_the_sync() {
    let api = ApiServer::start();
    api.hold_lists(true);
    let server = DnsServer::start_api(&api, &["--admin", "127.0.0.1:0", "--startup-timeout", "200ms"]);
    assert_eq!(server.admin_get("/health").0, 200);
    assert_eq!(server.admin_get("/ready").0, 503, "not synced yet");
    api.hold_lists(false);
    server.expect_log("initial sync complete", Duration::from_secs(20));
    assert_eq!(server.admin_get("/ready").0, 200);
    assert_eq!(server.admin_get("/nope").0, 404);
}

fn counter(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_count_real_queries() {
    let server = DnsServer::start(&fixture::files(), &["--admin", "127.0.0.1:0"]);
    for _ in 0..3 {
        server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    }
    server.query("nope.apps.svc.cluster.local.", RecordType::A).await;
    let (status, metrics) = server.admin_get("/metrics");
    assert_eq!(status, 200);
    let ok = ["transport=\"udp\"", "qtype=\"A\"", "zone=\"cluster\"", "rcode=\"NOERROR\""];
    assert_eq!(counter(&metrics, "clusterdns_dns_requests_total", &ok), 3.0, "{metrics}");
    let nx = ["zone=\"cluster\"", "rcode=\"NXDOMAIN\""];
    assert_eq!(counter(&metrics, "clusterdns_dns_requests_total", &nx), 1.0);
    assert!(counter(&metrics, "clusterdns_dns_request_duration_seconds_count", &[]) >= 4.0);
    assert!(counter(&metrics, "clusterdns_registry_services", &[]) >= 10.0);
    assert!(metrics.contains("clusterdns_build_info"), "{metrics}");
}

/// Queries sent one at a time over UDP until `stop` is set; `answered` counts the replies.
struct SteadyLoad {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<(usize, usize)>,
}

impl SteadyLoad {
    fn start(server: std::net::SocketAddr) -> SteadyLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let (s, a) = (stop.clone(), answered.clone());
        let thread = std::thread::spawn(move || {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut sent = 0;
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::Relaxed) {
                let mut message = Message::query();
                message
                    .add_query(Query::query(Name::from_ascii("web.apps.svc.cluster.local.").unwrap(), RecordType::A));
                socket.send_to(&message.to_vec().unwrap(), server).unwrap();
                sent += 1;
                if let Ok(len) = socket.recv(&mut buf)
                    && Message::from_vec(&buf[..len]).is_ok_and(|m| m.metadata.id == message.metadata.id)
                {
                    a.fetch_add(1, Ordering::Relaxed);
                }
            }
            (sent, a.load(Ordering::Relaxed))
        });
        SteadyLoad { stop, answered, thread }
    }

    /// Waits until `count` more replies than now have arrived (at most `timeout`).
    fn wait_for_more(&self, count: usize, timeout: Duration) {
        let target = self.answered.load(Ordering::Relaxed) + count;
        let deadline = Instant::now() + timeout;
        while self.answered.load(Ordering::Relaxed) < target {
            assert!(Instant::now() < deadline, "fewer than {count} replies in {timeout:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops sending: (sent, answered).
    fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

#[tokio::test]
async fn sigterm_under_load_goes_unready_keeps_answering_then_exits_zero() {
    // The load stops (as clients do once the endpoint is gone) long before the lameduck period
    // ends; each step waits on what it needs, not on the clock.
    let mut server = DnsServer::start(&fixture::files(), &["--admin", "127.0.0.1:0", "--lameduck", "5s"]);
    let load = SteadyLoad::start(server.addr);
    load.wait_for_more(100, Duration::from_secs(10));
    server.terminate();
    server.expect_log("shutting down", Duration::from_secs(5));
    assert_eq!(server.admin_get("/ready").0, 503, "unready during the lameduck period");
    assert_eq!(server.admin_get("/health").0, 200, "still healthy during the lameduck period");
    load.wait_for_more(100, Duration::from_secs(3));
    let (sent, answered) = load.stop();
    assert_eq!(answered, sent, "no query lost");
    assert!(server.wait_exit(Duration::from_millis(100)).is_none(), "the lameduck period outlasted the load");
    assert_eq!(server.wait_exit(Duration::from_secs(15)), Some(0));
    server.expect_log("stopped", Duration::from_secs(1));
}

#[tokio::test]
async fn sighup_during_start_up_is_a_reload_not_the_end_of_the_process() {
    let api = ApiServer::start();
    api.hold_lists(true);
    let mut server = DnsServer::start_api_bound(&api, &["--startup-timeout", "20s"]);
    // Start-up is waiting for the first list.
    server.signal("HUP");
    api.hold_lists(false);
    server.expect_log("serving the cluster zone", Duration::from_secs(20));
    assert_eq!(server.wait_exit(Duration::from_millis(200)), None, "still running");
    server.expect_log("configuration reloaded", Duration::from_secs(5));
}

/// UDP queries as fast as `threads` threads can send them, until `stop`.
fn flood(server: std::net::SocketAddr, name: &'static str, threads: usize, stop: Arc<AtomicBool>) {
    for _ in 0..threads {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut message = Message::query();
            message.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
            let packet = message.to_vec().unwrap();
            while !stop.load(Ordering::Relaxed) {
                let _ = socket.send_to(&packet, server);
            }
        });
    }
}

#[tokio::test]
async fn shutdown_ends_by_its_deadline_under_a_flood_with_queries_stuck_upstream() {
    let upstream = Upstream::start(1);
    upstream.set_silent(true);
    let upstream_arg = upstream.arg();
    let args = [
        "--upstream",
        upstream_arg.as_str(),
        "--upstream-timeout",
        "60s",
        "--lameduck",
        "500ms",
        "--shutdown-timeout",
        "1s",
    ];
    let mut server = DnsServer::start(&fixture::files(), &args);
    // A forwarded query that will not be answered for a minute, over TCP and over UDP...
    let (addr, stuck) = (server.addr, Arc::new(AtomicBool::new(false)));
    let tcp = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let mut message = Message::query();
        message.add_query(Query::query(Name::from_ascii("slow.example.").unwrap(), RecordType::A));
        let query = message.to_vec().unwrap();
        let mut framed = (query.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&query);
        stream.write_all(&framed).unwrap();
        let _ = stream.read(&mut [0u8; 512]);
    });
    // ...and a flood that never lets the receive queue empty.
    flood(addr, "slow.example.", 1, stuck.clone());
    flood(addr, "nope.apps.svc.cluster.local.", 2, stuck.clone());
    while upstream.asked("slow.example.", "tcp") + upstream.asked("slow.example.", "udp") == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.terminate();
    // lameduck 0.5 s + shutdown-timeout 1 s, with room for a slow machine.
    let exit = server.wait_exit(Duration::from_secs(6));
    stuck.store(true, Ordering::Relaxed);
    assert_eq!(exit, Some(0), "{}", server.logs().join("\n"));
    server.expect_log("shutdown timeout reached", Duration::from_secs(1));
    let _ = tcp.join();
}
