//! Configuration reload, on SIGHUP and when the configuration file changes: what can change
//! live (TTL, pod records, upstreams and stubs, cache limits, zone files, log level, query
//! logging) is applied; an invalid new configuration is logged and the running one stays.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};
use clap::{CommandFactory, FromArgMatches};
use tracing::{error, info, warn};

use crate::config::Cli;
use crate::config_file;
use crate::dns::zone::ZoneSettings;
use crate::forward::Forwarder;
use crate::telemetry::LogControl;

/// Keys applied without a restart, by what they replace.
const ZONE_KEYS: [&str; 2] = ["ttl", "pods"];
const FORWARDER_KEYS: [&str; 8] = [
    "upstream",
    "resolv-conf",
    "stub",
    "upstream-timeout",
    "max-concurrent",
    "cache-size",
    "cache-max-ttl",
    "cache-max-negative-ttl",
];
const OTHER_LIVE_KEYS: [&str; 3] = ["zone-file", "log-level", "log-queries"];

fn is_live(key: &str) -> bool {
    ZONE_KEYS.iter().chain(&FORWARDER_KEYS).chain(&OTHER_LIVE_KEYS).any(|k| *k == key)
}

/// How often the configuration file is checked for changes.
const POLL: Duration = Duration::from_secs(1);

/// Builds a forwarder from settings (none when there is no upstream).
pub type ForwarderFactory = Box<dyn Fn(&Cli) -> Option<Forwarder> + Send + Sync>;

/// The running pieces a reload replaces.
pub struct Live {
    pub zone: Arc<ArcSwap<ZoneSettings>>,
    pub forwarder: Arc<ArcSwapOption<Forwarder>>,
    pub zone_files: Arc<Mutex<Vec<PathBuf>>>,
    pub log_queries: Arc<AtomicBool>,
    pub logs: LogControl,
    pub make_forwarder: ForwarderFactory,
}

/// Watches for SIGHUP and changes of the configuration file, forever.
/// A SIGHUP that arrived before this runs (during start-up) is acted on at once.
pub async fn watch(
    mut hangup: tokio::signal::unix::Signal,
    argv: Vec<std::ffi::OsString>,
    file: Option<PathBuf>,
    mut current: Cli,
    live: Live,
) {
    let modified = |path: &PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut stamp: Option<SystemTime> = file.as_ref().and_then(modified);
    loop {
        let trigger = tokio::select! {
            _ = hangup.recv() => "SIGHUP",
            _ = tokio::time::sleep(POLL) => {
                let now = file.as_ref().and_then(modified);
                if now == stamp { continue; }
                stamp = now;
                "configuration file changed"
            }
        };
        match parse(&argv) {
            Ok(next) => {
                apply(&current, &next, &live);
                info!(trigger, "configuration reloaded");
                current = next;
            }
            Err(message) => {
                error!(trigger, error = %message, "configuration reload failed; the running configuration stays")
            }
        }
    }
}

fn parse(argv: &[std::ffi::OsString]) -> Result<Cli, String> {
    let arguments = config_file::merge(argv.to_vec())?;
    let matches =
        Cli::command().args_override_self(true).try_get_matches_from(&arguments.argv).map_err(|e| e.to_string())?;
    Cli::from_arg_matches(&matches).map_err(|e| e.to_string())
}

fn settings(cli: &Cli) -> BTreeMap<String, String> {
    cli.effective().lines().filter_map(|l| l.split_once(" = ")).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn apply(current: &Cli, next: &Cli, live: &Live) {
    let (old, new) = (settings(current), settings(next));
    let changed: Vec<&String> = new.keys().chain(old.keys()).filter(|k| old.get(*k) != new.get(*k)).collect();
    for key in &changed {
        if !is_live(key) {
            warn!(key = %key, "changed in the configuration; takes effect after a restart");
        }
    }
    let any = |keys: &[&str]| changed.iter().any(|k| keys.contains(&k.as_str()));
    if any(&ZONE_KEYS) {
        live.zone.store(Arc::new(ZoneSettings::new(current.zone.clone(), next.ttl, next.pods)));
    }
    if any(&FORWARDER_KEYS) {
        let forwarder = (live.make_forwarder)(next).map(Arc::new);
        if let Some(forwarder) = forwarder.clone() {
            tokio::spawn(async move { forwarder.check_loops().await });
        }
        live.forwarder.store(forwarder);
    }
    if any(&["zone-file"]) {
        *live.zone_files.lock().expect("zone file list lock") = next.zone_files.clone();
    }
    if any(&["log-level"])
        && let Err(error) = live.logs.set_filter(&next.log_filter())
    {
        error!(%error, "cannot change the log filter");
    }
    live.log_queries.store(next.log_queries, Ordering::Relaxed);
}
