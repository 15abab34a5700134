//! Clients that try to take the server down: an admin request that never ends, connections
//! held open, replies never read, packets that make noise in the log.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use hickory_net::proto::rr::RecordType;
use socket2::{Domain, Socket, Type};

use crate::fixture;
use crate::harness::{DnsServer, query_message};

/// A TCP connection to `addr` from the loopback address `source`, optionally with a small
/// receive buffer.
fn connect_from(source: [u8; 4], addr: SocketAddr, receive_buffer: Option<usize>) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket.bind(&SocketAddr::new(IpAddr::from(source), 0).into()).unwrap();
    socket.connect_timeout(&addr.into(), Duration::from_secs(3)).unwrap();
    socket.into()
}

/// Whether the server has closed `stream` (or closes it within `wait`).
fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
}

/// A connection from `source` that the server keeps open, trying until `wait` has passed.
fn admitted_within(addr: SocketAddr, source: [u8; 4], wait: Duration) -> Option<TcpStream> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        let mut stream = connect_from(source, addr, None);
        if !closed_by_server(&mut stream, Duration::from_millis(300)) {
            return Some(stream);
        }
    }
    None
}

fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// One DNS query over TCP on `stream`; the answer count of its reply.
fn tcp_answers(stream: &mut TcpStream, name: &str) -> usize {
    let query = query_message(name, RecordType::A, None).to_vec().unwrap();
    stream.write_all(&(query.len() as u16).to_be_bytes()).unwrap();
    stream.write_all(&query).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut reply).unwrap();
    usize::from(u16::from_be_bytes([reply[6], reply[7]]))
}

#[tokio::test]
async fn an_admin_request_header_that_never_ends_is_cut_off_without_growing_memory() {
    let server = DnsServer::start(&fixture::files(), &["--admin", "127.0.0.1:0"]);
    let before = resident_bytes(server.pid());
    let mut stream = TcpStream::connect(server.admin_addr()).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nX-Long: ").unwrap();
    // 256 MiB of one header line, unless the server stops taking it.
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0usize;
    while sent < 256 << 20 && stream.write_all(&chunk).is_ok() {
        sent += chunk.len();
    }
    let grown = resident_bytes(server.pid()).saturating_sub(before);
    assert!(sent < 64 << 20, "the server took {} MiB of one header", sent >> 20);
    assert!(grown < 32 << 20, "resident memory grew by {} MiB", grown >> 20);
    assert_eq!(server.admin_get("/health").0, 200);
}

fn raw_http(server: &DnsServer, request: &str) -> String {
    let mut stream = TcpStream::connect(server.admin_addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

#[tokio::test]
async fn the_admin_endpoint_answers_get_and_head_only() {
    let server = DnsServer::start(&fixture::files(), &["--admin", "127.0.0.1:0"]);
    let post = raw_http(&server, "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    assert!(post.to_lowercase().contains("allow: get, head"), "{post}");
    let head = raw_http(&server, "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "HEAD has no body: {head:?}");
    let get = raw_http(&server, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(get.starts_with("HTTP/1.1 200") && get.ends_with("OK\n"), "{get}");
}

#[tokio::test]
async fn one_client_cannot_take_every_admin_connection() {
    let server = DnsServer::start(&fixture::files(), &["--admin", "127.0.0.1:0"]);
    let admin = server.admin_addr();
    // Connections that never send a request, from one address, up to its share.
    let mut held: Vec<TcpStream> = (0..8).map(|_| connect_from([127, 0, 0, 1], admin, None)).collect();
    let mut one_more = connect_from([127, 0, 0, 1], admin, None);
    assert!(closed_by_server(&mut one_more, Duration::from_secs(2)), "a ninth connection from one client");
    let mut other = connect_from([127, 0, 0, 2], admin, None);
    other.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut response = String::new();
    other.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = other.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 200"), "another client is served: {response}");
    // The held connections are closed once their request head is overdue.
    assert!(closed_by_server(&mut held[0], Duration::from_secs(10)), "a silent connection is closed");
    held.clear();
}

#[tokio::test]
async fn the_admin_endpoint_survives_running_out_of_file_descriptors() {
    let server = DnsServer::start(&fixture::files(), &["--admin", "127.0.0.1:0"]);
    let admin = server.admin_addr();
    let pid = libc::pid_t::try_from(server.pid()).unwrap();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count() as u64;
    let mut original = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a null new limit and a valid pointer for the old one.
    assert_eq!(unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut original) }, 0);
    let set_limit = |limit: u64| {
        let new = libc::rlimit { rlim_cur: limit, rlim_max: original.rlim_max };
        // SAFETY: valid pointers to an initialised rlimit and a null old-limit pointer.
        let result = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
        assert_eq!(result, 0, "prlimit: {}", std::io::Error::last_os_error());
    };
    // Room for one more descriptor: the second connection makes accept() fail with EMFILE.
    set_limit(open + 1);
    let connections: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(admin).unwrap()).collect();
    server.expect_log("admin endpoint cannot accept connections", Duration::from_secs(10));
    drop(connections);
    set_limit(original.rlim_cur);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.admin_get("/health").0 != 200 {
        assert!(Instant::now() < deadline, "the admin endpoint did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.expect_log("admin endpoint accepts connections again", Duration::from_secs(5));
}

#[tokio::test]
async fn one_tcp_client_cannot_take_every_dns_connection() {
    let server = DnsServer::start(&fixture::files(), &["--tcp-connections", "8", "--tcp-connections-per-client", "4"]);
    let held: Vec<TcpStream> = (0..4).map(|_| connect_from([127, 0, 0, 1], server.addr, None)).collect();
    let mut fifth = connect_from([127, 0, 0, 1], server.addr, None);
    assert!(closed_by_server(&mut fifth, Duration::from_secs(2)), "a fifth connection from one client");
    let mut other = connect_from([127, 0, 0, 2], server.addr, None);
    assert_eq!(tcp_answers(&mut other, "web.apps.svc.cluster.local."), 1);
    drop(held);
    let mut again = admitted_within(server.addr, [127, 0, 0, 1], Duration::from_secs(5))
        .expect("closed connections give the client its share back");
    assert_eq!(tcp_answers(&mut again, "web.apps.svc.cluster.local."), 1);
}

#[tokio::test]
async fn when_every_dns_connection_is_taken_the_longest_idle_one_makes_room() {
    let server = DnsServer::start(&fixture::files(), &["--tcp-connections", "4", "--tcp-connections-per-client", "4"]);
    let mut first = connect_from([127, 0, 0, 1], server.addr, None);
    assert_eq!(tcp_answers(&mut first, "web.apps.svc.cluster.local."), 1);
    let _rest: Vec<TcpStream> = (0..3).map(|_| connect_from([127, 0, 0, 1], server.addr, None)).collect();
    let mut newcomer = connect_from([127, 0, 0, 3], server.addr, None);
    assert_eq!(tcp_answers(&mut newcomer, "web.apps.svc.cluster.local."), 1, "a new client is served at once");
    assert!(closed_by_server(&mut first, Duration::from_secs(2)), "the longest-idle connection made room");
}

#[tokio::test]
async fn a_tcp_client_that_never_reads_its_replies_loses_its_connection_after_the_idle_timeout() {
    let big = fixture::big_headless(1000);
    let server = DnsServer::start(
        &[("big.yaml", big.as_str())],
        &["--tcp-connections-per-client", "1", "--tcp-idle-timeout", "1s"],
    );
    let mut stuck = connect_from([127, 0, 0, 4], server.addr, Some(4096));
    stuck.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let query = query_message("big.apps.svc.cluster.local.", RecordType::A, None).to_vec().unwrap();
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    // Queries for 16 KB answers until the connection backs up (the server cannot send).
    for _ in 0..100_000 {
        if stuck.write_all(&framed).is_err() {
            break;
        }
    }
    // The stuck connection holds the client's only slot until the server gives up on it.
    let mut again = admitted_within(server.addr, [127, 0, 0, 4], Duration::from_secs(10))
        .expect("the slot of a client that never reads is freed");
    assert_eq!(tcp_answers(&mut again, "big.apps.svc.cluster.local."), 1000);
}

/// A query with an OPT record whose only option stops after its code.
fn query_with_broken_edns_option() -> Vec<u8> {
    let mut packet = query_message("web.apps.svc.cluster.local.", RecordType::A, None).to_vec().unwrap();
    packet[11] = 1; // ARCOUNT = 1
    packet.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]); // root, OPT, 1232, TTL 0
    packet.extend_from_slice(&[0, 2, 0, 10]); // RDLENGTH 2: the COOKIE option's code, nothing more
    packet
}

#[tokio::test]
async fn packets_that_make_the_parser_warn_do_not_flood_the_log() {
    let server = DnsServer::start(&fixture::files(), &[]);
    let before = server.logs().len();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let packet = query_with_broken_edns_option();
    let mut buf = [0u8; 4096];
    for _ in 0..300 {
        socket.send_to(&packet, server.addr).unwrap();
        let _ = socket.recv(&mut buf);
    }
    // The server is still fine, and logged (almost) nothing for 300 bad packets.
    assert_eq!(server.query("web.apps.svc.cluster.local.", RecordType::A).await.answers.len(), 1);
    let lines = server.logs().len() - before;
    assert!(lines < 3, "{lines} log lines for 300 packets:\n{}", server.logs().join("\n"));
}

/// A headless Service `big` with `count` ready endpoints in slices of 1,000, named port `http`.
fn huge_headless(count: usize) -> String {
    use std::fmt::Write as _;
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: apps}\n\
         spec: {clusterIP: None, ports: [{name: http, port: 80}]}\n",
    );
    for (slice, start) in (0..count).step_by(1000).enumerate() {
        write!(
            yaml,
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {{name: big-{slice}, namespace: apps, labels: {{kubernetes.io/service-name: big}}}}\n\
             addressType: IPv4\nports: [{{name: http, port: 8080, protocol: TCP}}]\nendpoints:\n"
        )
        .unwrap();
        for i in start..count.min(start + 1000) {
            writeln!(yaml, "- addresses: [10.{}.{}.{}]", 1 + i / 65536, i / 256 % 256, i % 256).unwrap();
        }
    }
    yaml
}

#[tokio::test]
async fn srv_queries_for_a_huge_headless_service_do_not_stall_other_queries() {
    let mut files = fixture::files();
    let huge = huge_headless(30_000);
    files.push(("huge.yaml", huge.as_str()));
    let server = DnsServer::start(&files, &["--udp-workers", "1"]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let srv = query_message("_http._tcp.big.apps.svc.cluster.local.", RecordType::SRV, None).to_vec().unwrap();
    for _ in 0..3 {
        socket.send_to(&srv, server.addr).unwrap();
    }
    // Answered after the three SRV queries by the same worker, within the client's timeout.
    let web = server.query("web.apps.svc.cluster.local.", RecordType::A).await;
    assert_eq!(web.answers.len(), 1);
}
