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

/// Connections the kernel completes before we accept them (what `listen` is given).
const BACKLOG: i32 = 1024;

/// Binds a TCP listener (with `SO_REUSEADDR`, and `SO_REUSEPORT` when `shared`: other
/// processes may listen on the same port). Must be called inside the tokio runtime.
pub fn bind(address: SocketAddr, shared: bool) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if shared {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
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

/// Replies gathered before they are written: enough to answer a burst of pipelined queries
/// with one system call, bounded so that a client cannot make us hold much.
const OUTPUT_BATCH: usize = 64 * 1024;
/// At shutdown, how long an idle connection waits for a query already on its way.
const LAST_QUERY_WAIT: Duration = Duration::from_millis(200);
/// Bytes asked for per read: every query already waiting, usually.
const READ_CHUNK: usize = 16 * 1024;

/// Pipelined queries (RFC 7766 §6.2.1.1) are read together and answered in a batch, in order,
/// with one write for all their replies; buffers are reused from batch to batch.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    handler: &DnsHandler,
    slot: Slot,
    idle_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let mut input: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut output: Vec<u8> = Vec::new();
    let mut reply = Vec::new();
    let mut stopping = false;
    // A whole query must arrive within the idle timeout of the last one answered.
    let mut deadline = tokio::time::Instant::now() + idle_timeout;
    loop {
        let mut taken = 0;
        while let Some(len) = complete_message(&input[taken..]) {
            let query = &input[taken + 2..taken + 2 + len];
            taken += 2 + len;
            match handler.answer(query, peer, Protocol::Tcp, &mut reply) {
                Outcome::Reply => frame(&mut output, &reply),
                Outcome::Forward(pending) => {
                    // Replies already answered go first; the upstream may take a while.
                    if !send(&mut stream, &mut output, peer, idle_timeout).await {
                        return;
                    }
                    let forwarded = handler.forward(*pending).await;
                    frame(&mut output, &forwarded);
                }
                Outcome::Silent => {}
            }
            if output.len() >= OUTPUT_BATCH && !send(&mut stream, &mut output, peer, idle_timeout).await {
                return;
            }
        }
        if taken > 0 {
            input.drain(..taken);
            deadline = tokio::time::Instant::now() + idle_timeout;
        }
        if !send(&mut stream, &mut output, peer, idle_timeout).await {
            return;
        }
        slot.idle();
        input.reserve(READ_CHUNK);
        if stopping {
            return;
        }
        let read = tokio::select! {
            read = tokio::time::timeout_at(deadline, stream.read_buf(&mut input)) => read,
            // Shutting down: the connection is between queries. One accepted just before may
            // not have sent its first query yet; what arrives within a moment is answered, then
            // the connection closes.
            _ = stop.changed() => {
                stopping = true;
                tokio::time::timeout(LAST_QUERY_WAIT, stream.read_buf(&mut input)).await
            }
            // Making room: the connection is between queries, so nothing is lost.
            () = slot.evicted() => {
                debug!(%peer, "idle TCP connection closed to make room for a new client");
                return;
            }
        };
        slot.busy();
        match read {
            Ok(Ok(0)) => return,
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                debug!(%peer, %error, "TCP connection closed");
                return;
            }
            Err(_) => {
                debug!(%peer, "idle TCP connection closed");
                return;
            }
        }
    }
}

/// The length of the message at the start of `input`, if all of it has arrived.
fn complete_message(input: &[u8]) -> Option<usize> {
    let len = usize::from(u16::from_be_bytes([*input.first()?, *input.get(1)?]));
    (input.len() >= 2 + len).then_some(len)
}

fn frame(output: &mut Vec<u8>, reply: &[u8]) {
    output.extend_from_slice(&(reply.len() as u16).to_be_bytes());
    output.extend_from_slice(reply);
}

/// Writes what `output` holds and empties it; false when the connection is done for.
async fn send(stream: &mut TcpStream, output: &mut Vec<u8>, peer: SocketAddr, idle_timeout: Duration) -> bool {
    if output.is_empty() {
        return true;
    }
    let written = tokio::time::timeout(idle_timeout, stream.write_all(output)).await;
    output.clear();
    match written {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            debug!(%peer, %error, "cannot send a TCP reply");
            false
        }
        Err(_) => {
            debug!(%peer, "TCP reply not taken within the idle timeout; connection closed");
            false
        }
    }
}
