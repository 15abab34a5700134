//! Logging: text or JSON on stderr, with a filter that can be changed while running.

use clap::ValueEnum;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Changes the log filter of the running process.
#[derive(Clone)]
pub struct LogControl {
    handle: reload::Handle<EnvFilter, Registry>,
}

impl LogControl {
    pub fn set_filter(&self, filter: &str) -> Result<(), String> {
        let filter = EnvFilter::builder().parse(filter).map_err(|e| e.to_string())?;
        self.handle.reload(filter).map_err(|e| e.to_string())
    }
}

pub fn init(format: LogFormat, filter: &str) -> LogControl {
    let (filter, handle) = reload::Layer::new(EnvFilter::new(filter));
    let subscriber = tracing_subscriber::registry().with(filter);
    let writer = std::io::stderr;
    match format {
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            subscriber.with(fmt::layer().with_ansi(ansi).with_writer(writer)).init();
        }
        LogFormat::Json => subscriber.with(fmt::layer().json().with_writer(writer)).init(),
    }
    LogControl { handle }
}
