//! Answers too large for their transport: partial answers that still spread over every
//! endpoint, TC only where the client can retry, what the log and metrics say, TTL jitter.

use std::collections::BTreeMap;
use std::time::Duration;

use hickory_net::proto::op::Message;
use hickory_net::proto::rr::RecordType;

use crate::fixture;
use crate::harness::{DnsServer, TCP, query_message};

fn udp_exchange(server: &DnsServer, packet: &[u8]) -> Vec<u8> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    socket.send_to(packet, server.addr).unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("a reply");
    buf[..n].to_vec()
}

#[tokio::test]
async fn partial_udp_answers_spread_over_every_endpoint() {
    let big = fixture::big_headless(100);
    let server = DnsServer::start(&[("big.yaml", big.as_str())], &["--udp-workers", "1"]);
    let query = query_message("big.apps.svc.cluster.local.", RecordType::A, None).to_vec().unwrap();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let rounds = 200;
    for _ in 0..rounds {
        let reply = Message::from_vec(&udp_exchange(&server, &query)).unwrap();
        assert!(reply.metadata.truncation && !reply.answers.is_empty());
        for record in &reply.answers {
            *seen.entry(record.data.to_string()).or_default() += 1;
        }
    }
    // 29 of 100 addresses per reply: every address about 58 times in 200 replies.
    assert_eq!(seen.len(), 100, "every endpoint appears in some partial answer");
    let (least, most) = (seen.values().min().unwrap(), seen.values().max().unwrap());
    assert!(*least >= 40 && *most <= 80, "uneven spread: between {least} and {most} of {rounds}");
}

#[tokio::test]
async fn over_tcp_an_answer_too_large_for_one_message_is_partial_without_tc() {
    let big = fixture::big_headless(5000);
    let server = DnsServer::start(&[("big.yaml", big.as_str())], &["--log-queries", "--admin", "127.0.0.1:0"]);
    let reply = server.ask("big.apps.svc.cluster.local.", RecordType::A, TCP).await;
    assert!(!reply.metadata.truncation, "a TCP client cannot retry anywhere");
    assert!(reply.answers.len() > 4000, "{} answers", reply.answers.len());
    let line = server.expect_log("big.apps.svc.cluster.local", Duration::from_secs(5));
    let sent = reply.answers.len();
    assert!(line.contains(&format!("answers={sent}")) && line.contains(&format!("left_out={}", 5000 - sent)), "{line}");
    let (_, metrics) = server.admin_get("/metrics");
    let left_out = metrics.lines().find(|l| l.starts_with("clusterdns_dns_answers_left_out_total{transport=\"tcp\"}"));
    assert!(left_out.is_some_and(|l| l.ends_with(&format!(" {}", 5000 - sent))), "{metrics}");
}

#[tokio::test]
async fn the_log_and_metrics_say_what_a_truncated_udp_reply_carried() {
    let big = fixture::big_headless(100);
    let server = DnsServer::start(&[("big.yaml", big.as_str())], &["--log-queries", "--admin", "127.0.0.1:0"]);
    let reply = server.query("big.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(reply.answers.len(), 29);
    let line = server.expect_log("big.apps.svc.cluster.local", Duration::from_secs(5));
    assert!(line.contains("answers=29") && line.contains("left_out=71") && line.contains("tc=true"), "{line}");
    let (_, metrics) = server.admin_get("/metrics");
    assert!(metrics.contains("clusterdns_dns_truncated_responses_total{transport=\"udp\"} 1"), "{metrics}");
}

#[tokio::test]
async fn ttl_jitter_lowers_headless_ttls_per_response_and_nothing_else() {
    let big = fixture::big_headless(5);
    let mut files = fixture::files();
    files.push(("big.yaml", big.as_str()));
    let server = DnsServer::start(&files, &["--ttl", "100", "--ttl-jitter", "20"]);
    let mut ttls = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let reply = server.ask("big.apps.svc.cluster.local.", RecordType::A, crate::harness::UDP).await;
        let ttl = reply.answers[0].ttl;
        assert!(reply.answers.iter().all(|r| r.ttl == ttl), "one TTL per RRset");
        assert!((80..=100).contains(&ttl), "{ttl}");
        ttls.insert(ttl);
    }
    assert!(ttls.len() > 3, "responses expire at different times: {ttls:?}");
    let web = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(web.answers[0].ttl, 100, "a ClusterIP answer keeps its TTL");
    let zero = DnsServer::start(&files, &["--ttl", "0", "--ttl-jitter", "50"]);
    let reply = zero.query("big.apps.svc.cluster.local.", RecordType::A).await;
    assert!(reply.answers.iter().all(|r| r.ttl == 0), "TTL 0 stays 0");
}
