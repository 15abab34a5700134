//! Forwarding and its cache, against real upstream servers on loopback.

use std::time::{Duration, Instant};

use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::{RData, RecordType};

use crate::fixture;
use crate::harness::{Ask, DnsServer, TCP, Transport, rdatas};
use crate::upstream::Upstream;

fn serve(upstreams: &[&Upstream], extra: &[&str]) -> DnsServer {
    let mut args: Vec<String> = Vec::new();
    for upstream in upstreams {
        args.extend(["--upstream".to_string(), upstream.arg()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    DnsServer::start(&fixture::files(), &args)
}

#[tokio::test]
async fn forwarded_answers_are_relayed_faithfully_with_ra() {
    let up = Upstream::start(1);
    let server = serve(&[&up], &[]);
    let answer = server.query("www.example.com.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.metadata.recursion_available && !answer.metadata.authoritative);
    assert_eq!(rdatas(&answer.answers), ["192.0.2.1"]);
    assert!(answer.answers[0].ttl <= 30, "capped by --cache-max-ttl: {}", answer.answers[0].ttl);

    let nx = server.query("nx.example.com.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(
        nx.authorities.iter().any(|r| matches!(r.data, RData::SOA(_)) && r.name.to_string() == "example.com."),
        "{nx}"
    );

    let nodata = server.query("nodata.example.com.", RecordType::AAAA).await;
    assert_eq!((nodata.metadata.response_code, nodata.answers.len()), (ResponseCode::NoError, 0));
    assert_eq!(nodata.authorities.len(), 1);

    let fail = server.query("fail.example.com.", RecordType::A).await;
    assert_eq!(fail.metadata.response_code, ResponseCode::ServFail);

    // Cluster names are still ours, authoritative, without RA.
    let web = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert!(web.metadata.authoritative && !web.metadata.recursion_available);
}

#[tokio::test]
async fn a_truncated_upstream_reply_is_retried_over_tcp() {
    let up = Upstream::start(1);
    let server = serve(&[&up], &[]);
    let answer = server.ask("big.example.com.", RecordType::A, TCP).await;
    assert_eq!(answer.answers.len(), 100);
    assert!(up.asked("big.example.com.", "tcp") >= 1);
    // Over UDP the client gets TC and retries itself.
    let udp = server.ask("big.example.com.", RecordType::A, Ask { transport: Transport::Udp, edns: None }).await;
    assert!(udp.metadata.truncation);
}

#[tokio::test]
async fn a_silent_upstream_fails_over_to_the_next_and_is_skipped_afterwards() {
    let (dead, live) = (Upstream::start(1), Upstream::start(2));
    dead.set_silent(true);
    let server = serve(&[&dead, &live], &["--upstream-timeout", "300ms"]);
    let answer = server.query("one.example.com.", RecordType::A).await;
    assert_eq!(rdatas(&answer.answers), ["192.0.2.2"]);
    let started = Instant::now();
    let again = server.query("two.example.com.", RecordType::A).await;
    assert_eq!(rdatas(&again.answers), ["192.0.2.2"]);
    assert!(started.elapsed() < Duration::from_millis(250), "the failed upstream is skipped: {:?}", started.elapsed());
    assert_eq!(dead.asked("two.example.com.", "udp"), 0);
    server.expect_log("upstream failed", Duration::from_secs(5));
}

#[tokio::test]
async fn cache_hits_count_ttls_down_and_do_not_go_upstream() {
    let up = Upstream::start(1);
    let server = serve(&[&up], &[]);
    let first = server.query("cached.example.com.", RecordType::A).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let second = server.query("cached.example.com.", RecordType::A).await;
    assert_eq!(up.asked("cached.example.com.", "udp"), 1, "the second answer came from the cache");
    assert!(
        second.answers[0].ttl + 2 <= first.answers[0].ttl,
        "{} then {}",
        first.answers[0].ttl,
        second.answers[0].ttl
    );
}

#[tokio::test]
async fn negative_answers_are_cached_until_their_soa_minimum() {
    let up = Upstream::start(1);
    let server = serve(&[&up], &[]);
    server.query("nx.example.com.", RecordType::A).await;
    server.query("nx.example.com.", RecordType::A).await;
    assert_eq!(up.asked("nx.example.com.", "udp"), 1, "cached for the SOA MINIMUM of 1 s");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let again = server.query("nx.example.com.", RecordType::A).await;
    assert_eq!(again.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(up.asked("nx.example.com.", "udp"), 2, "expired, asked again");
}

#[tokio::test]
async fn ttl_zero_answers_are_not_cached_nor_rewritten() {
    let up = Upstream::start(1);
    let server = serve(&[&up], &[]);
    for _ in 0..2 {
        let answer = server.query("zero.example.com.", RecordType::A).await;
        assert_eq!(answer.answers[0].ttl, 0);
    }
    assert_eq!(up.asked("zero.example.com.", "udp"), 2);
}

#[tokio::test]
async fn max_ttl_caps_what_clients_see() {
    let up = Upstream::start(1);
    let server = serve(&[&up], &["--cache-max-ttl", "7s"]);
    let answer = server.query("www.example.com.", RecordType::A).await;
    assert_eq!(answer.answers[0].ttl, 7);
}

#[tokio::test]
async fn stub_domains_route_by_the_longest_match() {
    let (default, corp, internal) = (Upstream::start(1), Upstream::start(2), Upstream::start(3));
    let corp_stub = format!("corp.internal={}", corp.arg());
    let internal_stub = format!("internal={}", internal.arg());
    let server = serve(&[&default], &["--stub", &internal_stub, "--stub", &corp_stub]);
    let a = |name: &'static str| {
        let server = &server;
        async move { rdatas(&server.query(name, RecordType::A).await.answers) }
    };
    assert_eq!(a("www.example.com.").await, ["192.0.2.1"]);
    assert_eq!(a("db.corp.internal.").await, ["192.0.2.2"]);
    assert_eq!(a("x.other.internal.").await, ["192.0.2.3"]);
}

#[tokio::test]
async fn external_name_targets_are_chased_through_the_forwarder() {
    let up = Upstream::start(1);
    let extra = "apiVersion: v1\nkind: Service\nmetadata: {name: gone, namespace: apps}\n\
                 spec: {type: ExternalName, externalName: nx.example.com}\n---\n\
                 apiVersion: v1\nkind: Service\nmetadata: {name: broken, namespace: apps}\n\
                 spec: {type: ExternalName, externalName: fail.example.com}\n";
    let mut files = fixture::files();
    files.push(("external.yaml", extra));
    let server = DnsServer::start(&files, &["--upstream", &up.arg()]);
    let answer = server.query("ext.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(rdatas(&answer.answers), ["192.0.2.1", "example.com."]);
    assert_eq!(answer.answers[0].record_type(), RecordType::CNAME, "the CNAME comes first");
    let gone = server.query("gone.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(gone.metadata.response_code, ResponseCode::NXDomain, "RFC 6604: the target's NXDOMAIN");
    assert_eq!(rdatas(&gone.answers), ["nx.example.com."]);
    let broken = server.query("broken.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(broken.metadata.response_code, ResponseCode::NoError, "a failed chase keeps the CNAME");
    assert_eq!(rdatas(&broken.answers), ["fail.example.com."]);
}

#[tokio::test]
async fn reverse_lookups_of_unknown_addresses_fall_through_to_the_upstream() {
    let up = Upstream::start(1);
    let server = serve(&[&up], &[]);
    let ptr = server.query("8.8.8.8.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(rdatas(&ptr.answers), ["dns.google."]);
    let ours = server.query("10.1.96.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(rdatas(&ours.answers), ["web.apps.svc.cluster.local."]);
    assert!(ours.metadata.authoritative);
    let off = serve(&[&up], &["--no-reverse-fallthrough"]);
    let nx = off.query("8.8.8.8.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn identical_questions_in_flight_go_upstream_once() {
    let up = Upstream::start(1);
    up.set_delay(Duration::from_millis(400));
    let server = serve(&[&up], &[]);
    let (a, b, c) = tokio::join!(
        server.query("same.example.com.", RecordType::A),
        server.query("same.example.com.", RecordType::A),
        server.query("same.example.com.", RecordType::A)
    );
    for answer in [a, b, c] {
        assert_eq!(rdatas(&answer.answers), ["192.0.2.1"]);
    }
    assert_eq!(up.asked("same.example.com.", "udp"), 1);
}

#[tokio::test]
async fn beyond_max_concurrent_new_forwards_get_servfail_at_once() {
    let up = Upstream::start(1);
    up.set_delay(Duration::from_millis(1500));
    let server = serve(&[&up], &["--max-concurrent", "1", "--upstream-timeout", "3s"]);
    let slow = server.query("slow.example.com.", RecordType::A);
    let rejected = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let answer = server.query("other.example.com.", RecordType::A).await;
        (answer, started.elapsed())
    };
    let (slow, (rejected, took)) = tokio::join!(slow, rejected);
    assert_eq!(rdatas(&slow.answers), ["192.0.2.1"]);
    assert_eq!(rejected.metadata.response_code, ResponseCode::ServFail);
    assert!(took < Duration::from_millis(500), "{took:?}");
}

#[tokio::test]
async fn a_forwarding_loop_is_detected_and_not_forwarded_into() {
    let real = Upstream::start(2);
    // An upstream that is ourselves: the simplest loop.
    let own = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let server = DnsServer::start(
        &fixture::files(),
        &["--listen", &own, "--upstream", &own, "--upstream", &real.arg(), "--upstream-timeout", "500ms"],
    );
    let logged = server.expect_log("forwarding loop detected", Duration::from_secs(10));
    assert!(logged.contains(&own), "{logged}");
    let started = Instant::now();
    let answer = server.query("www.example.com.", RecordType::A).await;
    assert_eq!(rdatas(&answer.answers), ["192.0.2.2"], "answered by the upstream that does not loop");
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "the looping upstream is not tried: {:?}",
        started.elapsed()
    );
    assert_eq!(server.logs().iter().filter(|l| l.contains("forwarding loop detected")).count(), 1);
}

#[tokio::test]
async fn a_pod_resolves_through_its_search_list() {
    let up = Upstream::start(1);
    let server = serve(&[&up], &[]);
    // ndots:5 in namespace apps: the search list first, then the name as given.
    let search = ["apps.svc.cluster.local.", "svc.cluster.local.", "cluster.local."];
    for suffix in search {
        let name = format!("www.example.com.{suffix}");
        let answer = server.query(&name, RecordType::A).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain, "{name}");
        assert!(answer.metadata.authoritative, "{name}: ours, not forwarded");
    }
    assert_eq!(rdatas(&server.query("www.example.com.", RecordType::A).await.answers), ["192.0.2.1"]);
    // A short cluster name through the same list.
    let web = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(rdatas(&web.answers), ["10.96.1.10"]);
    assert_eq!(up.asked("www.example.com.apps.svc.cluster.local.", "udp"), 0);
}

#[tokio::test]
async fn upstream_policy_tcp_only_and_except_change_how_names_are_forwarded() {
    let (one, two) = (Upstream::start(1), Upstream::start(2));
    // round-robin: consecutive questions start at consecutive upstreams.
    let server = serve(&[&one, &two], &["--upstream-policy", "round-robin", "--cache-size", "0"]);
    for i in 0..6 {
        server.query(&format!("rr{i}.example.com."), RecordType::A).await;
    }
    let asked = |up: &Upstream| (0..6).filter(|i| up.asked(&format!("rr{i}.example.com."), "udp") == 1).count();
    assert_eq!((asked(&one), asked(&two)), (3, 3));
    // sequential (the default): the first healthy one answers everything.
    let sequential = serve(&[&one, &two], &[]);
    for i in 0..4 {
        sequential.query(&format!("seq{i}.example.com."), RecordType::A).await;
    }
    assert_eq!((0..4).filter(|i| two.asked(&format!("seq{i}.example.com."), "udp") > 0).count(), 0);
    // --upstream-tcp asks over TCP only.
    let tcp = serve(&[&one], &["--upstream-tcp"]);
    assert_eq!(rdatas(&tcp.query("tcp.example.com.", RecordType::A).await.answers), ["192.0.2.1"]);
    assert_eq!((one.asked("tcp.example.com.", "tcp"), one.asked("tcp.example.com.", "udp")), (1, 0));
    // --forward-except: those names are not forwarded.
    let except = serve(&[&one], &["--forward-except", "internal.example"]);
    let refused = except.query("db.internal.example.", RecordType::A).await;
    assert_eq!(refused.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(one.asked("db.internal.example.", "udp"), 0);
    assert_eq!(rdatas(&except.query("web.example.com.", RecordType::A).await.answers), ["192.0.2.1"]);
}

#[tokio::test]
async fn caching_can_be_disabled_for_answers_or_denials_of_a_zone() {
    let up = Upstream::start(1);
    let server = serve(&[&up], &["--cache-disable-success", "example.com", "--cache-disable-denial", "example.com"]);
    for name in ["www.example.com.", "nx.example.com."] {
        server.query(name, RecordType::A).await;
        server.query(name, RecordType::A).await;
        assert_eq!(up.asked(name, "udp"), 2, "{name} is asked upstream every time");
    }
    let cached = serve(&[&up], &["--cache-disable-denial", "example.com"]);
    cached.query("www2.example.com.", RecordType::A).await;
    cached.query("www2.example.com.", RecordType::A).await;
    assert_eq!(up.asked("www2.example.com.", "udp"), 1, "answers are still cached");
}

#[tokio::test]
async fn with_filter_aaaa_forwarded_aaaa_questions_for_outside_names_never_go_upstream() {
    let up = Upstream::start(1);
    let server = serve(&[&up], &["--filter-aaaa-forwarded"]);
    let nodata = server.query("www.example.com.", RecordType::AAAA).await;
    assert_eq!((nodata.metadata.response_code, nodata.answers.len()), (ResponseCode::NoError, 0), "{nodata}");
    assert!(nodata.metadata.recursion_available && !nodata.metadata.authoritative, "{nodata}");
    assert_eq!(up.asked("www.example.com.", "udp"), 0, "the AAAA question stayed here");
    // Other types still go upstream.
    assert_eq!(rdatas(&server.query("www.example.com.", RecordType::A).await.answers), ["192.0.2.1"]);
    assert_eq!(up.asked("www.example.com.", "udp"), 1);
    // An ExternalName's CNAME is still answered, its target's AAAA is not asked for.
    let chased = server.query("ext.apps.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(chased.metadata.response_code, ResponseCode::NoError);
    assert!(matches!(chased.answers.as_slice(), [cname] if matches!(cname.data, RData::CNAME(_))), "{chased}");
    assert_eq!(up.asked("example.com.", "udp"), 0);
    // The cluster's own AAAA records are ours to answer.
    let cluster = server.query("dual.apps.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(cluster.answers.len(), 1, "{cluster}");
}

#[tokio::test]
async fn filter_aaaa_forwarded_leaves_fallthrough_names_of_our_zones_to_the_upstream() {
    let up = Upstream::start(1);
    let server = serve(&[&up], &["--filter-aaaa-forwarded", "--fallthrough", "cluster.local"]);
    let name = "nothing.apps.svc.cluster.local.";
    let answer = server.query(name, RecordType::AAAA).await;
    assert_eq!(up.asked(name, "udp"), 1, "a name of ours is the upstream's to deny: {answer}");
    assert!(!answer.authorities.is_empty(), "the upstream's SOA, not a local NODATA: {answer}");
}
