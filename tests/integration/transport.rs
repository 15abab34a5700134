//! UDP and TCP, EDNS(0), truncation, and what the server does with odd packets.

use std::fmt::Write as _;
use std::net::UdpSocket;
use std::time::Duration;

use hickory_net::proto::op::{Message, OpCode, Query, ResponseCode};
use hickory_net::proto::rr::{Name, RecordType};

use crate::fixture;
use crate::harness::{Ask, DnsServer, TCP, Transport};

#[tokio::test]
async fn a_large_headless_answer_is_partial_with_tc_over_udp_and_complete_over_tcp() {
    let big = fixture::big_headless(1000);
    let server = DnsServer::start(&[("big.yaml", big.as_str())], &[]);
    let name = "big.apps.svc.cluster.local.";

    let plain = raw_exchange(&server, &query_bytes(name, RecordType::A)).expect("a reply");
    assert!(plain.len() <= 512);
    let plain = Message::from_vec(&plain).unwrap();
    assert!(plain.metadata.truncation, "TC without EDNS");
    assert_eq!(plain.answers.len(), 29, "as many whole records as fit in 512 bytes");

    let edns = crate::harness::query_message(name, RecordType::A, Some(4096)).to_vec().unwrap();
    let edns = raw_exchange(&server, &edns).expect("a reply");
    assert!(edns.len() <= 1232);
    let edns = Message::from_vec(&edns).unwrap();
    assert!(edns.metadata.truncation, "TC with EDNS 4096");
    assert!(edns.answers.len() > 70, "{} answers in 1232 bytes", edns.answers.len());

    let tcp = server.ask(name, RecordType::A, TCP).await;
    assert!(!tcp.metadata.truncation);
    assert_eq!(tcp.answers.len(), 1000);
}

#[tokio::test]
async fn additional_records_that_do_not_fit_are_left_out_without_tc() {
    // 20 endpoints: the SRV answer fits in 1232 bytes, the A records for all targets do not
    // (SRV targets are never compressed, RFC 2782).
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: many, namespace: apps}\nspec: {clusterIP: None}\n---\n\
         apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: many-1\n  namespace: apps\n  \
         labels: {kubernetes.io/service-name: many}\naddressType: IPv4\nports: [{name: http, port: 80}]\nendpoints:\n",
    );
    for i in 0..20 {
        writeln!(yaml, "- addresses: [10.3.0.{}]\n  hostname: pod-{i}", i + 1).unwrap();
    }
    let server = DnsServer::start(&[("many.yaml", yaml.as_str())], &[]);
    let name = "_http._tcp.many.apps.svc.cluster.local.";
    let query = crate::harness::query_message(name, RecordType::SRV, Some(1232)).to_vec().unwrap();
    let bytes = raw_exchange(&server, &query).expect("a reply");
    assert!(bytes.len() <= 1232, "{} bytes", bytes.len());
    let udp = Message::from_vec(&bytes).unwrap();
    assert!(!udp.metadata.truncation);
    assert_eq!(udp.answers.len(), 20);
    assert!(udp.additionals.len() < 20, "not every target's address fits: {}", udp.additionals.len());
    let targets: Vec<String> =
        udp.answers.iter().map(|r| r.data.to_string().rsplit(' ').next().unwrap().to_string()).collect();
    for record in &udp.additionals {
        assert!(targets.contains(&record.name.to_string()), "{record} is not a target's address");
    }
    let tcp = server.ask(name, RecordType::SRV, TCP).await;
    assert_eq!(tcp.additionals.len(), 20);
}

#[tokio::test]
async fn edns_is_answered_only_when_asked_and_capped_at_1232() {
    let server = DnsServer::start(&fixture::files(), &[]);
    let plain = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert!(plain.edns.is_none());
    let edns = server
        .ask("web.apps.svc.cluster.local.", RecordType::A, Ask { transport: Transport::Udp, edns: Some(4096) })
        .await;
    assert_eq!(edns.edns.as_ref().map(|e| e.max_payload()), Some(1232));
    let small = server
        .ask("web.apps.svc.cluster.local.", RecordType::A, Ask { transport: Transport::Udp, edns: Some(1000) })
        .await;
    assert_eq!(small.edns.as_ref().map(|e| e.max_payload()), Some(1000));
}

#[tokio::test]
async fn zone_transfers_are_refused() {
    let server = DnsServer::start(&fixture::files(), &[]);
    for rtype in [RecordType::AXFR, RecordType::IXFR] {
        let response = server.ask("cluster.local.", rtype, TCP).await;
        assert_eq!(response.metadata.response_code, ResponseCode::Refused, "{rtype}");
    }
}

#[tokio::test]
async fn other_opcodes_are_not_implemented() {
    let server = DnsServer::start(&fixture::files(), &[]);
    let mut message = Message::query();
    message.metadata.op_code = OpCode::Notify;
    message.add_query(Query::query(Name::from_ascii("cluster.local.").unwrap(), RecordType::SOA));
    let response = server.exchange(message, Transport::Udp).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NotImp);
}

fn raw_exchange(server: &DnsServer, packet: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    socket.send_to(packet, server.addr).unwrap();
    let mut buf = [0u8; 4096];
    socket.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

fn query_bytes(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut message = Message::query();
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    message.to_vec().unwrap()
}

#[tokio::test]
async fn malformed_packets_get_formerr_or_silence_and_the_server_keeps_serving() {
    let server = DnsServer::start(&fixture::files(), &[]);
    // A readable header whose question runs past the end of the packet.
    let mut truncated = query_bytes("web.apps.svc.cluster.local.", RecordType::A);
    truncated.truncate(20);
    let reply = raw_exchange(&server, &truncated).expect("FORMERR for a readable header");
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(reply.metadata.id, u16::from_be_bytes([truncated[0], truncated[1]]));

    assert!(raw_exchange(&server, &[0x12, 0x34, 0x01]).is_none(), "no reply to a packet shorter than a header");

    let mut response_bit = query_bytes("web.apps.svc.cluster.local.", RecordType::A);
    response_bit[2] |= 0x80;
    assert!(raw_exchange(&server, &response_bit).is_none(), "QR=1 packets are ignored");

    let healthy = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(healthy.answers.len(), 1);
}

#[tokio::test]
async fn two_questions_are_a_format_error() {
    let server = DnsServer::start(&fixture::files(), &[]);
    let mut message = Message::query();
    message.add_query(Query::query(Name::from_ascii("web.apps.svc.cluster.local.").unwrap(), RecordType::A));
    message.add_query(Query::query(Name::from_ascii("db.apps.svc.cluster.local.").unwrap(), RecordType::A));
    let reply = raw_exchange(&server, &message.to_vec().unwrap()).expect("a reply");
    assert_eq!(Message::from_vec(&reply).unwrap().metadata.response_code, ResponseCode::FormErr);
}

#[tokio::test]
async fn a_format_error_reply_never_exceeds_what_a_plain_udp_client_takes() {
    let server = DnsServer::start(&fixture::files(), &[]);
    let mut message = Message::query();
    for i in 0..30 {
        let name = format!("a-long-label-to-make-the-question-section-large-{i}.apps.svc.cluster.local.");
        message.add_query(Query::query(Name::from_ascii(&name).unwrap(), RecordType::A));
    }
    let query = message.to_vec().unwrap();
    assert!(query.len() > 1000, "{} bytes", query.len());
    let reply = raw_exchange(&server, &query).expect("a reply");
    assert!(reply.len() <= 512, "{} bytes to a client without EDNS", reply.len());
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(reply.metadata.id, message.metadata.id);
}

#[tokio::test]
async fn unknown_edns_version_gets_badvers() {
    let server = DnsServer::start(&fixture::files(), &[]);
    let mut message = Message::query();
    message.add_query(Query::query(Name::from_ascii("web.apps.svc.cluster.local.").unwrap(), RecordType::A));
    let mut edns = hickory_net::proto::op::Edns::new();
    edns.set_version(1);
    message.set_edns(edns);
    let reply = raw_exchange(&server, &message.to_vec().unwrap()).expect("a reply");
    let reply = Message::from_vec(&reply).unwrap();
    // Rcode 16 is BADVERS in a reply with OPT (RFC 6891 §6.1.3); the decoder names it BADSIG.
    assert_eq!(u16::from(reply.metadata.response_code), 16);
    assert!(reply.edns.is_some());
    assert!(reply.answers.is_empty());
}

#[tokio::test]
async fn pipelined_tcp_queries_are_all_answered_in_order() {
    use std::io::{Read, Write};
    let server = DnsServer::start(&fixture::files(), &[]);
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let names = ["web.apps.svc.cluster.local.", "db.apps.svc.cluster.local.", "nope.apps.svc.cluster.local."];
    let mut framed = Vec::new();
    for (id, name) in names.iter().enumerate() {
        let mut message = Message::query();
        message.metadata.id = id as u16 + 100;
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        let bytes = message.to_vec().unwrap();
        framed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        framed.extend_from_slice(&bytes);
    }
    stream.write_all(&framed).unwrap();
    let mut rcodes = Vec::new();
    for id in 100..103u16 {
        let mut length = [0u8; 2];
        stream.read_exact(&mut length).unwrap();
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(length))];
        stream.read_exact(&mut reply).unwrap();
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!(reply.metadata.id, id);
        rcodes.push(reply.metadata.response_code);
    }
    assert_eq!(rcodes, [ResponseCode::NoError, ResponseCode::NoError, ResponseCode::NXDomain]);
}
