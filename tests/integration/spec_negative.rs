//! Existence: NXDOMAIN against NODATA (RFC 1034 §4.3.2, RFC 2308, RFC 8020), SOA placement,
//! AA, and case echo.

use hickory_net::proto::op::{Message, ResponseCode};
use hickory_net::proto::rr::{RData, RecordType};

use crate::fixture;
use crate::harness::{DnsServer, TCP};

#[track_caller]
fn assert_negative(response: &Message, rcode: ResponseCode, soa_owner: &str) {
    assert_eq!(response.metadata.response_code, rcode, "{response}");
    assert!(response.metadata.authoritative, "AA: {response}");
    assert!(response.answers.is_empty(), "{response}");
    assert_eq!(response.authorities.len(), 1, "exactly one SOA: {response}");
    let soa = &response.authorities[0];
    assert!(matches!(soa.data, RData::SOA(_)), "{response}");
    assert_eq!(soa.name.to_string(), soa_owner, "{response}");
}

#[tokio::test]
async fn existing_names_without_the_asked_type_are_nodata() {
    let server = DnsServer::start(&fixture::files(), &[]);
    let cases = [
        ("apps.svc.cluster.local.", RecordType::A),
        ("empty.svc.cluster.local.", RecordType::A),
        ("svc.cluster.local.", RecordType::A),
        ("cluster.local.", RecordType::TXT),
        ("cluster.local.", RecordType::A),
        ("dns-version.cluster.local.", RecordType::A),
        ("web.apps.svc.cluster.local.", RecordType::AAAA),
        ("web.apps.svc.cluster.local.", RecordType::TXT),
        ("v6only.apps.svc.cluster.local.", RecordType::A),
        ("_tcp.db.apps.svc.cluster.local.", RecordType::SRV),
        ("_tcp.web.apps.svc.cluster.local.", RecordType::A),
        ("_http._tcp.web.apps.svc.cluster.local.", RecordType::A),
        ("db-1.db.apps.svc.cluster.local.", RecordType::AAAA),
    ];
    for (name, rtype) in cases {
        assert_negative(&server.query(name, rtype).await, ResponseCode::NoError, "cluster.local.");
    }
    let reverse_cases = [
        ("10.1.96.10.in-addr.arpa.", RecordType::A, "in-addr.arpa."),
        ("1.96.10.in-addr.arpa.", RecordType::PTR, "in-addr.arpa."),
        ("10.in-addr.arpa.", RecordType::PTR, "in-addr.arpa."),
        ("in-addr.arpa.", RecordType::PTR, "in-addr.arpa."),
        ("d.f.ip6.arpa.", RecordType::PTR, "ip6.arpa."),
    ];
    for (name, rtype, owner) in reverse_cases {
        assert_negative(&server.query(name, rtype).await, ResponseCode::NoError, owner);
    }
}

#[tokio::test]
async fn missing_names_are_nxdomain_whatever_the_type() {
    let server = DnsServer::start(&fixture::files(), &[]);
    let names = [
        "nope.svc.cluster.local.",
        "web.nope.svc.cluster.local.",
        "nope.apps.svc.cluster.local.",
        "x.web.apps.svc.cluster.local.",
        "_http._udp.web.apps.svc.cluster.local.",
        "_udp.db.apps.svc.cluster.local.",
        "_http._tcp.noname.apps.svc.cluster.local.",
        "a.b.c.d.apps.svc.cluster.local.",
        "other.cluster.local.",
        "pod.cluster.local.",
    ];
    for name in names {
        for rtype in [RecordType::A, RecordType::SOA, RecordType::SRV] {
            assert_negative(&server.query(name, rtype).await, ResponseCode::NXDomain, "cluster.local.");
        }
    }
    for (name, owner) in [
        ("99.99.99.10.in-addr.arpa.", "in-addr.arpa."),
        ("99.10.in-addr.arpa.", "in-addr.arpa."),
        ("x.10.1.96.10.in-addr.arpa.", "in-addr.arpa."),
        ("f.f.ip6.arpa.", "ip6.arpa."),
    ] {
        assert_negative(&server.query(name, RecordType::PTR).await, ResponseCode::NXDomain, owner);
    }
}

#[tokio::test]
async fn pod_subtree_exists_only_when_pod_records_are_on() {
    let server = DnsServer::start(&fixture::files(), &["--pods", "insecure"]);
    assert_negative(&server.query("pod.cluster.local.", RecordType::A).await, ResponseCode::NoError, "cluster.local.");
    assert_negative(
        &server.query("apps.pod.cluster.local.", RecordType::A).await,
        ResponseCode::NoError,
        "cluster.local.",
    );
    assert_negative(
        &server.query("10-1-0-10.apps.pod.cluster.local.", RecordType::AAAA).await,
        ResponseCode::NoError,
        "cluster.local.",
    );
    assert_negative(
        &server.query("nope.pod.cluster.local.", RecordType::A).await,
        ResponseCode::NXDomain,
        "cluster.local.",
    );
    assert_negative(
        &server.query("web.apps.pod.cluster.local.", RecordType::A).await,
        ResponseCode::NXDomain,
        "cluster.local.",
    );
}

#[tokio::test]
async fn question_case_is_echoed_exactly() {
    let server = DnsServer::start(&fixture::files(), &[]);
    let name = "WeB.aPPs.SVC.Cluster.LOCAL.";
    for response in [server.query(name, RecordType::A).await, server.ask(name, RecordType::A, TCP).await] {
        assert_eq!(response.queries[0].name().to_string(), name);
        assert_eq!(response.answers[0].name.to_string(), name);
        assert_eq!(response.answers.len(), 1);
    }
    let missing = server.query("NoPe.APPS.svc.cluster.local.", RecordType::A).await;
    assert_eq!(missing.queries[0].name().to_string(), "NoPe.APPS.svc.cluster.local.");
}

#[tokio::test]
async fn without_upstreams_names_outside_our_zones_are_refused() {
    let server = DnsServer::start(&fixture::files(), &[]);
    for name in ["example.com.", "local.", "arpa.", "."] {
        let response = server.query(name, RecordType::A).await;
        assert_eq!(response.metadata.response_code, ResponseCode::Refused, "{name}");
        assert!(!response.metadata.authoritative);
    }
}
