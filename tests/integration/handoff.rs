//! Two instances on one port (`--reuse-port`), as in a node-local DaemonSet's surge update: the
//! one that stops hands its traffic to the one that stays without losing a query, over UDP and
//! over TCP (with `net.ipv4.tcp_migrate_req=1`, set in the test's own network namespace).

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hickory_net::proto::op::{Message, ResponseCode};
use hickory_net::proto::rr::RecordType;
use hickory_net::proto::serialize::binary::BinEncodable;

use crate::fixture;
use crate::harness::{DnsServer, http_get, query_message};
use crate::netns::Netns;
use crate::requires;

const PORT: u16 = 53;
/// A query unanswered for this long counts as lost.
const LOST_AFTER: Duration = Duration::from_secs(2);
const UDP_CLIENTS: usize = 12;
const TCP_CLIENTS: usize = 6;
/// UDP clients move to a new source port this often, so that flows hash anew across sockets.
const QUERIES_PER_SOCKET: usize = 40;

/// What the load saw.
#[derive(Default)]
struct Tally {
    answered: AtomicUsize,
    lost: AtomicUsize,
    wrong: AtomicUsize,
}

fn query_bytes(id: u16) -> Vec<u8> {
    let mut message = query_message("web.apps.svc.cluster.local", RecordType::A, None);
    message.metadata.id = id;
    message.to_bytes().expect("encode the query")
}

/// Whether `reply` answers query `id` with the Service's address.
fn good(reply: &[u8], id: u16) -> bool {
    Message::from_vec(reply).is_ok_and(|m| {
        m.metadata.id == id && m.metadata.response_code == ResponseCode::NoError && !m.answers.is_empty()
    })
}

fn udp_client(server: SocketAddr, stop: &AtomicBool, tally: &Tally, seed: u16) {
    let mut id = seed;
    while !stop.load(Ordering::Relaxed) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("client socket");
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        for _ in 0..QUERIES_PER_SOCKET {
            id = id.wrapping_add(1);
            socket.send_to(&query_bytes(id), server).expect("send a query");
            let sent = Instant::now();
            let mut buf = [0u8; 1500];
            let outcome = loop {
                match socket.recv(&mut buf) {
                    // A late reply to an earlier query is not this one's.
                    Ok(n) if Message::from_vec(&buf[..n]).is_ok_and(|m| m.metadata.id != id) => continue,
                    Ok(n) => break Some(good(&buf[..n], id)),
                    Err(_) if sent.elapsed() < LOST_AFTER => continue,
                    Err(_) => break None,
                }
            };
            count(tally, outcome);
        }
    }
}

/// One TCP connection per query: the ones a stopping instance has not accepted yet are the
/// ones at risk.
fn tcp_client(server: SocketAddr, stop: &AtomicBool, tally: &Tally, seed: u16) {
    use std::io::{Read, Write};
    let mut id = seed;
    while !stop.load(Ordering::Relaxed) {
        id = id.wrapping_add(1);
        let exchange = || -> std::io::Result<bool> {
            let mut stream = TcpStream::connect_timeout(&server, LOST_AFTER)?;
            stream.set_read_timeout(Some(LOST_AFTER))?;
            let query = query_bytes(id);
            let mut framed = (query.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&query);
            stream.write_all(&framed)?;
            let mut len = [0u8; 2];
            stream.read_exact(&mut len)?;
            let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut reply)?;
            Ok(good(&reply, id))
        };
        count(tally, exchange().ok());
    }
}

fn count(tally: &Tally, outcome: Option<bool>) {
    let counter = match outcome {
        Some(true) => &tally.answered,
        Some(false) => &tally.wrong,
        None => &tally.lost,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Queries answered so far by the instance whose admin endpoint is `admin`.
fn requests(netns: &Netns, admin: SocketAddr) -> f64 {
    let (_, metrics) = netns.run(|| http_get(admin, "/metrics"));
    metrics
        .lines()
        .filter(|l| l.starts_with("clusterdns_dns_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until `answered` has grown by `more`, at most 30 s.
fn wait_answered(tally: &Tally, more: usize) -> Result<(), String> {
    let target = tally.answered.load(Ordering::Relaxed) + more;
    let deadline = Instant::now() + Duration::from_secs(30);
    while tally.answered.load(Ordering::Relaxed) < target {
        if Instant::now() > deadline {
            return Err(format!("the load stalled at {} answers", tally.answered.load(Ordering::Relaxed)));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Where the two instances listen and answer their admin endpoint.
struct Setup<'a> {
    listen: &'a str,
    /// Each instance's own admin port (`None`: both share one address, as in the node's
    /// network, where the instances cannot be told apart by it).
    admin: Option<&'a str>,
    extra: &'a [&'a str],
}

#[test]
fn an_instance_stopped_under_load_hands_over_without_losing_a_query() {
    if !requires::root_and("the reuse-port handoff test", &[("ip", "-V"), ("sysctl", "--version")], "iproute2, procps")
    {
        return;
    }
    let listen = format!("127.0.0.1:{PORT}");
    hand_over(&Netns::create(&[]), Setup { listen: &listen, admin: Some("127.0.0.1:0"), extra: &[] });
}

/// The node-network variant: both instances make (or find) the dummy interface holding the
/// link-local address, and share that address for DNS and for their admin endpoint.
#[test]
fn instances_on_a_link_local_address_of_a_dummy_interface_hand_over_without_losing_a_query() {
    if !requires::root_and("the link-local handoff test", &[("ip", "-V"), ("sysctl", "--version")], "iproute2, procps")
    {
        return;
    }
    let netns = Netns::create(&[]);
    let ip = |args: &[&str]| netns.exec(std::path::Path::new("ip")).args(args).output().expect("run ip");
    // A kernel without the dummy driver (as some CI virtual machines): clusterdns says so and
    // exits; a bridge with no ports then stands in for the interface a node's setup made.
    if !netns.makes_dummy_interfaces() {
        let (code, _, stderr) = netns.run(|| {
            crate::harness::run_to_exit(&[
                "--manifests",
                "/dev/null",
                "--resolv-conf",
                "/dev/null",
                "--dummy-interface",
                "nodelocaldns",
            ])
        });
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains("cannot create interface nodelocaldns") && stderr.contains("dummy"), "{stderr}");
        netns.add_stand_in_interface("nodelocaldns");
    }
    let listen = format!("169.254.20.10:{PORT}");
    let extra = ["--dummy-interface", "nodelocaldns", "--listen", "[fd00:53::10]:53", "--admin", "169.254.20.10:9153"];
    hand_over(&netns, Setup { listen: &listen, admin: None, extra: &extra });
    let shown = String::from_utf8(ip(&["-o", "address", "show", "dev", "nodelocaldns"]).stdout).unwrap();
    assert!(shown.contains("inet 169.254.20.10/32") && shown.contains("inet6 fd00:53::10/128"), "{shown}");
    let link = String::from_utf8(ip(&["-o", "link", "show", "dev", "nodelocaldns"]).stdout).unwrap();
    assert!(
        link.contains("<") && link.contains(",UP"),
        "the interface is up, and stays when an instance stops: {link}"
    );
}

fn hand_over(netns: &Netns, setup: Setup<'_>) {
    let migrate = netns.exec(std::path::Path::new("sysctl")).args(["-qw", "net.ipv4.tcp_migrate_req=1"]).status();
    assert!(migrate.expect("run sysctl").success(), "set net.ipv4.tcp_migrate_req in the test's namespace");
    let mut args = vec!["--listen", setup.listen, "--reuse-port", "--udp-workers", "2", "--lameduck", "1s"];
    args.extend(setup.admin.iter().flat_map(|admin| ["--admin", admin]));
    args.extend_from_slice(setup.extra);
    let mut leaving = DnsServer::start_in_netns(netns, &fixture::files(), &args);
    let staying = DnsServer::start_in_netns(netns, &fixture::files(), &args);
    let admins = setup.admin.map(|_| (leaving.admin_addr(), staying.admin_addr()));
    let server: SocketAddr = setup.listen.parse().unwrap();

    let stop = AtomicBool::new(false);
    let (udp, tcp) = (Tally::default(), Tally::default());
    std::thread::scope(|scope| {
        for i in 0..UDP_CLIENTS {
            let (stop, tally) = (&stop, &udp);
            scope.spawn(move || netns.run(|| udp_client(server, stop, tally, (i as u16) << 12)));
        }
        for i in 0..TCP_CLIENTS {
            let (stop, tally) = (&stop, &tcp);
            scope.spawn(move || netns.run(|| tcp_client(server, stop, tally, 0x8000 | (i as u16) << 10)));
        }
        // The load runs until the checks below are done, whatever they find.
        let mut checks = || {
            wait_answered(&udp, 2_000)?;
            let before = admins.map(|(leaving, staying)| (requests(netns, leaving), requests(netns, staying)));
            leaving.terminate();
            let exit = leaving.wait_exit(Duration::from_secs(15));
            wait_answered(&udp, 2_000)?;
            let after = admins.map(|(_, staying)| requests(netns, staying));
            Ok::<_, String>((before, exit, after))
        };
        let checked = checks();
        stop.store(true, Ordering::Relaxed);
        let (before, exit, staying_after) = checked.unwrap_or_else(|stalled| panic!("{stalled}"));
        assert_eq!(exit, Some(0), "the stopped instance exits cleanly");
        if let (Some(before), Some(staying_after)) = (before, staying_after) {
            assert!(before.0 > 0.0 && before.1 > 0.0, "both instances take a share of the load: {before:?}");
            assert!(staying_after > before.1 + 2_000.0, "the staying instance takes the load: {staying_after}");
        }
    });
    let [udp, tcp] = [udp, tcp].map(|t| [&t.answered, &t.lost, &t.wrong].map(|c| c.load(Ordering::Relaxed)));
    let summary = format!("UDP and TCP, queries answered / lost / answered wrongly: {udp:?}, {tcp:?}");
    eprintln!("handoff on {}: {summary}", setup.listen);
    assert!(tcp[0] > 0, "TCP queries were answered: {summary}");
    assert_eq!([udp[1], udp[2], tcp[1], tcp[2]], [0; 4], "{summary}");
}
