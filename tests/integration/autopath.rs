//! `--autopath`: the first query of a pod's search-list walk is answered with a CNAME to the
//! first name of the walk that exists and that name's records, in our zones or upstream.

use hickory_net::proto::op::{Message, ResponseCode};
use hickory_net::proto::rr::{RData, RecordType};

use crate::fixture;
use crate::harness::{DnsServer, texts};
use crate::upstream::Upstream;

fn serve(upstream: &Upstream, extra: &[&str]) -> DnsServer {
    let arg = upstream.arg();
    let mut args = vec!["--upstream", arg.as_str()];
    args.extend_from_slice(extra);
    DnsServer::start(&fixture::files(), &args)
}

/// The answer section as (owner, type, data) text, in order.
fn chain(message: &Message) -> Vec<String> {
    message.answers.iter().map(|r| format!("{} {} {}", r.name, r.record_type(), r.data)).collect()
}

#[tokio::test]
async fn the_first_query_of_a_walk_answers_with_the_name_that_exists() {
    let up = Upstream::start(1);
    let server = serve(&up, &["--autopath"]);

    // An outside name, asked by a pod in `apps` with ndots:5: one query instead of four.
    let outside = server.query("www.example.com.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(outside.metadata.response_code, ResponseCode::NoError, "{outside}");
    assert_eq!(
        chain(&outside),
        ["www.example.com.apps.svc.cluster.local. CNAME www.example.com.", "www.example.com. A 192.0.2.1"]
    );
    assert_eq!(up.asked("www.example.com.", "udp"), 1);
    for skipped in ["www.example.com.apps.svc.cluster.local.", "www.example.com.svc.cluster.local."] {
        assert_eq!(up.asked(skipped, "udp"), 0, "{skipped} is ours to answer");
    }

    // A Service of another namespace, asked as `web.apps` from a pod in `empty`.
    let service = server.query("web.apps.empty.svc.cluster.local.", RecordType::A).await;
    assert!(service.metadata.authoritative, "{service}");
    assert_eq!(
        chain(&service),
        [
            "web.apps.empty.svc.cluster.local. CNAME web.apps.svc.cluster.local.",
            "web.apps.svc.cluster.local. A 10.96.1.10"
        ]
    );

    // Names that exist are answered as they are.
    let own = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(chain(&own), ["web.apps.svc.cluster.local. A 10.96.1.10"]);

    // No such namespace: no pod's walk starts there.
    let nowhere = server.query("www.example.com.nope.svc.cluster.local.", RecordType::A).await;
    assert_eq!(nowhere.metadata.response_code, ResponseCode::NXDomain);

    // Nothing in the walk exists: the asked name's own NXDOMAIN, with the cluster zone's SOA.
    let missing = server.query("nx.example.com.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain, "{missing}");
    assert!(missing.answers.is_empty(), "{missing}");
    assert!(
        missing.authorities.iter().any(|r| matches!(r.data, RData::SOA(_)) && r.name.to_string() == "cluster.local."),
        "{missing}"
    );

    // A namespace's name holds no address: the walk passes it, as a resolver would.
    let past_namespace = server.query("apps.empty.svc.cluster.local.", RecordType::A).await;
    assert_eq!(chain(&past_namespace), ["apps.empty.svc.cluster.local. CNAME apps.", "apps. A 192.0.2.1"]);

    // A Service with only an IPv4 address ends an AAAA walk too, so that a lookup's A and AAAA
    // end at the same name: behind the CNAME, its NODATA.
    let v4_only = server.query("web.apps.empty.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(v4_only.metadata.response_code, ResponseCode::NoError, "{v4_only}");
    assert_eq!(chain(&v4_only), ["web.apps.empty.svc.cluster.local. CNAME web.apps.svc.cluster.local."]);
    assert_eq!(up.asked("web.apps.", "udp"), 0, "the walk ended in the cluster");

    // An upstream failure ends the walk without an answer: the client walks on by itself.
    let failed = server.query("fail.example.com.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(failed.metadata.response_code, ResponseCode::ServFail, "{failed}");
    assert!(failed.answers.is_empty(), "{failed}");

    // The last name has no AAAA: behind the CNAME, its NODATA.
    let nodata = server.query("www.example.com.apps.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError, "{nodata}");
    assert_eq!(chain(&nodata), ["www.example.com.apps.svc.cluster.local. CNAME www.example.com."]);
}

#[tokio::test]
async fn replicas_answer_a_walk_alike_and_without_autopath_nothing_changes() {
    let up = Upstream::start(1);
    let (one, two) = (serve(&up, &["--autopath"]), serve(&up, &["--autopath"]));
    for name in ["www.example.com.apps.svc.cluster.local.", "web.apps.empty.svc.cluster.local."] {
        let (a, b) = (one.query(name, RecordType::A).await, two.query(name, RecordType::A).await);
        assert_eq!(texts(&a.answers), texts(&b.answers), "{name}");
    }
    // With --pods verified, only a running Pod of the namespace starts a walk; 127.0.0.1 is none.
    let verified = serve(&up, &["--autopath", "--pods", "verified"]);
    let stranger = verified.query("www.example.com.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(stranger.metadata.response_code, ResponseCode::NXDomain, "{stranger}");
    let off = serve(&up, &[]);
    let plain = off.query("www.example.com.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(plain.metadata.response_code, ResponseCode::NXDomain, "{plain}");
}

#[tokio::test]
async fn with_filter_aaaa_forwarded_an_aaaa_walk_ends_where_the_a_walk_does_with_nodata() {
    let up = Upstream::start(1);
    let server = serve(&up, &["--autopath", "--filter-aaaa-forwarded"]);
    let aaaa = server.query("www.example.com.apps.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(aaaa.metadata.response_code, ResponseCode::NoError, "{aaaa}");
    assert_eq!(chain(&aaaa), ["www.example.com.apps.svc.cluster.local. CNAME www.example.com."]);
    let a = server.query("www.example.com.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(chain(&a)[0], chain(&aaaa)[0], "A and AAAA end at the same name");
}

#[tokio::test]
async fn an_outside_name_without_addresses_is_passed_as_a_resolver_would_pass_it() {
    let up = Upstream::start(1);
    let dir = tempfile::tempdir().unwrap();
    let resolv_conf = dir.path().join("resolv.conf");
    std::fs::write(&resolv_conf, "search empty.test\n").unwrap();
    let server = serve(&up, &["--autopath", "--resolv-conf", resolv_conf.to_str().unwrap()]);
    let answer = server.query("www.example.com.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(
        chain(&answer),
        ["www.example.com.apps.svc.cluster.local. CNAME www.example.com.", "www.example.com. A 192.0.2.1"],
        "the node's search domain holds the name without an address: the walk goes on to the name itself"
    );
    assert_eq!(up.asked("www.example.com.empty.test.", "udp"), 2, "asked for A, then for AAAA");
}
