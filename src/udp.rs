//! The UDP datagram loop: one blocking socket per worker thread, no task or channel per query.
//!
//! Every worker owns a socket bound to the same address with `SO_REUSEPORT`, so the kernel
//! spreads clients across workers and no two workers contend for one socket.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tracing::warn;

use crate::dns::handler::DnsHandler;

/// How often an idle worker looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(200);
/// Socket receive buffer asked for, to absorb bursts (the kernel may cap it).
const RECEIVE_BUFFER: usize = 4 << 20;
/// Larger datagrams are cut here; hickory's own UDP server reads the same size.
const MAX_DATAGRAM: usize = 4096;

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

/// Serves `socket` on its own thread until `stop` is set.
pub fn spawn_worker(socket: UdpSocket, handler: DnsHandler, stop: Arc<AtomicBool>) -> std::io::Result<JoinHandle<()>> {
    let name = format!("udp-{}", socket.local_addr()?);
    std::thread::Builder::new().name(name).spawn(move || serve(&socket, &handler, &stop))
}

fn serve(socket: &UdpSocket, handler: &DnsHandler, stop: &AtomicBool) {
    let mut buf = [0u8; MAX_DATAGRAM];
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((len, src)) => {
                if let Some(reply) = handler.answer_datagram(&buf[..len], src)
                    && let Err(error) = socket.send_to(&reply, src)
                {
                    warn!(%src, %error, "cannot send a UDP reply");
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            // ICMP errors from earlier sends surface here on some systems; the socket is fine.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
            Err(error) => {
                warn!(%error, "UDP receive failed");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}
