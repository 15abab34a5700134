//! A real upstream DNS server on loopback for forwarding tests, over UDP and TCP, built from
//! hickory-proto messages. Server `n` answers any A question with 192.0.2.n, so a test can see
//! which upstream answered; a few names behave specially:
//!
//! - `nx.example.com.`: NXDOMAIN with the example.com SOA (TTL 3600, MINIMUM 1)
//! - `nodata.example.com.` AAAA: NOERROR, no answer, the SOA
//! - `fail.example.com.`: SERVFAIL
//! - `zero.example.com.`: A with TTL 0
//! - `big.example.com.`: 100 A records (truncated over UDP, complete over TCP)
//! - `8.8.8.8.in-addr.arpa.` PTR: `dns.google.`
//!
//! It can be made silent (never answers) or slow, and counts what it was asked.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_net::proto::op::{Message, MessageType, ResponseCode};
use hickory_net::proto::rr::rdata::{A, PTR, SOA};
use hickory_net::proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
struct Behaviour {
    silent: AtomicBool,
    delay_ms: AtomicU64,
    /// (name lower-case, "udp"/"tcp") -> count
    asked: Mutex<HashMap<(String, &'static str), usize>>,
}

pub struct Upstream {
    pub addr: SocketAddr,
    behaviour: Arc<Behaviour>,
}

impl Upstream {
    pub fn start(id: u8) -> Upstream {
        Upstream::start_on("127.0.0.1:0".parse().unwrap(), id)
    }

    /// An upstream on `addr` (port 0: any free port); in a network namespace when called from
    /// a thread inside one.
    pub fn start_on(addr: SocketAddr, id: u8) -> Upstream {
        let behaviour = Arc::new(Behaviour::default());
        let udp = std::net::UdpSocket::bind(addr).unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = std::net::TcpListener::bind(addr).unwrap();
        udp.set_nonblocking(true).unwrap();
        tcp.set_nonblocking(true).unwrap();
        let b = behaviour.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let udp = Arc::new(tokio::net::UdpSocket::from_std(udp).unwrap());
                let tcp = tokio::net::TcpListener::from_std(tcp).unwrap();
                tokio::spawn(serve_tcp(tcp, id, b.clone()));
                let mut buf = [0u8; 4096];
                while let Ok((len, src)) = udp.recv_from(&mut buf).await {
                    let (udp, b, packet) = (udp.clone(), b.clone(), buf[..len].to_vec());
                    tokio::spawn(async move {
                        if let Some(reply) = respond(&packet, id, &b, "udp").await {
                            let _ = udp.send_to(&reply, src).await;
                        }
                    });
                }
            });
        });
        Upstream { addr, behaviour }
    }

    pub fn arg(&self) -> String {
        self.addr.to_string()
    }

    pub fn set_silent(&self, silent: bool) {
        self.behaviour.silent.store(silent, Ordering::Relaxed);
    }

    pub fn set_delay(&self, delay: Duration) {
        self.behaviour.delay_ms.store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// How many times `name` was asked over `transport` ("udp" or "tcp").
    pub fn asked(&self, name: &str, transport: &'static str) -> usize {
        let asked = self.behaviour.asked.lock().unwrap();
        asked.get(&(name.to_ascii_lowercase(), transport)).copied().unwrap_or(0)
    }
}

async fn serve_tcp(listener: tokio::net::TcpListener, id: u8, behaviour: Arc<Behaviour>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let b = behaviour.clone();
        tokio::spawn(async move {
            while let Ok(len) = stream.read_u16().await {
                let mut packet = vec![0u8; usize::from(len)];
                if stream.read_exact(&mut packet).await.is_err() {
                    return;
                }
                let Some(reply) = respond(&packet, id, &b, "tcp").await else { return };
                let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&reply);
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn soa() -> Record {
    let zone = Name::from_ascii("example.com.").unwrap();
    let soa = SOA::new(
        Name::from_ascii("ns.example.com.").unwrap(),
        Name::from_ascii("admin.example.com.").unwrap(),
        1,
        7200,
        900,
        86400,
        1,
    );
    Record::from_rdata(zone, 3600, RData::SOA(soa))
}

async fn respond(packet: &[u8], id: u8, behaviour: &Behaviour, transport: &'static str) -> Option<Vec<u8>> {
    let query = Message::from_vec(packet).ok()?;
    let question = query.queries.first()?.clone();
    let name = question.name().to_ascii().to_ascii_lowercase();
    *behaviour.asked.lock().unwrap().entry((name.clone(), transport)).or_default() += 1;
    if behaviour.silent.load(Ordering::Relaxed) {
        return None;
    }
    let delay = behaviour.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut reply = Message::new(query.metadata.id, MessageType::Response, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(question.clone());
    let owner = question.name().clone();
    let a = |ttl: u32, last: u8| Record::from_rdata(owner.clone(), ttl, RData::A(A(Ipv4Addr::new(192, 0, 2, last))));
    match (name.as_str(), question.query_type()) {
        ("nx.example.com.", _) => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            reply.authorities.push(soa());
        }
        ("fail.example.com.", _) => reply.metadata.response_code = ResponseCode::ServFail,
        // A name that exists with records of no address type, under `empty.test.`.
        (name, _) if name.ends_with(".empty.test.") => reply.authorities.push(soa()),
        ("zero.example.com.", RecordType::A) => reply.answers.push(a(0, id)),
        ("big.example.com.", RecordType::A) => {
            if transport == "udp" {
                reply.metadata.truncation = true;
            } else {
                reply.answers.extend(
                    (1..=100)
                        .map(|i| Record::from_rdata(owner.clone(), 300, RData::A(A(Ipv4Addr::new(198, 51, 100, i))))),
                );
            }
        }
        ("8.8.8.8.in-addr.arpa.", RecordType::PTR) => {
            reply.answers.push(Record::from_rdata(
                owner.clone(),
                300,
                RData::PTR(PTR(Name::from_ascii("dns.google.").unwrap())),
            ));
        }
        (_, RecordType::A) => reply.answers.push(a(300, id)),
        _ => reply.authorities.push(soa()),
    }
    reply.to_vec().ok()
}
