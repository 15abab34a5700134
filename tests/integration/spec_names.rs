//! Every row of "Names we answer", over UDP and TCP.

use hickory_net::proto::op::{Message, ResponseCode};
use hickory_net::proto::rr::{RData, RecordType};

use crate::fixture;
use crate::harness::{Ask, DnsServer, TCP, UDP, rdatas, texts};

fn serve(args: &[&str]) -> DnsServer {
    DnsServer::start(&fixture::files(), args)
}

#[track_caller]
fn assert_records(response: &Message, want: &[&str]) {
    assert_eq!(response.metadata.response_code, ResponseCode::NoError, "{response}");
    assert!(response.metadata.authoritative, "AA must be set: {response}");
    assert_eq!(rdatas(&response.answers), want, "{response}");
}

#[tokio::test]
async fn cluster_ip_service_answers_its_cluster_ip_over_udp_and_tcp() {
    let server = serve(&[]);
    for ask in [UDP, TCP] {
        let response = server.ask("web.apps.svc.cluster.local.", RecordType::A, ask).await;
        assert_records(&response, &["10.96.1.10"]);
        assert_eq!(texts(&response.answers), ["web.apps.svc.cluster.local. 5 IN A 10.96.1.10"]);
    }
}

#[tokio::test]
async fn dual_stack_service_answers_both_families() {
    let server = serve(&[]);
    assert_records(&server.query("dual.apps.svc.cluster.local.", RecordType::A).await, &["10.96.1.20"]);
    assert_records(&server.query("dual.apps.svc.cluster.local.", RecordType::AAAA).await, &["fd00::20"]);
    assert_records(&server.query("v6only.apps.svc.cluster.local.", RecordType::AAAA).await, &["fd00::30"]);
}

#[tokio::test]
async fn headless_service_returns_one_record_per_ready_endpoint_merged_and_deduplicated() {
    let server = serve(&[]);
    for ask in [UDP, TCP] {
        let response = server.ask("db.apps.svc.cluster.local.", RecordType::A, ask).await;
        assert_records(&response, &["10.1.0.10", "10.1.0.11"]);
    }
    assert_records(&server.query("db.apps.svc.cluster.local.", RecordType::AAAA).await, &["fd00:1::10"]);
}

#[tokio::test]
async fn headless_answers_rotate_so_first_address_clients_spread() {
    let server = serve(&[]);
    let mut firsts = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let response = server.query("db.apps.svc.cluster.local.", RecordType::A).await;
        firsts.insert(response.answers[0].data.to_string());
    }
    assert_eq!(firsts.len(), 2, "both endpoints should come first at some point: {firsts:?}");
}

#[tokio::test]
async fn headless_service_without_ready_endpoints_does_not_exist() {
    let server = serve(&[]);
    let response = server.query("idle.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn not_ready_endpoints_are_published_when_the_service_asks() {
    let server = serve(&[]);
    assert_records(&server.query("pub.apps.svc.cluster.local.", RecordType::A).await, &["10.1.0.30"]);
    assert_records(&server.query("legacy.apps.svc.cluster.local.", RecordType::A).await, &["10.1.0.31"]);
}

#[tokio::test]
async fn endpoint_hostnames_and_dashed_ips_name_single_endpoints() {
    let server = serve(&[]);
    assert_records(&server.query("db-0.db.apps.svc.cluster.local.", RecordType::A).await, &["10.1.0.10"]);
    assert_records(&server.query("db-0.db.apps.svc.cluster.local.", RecordType::AAAA).await, &["fd00:1::10"]);
    assert_records(&server.query("10-1-0-20.noname.apps.svc.cluster.local.", RecordType::A).await, &["10.1.0.20"]);
    assert_records(&server.query("fd00-1--20.noname.apps.svc.cluster.local.", RecordType::AAAA).await, &["fd00:1::20"]);
    assert_records(
        &server.query("shared.twins.apps.svc.cluster.local.", RecordType::A).await,
        &["10.1.0.40", "10.1.0.41"],
    );
    let not_ready = server.query("db-2.db.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(not_ready.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn external_name_is_a_cname_and_names_below_it_do_not_exist() {
    let server = serve(&[]);
    for rtype in [RecordType::A, RecordType::AAAA, RecordType::CNAME] {
        let response = server.query("ext.apps.svc.cluster.local.", rtype).await;
        assert_records(&response, &["example.com."]);
        assert_eq!(response.answers[0].record_type(), RecordType::CNAME);
    }
    for below in ["x.ext.apps.svc.cluster.local.", "_http._tcp.ext.apps.svc.cluster.local."] {
        let response = server.query(below, RecordType::A).await;
        assert_eq!(response.metadata.response_code, ResponseCode::NXDomain, "{below}");
    }
}

#[tokio::test]
async fn external_name_inside_the_zone_is_chased() {
    let server = serve(&[]);
    let response = server.query("alias.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(
        texts(&response.answers),
        [
            "alias.apps.svc.cluster.local. 5 IN CNAME web.apps.svc.cluster.local.",
            "web.apps.svc.cluster.local. 5 IN A 10.96.1.10"
        ]
    );
    // RFC 6604: the rcode is that of the last name in the chain; the CNAME is kept.
    let dangling = server.query("dangling.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(dangling.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(rdatas(&dangling.answers), ["missing.apps.svc.cluster.local."]);
    assert_eq!(dangling.authorities.len(), 1);
}

#[tokio::test]
async fn cname_loops_end_without_dropping_the_cname() {
    let server = serve(&[]);
    let response = server.query("loop1.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(rdatas(&response.answers), ["loop1.apps.svc.cluster.local.", "loop2.apps.svc.cluster.local."]);
}

#[tokio::test]
async fn cluster_ip_srv_targets_the_service_with_its_address_in_additional() {
    let server = serve(&[]);
    let response = server.query("_http._tcp.web.apps.svc.cluster.local.", RecordType::SRV).await;
    assert_eq!(
        texts(&response.answers),
        ["_http._tcp.web.apps.svc.cluster.local. 5 IN SRV 0 100 80 web.apps.svc.cluster.local."]
    );
    assert_eq!(texts(&response.additionals), ["web.apps.svc.cluster.local. 5 IN A 10.96.1.10"]);
    let udp = server.query("_dns._udp.web.apps.svc.cluster.local.", RecordType::SRV).await;
    assert_records(&udp, &["0 100 53 web.apps.svc.cluster.local."]);
}

#[tokio::test]
async fn headless_srv_has_one_record_per_endpoint_with_the_target_port() {
    let server = serve(&[]);
    for ask in [UDP, TCP] {
        let response = server.ask("_postgres._tcp.db.apps.svc.cluster.local.", RecordType::SRV, ask).await;
        assert_records(
            &response,
            &["0 50 15432 db-0.db.apps.svc.cluster.local.", "0 50 15432 db-1.db.apps.svc.cluster.local."],
        );
        assert_eq!(
            texts(&response.additionals),
            [
                "db-0.db.apps.svc.cluster.local. 5 IN A 10.1.0.10",
                "db-0.db.apps.svc.cluster.local. 5 IN AAAA fd00:1::10",
                "db-1.db.apps.svc.cluster.local. 5 IN A 10.1.0.11"
            ]
        );
    }
}

#[tokio::test]
async fn ptr_answers_cluster_ips_and_endpoint_ips_in_both_families() {
    let server = serve(&[]);
    let cases = [
        ("10.1.96.10.in-addr.arpa.", "web.apps.svc.cluster.local."),
        ("10.0.1.10.in-addr.arpa.", "db-0.db.apps.svc.cluster.local."),
        ("20.0.1.10.in-addr.arpa.", "10-1-0-20.noname.apps.svc.cluster.local."),
        ("0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", "dual.apps.svc.cluster.local."),
        (
            "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa.",
            "db-0.db.apps.svc.cluster.local.",
        ),
        (
            "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa.",
            "fd00-1--20.noname.apps.svc.cluster.local.",
        ),
    ];
    for (name, target) in cases {
        for ask in [UDP, TCP] {
            assert_records(&server.ask(name, RecordType::PTR, ask).await, &[target]);
        }
    }
}

#[tokio::test]
async fn dns_version_is_served_with_its_long_ttl() {
    let server = serve(&[]);
    let response = server.query("dns-version.cluster.local.", RecordType::TXT).await;
    assert_eq!(texts(&response.answers), ["dns-version.cluster.local. 28800 IN TXT 1.1.0"]);
}

#[tokio::test]
async fn apex_has_soa_and_ns() {
    let server = serve(&["--ttl", "30"]);
    let soa = server.query("cluster.local.", RecordType::SOA).await;
    assert!(soa.metadata.authoritative);
    let RData::SOA(record) = &soa.answers[0].data else { panic!("{soa}") };
    assert_eq!(record.mname.to_string(), "ns.dns.cluster.local.");
    assert_eq!(record.rname.to_string(), "hostmaster.cluster.local.");
    assert_eq!((record.refresh, record.retry, record.expire, record.minimum), (7200, 1800, 86400, 30));
    assert_eq!(soa.answers[0].ttl, 30);
    let ns = server.query("cluster.local.", RecordType::NS).await;
    assert_eq!(texts(&ns.answers), ["cluster.local. 30 IN NS ns.dns.cluster.local."]);
    let ns_address = server.query("ns.dns.cluster.local.", RecordType::A).await;
    assert_records(&ns_address, &["10.96.0.10"]);
}

#[tokio::test]
async fn ttl_flag_sets_record_ttls_and_soa_ttl_is_capped() {
    let server = serve(&["--ttl", "600"]);
    assert_eq!(server.query("web.apps.svc.cluster.local.", RecordType::A).await.answers[0].ttl, 600);
    assert_eq!(server.query("cluster.local.", RecordType::SOA).await.answers[0].ttl, 300);
    let zero = serve(&["--ttl", "0"]);
    assert_eq!(zero.query("web.apps.svc.cluster.local.", RecordType::A).await.answers[0].ttl, 0);
}

#[tokio::test]
async fn pod_records_follow_the_pods_mode() {
    let disabled = serve(&[]);
    let response = disabled.query("10-1-0-10.apps.pod.cluster.local.", RecordType::A).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);

    let insecure = serve(&["--pods", "insecure"]);
    assert_records(&insecure.query("10-9-9-9.apps.pod.cluster.local.", RecordType::A).await, &["10.9.9.9"]);
    assert_records(&insecure.query("fd00-1--99.apps.pod.cluster.local.", RecordType::AAAA).await, &["fd00:1::99"]);
    let missing_ns = insecure.query("10-9-9-9.nope.pod.cluster.local.", RecordType::A).await;
    assert_eq!(missing_ns.metadata.response_code, ResponseCode::NXDomain);

    let verified = serve(&["--pods", "verified"]);
    assert_records(&verified.query("10-1-0-10.apps.pod.cluster.local.", RecordType::A).await, &["10.1.0.10"]);
    assert_records(&verified.query("fd00-1--10.apps.pod.cluster.local.", RecordType::AAAA).await, &["fd00:1::10"]);
    for unknown in ["10-9-9-9.apps.pod.cluster.local.", "10-1-0-99.apps.pod.cluster.local."] {
        let response = verified.query(unknown, RecordType::A).await;
        assert_eq!(response.metadata.response_code, ResponseCode::NXDomain, "{unknown}");
    }
}

#[tokio::test]
async fn zone_flag_moves_the_cluster_zone() {
    let server = serve(&["--zone", "corp.internal"]);
    assert_records(&server.query("web.apps.svc.corp.internal.", RecordType::A).await, &["10.96.1.10"]);
    let ptr = server.query("10.1.96.10.in-addr.arpa.", RecordType::PTR).await;
    assert_records(&ptr, &["web.apps.svc.corp.internal."]);
    let old = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(old.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test]
async fn any_gets_a_minimal_answer() {
    let server = serve(&[]);
    let response = server
        .ask(
            "web.apps.svc.cluster.local.",
            RecordType::ANY,
            Ask { transport: crate::harness::Transport::Tcp, edns: None },
        )
        .await;
    assert_records(&response, &["10.96.1.10"]);
    let alias = server.query("ext.apps.svc.cluster.local.", RecordType::ANY).await;
    assert_records(&alias, &["example.com."]);
}
