//! The UDP datagram loop: one blocking socket per worker thread, no task or channel per query.
//!
//! Every worker owns a socket bound to the same address with `SO_REUSEPORT`, so the kernel
//! spreads clients across workers and no two workers contend for one socket.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tracing::warn;

use crate::dns::handler::{DnsHandler, Outcome};
use crate::log_limit::LogLimit;
use hickory_server::net::xfer::Protocol as Transport;

/// Failures a client can cause per datagram (an unreachable source address) are logged at most
/// once per period.
static SEND_FAILED: LogLimit = LogLimit::new();
static RECEIVE_FAILED: LogLimit = LogLimit::new();
static ANSWER_PANICKED: LogLimit = LogLimit::new();

/// How often an idle worker looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(200);
/// Socket receive buffer asked for, to absorb bursts (the kernel may cap it).
const RECEIVE_BUFFER: usize = 4 << 20;
/// Larger datagrams are cut here; hickory's own UDP server reads the same size.
const MAX_DATAGRAM: usize = 4096;
/// After the stop, queries already queued are answered for at most this long: under a flood
/// the queue never empties, and shutdown has a deadline.
const DRAIN_FOR: Duration = Duration::from_millis(500);

/// Binds one UDP socket; `shared` sockets let several workers bind the same address.
pub fn bind(address: SocketAddr, shared: bool) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, Some(Protocol::UDP))?;
    if shared {
        socket.set_reuse_port(true)?;
    }
    // A smaller buffer only means more drops under bursts: not worth failing over.
    let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
    socket.bind(&address.into())?;
    socket.set_read_timeout(Some(STOP_POLL))?;
    Ok(socket.into())
}

/// Takes the socket out of its port's delivery and keeps what it has queued. A connected UDP
/// socket receives only from its peer, and the kernel never picks a connected socket for a
/// datagram addressed to the `SO_REUSEPORT` group. Connected to its own address, from which no
/// client sends, it gets nothing new, so its queue can be drained to empty while the other
/// sockets on the port take what arrives. Replies are still sent to each query's source.
///
/// Only for a socket bound to one address: connecting a wildcard socket would also fix its
/// source address to the loopback one, and replies to other hosts would fail. A wildcard socket
/// keeps receiving until it is closed (returns false).
fn stop_receiving(socket: &UdpSocket) -> std::io::Result<bool> {
    let own = socket.local_addr()?;
    if own.ip().is_unspecified() {
        return Ok(false);
    }
    socket.connect(own)?;
    Ok(true)
}

/// One UDP worker: answers its socket on its own thread until `stop` is set. Queries that
/// need an upstream are handed to `runtime` (counted in `in_flight` until replied), so they
/// never hold up the others.
pub struct Worker {
    pub handler: DnsHandler,
    pub runtime: tokio::runtime::Handle,
    pub stop: Arc<AtomicBool>,
    pub in_flight: Arc<AtomicUsize>,
}

impl Worker {
    pub fn spawn(self, socket: UdpSocket) -> std::io::Result<JoinHandle<()>> {
        let name = format!("udp-{}", socket.local_addr()?);
        let socket = Arc::new(socket);
        std::thread::Builder::new().name(name).spawn(move || self.serve(&socket))
    }

    fn serve(&self, socket: &Arc<UdpSocket>) {
        let mut batch = Batch::new();
        while !self.stop.load(Ordering::Relaxed) {
            match batch.receive(socket) {
                Ok(count) => self.answer(socket, &mut batch, count),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                // ICMP errors from earlier sends surface here on some systems; the socket is fine.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                Err(error) => {
                    if let Some(suppressed) = RECEIVE_FAILED.allow() {
                        warn!(%error, suppressed, "UDP receive failed");
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        // Queries that arrived before the stop are still answered, for a bounded time. New
        // ones go to another socket on the port (another instance's, with --reuse-port), or
        // are refused at once (ICMP), rather than queued here and lost at the close.
        if let Err(error) = stop_receiving(socket).map(drop) {
            warn!(%error, "cannot stop receiving UDP queries before the drain; those arriving during it may be lost");
        }
        let drain_until = std::time::Instant::now() + DRAIN_FOR;
        if socket.set_nonblocking(true).is_err() {
            return;
        }
        while std::time::Instant::now() < drain_until {
            match batch.receive(socket) {
                Ok(count) => self.answer(socket, &mut batch, count),
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::ConnectionRefused) => {}
                // Empty (or broken): nothing more will arrive.
                Err(_) => break,
            }
        }
    }

    fn answer(&self, socket: &Arc<UdpSocket>, batch: &mut Batch, count: usize) {
        for i in 0..count {
            let Some(src) = batch.source(i) else { continue };
            // A bug on the query path must cost one query, not this worker.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let (packet, reply) = batch.slot(i);
                self.handler.answer(packet, src, Transport::Udp, reply)
            }));
            let outcome = outcome.unwrap_or_else(|_| {
                if let Some(suppressed) = ANSWER_PANICKED.allow() {
                    tracing::error!(%src, suppressed, "answering a query panicked; no reply sent");
                }
                Outcome::Silent
            });
            batch.ready[i] = match outcome {
                Outcome::Reply => true,
                Outcome::Silent => false,
                Outcome::Forward(pending) => {
                    let (socket, handler, in_flight) = (socket.clone(), self.handler.clone(), self.in_flight.clone());
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    self.runtime.spawn(async move {
                        let reply = handler.forward(*pending).await;
                        if let Err(error) = socket.send_to(&reply, src)
                            && let Some(suppressed) = SEND_FAILED.allow()
                        {
                            warn!(%src, %error, suppressed, "cannot send a UDP reply");
                        }
                        in_flight.fetch_sub(1, Ordering::Relaxed);
                    });
                    false
                }
            };
        }
        batch.send(socket, count);
    }
}

/// Datagrams received, and replies sent, with one system call per batch (`recvmmsg`,
/// `sendmmsg`) instead of one per datagram.
struct Batch {
    buffers: Vec<[u8; MAX_DATAGRAM]>,
    addresses: Vec<libc::sockaddr_storage>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    /// Reply buffers, reused from batch to batch, and which of them hold a reply to send.
    replies: Vec<Vec<u8>>,
    ready: [bool; BATCH],
}

/// Datagrams taken per `recvmmsg`.
const BATCH: usize = 32;

impl Batch {
    fn new() -> Batch {
        // SAFETY: all-zero is a valid value for these plain C structs.
        let zeroed_addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let zeroed_header: libc::mmsghdr = unsafe { std::mem::zeroed() };
        Batch {
            buffers: vec![[0u8; MAX_DATAGRAM]; BATCH],
            addresses: vec![zeroed_addr; BATCH],
            iovecs: vec![libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; BATCH],
            headers: vec![zeroed_header; BATCH],
            replies: (0..BATCH).map(|_| Vec::with_capacity(512)).collect(),
            ready: [false; BATCH],
        }
    }

    /// Waits for at least one datagram and takes up to [`BATCH`] of those already queued.
    fn receive(&mut self, socket: &UdpSocket) -> std::io::Result<usize> {
        for i in 0..BATCH {
            self.iovecs[i] = libc::iovec { iov_base: self.buffers[i].as_mut_ptr().cast(), iov_len: MAX_DATAGRAM };
            let header = &mut self.headers[i];
            header.msg_len = 0;
            header.msg_hdr.msg_name = (&raw mut self.addresses[i]).cast();
            header.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_hdr.msg_iov = &raw mut self.iovecs[i];
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_control = std::ptr::null_mut();
            header.msg_hdr.msg_controllen = 0;
            header.msg_hdr.msg_flags = 0;
        }
        // SAFETY: every header points into buffers owned by `self`, which outlive the call and
        // are not moved (the vectors are never resized).
        let received = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if received < 0 { Err(std::io::Error::last_os_error()) } else { Ok(received as usize) }
    }

    /// Datagram `i` and the buffer for its reply.
    fn slot(&mut self, i: usize) -> (&[u8], &mut Vec<u8>) {
        let len = (self.headers[i].msg_len as usize).min(MAX_DATAGRAM);
        (&self.buffers[i][..len], &mut self.replies[i])
    }

    fn source(&self, i: usize) -> Option<SocketAddr> {
        let storage = &self.addresses[i];
        match i32::from(storage.ss_family) {
            libc::AF_INET => {
                // SAFETY: the kernel wrote a sockaddr_in, as ss_family says.
                let v4: &libc::sockaddr_in = unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
                let ip = std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
                Some(SocketAddr::from((ip, u16::from_be(v4.sin_port))))
            }
            libc::AF_INET6 => {
                // SAFETY: the kernel wrote a sockaddr_in6, as ss_family says.
                let v6: &libc::sockaddr_in6 = unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
                let ip = std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr);
                let address =
                    std::net::SocketAddrV6::new(ip, u16::from_be(v6.sin6_port), v6.sin6_flowinfo, v6.sin6_scope_id);
                Some(SocketAddr::V6(address))
            }
            _ => None,
        }
    }

    /// Sends the replies of the first `count` datagrams, each to the address it came from.
    fn send(&mut self, socket: &UdpSocket, count: usize) {
        let mut pending = 0;
        for i in 0..count {
            if !self.ready[i] {
                continue;
            }
            let reply = &mut self.replies[i];
            self.iovecs[pending] = libc::iovec { iov_base: reply.as_mut_ptr().cast(), iov_len: reply.len() };
            let namelen = self.headers[i].msg_hdr.msg_namelen;
            // Reuse slot `pending` (never after `i`): its address is copied before it is overwritten.
            self.addresses.swap(pending, i);
            let header = &mut self.headers[pending];
            header.msg_hdr.msg_name = (&raw mut self.addresses[pending]).cast();
            header.msg_hdr.msg_namelen = namelen;
            header.msg_hdr.msg_iov = &raw mut self.iovecs[pending];
            header.msg_hdr.msg_iovlen = 1;
            pending += 1;
        }
        let mut sent = 0;
        while sent < pending {
            // SAFETY: headers[sent..pending] point at replies and addresses owned by `self`.
            let result = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    self.headers[sent..].as_mut_ptr(),
                    (pending - sent) as libc::c_uint,
                    0,
                )
            };
            if result < 0 {
                let error = std::io::Error::last_os_error();
                if error.kind() != ErrorKind::Interrupted {
                    if let Some(suppressed) = SEND_FAILED.allow() {
                        warn!(%error, suppressed, "cannot send a UDP reply");
                    }
                    sent += 1; // skip the datagram that failed and go on with the rest
                }
            } else {
                sent += result as usize;
            }
        }
        self.ready[..count].iter_mut().for_each(|r| *r = false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every datagram `socket` has queued, without waiting.
    fn queued(socket: &UdpSocket) -> usize {
        socket.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        std::iter::from_fn(|| socket.recv_from(&mut buf).ok()).count()
    }

    #[test]
    fn a_socket_that_stops_receiving_keeps_its_queue_and_gets_nothing_new() {
        let leaving = bind("127.0.0.1:0".parse().unwrap(), true).unwrap();
        let staying = bind(leaving.local_addr().unwrap(), true).unwrap();
        let port = leaving.local_addr().unwrap();
        // Many source ports, so that the kernel's choice by address and port reaches both.
        let clients: Vec<UdpSocket> = (0..64).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
        let send_all = || clients.iter().for_each(|c| assert_eq!(c.send_to(b"query", port).unwrap(), 5));

        send_all();
        let queued_before = queued(&leaving);
        send_all();
        let waiting = {
            // What is queued now must still be read after the socket stops receiving.
            assert!(stop_receiving(&leaving).unwrap());
            queued(&leaving)
        };
        assert!(queued_before > 0, "both sockets of the port receive before");
        assert!(waiting > 0, "datagrams queued before the stop stay readable");
        send_all();
        assert_eq!(queued(&leaving), 0, "nothing new reaches a socket that stopped receiving");
        assert_eq!(queued(&staying), 3 * clients.len() - queued_before - waiting, "the other socket gets the rest");
    }

    #[test]
    fn a_wildcard_socket_is_not_connected_so_its_replies_keep_their_source() {
        let wildcard = bind("0.0.0.0:0".parse().unwrap(), true).unwrap();
        assert!(!stop_receiving(&wildcard).unwrap());
        assert!(wildcard.peer_addr().is_err(), "connecting would pin the source address to 127.0.0.1");
    }
}
