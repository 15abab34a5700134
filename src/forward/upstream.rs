//! Asking one upstream server: UDP first, TCP when the answer is truncated (RFC 7766 §5), a
//! fresh random source port and ID per query, and the reply checked against both and the
//! question (RFC 5452). Upstreams that stop answering are skipped for a while.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Message, Query};
use hickory_proto::serialize::binary::BinEncodable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tracing::{info, warn};

/// How long an upstream that failed is skipped before a query probes it again.
pub const RETRY_AFTER: Duration = Duration::from_secs(10);
/// The largest UDP reply we accept from an upstream.
const MAX_REPLY: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("unusable reply: {0}")]
    BadReply(String),
}

/// One upstream server and whether it is answering.
#[derive(Debug)]
pub struct Upstream {
    pub address: SocketAddr,
    /// Unix milliseconds until which this upstream is skipped (0: healthy).
    skip_until: AtomicU64,
    /// It sends our queries back to us: never forward to it.
    looping: AtomicBool,
    /// Ask over TCP only.
    tcp_only: bool,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Upstream {
    pub fn new(address: SocketAddr, tcp_only: bool) -> Upstream {
        Upstream { address, skip_until: AtomicU64::new(0), looping: AtomicBool::new(false), tcp_only }
    }

    pub fn is_looping(&self) -> bool {
        self.looping.load(Ordering::Relaxed)
    }

    pub fn set_looping(&self) {
        self.looping.store(true, Ordering::Relaxed);
    }

    pub fn is_skipped(&self) -> bool {
        self.skip_until.load(Ordering::Relaxed) > now_ms()
    }

    fn failed(&self, error: &ExchangeError) {
        let previous = self.skip_until.swap(now_ms() + RETRY_AFTER.as_millis() as u64, Ordering::Relaxed);
        if previous == 0 {
            warn!(upstream = %self.address, %error, "upstream failed; skipping it for a while");
        }
    }

    fn answered(&self) {
        if self.skip_until.swap(0, Ordering::Relaxed) != 0 {
            info!(upstream = %self.address, "upstream answers again");
        }
    }

    /// Sends `query` (its ID is replaced) and returns the upstream's reply.
    pub async fn exchange(&self, query: &Message, timeout: Duration) -> Result<Message, ExchangeError> {
        let result =
            tokio::time::timeout(timeout, self.exchange_inner(query)).await.unwrap_or(Err(ExchangeError::Timeout));
        match &result {
            Ok(_) => self.answered(),
            Err(error) => self.failed(error),
        }
        result
    }

    async fn exchange_inner(&self, query: &Message) -> Result<Message, ExchangeError> {
        let mut query = query.clone();
        query.metadata.id = rand::random();
        let bytes = query.to_bytes().map_err(|e| ExchangeError::BadReply(e.to_string()))?;
        if self.tcp_only {
            return self.tcp(&bytes, &query).await;
        }
        let reply = self.udp(&bytes, &query).await?;
        if !reply.metadata.truncation {
            return Ok(reply);
        }
        self.tcp(&bytes, &query).await
    }

    async fn udp(&self, bytes: &[u8], query: &Message) -> Result<Message, ExchangeError> {
        let local: SocketAddr =
            if self.address.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("static address");
        let socket = UdpSocket::bind(local).await?;
        socket.connect(self.address).await?;
        socket.send(bytes).await?;
        let mut buf = vec![0u8; MAX_REPLY];
        loop {
            let len = socket.recv(&mut buf).await?;
            // Anything that is not the reply to this query is ignored (RFC 5452 §9.1).
            if let Ok(reply) = Message::from_vec(&buf[..len])
                && is_reply_to(&reply, query)
            {
                return Ok(reply);
            }
        }
    }

    async fn tcp(&self, bytes: &[u8], query: &Message) -> Result<Message, ExchangeError> {
        let mut stream = TcpStream::connect(self.address).await?;
        let mut framed = Vec::with_capacity(bytes.len() + 2);
        framed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        framed.extend_from_slice(bytes);
        stream.write_all(&framed).await?;
        let length = stream.read_u16().await?;
        let mut reply = vec![0u8; usize::from(length)];
        stream.read_exact(&mut reply).await?;
        let reply = Message::from_vec(&reply).map_err(|e| ExchangeError::BadReply(e.to_string()))?;
        if !is_reply_to(&reply, query) {
            return Err(ExchangeError::BadReply("reply does not match the query".into()));
        }
        Ok(reply)
    }
}

fn is_reply_to(reply: &Message, query: &Message) -> bool {
    let same_question = |a: &[Query], b: &[Query]| {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.name().eq_ignore_root(y.name())
                    && x.query_type() == y.query_type()
                    && x.query_class() == y.query_class()
            })
    };
    reply.metadata.id == query.metadata.id && same_question(&reply.queries, &query.queries)
}
