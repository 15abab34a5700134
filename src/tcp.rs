//! DNS over TCP (RFC 7766): length-prefixed messages, answered in order, one task per
//! connection, closed when idle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::net::xfer::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tracing::{debug, warn};

use crate::dns::handler::{DnsHandler, Outcome};

/// A connection that sends no complete query for this long is closed (RFC 7766 §6.2.3).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections at most; more wait in the listen backlog until one closes.
pub const MAX_CONNECTIONS: usize = 1024;

/// Accepts connections until `stop` turns true, then waits for open connections to finish
/// the query they are on.
pub async fn serve(listener: TcpListener, handler: DnsHandler, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (handler, stop) = (handler.clone(), stop.clone());
                    tokio::spawn(async move {
                        connection(stream, peer, &handler, stop).await;
                        drop(permit);
                    });
                }
                Err(error) => {
                    warn!(%error, "cannot accept a TCP connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    let _ = slots.acquire_many(MAX_CONNECTIONS as u32).await;
}

async fn connection(mut stream: TcpStream, peer: SocketAddr, handler: &DnsHandler, mut stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let mut query = Vec::new();
    loop {
        let read = tokio::select! {
            read = tokio::time::timeout(IDLE_TIMEOUT, read_message(&mut stream, &mut query)) => read,
            // Shutting down: the connection is between queries, so nothing is lost.
            _ = stop.changed() => return,
        };
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
        if let Err(error) = stream.write_all(&framed).await {
            debug!(%peer, %error, "cannot send a TCP reply");
            return;
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
