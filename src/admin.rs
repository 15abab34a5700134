//! The admin endpoint (`--admin ADDR:PORT`, HTTP): `/health` (200 while the process can answer,
//! lameduck included), `/ready` (200 once the data is complete and until shutdown starts),
//! `/metrics` (Prometheus text format).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use crate::forward::Forwarder;
use crate::metrics::Metrics;
use crate::registry::Registry;

/// A request that has not sent its headers by then is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

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
    pub forwarder: Option<Arc<Forwarder>>,
    pub readiness: Arc<Readiness>,
}

impl Admin {
    pub async fn serve(self, listener: TcpListener) {
        while let Ok((stream, _)) = listener.accept().await {
            let admin = self.clone();
            tokio::spawn(async move {
                if let Err(error) = admin.connection(stream).await {
                    debug!(%error, "admin connection closed");
                }
            });
        }
    }

    async fn connection(&self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        let mut request_line = String::new();
        tokio::time::timeout(READ_TIMEOUT, async {
            reader.read_line(&mut request_line).await?;
            let mut header = String::new();
            while reader.read_line(&mut header).await? > 2 {
                header.clear();
            }
            Ok::<_, std::io::Error>(())
        })
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "slow request"))??;
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        let (status, content_type, body) = self.route(path.split('?').next().unwrap_or(path));
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        write.write_all(head.as_bytes()).await?;
        write.write_all(body.as_bytes()).await
    }

    fn route(&self, path: &str) -> (&'static str, &'static str, String) {
        const TEXT: &str = "text/plain; charset=utf-8";
        match path {
            "/health" => ("200 OK", TEXT, "OK\n".into()),
            "/ready" if self.readiness.ready(&self.registry) => ("200 OK", TEXT, "OK\n".into()),
            "/ready" => ("503 Service Unavailable", TEXT, "not ready\n".into()),
            "/metrics" => {
                let snapshot = self.registry.snapshot();
                let cache = self.forwarder.as_ref().map(|f| f.cache_entries());
                let body = self.metrics.render(snapshot.service_count(), snapshot.endpoint_count(), cache);
                ("200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", body)
            }
            _ => ("404 Not Found", TEXT, "not found\n".into()),
        }
    }
}
