//! Wiring: sources into the registry, the registry into the DNS handler, the handler onto the
//! bound sockets; and the order of shutdown.

use std::net::SocketAddr;

use anyhow::Context;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tracing::{info, warn};

use std::path::PathBuf;

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::admin::{Admin, Readiness};
use crate::config::{Cli, ClientNodes, ForwardArgs, PodMode};
use crate::config_file::Loaded;
use crate::dns::authority::Authority;
use crate::dns::handler::{DnsHandler, Fallthrough};
use crate::dns::zone::ZoneSettings;
use crate::forward::{ForwardSettings, Forwarder, resolv};
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::reload::{self, Live};
use crate::source;
use crate::source::connect::{self, ConnectError};
use crate::source::kube::WatchOptions;
use crate::source::manifests::{self, ManifestSource};
use crate::telemetry::LogControl;
use crate::zones::ZoneFiles;
use crate::{tcp, udp};

/// How much longer than a watch an API response may stay silent before it counts as dead.
const WATCH_READ_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// How many times a port-0 listen address may retry to find a port free on both UDP and TCP.
const PORT_PICK_ATTEMPTS: usize = 20;

/// One listen address, bound for both transports: one UDP socket per worker, one TCP listener.
pub struct Listener {
    pub udp: Vec<UdpSocket>,
    pub tcp: TcpListener,
}

/// How the listen addresses are bound.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// UDP sockets (and worker threads) per address.
    pub udp_workers: usize,
    /// Let other processes bind the same ports (`--reuse-port`).
    pub reuse_port: bool,
}

/// Binds UDP and TCP on every address. With port 0, the same free port is used for both.
pub async fn bind(addresses: &[SocketAddr], binding: Binding) -> anyhow::Result<Vec<Listener>> {
    if binding.reuse_port && tcp_migrate_req() == Some(false) {
        warn!(
            "--reuse-port: TCP connections not yet accepted when this instance stops are reset, not handed to \
             the instance that stays; set the sysctl net.ipv4.tcp_migrate_req=1 to hand them over"
        );
    }
    let mut listeners = Vec::new();
    for &address in addresses {
        let listener = bind_one(address, binding)?;
        info!("listening for UDP on {}", listener.udp[0].local_addr()?);
        info!("listening for TCP on {}", listener.tcp.local_addr()?);
        listeners.push(listener);
    }
    Ok(listeners)
}

fn bind_one(address: SocketAddr, binding: Binding) -> anyhow::Result<Listener> {
    let attempts = if address.port() == 0 { PORT_PICK_ATTEMPTS } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let tcp =
            tcp::bind(address, binding.reuse_port).with_context(|| format!("cannot listen for TCP on {address}"))?;
        let chosen = tcp.local_addr()?;
        let shared = binding.udp_workers > 1 || binding.reuse_port;
        let udp = (0..binding.udp_workers.max(1)).map(|_| udp::bind(chosen, shared));
        match udp.collect::<std::io::Result<Vec<_>>>() {
            Ok(udp) => return Ok(Listener { udp, tcp }),
            Err(e) => last_error = Some(anyhow::Error::new(e).context(format!("cannot listen for UDP on {chosen}"))),
        }
    }
    Err(last_error.expect("at least one attempt was made"))
}

/// `net.ipv4.tcp_migrate_req` of this network namespace, where the kernel has it.
fn tcp_migrate_req() -> Option<bool> {
    let value = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_migrate_req").ok()?;
    Some(value.trim() != "0")
}

/// Where the cluster's objects come from.
pub enum Source {
    Manifests(Vec<PathBuf>),
    Api(Box<kube::Config>),
}

/// Picks the source from the flags: manifests when given, the Kubernetes API otherwise.
pub async fn source(cli: &Cli) -> Result<Source, ConnectError> {
    if !cli.manifests.is_empty() {
        return Ok(Source::Manifests(cli.manifests.clone()));
    }
    connect::api_config(cli.kubeconfig.clone(), cli.context.clone()).await.map(|c| Source::Api(Box::new(c)))
}

/// The signals clusterdns acts on, installed before anything else: the default action of each
/// ends the process, and they can arrive at any time, start-up included.
pub struct Signals {
    /// Reload the configuration.
    pub hangup: Signal,
    pub stop: StopSignals,
}

/// SIGTERM and SIGINT: shut down.
pub struct StopSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    /// Must be called inside the tokio runtime.
    pub fn install() -> std::io::Result<Signals> {
        let stop =
            StopSignals { terminate: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? };
        Ok(Signals { hangup: signal(SignalKind::hangup())?, stop })
    }
}

impl StopSignals {
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// The rewrites, templates and hosts entries of `live`, hosts files read and watched.
pub fn rules(live: &crate::config::LiveSettings) -> crate::dns::rules::Rules {
    let settings = live.hosts.settings();
    let hosts = settings.is_on().then(|| {
        let hosts = crate::hosts::Hosts::new(settings);
        tokio::spawn(hosts.clone().watch());
        hosts
    });
    crate::dns::rules::Rules::new(&live.rewrites, &live.templates, hosts)
}

/// Says once what the Corefile's lines that set nothing mean here, and which were left out.
pub fn log_corefile(state: &crate::config_file::CorefileState) {
    let corefile = state.path.display().to_string();
    info!(%corefile, settings = state.loaded.settings.len(), "running from the Corefile");
    for note in &state.loaded.notes {
        info!(%corefile, "{note}");
    }
    for ignored in &state.loaded.ignored {
        warn!(%corefile, "{ignored}: not supported by clusterdns; left out (--corefile-ignore-unsupported)");
    }
}

/// Runs until SIGTERM or SIGINT, then shuts down in order: unready, lameduck (still
/// answering), stop taking queries, finish those taken, exit.
pub async fn run(
    loaded: Loaded,
    source: Source,
    listeners: Vec<Listener>,
    logs: LogControl,
    signals: Signals,
) -> anyhow::Result<()> {
    let Signals { hangup, stop: mut stop_signals } = signals;
    let Loaded { cli, settings, arguments } = loaded;
    if let Some(corefile) = &arguments.corefile {
        log_corefile(corefile);
    }
    let metrics = Arc::new(Metrics::new());
    let (registry, mut writer) = Registry::new();
    if cli.namespace_labels.is_some() {
        writer.restrict_namespaces();
    }
    if !cli.multicluster.is_empty() {
        writer.enable_clusterset();
    }
    if let Some(node) = cli.node() {
        writer.set_node(node);
    }
    let forwarder = build_forwarder(&cli.live.forward, metrics.clone()).map(Arc::new);
    let live_forwarder = Arc::new(ArcSwapOption::new(forwarder.clone()));
    let readiness = Arc::new(Readiness::default());
    let admin = Admin {
        registry: registry.clone(),
        metrics: metrics.clone(),
        forwarder: live_forwarder.clone(),
        readiness: readiness.clone(),
    };
    for &address in &cli.admin {
        // Shared like the DNS ports: an instance replacing this one in the node's network binds
        // the same admin address.
        let listener = crate::tcp::bind(address, cli.reuse_port)
            .with_context(|| format!("cannot listen for HTTP on {address}"))?;
        info!("admin endpoint on http://{}", listener.local_addr()?);
        tokio::spawn(admin.clone().serve(listener));
    }
    let incomplete = match source {
        Source::Manifests(_) => "the manifests could not all be read yet",
        Source::Api(_) => "no complete list from the API yet",
    };
    match source {
        Source::Manifests(paths) => {
            let mut source = ManifestSource::new(paths, cli.manifest_max_size, cli.read_options());
            source.refresh();
            manifests::publish(&source, &mut writer);
            tokio::spawn(source.watch(writer));
        }
        Source::Api(mut config) => {
            // The watchers retry with their own jittered backoff and log once per state change;
            // the client's own retries would hide an outage from them for minutes.
            config.default_retry = false;
            // A request on a connection that went silent fails instead of waiting forever: the
            // read timeout outlasts a healthy watch, which the server ends at --watch-timeout.
            config.read_timeout = Some(cli.watch_timeout + WATCH_READ_MARGIN);
            config.reset_reader_on_write = true;
            info!(server = %config.cluster_url, "watching the Kubernetes API");
            let client = api_client(*config, &cli)?;
            let options = WatchOptions {
                namespaces: cli.namespaces.clone(),
                labels: cli.labels.clone(),
                pods: cli.live.pods == PodMode::Verified || cli.client_nodes() == ClientNodes::Pods,
                watch_timeout: cli.watch_timeout,
                trim: cli.read_options().trim,
                no_endpoints: cli.no_endpoints,
                namespace_labels: cli.namespace_labels.clone(),
                multicluster: !cli.multicluster.is_empty(),
                node: cli.node().map(String::from),
                all_nodes: cli.client_nodes() != ClientNodes::Off,
                streaming_lists: !cli.no_streaming_lists,
            };
            let persistence = cli.snapshot_file.as_ref().map(|path| {
                let serving_saved = load_saved(path, &cli, &mut writer);
                source::kube::Persistence { path: path.clone(), serving_saved }
            });
            source::kube::start(client, options, writer, metrics.clone(), persistence);
        }
    }
    if !registry.wait_synced(cli.startup_timeout).await {
        warn!(timeout = ?cli.startup_timeout, "{incomplete}; answering anyway: names not yet known get SERVFAIL until it is");
    }

    let zone = ZoneSettings::from_config(&cli, &cli.live);
    let live_zone = Arc::new(ArcSwap::from_pointee(zone.clone()));
    let zones: Vec<String> = cli.zones.iter().map(ToString::to_string).collect();
    info!(zone = %zones.join(","), ttl = cli.live.ttl, pods = ?cli.live.pods, udp_workers = cli.udp_workers(),
        "serving the cluster zone, in-addr.arpa and ip6.arpa");
    let mut zone_files = ZoneFiles::new(cli.live.zone_files.clone());
    zone_files.refresh();
    let static_zones = zone_files.zones();
    let zone_file_paths = zone_files.paths();
    tokio::spawn(zone_files.watch());
    let authority = Authority::new(live_zone.clone(), registry, static_zones);
    let log_queries = Arc::new(AtomicBool::new(cli.live.log_queries));
    let live_rules = Arc::new(ArcSwap::from_pointee(rules(&cli.live)));
    let handler = DnsHandler::new(
        authority,
        live_forwarder.clone(),
        Fallthrough {
            reverse: !cli.no_reverse_fallthrough,
            zones: cli.fallthrough.iter().map(hickory_proto::rr::LowerName::new).collect(),
        },
        metrics.clone(),
        log_queries.clone(),
        live_rules.clone(),
    );
    let handler = match cli.autopath {
        true => handler.with_autopath(autopath(&cli)),
        false => handler,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (stop_tcp, stopped) = watch::channel(false);
    let mut udp_workers = Vec::new();
    let mut tcp_servers = Vec::new();
    for listener in listeners {
        for socket in listener.udp {
            let runtime = tokio::runtime::Handle::current();
            let worker =
                udp::Worker { handler: handler.clone(), runtime, stop: stop.clone(), in_flight: in_flight.clone() };
            udp_workers.push(worker.spawn(socket)?);
        }
        tcp_servers.push(tokio::spawn(tcp::serve(listener.tcp, handler.clone(), cli.tcp(), stopped.clone())));
    }
    if let Some(forwarder) = forwarder {
        tokio::spawn(async move { forwarder.check_loops().await });
    }
    let live = Live {
        zone: live_zone,
        forwarder: live_forwarder,
        zone_files: zone_file_paths,
        log_queries,
        logs,
        make_forwarder: Box::new(move |args: &ForwardArgs| build_forwarder(args, metrics.clone())),
        rules: live_rules,
    };
    let corefile = arguments.corefile.as_ref().map(|c| (c.path.clone(), c.loaded.sources.clone()));
    tokio::spawn(reload::watch(
        hangup,
        arguments.original,
        arguments.file.clone(),
        corefile,
        cli.clone(),
        settings,
        live,
    ));

    let signal = stop_signals.recv().await;
    readiness.stop();
    info!(signal, lameduck = ?cli.lameduck, "shutting down: unready now, still answering during the lameduck period");
    tokio::time::sleep(cli.lameduck).await;
    info!("no longer taking queries; finishing those in progress");
    let deadline = tokio::time::Instant::now() + cli.shutdown_timeout;
    stop.store(true, Ordering::Relaxed);
    let _ = stop_tcp.send(true);
    let finish = async {
        for worker in udp_workers {
            let _ = tokio::task::spawn_blocking(move || worker.join()).await;
        }
        for server in tcp_servers {
            let _ = server.await;
        }
        while in_flight.load(Ordering::Relaxed) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    // A hard bound: what has not finished by the deadline is dropped when the process exits.
    if tokio::time::timeout_at(deadline, finish).await.is_err() {
        warn!(
            forwarded_in_flight = in_flight.load(Ordering::Relaxed),
            "shutdown timeout reached; exiting with queries unfinished"
        );
    }
    info!("stopped");
    Ok(())
}

/// How `--autopath` walks: the node's search domains from `--resolv-conf`, and whether clients
/// must be Pods of the namespace (`--pods verified`).
fn autopath(cli: &Cli) -> crate::dns::handler::Autopath {
    let path = &cli.live.forward.resolv_conf;
    let host_search = match std::fs::read_to_string(path) {
        Ok(text) => crate::dns::autopath::search_domains(&text),
        Err(error) => {
            warn!(path = %path.display(), %error, "cannot read the resolv.conf for the node's search domains; autopath walks the cluster's alone");
            Vec::new()
        }
    };
    let verify_client = cli.live.pods == PodMode::Verified;
    let search: Vec<String> = host_search.iter().map(ToString::to_string).collect();
    info!(node_search = %search.join(","), verify_client, "autopath on");
    crate::dns::handler::Autopath { host_search, verify_client }
}

/// Fills the registry from the snapshot saved at `path`, if there is a usable one: returns when
/// it was saved.
fn load_saved(path: &std::path::Path, cli: &Cli, writer: &mut crate::registry::RegistryWriter) -> Option<u64> {
    let file = path.display();
    // What was saved was already filtered by the namespace labels, which the file does not keep.
    let options = crate::source::documents::ReadOptions { namespaces: None, ..cli.read_options() };
    match source::saved::load(path, cli.manifest_max_size, options) {
        Ok(loaded) if too_old(loaded.current_at, cli.snapshot_max_age) => {
            warn!(path = %file, current_at = loaded.current_at, max_age = ?cli.snapshot_max_age,
                "saved snapshot ignored: older than --snapshot-max-age (Pod IPs may have been reused since)");
            None
        }
        Ok(mut loaded) => {
            within_watches(&mut loaded.objects, cli);
            writer.replace(&loaded.objects, true);
            let services = loaded.objects.services.len();
            warn!(path = %file, saved_at = loaded.saved_at, services,
                "answering from the saved snapshot until the first lists from the API arrive");
            Some(loaded.saved_at)
        }
        Err(source::saved::LoadError::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
            info!(path = %file, "no saved snapshot yet");
            None
        }
        Err(error) => {
            warn!(path = %file, %error, "saved snapshot ignored");
            None
        }
    }
}

/// Whether a snapshot last known current at `current_at` (seconds since the epoch) is older
/// than `max_age` (zero: no limit).
fn too_old(current_at: u64, max_age: std::time::Duration) -> bool {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    !max_age.is_zero() && now.saturating_sub(current_at) > max_age.as_secs()
}

/// Drops the saved objects no watch of this configuration covers: nothing would ever list
/// them again, so they would be answered forever.
fn within_watches(objects: &mut crate::registry::ClusterObjects, cli: &Cli) {
    if !cli.namespaces.is_empty() {
        let watched = |namespace: &String| cli.namespaces.contains(namespace);
        objects.services.retain(|s| watched(&s.namespace));
        objects.endpoint_slices.retain(|s| watched(&s.namespace));
        objects.pods.retain(|p| watched(&p.namespace));
        // Without a Namespace watch, a namespace exists while an object in it does.
        objects.namespaces.clear();
    }
    if cli.no_endpoints {
        objects.endpoint_slices.clear();
    }
    if cli.live.pods != PodMode::Verified && cli.client_nodes() != ClientNodes::Pods {
        objects.pods.clear();
    }
    objects.imports.clear();
    objects.imported_slices.clear();
}

/// The Kubernetes API client, with the request limits of `--api-qps`, `--api-burst` and
/// `--api-max-inflight` in front of it (tower layers; a watch holds its place only until its
/// response starts streaming).
fn api_client(config: kube::Config, cli: &Cli) -> anyhow::Result<kube::Client> {
    use tower::limit::{ConcurrencyLimitLayer, RateLimitLayer};
    use tower::util::option_layer;
    let rate = (cli.api_qps > 0).then(|| {
        let burst = cli.api_burst.unwrap_or(cli.api_qps * 2).max(1);
        // `burst` requests per `burst / qps` seconds: `qps` on average, `burst` at once.
        RateLimitLayer::new(
            u64::from(burst),
            std::time::Duration::from_secs_f64(f64::from(burst) / f64::from(cli.api_qps)),
        )
    });
    let inflight = (cli.api_max_inflight > 0).then(|| ConcurrencyLimitLayer::new(cli.api_max_inflight));
    let builder = kube::client::ClientBuilder::try_from(config).context("cannot build a Kubernetes API client")?;
    Ok(builder.with_layer(&option_layer(rate)).with_layer(&option_layer(inflight)).build())
}

/// The forwarder for names outside our zones: `--upstream`, else the nameservers of
/// `--resolv-conf`; none when there is no upstream at all (those names are then REFUSED).
fn build_forwarder(args: &ForwardArgs, metrics: Arc<Metrics>) -> Option<Forwarder> {
    let mut upstreams = args.upstreams.clone();
    if upstreams.is_empty() {
        match std::fs::read_to_string(&args.resolv_conf) {
            Ok(text) => upstreams = resolv::nameservers(&text),
            Err(error) => {
                warn!(path = %args.resolv_conf.display(), %error, "cannot read the resolv.conf for upstreams")
            }
        }
    }
    if upstreams.is_empty() && args.stubs.is_empty() {
        warn!("no upstream resolvers: names outside our zones are REFUSED");
        return None;
    }
    let upstream_list: Vec<String> = upstreams.iter().map(ToString::to_string).collect();
    info!(upstreams = %upstream_list.join(","), stub_domains = args.stubs.len(), "forwarding names outside our zones");
    Some(Forwarder::new(
        &ForwardSettings {
            upstreams,
            stubs: args.stubs.clone(),
            timeout: args.upstream_timeout,
            max_concurrent: args.max_concurrent,
            cache_size: args.cache_size,
            cache_max_ttl: args.cache_max_ttl,
            cache_max_negative_ttl: args.cache_max_negative_ttl,
            policy: args.upstream_policy,
            tcp_only: args.upstream_tcp,
            except: args.forward_except.clone(),
            cache_no_success: args.cache_disable_success.clone(),
            cache_no_denial: args.cache_disable_denial.clone(),
            filter_aaaa: args.filter_aaaa_forwarded,
        },
        metrics,
    ))
}
