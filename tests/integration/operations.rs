//! Running it: health, readiness, metrics, and shutdown under load.

use std::time::{Duration, Instant};

use hickory_net::proto::op::{Message, Query};
use hickory_net::proto::rr::{Name, RecordType};

use crate::apiserver::ApiServer;
use crate::fixture;
use crate::harness::DnsServer;

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

/// Sends queries for `for_how_long`, one at a time over UDP, returning (sent, answered).
fn steady_load(server: std::net::SocketAddr, for_how_long: Duration) -> (usize, usize) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let (mut sent, mut answered) = (0, 0);
    let started = Instant::now();
    let mut buf = [0u8; 1500];
    while started.elapsed() < for_how_long {
        let mut message = Message::query();
        message.add_query(Query::query(Name::from_ascii("web.apps.svc.cluster.local.").unwrap(), RecordType::A));
        socket.send_to(&message.to_vec().unwrap(), server).unwrap();
        sent += 1;
        if let Ok(len) = socket.recv(&mut buf)
            && Message::from_vec(&buf[..len]).is_ok_and(|m| m.metadata.id == message.metadata.id)
        {
            answered += 1;
        }
    }
    (sent, answered)
}

#[tokio::test]
async fn sigterm_under_load_goes_unready_keeps_answering_then_exits_zero() {
    let mut server = DnsServer::start(&fixture::files(), &["--admin", "127.0.0.1:0", "--lameduck", "2s"]);
    let addr = server.addr;
    let load = std::thread::spawn(move || steady_load(addr, Duration::from_millis(2500)));
    std::thread::sleep(Duration::from_millis(500));
    server.terminate();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.admin_get("/ready").0, 503, "unready during the lameduck period");
    assert_eq!(server.admin_get("/health").0, 200, "still healthy during the lameduck period");
    // Clients stop sending once the endpoint is gone, well within the lameduck period.
    let (sent, answered) = load.join().unwrap();
    assert!(sent > 100, "{sent}");
    assert_eq!(answered, sent, "no query lost");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    server.expect_log("stopped", Duration::from_secs(1));
}
