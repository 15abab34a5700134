//! The admin endpoint (`--admin ADDR:PORT`, HTTP/1.1): `/health` (200 while the process can
//! answer, lameduck included), `/ready` (200 once the data is complete and until shutdown
//! starts), `/metrics` (Prometheus text format).
//!
//! Any pod can reach it (the kube-dns Service exposes the metrics port), so what one client
//! can take is bounded: hyper parses the requests (a maintained parser with a header size
//! limit, rather than a hand-written one), a request head is at most 8 KiB and must arrive
//! within 5 s, a connection serves one request and lives at most 10 s, and connections are
//! limited in all and per client address. Only GET and HEAD are answered.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

use crate::connections::{Connections, Limits};
use crate::forward::Forwarder;
use crate::log_limit::LogLimit;
use crate::metrics::Metrics;
use crate::registry::Registry;

/// The request line and headers must arrive within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection, request and response together, is closed after this long.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head read (hyper's smallest buffer); larger ones get 431.
const MAX_REQUEST_HEAD: usize = 8192;
const MAX_HEADERS: usize = 32;
/// Connections at once, and per client address: probes, scrapes and a few people with curl.
const LIMITS: Limits = Limits { total: 64, per_client: 8, evict_idle: false };
/// After a failed accept() (no file descriptors left, say), wait this long before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

static REFUSED: LogLimit = LogLimit::new();

/// Readiness is a latch: true from the first complete sync until shutdown starts.
#[derive(Default)]
pub struct Readiness {
    stopping: AtomicBool,
}

impl Readiness {
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn ready(&self, registry: &Registry) -> bool {
        !self.stopping.load(Ordering::Relaxed) && registry.snapshot().synced
    }
}

#[derive(Clone)]
pub struct Admin {
    pub registry: Registry,
    pub metrics: Arc<Metrics>,
    /// The forwarder in use: a reload may replace it.
    pub forwarder: Arc<ArcSwapOption<Forwarder>>,
    pub readiness: Arc<Readiness>,
}

impl Admin {
    /// Serves until the process ends. A failed accept() is logged (once until accepting works
    /// again) and retried: the probes depend on this listener.
    pub async fn serve(self, listener: TcpListener) {
        let connections = Connections::new(LIMITS);
        let mut failing = false;
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    if !failing {
                        warn!(%error, "admin endpoint cannot accept connections; retrying");
                        failing = true;
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            if std::mem::take(&mut failing) {
                info!("admin endpoint accepts connections again");
            }
            let slot = match connections.admit(peer.ip()) {
                Ok(slot) => slot,
                Err(refused) => {
                    if let Some(suppressed) = REFUSED.allow() {
                        warn!(client = %peer.ip(), ?refused, suppressed, "admin connection refused");
                    }
                    continue;
                }
            };
            let admin = self.clone();
            tokio::spawn(async move {
                if tokio::time::timeout(CONNECTION_TIMEOUT, admin.connection(stream, peer)).await.is_err() {
                    debug!(%peer, "admin connection timed out");
                }
                drop(slot);
            });
        }
    }

    async fn connection(self, stream: TcpStream, peer: SocketAddr) {
        let service = service_fn(move |request: Request<hyper::body::Incoming>| {
            let response = self.respond(request.method(), request.uri().path());
            async move { Ok::<_, Infallible>(response) }
        });
        let served = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(MAX_REQUEST_HEAD)
            .max_headers(MAX_HEADERS)
            .keep_alive(false)
            .serve_connection(TokioIo::new(stream), service)
            .await;
        if let Err(error) = served {
            debug!(%peer, %error, "admin connection closed");
        }
    }

    /// The response to one request; hyper leaves the body out for HEAD.
    fn respond(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        const TEXT: &str = "text/plain; charset=utf-8";
        if method != Method::GET && method != Method::HEAD {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, TEXT, "method not allowed\n".into());
            response.headers_mut().insert(ALLOW, "GET, HEAD".parse().expect("a valid header value"));
            return response;
        }
        match path {
            "/health" => text(StatusCode::OK, TEXT, "OK\n".into()),
            "/ready" if self.readiness.ready(&self.registry) => match self.metrics.saved_snapshot() {
                // Ready, and saying why the answers may be old.
                Some(at) => text(
                    StatusCode::OK,
                    TEXT,
                    format!("OK: answering from the snapshot saved at {at} (Unix time); no list from the API yet\n"),
                ),
                None => text(StatusCode::OK, TEXT, "OK\n".into()),
            },
            "/ready" => text(StatusCode::SERVICE_UNAVAILABLE, TEXT, "not ready\n".into()),
            "/metrics" => {
                let snapshot = self.registry.snapshot();
                let cache = self.forwarder.load().as_ref().map(|f| f.cache_entries());
                let body = self.metrics.render(snapshot.service_count(), snapshot.endpoint_count(), cache);
                text(StatusCode::OK, "application/openmetrics-text; version=1.0.0; charset=utf-8", body)
            }
            _ => text(StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
        }
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, content_type.parse().expect("a valid header value"));
    response
}
