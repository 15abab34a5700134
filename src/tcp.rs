//! DNS over TCP (RFC 7766): length-prefixed messages, answered in order, one task per
//! connection. Connections are bounded in all and per client address; one that sends nothing,
//! or does not take its reply, for the idle timeout is closed; when every slot is taken, the
//! connection idle the longest makes room for a new client (RFC 7766 §6.2.3).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_server::net::xfer::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::connections::{Connections, Limits, Refused, Slot};
use crate::dns::handler::{DnsHandler, Outcome};
use crate::log_limit::LogLimit;

/// How the TCP listener limits its clients.
#[derive(Debug, Clone, Copy)]
pub struct TcpSettings {
    pub max_connections: usize,
    pub max_per_client: usize,
    /// A connection that sends no complete query, or takes no reply, for this long is closed.
    pub idle_timeout: Duration,
}

/// Accepts connections until `stop` turns true, then waits for open connections to finish
/// the query they are on.
pub async fn serve(listener: TcpListener, handler: DnsHandler, settings: TcpSettings, mut stop: watch::Receiver<bool>) {
    let limits = Limits { total: settings.max_connections, per_client: settings.max_per_client, evict_idle: true };
    let connections = Connections::new(limits);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match connections.admit(peer.ip()) {
                    Ok(slot) => {
                        let (handler, stop) = (handler.clone(), stop.clone());
                        tokio::spawn(async move { connection(stream, peer, &handler, slot, settings.idle_timeout, stop).await });
                    }
                    // Dropping the stream closes it: the client retries elsewhere or later.
                    Err(refused) => log_refused(refused, peer),
                },
                Err(error) => {
                    if let Some(suppressed) = ACCEPT_FAILED.allow() {
                        warn!(%error, suppressed, "cannot accept a TCP connection");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    connections.closed().await;
}

static REFUSED: LogLimit = LogLimit::new();
static ACCEPT_FAILED: LogLimit = LogLimit::new();

/// A refusal is logged at most once per period: the client decides how often it happens.
fn log_refused(refused: Refused, peer: SocketAddr) {
    let Some(suppressed) = REFUSED.allow() else { return };
    let reason = match refused {
        Refused::PerClient => "this client holds its share of connections",
        Refused::Full => "every connection is busy",
    };
    warn!(client = %peer.ip(), reason, suppressed, "TCP connection refused");
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    handler: &DnsHandler,
    slot: Slot,
    idle_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let mut query = Vec::new();
    loop {
        slot.idle();
        let read = tokio::select! {
            read = tokio::time::timeout(idle_timeout, read_message(&mut stream, &mut query)) => read,
            // Shutting down, or making room: the connection is between queries, so nothing is lost.
            _ = stop.changed() => return,
            () = slot.evicted() => {
                debug!(%peer, "idle TCP connection closed to make room for a new client");
                return;
            }
        };
        slot.busy();
        match read {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return,
            Ok(Err(error)) => {
                debug!(%peer, %error, "TCP connection closed");
                return;
            }
            Err(_) => {
                debug!(%peer, "idle TCP connection closed");
                return;
            }
        }
        let reply = match handler.answer(&query, peer, Protocol::Tcp) {
            Outcome::Reply(reply) => reply,
            Outcome::Forward(pending) => handler.forward(*pending).await,
            Outcome::Silent => continue,
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        framed.extend_from_slice(&reply);
        match tokio::time::timeout(idle_timeout, stream.write_all(&framed)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                debug!(%peer, %error, "cannot send a TCP reply");
                return;
            }
            Err(_) => {
                debug!(%peer, "TCP reply not taken within the idle timeout; connection closed");
                return;
            }
        }
    }
}

/// Reads one length-prefixed message; `Ok(false)` at a clean end of the stream.
async fn read_message(stream: &mut TcpStream, message: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut length = [0u8; 2];
    match stream.read_exact(&mut length).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    message.resize(usize::from(u16::from_be_bytes(length)), 0);
    stream.read_exact(message).await?;
    Ok(true)
}
