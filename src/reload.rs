//! Configuration reload, on SIGHUP and when the configuration file changes. The new
//! configuration is read the same way as at start; its [`LiveSettings`] are applied (TTL, pod
//! records, forwarding and the cache, zone files, log level, query logging) and every other key
//! that changed is named as taking effect at the next restart. An invalid new configuration is
//! logged and the running one stays.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};
use tracing::{error, info, warn};

use crate::config::{Cli, ForwardArgs, LiveSettings, Settings, is_live};
use crate::config_file;
use crate::dns::zone::ZoneSettings;
use crate::forward::Forwarder;
use crate::telemetry::LogControl;

/// How often the configuration file is checked for changes.
const POLL: Duration = Duration::from_secs(1);

/// Builds a forwarder from settings (none when there is no upstream).
pub type ForwarderFactory = Box<dyn Fn(&ForwardArgs) -> Option<Forwarder> + Send + Sync>;

/// The running pieces a reload replaces.
pub struct Live {
    pub zone: Arc<ArcSwap<ZoneSettings>>,
    pub forwarder: Arc<ArcSwapOption<Forwarder>>,
    pub zone_files: Arc<Mutex<Vec<PathBuf>>>,
    pub log_queries: Arc<AtomicBool>,
    pub logs: LogControl,
    pub make_forwarder: ForwarderFactory,
    pub rules: Arc<ArcSwap<crate::dns::rules::Rules>>,
}

/// Watches for SIGHUP and changes of the configuration file, forever. `running` is the
/// configuration the server started with; only its live settings ever change. A SIGHUP that
/// arrived before this runs (during start-up) is acted on at once.
pub async fn watch(
    mut hangup: tokio::signal::unix::Signal,
    argv: Vec<std::ffi::OsString>,
    file: Option<PathBuf>,
    corefile: Option<(PathBuf, Vec<(PathBuf, String)>)>,
    mut running: Cli,
    mut settings: Settings,
    live: Live,
) {
    let modified = |path: &PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut stamp: Option<SystemTime> = file.as_ref().and_then(modified);
    let (corefile, mut corefile_seen) = corefile.unzip();
    loop {
        let trigger = tokio::select! {
            _ = hangup.recv() => "SIGHUP",
            _ = tokio::time::sleep(POLL) => {
                let now = file.as_ref().and_then(modified);
                let corefile_now = corefile.as_ref().zip(corefile_seen.as_ref()).map(|(path, seen)| crate::corefile::snapshot(path, seen));
                if now != stamp {
                    stamp = now;
                    "configuration file changed"
                } else if corefile_now.is_some() && corefile_now != corefile_seen {
                    corefile_seen = corefile_now;
                    "Corefile changed"
                } else {
                    continue;
                }
            }
        };
        match config_file::load(argv.clone()) {
            Ok(next) => {
                if let Some(state) = &next.arguments.corefile {
                    crate::app::log_corefile(state);
                    corefile_seen = Some(state.loaded.sources.clone());
                }
                for key in settings.changed(&next.settings).into_iter().filter(|key| !is_live(key)) {
                    warn!(key, "changed in the configuration; takes effect after a restart");
                }
                apply(&running, &next.cli.live, &live);
                running.live = next.cli.live;
                settings = next.settings;
                info!(trigger, "configuration reloaded");
            }
            Err(e) => error!(trigger, error = %e, "configuration reload failed; the running configuration stays"),
        }
    }
}

/// Replaces what differs between the running live settings and `next`. Restart-only settings
/// (the zone among them) always come from `running`.
fn apply(running: &Cli, next: &LiveSettings, live: &Live) {
    let now = &running.live;
    let zone_settings = |l: &LiveSettings| (l.ttl, l.ttl_jitter, l.pods, l.ignore_empty_service);
    if zone_settings(now) != zone_settings(next) {
        live.zone.store(Arc::new(ZoneSettings::from_config(running, next)));
    }
    if now.forward != next.forward {
        let forwarder = (live.make_forwarder)(&next.forward).map(Arc::new);
        if let Some(forwarder) = forwarder.clone() {
            tokio::spawn(async move { forwarder.check_loops().await });
        }
        live.forwarder.store(forwarder);
    }
    if (&now.hosts, &now.rewrites, &now.templates) != (&next.hosts, &next.rewrites, &next.templates) {
        live.rules.store(Arc::new(crate::app::rules(next)));
    }
    if now.zone_files != next.zone_files {
        *live.zone_files.lock().expect("zone file list lock") = next.zone_files.clone();
    }
    if now.log_level != next.log_level
        && let Err(error) = live.logs.set_filter(&next.log_filter())
    {
        error!(%error, "cannot change the log filter");
    }
    live.log_queries.store(next.log_queries, Ordering::Relaxed);
}
