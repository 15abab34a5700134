//! Command-line configuration: flags to a validated [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;

use std::collections::{BTreeMap, BTreeSet};

use clap::{ArgAction, ArgMatches, Args, CommandFactory, Parser, ValueEnum};

use crate::telemetry::LogFormat;
use hickory_proto::rr::Name;

/// Exit code for bad flags or values (BSD `EX_USAGE`).
pub const EXIT_USAGE: i32 = 64;

/// How `<dashed-ip>.<ns>.pod.<zone>` names are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PodMode {
    /// No pod records: every name under `pod.<zone>` is NXDOMAIN.
    Disabled,
    /// Echo the IP of any well-formed name whose namespace exists (kube-dns behaviour).
    Insecure,
    /// Answer only if a running Pod in that namespace has that IP.
    Verified,
}

/// How the headless answers of topology-aware Services treat the endpoints near this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum TopologyAnswers {
    /// The endpoints on this node (else in its zone) first, then the others.
    #[default]
    First,
    /// Only the endpoints on this node (else in its zone); all of them when none is.
    Only,
    /// Every endpoint in the usual rotation, as without --node-name.
    Off,
}

/// How a central instance finds the node its clients run on (`--client-nodes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ClientNodes {
    /// Not at all: every client gets every endpoint in the usual rotation.
    #[default]
    Off,
    /// From the client's Pod (its `spec.nodeName`), through a watch of every Pod; else as
    /// `pod-cidrs`.
    Pods,
    /// From the Node whose `spec.podCIDRs` holds the client's address, or whose InternalIP it is.
    PodCidrs,
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "clusterdns",
    version,
    about = "Kubernetes cluster DNS server",
    long_about = "Kubernetes cluster DNS server.\n\n\
        Answers the Kubernetes DNS specification (services, headless endpoints, SRV, PTR, pod \
        records) for the cluster zone, in-addr.arpa and ip6.arpa, from a watch of the Kubernetes \
        API or from Kubernetes manifests re-read when they change, and static zones from zone files. \
        Every other name is forwarded to upstream resolvers through a cache of forwarded answers."
)]
pub struct Cli {
    /// TOML configuration file; every flag can be a key of the same name. Precedence:
    /// flag > environment (CLUSTERDNS_*) > file > default.
    #[arg(long = "config", env = "CLUSTERDNS_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// CoreDNS Corefile to run from (e.g. the `coredns` ConfigMap's): its kubernetes, forward,
    /// cache, health, ready, prometheus... lines become these settings, imports and `{$ENV}`
    /// included. Flags, the environment and --config win over it. Re-read on change and SIGHUP.
    #[arg(long = "corefile", env = "CLUSTERDNS_COREFILE", value_name = "PATH")]
    pub corefile: Option<PathBuf>,

    /// Start even when the Corefile has lines clusterdns cannot serve: they are left out and
    /// each is logged once (without it they are errors).
    #[arg(long = "corefile-ignore-unsupported", env = "CLUSTERDNS_COREFILE_IGNORE_UNSUPPORTED")]
    pub corefile_ignore_unsupported: bool,

    /// Validate the configuration, print the effective settings and exit (also
    /// `clusterdns check-config`).
    #[arg(long = "check-config")]
    pub check_config: bool,

    /// Kubernetes manifests (YAML or JSON, as `kubectl get -o yaml` prints them): a file, or a
    /// folder read recursively. Repeatable. Files are re-read when they change.
    /// Without it, clusterdns watches the Kubernetes API.
    #[arg(long = "manifests", env = "CLUSTERDNS_MANIFESTS", value_delimiter = ',', value_name = "PATH")]
    pub manifests: Vec<PathBuf>,

    /// Manifest files larger than this are not read (they are logged and skipped): a whole-cluster
    /// dump is about 1.5 kB per object. Bytes, or with a suffix: `Ki`, `Mi`, `Gi`.
    #[arg(long = "manifest-max-size", env = "CLUSTERDNS_MANIFEST_MAX_SIZE", value_name = "SIZE", default_value = "256Mi", value_parser = parse_size)]
    pub manifest_max_size: u64,

    /// Kubeconfig for the Kubernetes API (default: the pod's service account, then
    /// $KUBECONFIG, then ~/.kube/config).
    #[arg(long = "kubeconfig", env = "CLUSTERDNS_KUBECONFIG", value_name = "PATH", conflicts_with = "manifests")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use (default: its current context).
    #[arg(long = "context", env = "CLUSTERDNS_CONTEXT", value_name = "NAME", conflicts_with = "manifests")]
    pub context: Option<String>,

    /// Serve only these namespaces, comma-separated (default: all). Needs list and watch in
    /// those namespaces only.
    #[arg(
        long = "namespaces",
        env = "CLUSTERDNS_NAMESPACES",
        value_name = "NS,NS",
        value_delimiter = ',',
        conflicts_with = "manifests"
    )]
    pub namespaces: Vec<String>,

    /// Serve only namespaces whose labels match this selector (CoreDNS `namespace_labels`),
    /// e.g. `dns=public`: objects in other namespaces are not answered. Needs the Namespace
    /// watch (cluster-wide); not with --namespaces.
    #[arg(long = "namespace-labels", env = "CLUSTERDNS_NAMESPACE_LABELS", value_name = "SELECTOR", conflicts_with = "namespaces", value_parser = parse_selector)]
    pub namespace_labels: Option<String>,

    /// Label selector for the Service, EndpointSlice and ServiceImport watches, e.g. `dns!=skip`.
    #[arg(long = "labels", env = "CLUSTERDNS_LABELS", value_name = "SELECTOR", conflicts_with = "manifests")]
    pub labels: Option<String>,

    /// How long to wait for the first complete list from the API before answering anyway
    /// (until then, names not yet known get SERVFAIL). `5s`, `500ms`, `1m`, or seconds.
    #[arg(long = "startup-timeout", env = "CLUSTERDNS_STARTUP_TIMEOUT", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub startup_timeout: std::time::Duration,

    /// Name an endpoint without a hostname after the Pod it targets (CoreDNS
    /// `endpoint_pod_names`; StatefulSet-style names for every Service), when that name is a
    /// valid DNS label under 64 characters; otherwise the dashed IP.
    #[arg(long = "endpoint-pod-names", env = "CLUSTERDNS_ENDPOINT_POD_NAMES")]
    pub endpoint_pod_names: bool,

    /// Do not read EndpointSlices (CoreDNS `noendpoints`): headless Services and endpoint names
    /// answer NXDOMAIN, and the EndpointSlice watch (most of the API traffic) is not started.
    #[arg(long = "no-endpoints", env = "CLUSTERDNS_NO_ENDPOINTS")]
    pub no_endpoints: bool,

    /// Answer topology-pinned names of headless Services (CoreDNS `zonal`):
    /// `<zone>.pin._zone.<svc>.<ns>.svc.<cluster zone>` holds only the endpoints in that
    /// topology zone (none: NODATA), `<zone>.prefer._zone...` the same but every endpoint when
    /// the zone has none. Zones come from the EndpointSlices' `endpoints[].zone`.
    #[arg(long = "zonal", env = "CLUSTERDNS_ZONAL")]
    pub zonal: bool,

    /// Answer the first query of a pod's search-list walk (`<name>.<ns>.svc.<zone>`, NXDOMAIN
    /// here) with a CNAME to the first name of the walk that exists, and its records, as
    /// CoreDNS's autopath does: one query instead of up to six per lookup of an outside name.
    /// The walk is the standard pod search list of `<ns>` (which must exist) and the search
    /// domains of --resolv-conf; with --pods verified, only for clients that are Pods of `<ns>`.
    #[arg(long = "autopath", env = "CLUSTERDNS_AUTOPATH")]
    pub autopath: bool,

    /// The node this instance runs on (node-local mode; in a DaemonSet, from the downward API's
    /// `spec.nodeName`). Its zone is the Node's `topology.kubernetes.io/zone` label, watched
    /// (needs get, list and watch on that Node). Headless Services whose
    /// `spec.trafficDistribution` is PreferSameNode, PreferSameZone or PreferClose, or whose
    /// EndpointSlices carry hints, then answer with the endpoints on this node, else in its
    /// zone, first (see --topology).
    #[arg(long = "node-name", env = "CLUSTERDNS_NODE_NAME", value_name = "NAME", value_parser = parse_node_name)]
    pub node_name: Option<String>,

    /// With --node-name or --client-nodes: list the nearby endpoints of topology-aware headless
    /// Services `first`, give `only` those (every endpoint when none is near), or `off`.
    #[arg(long = "topology", env = "CLUSTERDNS_TOPOLOGY", value_name = "MODE", value_enum, default_value_t = TopologyAnswers::First)]
    pub topology: TopologyAnswers,

    /// For central replicas (without --node-name): find the node each client runs on, so that
    /// topology-aware headless Services answer it with the endpoints on its node, else in its
    /// zone, first (see --topology and --node-name). `pods` watches every Pod and reads its
    /// node (needs list and watch on pods; exact, the costlier watch); `pod-cidrs` reads the
    /// Nodes' `spec.podCIDRs`, for clusters whose nodes are allocated pod CIDRs
    /// (kube-controller-manager --allocate-node-cidrs; not for CNIs with their own IPAM, such
    /// as Calico's or the AWS VPC CNI). Both watch every Node, for its zone and InternalIPs
    /// (hostNetwork Pods; needs list and watch on nodes). A client no Pod or Node places gets
    /// every endpoint, as without this.
    #[arg(
        long = "client-nodes",
        env = "CLUSTERDNS_CLIENT_NODES",
        value_name = "FROM",
        value_enum,
        default_value_t = ClientNodes::Off,
        conflicts_with_all = ["manifests", "node_name"]
    )]
    pub client_nodes: ClientNodes,

    /// Never use streaming lists. By default each watch lists through a streaming list
    /// (`sendInitialEvents`, the WatchList feature: the objects arrive as watch events from the
    /// API server's cache, not as one large LIST response), and falls back to LIST when the
    /// API server does not offer them (Kubernetes 1.33 refuses them).
    #[arg(long = "no-streaming-lists", env = "CLUSTERDNS_NO_STREAMING_LISTS", conflicts_with = "manifests")]
    pub no_streaming_lists: bool,

    /// Requests per second to the Kubernetes API at most, on average (CoreDNS `apiserver_qps`);
    /// 0: no limit. Protects a large cluster's API server when every instance relists at once.
    #[arg(
        long = "api-qps",
        env = "CLUSTERDNS_API_QPS",
        value_name = "N",
        default_value_t = 0,
        conflicts_with = "manifests"
    )]
    pub api_qps: u32,

    /// Requests to the API allowed at once above --api-qps (CoreDNS `apiserver_burst`; default:
    /// twice --api-qps).
    #[arg(long = "api-burst", env = "CLUSTERDNS_API_BURST", value_name = "N", conflicts_with = "manifests")]
    pub api_burst: Option<u32>,

    /// Requests to the API waiting for their response at once (CoreDNS
    /// `apiserver_max_inflight`); 0: no limit. A watch counts until its stream starts.
    #[arg(
        long = "api-max-inflight",
        env = "CLUSTERDNS_API_MAX_INFLIGHT",
        value_name = "N",
        default_value_t = 0,
        conflicts_with = "manifests"
    )]
    pub api_max_inflight: usize,

    /// How long one watch request to the API lasts before it is renewed (cheaply, from where it
    /// left off). A watch that delivers nothing for this long and 5 s more is taken for dead (a
    /// network partition that closed nothing) and re-established.
    #[arg(long = "watch-timeout", env = "CLUSTERDNS_WATCH_TIMEOUT", value_name = "DURATION", default_value = "50s", value_parser = parse_duration, conflicts_with = "manifests")]
    pub watch_timeout: std::time::Duration,

    /// Address to serve DNS on, over UDP and TCP. Repeatable. Port 0 picks one free port for both.
    #[arg(
        long = "listen",
        env = "CLUSTERDNS_LISTEN",
        value_delimiter = ',',
        value_name = "ADDR:PORT",
        default_value = "0.0.0.0:53"
    )]
    pub listen: Vec<SocketAddr>,

    /// The cluster domain. Repeatable (CoreDNS `kubernetes cluster.local corp.internal`): the
    /// same names are answered under each; PTR targets and the default use the first.
    #[arg(long = "zone", env = "CLUSTERDNS_ZONE", value_name = "NAME", value_delimiter = ',', default_value = "cluster.local", value_parser = parse_zone)]
    pub zones: Vec<Name>,

    /// Answer Multi-Cluster Services (KEP-1645) in this zone, normally `clusterset.local`
    /// (CoreDNS `multicluster`): `<svc>.<ns>.svc.<zone>` from ServiceImports
    /// (multicluster.x-k8s.io/v1alpha1) and their EndpointSlices. Repeatable. ServiceImports are
    /// watched (or read from manifests) only when this is given.
    #[arg(long = "multicluster", env = "CLUSTERDNS_MULTICLUSTER", value_name = "ZONE", value_delimiter = ',', value_parser = parse_zone)]
    pub multicluster: Vec<Name>,

    /// Answer NXDOMAIN for PTR queries of addresses the cluster does not know, instead of
    /// forwarding them.
    #[arg(long = "no-reverse-fallthrough", env = "CLUSTERDNS_NO_REVERSE_FALLTHROUGH")]
    pub no_reverse_fallthrough: bool,

    /// A name in this zone (the cluster zone, a static zone, or a zone below one) that would be
    /// NXDOMAIN is forwarded upstream instead (CoreDNS `fallthrough ZONE`). Repeatable.
    #[arg(long = "fallthrough", env = "CLUSTERDNS_FALLTHROUGH", value_delimiter = ',', value_name = "ZONE", value_parser = parse_zone)]
    pub fallthrough: Vec<Name>,

    /// TCP connections open at once, over all clients. When all are taken, the connection idle
    /// the longest is closed to make room for a new client.
    #[arg(long = "tcp-connections", env = "CLUSTERDNS_TCP_CONNECTIONS", value_name = "N", default_value_t = 1024, value_parser = parse_positive)]
    pub tcp_connections: usize,

    /// TCP connections one client address may hold at once; more are refused.
    #[arg(long = "tcp-connections-per-client", env = "CLUSTERDNS_TCP_CONNECTIONS_PER_CLIENT", value_name = "N", default_value_t = 128, value_parser = parse_positive)]
    pub tcp_connections_per_client: usize,

    /// A TCP connection that sends no complete query, or does not take its reply, for this
    /// long is closed.
    #[arg(long = "tcp-idle-timeout", env = "CLUSTERDNS_TCP_IDLE_TIMEOUT", value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub tcp_idle_timeout: std::time::Duration,

    /// HTTP admin endpoint: /health, /ready, /metrics (Prometheus). Repeatable: every address
    /// serves all three (CoreDNS's health, ready and prometheus ports at once).
    #[arg(long = "admin", env = "CLUSTERDNS_ADMIN", value_name = "ADDR:PORT", value_delimiter = ',')]
    pub admin: Vec<SocketAddr>,

    /// After SIGTERM or SIGINT, how long to keep answering while unready, so load balancers
    /// stop sending queries first.
    #[arg(long = "lameduck", env = "CLUSTERDNS_LAMEDUCK", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub lameduck: std::time::Duration,

    /// After the lameduck period, how long queries already taken get to finish.
    #[arg(long = "shutdown-timeout", env = "CLUSTERDNS_SHUTDOWN_TIMEOUT", value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: std::time::Duration,

    /// UDP worker threads per listen address, each with its own socket (0: one per CPU this
    /// process may run on).
    #[arg(long = "udp-workers", env = "CLUSTERDNS_UDP_WORKERS", value_name = "N", default_value_t = 0)]
    pub udp_workers: usize,

    /// Share the listen ports with other processes of the same user (SO_REUSEPORT on UDP and
    /// TCP), so that a new instance can start beside the one it replaces, as in a node-local
    /// DaemonSet's surge update. The one that stops hands its traffic over without losing a
    /// query (over TCP, connections not yet accepted move only with net.ipv4.tcp_migrate_req=1).
    #[arg(long = "reuse-port", env = "CLUSTERDNS_REUSE_PORT")]
    pub reuse_port: bool,

    /// Before listening, make the dummy network interface NAME (unless an interface of that
    /// name exists), set it up, and give it each --listen address that is not a wildcard or
    /// loopback one: node-local mode in the node's network, where pods reach the instance at a
    /// link-local address (as NodeLocal DNSCache's `nodelocaldns` interface). Needs
    /// CAP_NET_ADMIN. The interface and its addresses stay when clusterdns stops, for the
    /// instance that replaces it.
    #[arg(long = "dummy-interface", env = "CLUSTERDNS_DUMMY_INTERFACE", value_name = "NAME", value_parser = parse_interface_name)]
    pub dummy_interface: Option<String>,

    /// Save the last good view of the cluster to this file (a Kubernetes List in JSON, on a
    /// writable volume such as an emptyDir) once the first lists are complete and then at most
    /// once a minute while it changes. At start, with the Kubernetes API as source, answers
    /// come from it until the API's lists replace it, instead of SERVFAIL while the API is
    /// unreachable (/ready and the metric clusterdns_serving_saved_snapshot_timestamp_seconds
    /// say so). A file of another format version, or one that does not parse, is ignored.
    #[arg(long = "snapshot-file", env = "CLUSTERDNS_SNAPSHOT_FILE", value_name = "PATH")]
    pub snapshot_file: Option<PathBuf>,

    /// Ignore a saved snapshot (--snapshot-file) that was last known current longer ago than
    /// this: its Pod IPs may belong to other Pods by now. An instance whose watches are healthy
    /// marks its file current once a minute, so the age counts from when the instance that
    /// wrote it last saw the cluster. 0: any age.
    #[arg(long = "snapshot-max-age", env = "CLUSTERDNS_SNAPSHOT_MAX_AGE", value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub snapshot_max_age: std::time::Duration,

    /// Log lines as `text` or `json`.
    #[arg(long = "log-format", env = "CLUSTERDNS_LOG_FORMAT", value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Settings a reload applies to the running server.
    #[command(flatten)]
    pub live: LiveSettings,
}

/// The settings a reload (SIGHUP, or a change of the `--config` file or the Corefile) applies to the running
/// server. Every other setting takes effect at the next start; a reload that changes one says so.
#[derive(Debug, Clone, PartialEq, Args)]
#[command(next_help_heading = "Applied on reload (SIGHUP, or a change of the --config file or the Corefile)")]
pub struct LiveSettings {
    /// TTL in seconds of every record built from Kubernetes data (0..=3600).
    #[arg(long = "ttl", env = "CLUSTERDNS_TTL", value_name = "SECONDS", default_value_t = 5, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub ttl: u32,

    /// Lower the TTL of each headless answer by a random part of this many percent (0: off), so
    /// that clients refreshing on expiry (Envoy with respect_dns_ttl, gRPC) spread out.
    #[arg(long = "ttl-jitter", env = "CLUSTERDNS_TTL_JITTER", value_name = "PERCENT", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=50))]
    pub ttl_jitter: u32,

    /// A Service with a cluster IP but no ready endpoint answers NXDOMAIN (CoreDNS `ignore
    /// empty_service`), so that a client goes on down its search list.
    #[arg(long = "ignore-empty-service", env = "CLUSTERDNS_IGNORE_EMPTY_SERVICE")]
    pub ignore_empty_service: bool,

    /// Pod records `<a-b-c-d>.<ns>.pod.<zone>`.
    #[arg(long = "pods", env = "CLUSTERDNS_PODS", value_name = "MODE", value_enum, default_value_t = PodMode::Disabled)]
    pub pods: PodMode,

    /// RFC 1035 zone file to serve authoritatively next to the cluster zone (its origin is the
    /// owner of its SOA record). Repeatable; re-read when it changes.
    #[arg(long = "zone-file", env = "CLUSTERDNS_ZONE_FILE", value_delimiter = ',', value_name = "PATH")]
    pub zone_files: Vec<PathBuf>,

    /// Log every query at info.
    #[arg(long = "log-queries", env = "CLUSTERDNS_LOG_QUERIES")]
    pub log_queries: bool,

    /// Log filter: a level (error, warn, info, debug, trace) or a tracing directive such as
    /// `info,clusterdns::source=debug`. `debug` logs every query.
    #[arg(long = "log-level", env = "CLUSTERDNS_LOG_LEVEL", value_name = "LEVEL", default_value = "info", value_parser = parse_log_level)]
    pub log_level: String,

    #[command(flatten)]
    pub forward: ForwardArgs,

    #[command(flatten)]
    pub hosts: HostsArgs,

    /// Rewrite query names before answering (CoreDNS `rewrite name`), e.g. `name exact
    /// db.corp.example db.shop.svc.cluster.local`: `[stop|continue] name
    /// [exact|prefix|suffix|substring|regex] FROM TO [answer auto|answer name FROM TO|answer
    /// value FROM TO]...`. Answers carry the name asked. Repeatable; applied in order.
    #[arg(long = "rewrite", env = "CLUSTERDNS_REWRITE", value_delimiter = '\n', value_name = "RULE", value_parser = parse_rewrite)]
    pub rewrites: Vec<String>,

    /// Answer matching questions from a template (CoreDNS `template`): `CLASS TYPE [ZONE...];
    /// match REGEX; answer RR; additional RR; authority RR; rcode RCODE; fallthrough`, e.g.
    /// `ANY ANY example.invalid; rcode NXDOMAIN`. Repeatable; the first that takes a question
    /// answers it.
    #[arg(long = "template", env = "CLUSTERDNS_TEMPLATE", value_delimiter = '\n', value_name = "TEMPLATE", value_parser = parse_template)]
    pub templates: Vec<String>,
}

fn parse_rewrite(s: &str) -> Result<String, String> {
    crate::dns::rewrite::Rewrite::parse(s).map(|_| s.to_string())
}

fn parse_template(s: &str) -> Result<String, String> {
    crate::dns::template::Template::parse(s).map(|_| s.to_string())
}

/// Names from hosts files and inline entries (CoreDNS `hosts`), answered before the cluster
/// zone.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct HostsArgs {
    /// A hosts file (`IP name [alias...]` lines, as /etc/hosts): its names answer A/AAAA and its
    /// addresses PTR. Repeatable; re-read when it changes (--hosts-reload).
    #[arg(long = "hosts-file", env = "CLUSTERDNS_HOSTS_FILE", value_delimiter = ',', value_name = "PATH")]
    pub hosts_files: Vec<PathBuf>,

    /// One hosts line given here, e.g. `10.0.0.9 db.corp.example`. Repeatable.
    #[arg(long = "host", env = "CLUSTERDNS_HOST", value_delimiter = ';', value_name = "ENTRY")]
    pub hosts_entries: Vec<String>,

    /// TTL of hosts answers.
    #[arg(long = "hosts-ttl", env = "CLUSTERDNS_HOSTS_TTL", value_name = "SECONDS", default_value_t = 3600,
          value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub hosts_ttl: u32,

    /// How often hosts files are checked for changes (0: never).
    #[arg(long = "hosts-reload", env = "CLUSTERDNS_HOSTS_RELOAD", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub hosts_reload: std::time::Duration,

    /// Do not answer PTRs for the hosts addresses.
    #[arg(long = "hosts-no-reverse", env = "CLUSTERDNS_HOSTS_NO_REVERSE")]
    pub hosts_no_reverse: bool,

    /// A name in the hosts zones without an entry goes on to the cluster zone and the
    /// forwarder; without this it gets SERVFAIL, as CoreDNS answers it.
    #[arg(long = "hosts-fallthrough", env = "CLUSTERDNS_HOSTS_FALLTHROUGH")]
    pub hosts_fallthrough: bool,

    /// Only names in this zone are read and answered from the hosts entries (default: every
    /// name). Repeatable.
    #[arg(long = "hosts-zone", env = "CLUSTERDNS_HOSTS_ZONE", value_delimiter = ',', value_name = "ZONE", value_parser = parse_zone)]
    pub hosts_zones: Vec<Name>,
}

impl HostsArgs {
    pub fn settings(&self) -> crate::hosts::HostsSettings {
        crate::hosts::HostsSettings {
            files: self.hosts_files.clone(),
            entries: self.hosts_entries.clone(),
            ttl: self.hosts_ttl,
            reload: self.hosts_reload,
            reverse: !self.hosts_no_reverse,
            fallthrough: self.hosts_fallthrough,
            zones: self.hosts_zones.clone(),
        }
    }
}

/// Forwarding and its cache: a change builds a new forwarder (with an empty cache).
#[derive(Debug, Clone, PartialEq, Args)]
pub struct ForwardArgs {
    /// Upstream resolver for names outside our zones. Repeatable; tried in order, a failing one
    /// is skipped for a while. Default: the nameservers of --resolv-conf.
    #[arg(long = "upstream", env = "CLUSTERDNS_UPSTREAM", value_delimiter = ',', value_name = "ADDR[:PORT]", value_parser = crate::forward::resolv::parse_upstream)]
    pub upstreams: Vec<SocketAddr>,

    /// resolv.conf whose nameservers are the default upstreams (e.g. the node's).
    #[arg(
        long = "resolv-conf",
        env = "CLUSTERDNS_RESOLV_CONF",
        value_name = "PATH",
        default_value = "/etc/resolv.conf"
    )]
    pub resolv_conf: PathBuf,

    /// Stub domain: names in DOMAIN go to these upstreams instead (kube-dns `stubDomains`).
    /// Repeatable; the longest matching domain wins.
    #[arg(long = "stub", env = "CLUSTERDNS_STUB", value_delimiter = ';', value_name = "DOMAIN=ADDR[,ADDR]", value_parser = parse_stub)]
    pub stubs: Vec<(Name, Vec<SocketAddr>)>,

    /// The order healthy upstreams are asked in (CoreDNS forward `policy`): `sequential` (the
    /// first healthy one answers), `random`, or `round-robin`.
    #[arg(long = "upstream-policy", env = "CLUSTERDNS_UPSTREAM_POLICY", value_name = "POLICY", value_enum, default_value_t = crate::forward::Policy::Sequential)]
    pub upstream_policy: crate::forward::Policy,

    /// Ask upstreams over TCP only (CoreDNS forward `force_tcp`); by default UDP, and TCP when
    /// a reply is truncated.
    #[arg(long = "upstream-tcp", env = "CLUSTERDNS_UPSTREAM_TCP")]
    pub upstream_tcp: bool,

    /// Never forward names in DOMAIN (CoreDNS forward `except`): they get SERVFAIL unless a
    /// --stub covers them. Repeatable.
    #[arg(long = "forward-except", env = "CLUSTERDNS_FORWARD_EXCEPT", value_name = "DOMAIN", value_delimiter = ',', value_parser = parse_zone)]
    pub forward_except: Vec<Name>,

    /// How long one upstream gets to answer one query before the next is tried.
    #[arg(long = "upstream-timeout", env = "CLUSTERDNS_UPSTREAM_TIMEOUT", value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub upstream_timeout: std::time::Duration,

    /// Forwarded queries in flight at most; beyond, new ones get SERVFAIL at once.
    #[arg(long = "max-concurrent", env = "CLUSTERDNS_MAX_CONCURRENT", value_name = "N", default_value_t = 1000)]
    pub max_concurrent: usize,

    /// Forwarded answers cached at most (entries).
    #[arg(long = "cache-size", env = "CLUSTERDNS_CACHE_SIZE", value_name = "N", default_value_t = 10_000)]
    pub cache_size: u64,

    /// Longest time a forwarded positive answer is cached.
    #[arg(long = "cache-max-ttl", env = "CLUSTERDNS_CACHE_MAX_TTL", value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub cache_max_ttl: std::time::Duration,

    /// Do not cache forwarded answers for names in ZONE (CoreDNS `cache { disable success ZONE
    /// }`; `.`: any name). Repeatable.
    #[arg(long = "cache-disable-success", env = "CLUSTERDNS_CACHE_DISABLE_SUCCESS", value_name = "ZONE", value_delimiter = ',', value_parser = parse_zone_or_root)]
    pub cache_disable_success: Vec<Name>,

    /// Do not cache forwarded NXDOMAIN and NODATA for names in ZONE (CoreDNS `cache { disable
    /// denial ZONE }`; `.`: any name). Repeatable.
    #[arg(long = "cache-disable-denial", env = "CLUSTERDNS_CACHE_DISABLE_DENIAL", value_name = "ZONE", value_delimiter = ',', value_parser = parse_zone_or_root)]
    pub cache_disable_denial: Vec<Name>,

    /// Answer AAAA questions for names outside our zones with NODATA here instead of asking an
    /// upstream: for clusters whose pods have no IPv6 route, where those questions are about
    /// half of all forwarded ones and their answers cannot be used.
    #[arg(long = "filter-aaaa-forwarded", env = "CLUSTERDNS_FILTER_AAAA_FORWARDED")]
    pub filter_aaaa_forwarded: bool,

    /// Longest time a forwarded NXDOMAIN or NODATA is cached (RFC 2308).
    #[arg(long = "cache-max-negative-ttl", env = "CLUSTERDNS_CACHE_MAX_NEGATIVE_TTL", value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub cache_max_negative_ttl: std::time::Duration,
}

fn parse_zone(s: &str) -> Result<Name, String> {
    let trimmed = s.trim_end_matches('.');
    if trimmed.is_empty() {
        return Err("the zone must not be the root".into());
    }
    let mut name = Name::from_ascii(trimmed).map_err(|e| format!("{s:?} is not a valid domain name: {e}"))?;
    name.set_fqdn(true);
    // The SOA names `hostmaster.<zone>` and `ns.dns.<zone>` must fit in a name too.
    for child in ["hostmaster", "ns.dns"] {
        Name::from_ascii(child)
            .and_then(|c| c.append_domain(&name))
            .map_err(|_| format!("{s:?} is too long to be a zone"))?;
    }
    Ok(name.to_lowercase())
}

/// `cluster.corp=10.0.0.53,10.0.0.54:5353`
/// A zone, or `.` for every name.
fn parse_zone_or_root(s: &str) -> Result<Name, String> {
    if s == "." { Ok(Name::root()) } else { parse_zone(s) }
}

fn parse_stub(s: &str) -> Result<(Name, Vec<SocketAddr>), String> {
    let (domain, addresses) = s.split_once('=').ok_or_else(|| format!("{s:?} is not DOMAIN=ADDR[,ADDR]"))?;
    let domain = parse_zone(domain)?;
    let addresses = addresses.split(',').map(crate::forward::resolv::parse_upstream).collect::<Result<Vec<_>, _>>()?;
    Ok((domain, addresses))
}

fn parse_selector(s: &str) -> Result<String, String> {
    crate::registry::selector::Selector::parse(s).map(|_| s.to_string())
}

/// `512`, `64Ki`, `256Mi`, `1Gi`.
fn parse_size(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let factor: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        _ => return Err(format!("{s:?} is not a size (like 4096, 64Ki, 256Mi, 1Gi)")),
    };
    number.parse::<u64>().ok().and_then(|n| n.checked_mul(factor)).ok_or_else(|| format!("{s:?} is not a size"))
}

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{s:?} is not a number above 0")),
    }
}

/// `250ms`, `5s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{s:?} is not a duration (like 250ms, 5s, 2m)");
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    std::time::Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// A network interface name as Linux accepts it: 1 to 15 bytes, no `/`, `:` or white space,
/// not `.` or `..`.
fn parse_interface_name(s: &str) -> Result<String, String> {
    let valid = (1..=15).contains(&s.len())
        && s != "."
        && s != ".."
        && !s.bytes().any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b.is_ascii_control());
    if valid {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not a network interface name (1-15 bytes, no '/', ':' or spaces)"))
    }
}

/// A node's name as Kubernetes validates it (a DNS subdomain), lower-cased.
fn parse_node_name(s: &str) -> Result<String, String> {
    let valid = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if valid { Ok(s.to_ascii_lowercase()) } else { Err(format!("{s:?} is not a Kubernetes node name")) }
}

fn parse_log_level(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("{s:?} is not a log level or filter: {e}"))
}

impl Cli {
    /// What the sources read, from the options that change it.
    pub fn read_options(&self) -> crate::source::documents::ReadOptions {
        let trim = crate::registry::object::TrimOptions {
            endpoint_pod_names: self.endpoint_pod_names,
            zones: self.zonal,
            topology: self.node().is_some() || self.client_nodes() != ClientNodes::Off,
            pod_nodes: self.client_nodes() == ClientNodes::Pods,
        };
        let namespaces = self
            .namespace_labels
            .as_deref()
            .map(|s| std::sync::Arc::new(crate::registry::selector::Selector::parse(s).expect("checked when parsed")));
        let multicluster = !self.multicluster.is_empty();
        crate::source::documents::ReadOptions { trim, no_endpoints: self.no_endpoints, namespaces, multicluster }
    }

    /// A combination of settings that cannot work, as a usage error.
    pub fn conflict(&self) -> Option<String> {
        let zone = self.multicluster.iter().find(|z| self.zones.iter().any(|c| c.zone_of(z) || z.zone_of(c)))?;
        let zone = zone.to_string();
        let zone = zone.trim_end_matches('.');
        Some(format!("--multicluster {zone} overlaps a cluster zone (--zone); the clusterset zone must be its own"))
    }

    pub fn tcp(&self) -> crate::tcp::TcpSettings {
        crate::tcp::TcpSettings {
            max_connections: self.tcp_connections,
            max_per_client: self.tcp_connections_per_client,
            idle_timeout: self.tcp_idle_timeout,
        }
    }

    pub fn udp_workers(&self) -> usize {
        match self.udp_workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The node whose nearby endpoints headless answers prefer: `--node-name`, unless
    /// `--topology off`.
    pub fn node(&self) -> Option<&str> {
        self.node_name.as_deref().filter(|_| self.topology != TopologyAnswers::Off)
    }

    /// How clients' nodes are found (`--client-nodes`), unless `--topology off`.
    pub fn client_nodes(&self) -> ClientNodes {
        if self.topology == TopologyAnswers::Off { ClientNodes::Off } else { self.client_nodes }
    }

    /// The --listen addresses a dummy interface must hold: neither wildcard nor loopback.
    pub fn own_addresses(&self) -> Vec<std::net::IpAddr> {
        let mut own: Vec<std::net::IpAddr> = self.listen.iter().map(|a| a.ip()).collect();
        own.retain(|ip| !ip.is_unspecified() && !ip.is_loopback());
        own.sort();
        own.dedup();
        own
    }

    /// How the listen addresses are bound.
    pub fn binding(&self) -> crate::app::Binding {
        crate::app::Binding { udp_workers: self.udp_workers(), reuse_port: self.reuse_port }
    }

    /// The tracing filter: the user's level, with hickory's per-packet parse warnings (a client
    /// decides how many there are) and the kube client's per-request errors kept quiet
    /// (clusterdns logs watch failures once per state change) unless a directive names them.
    pub fn log_filter(&self) -> String {
        self.live.log_filter()
    }
}

impl LiveSettings {
    /// See [`Cli::log_filter`].
    pub fn log_filter(&self) -> String {
        let mut filter = self.log_level.clone();
        for (target, level) in QUIET_TARGETS {
            if !filter.contains(target) {
                filter.push_str(&format!(",{target}={level}"));
            }
        }
        filter
    }
}

/// Libraries whose logs are per packet or per request, and the level they are kept at unless
/// the log filter names them: a client must not decide how much is logged.
const QUIET_TARGETS: [(&str, &str); 4] =
    [("hickory_server", "error"), ("hickory_proto", "error"), ("hickory_net", "warn"), ("kube_client", "off")];

/// Arguments that are not settings.
pub const NOT_SETTINGS: [&str; 4] = ["config", "check-config", "help", "version"];

/// Every setting's values as given, whether by flag, environment, file or default, by key (the
/// flag's name): what `check-config` prints, and what tells a reload which keys changed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings(BTreeMap<String, Vec<String>>);

impl Settings {
    pub fn from_matches(matches: &ArgMatches) -> Settings {
        let mut settings = BTreeMap::new();
        for arg in Cli::command().get_arguments() {
            let Some(key) = arg.get_long().filter(|k| !NOT_SETTINGS.contains(k)) else { continue };
            let values = matches.get_raw(arg.get_id().as_str()).into_iter().flatten();
            settings.insert(key.to_string(), values.map(|v| v.to_string_lossy().into_owned()).collect());
        }
        Settings(settings)
    }

    /// The settings as a TOML file that would reproduce them.
    pub fn to_toml(&self) -> String {
        let command = Cli::command();
        let mut out = String::new();
        for arg in command.get_arguments() {
            let Some(values) = arg.get_long().and_then(|key| self.0.get(key)) else { continue };
            let key = arg.get_long().unwrap_or_default();
            let quoted = |v: &String| format!("{v:?}");
            let value = match arg.get_action() {
                ArgAction::Append => format!("[{}]", values.iter().map(quoted).collect::<Vec<_>>().join(", ")),
                ArgAction::SetTrue => values.first().map_or("false".into(), Clone::clone),
                _ if values.is_empty() => continue,
                _ if values[0].parse::<i64>().is_ok() => values[0].clone(),
                _ => quoted(&values[0]),
            };
            out.push_str(&format!("{key} = {value}\n"));
        }
        out
    }

    /// The keys whose values differ between the two.
    pub fn changed<'a>(&'a self, other: &'a Settings) -> BTreeSet<&'a str> {
        let keys = self.0.keys().chain(other.0.keys()).map(String::as_str);
        keys.filter(|k| self.0.get(*k) != other.0.get(*k)).collect()
    }
}

/// Whether a reload applies `key` (one of [`LiveSettings`]) without a restart.
pub fn is_live(key: &str) -> bool {
    LiveSettings::augment_args(clap::Command::new("live")).get_arguments().any(|a| a.get_long() == Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("clusterdns").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_match_the_documentation() {
        let cli = parse(&["--manifests", "zones/demo"]).unwrap();
        assert_eq!(cli.zones, [Name::from_ascii("cluster.local.").unwrap()]);
        assert_eq!(cli.live.ttl, 5);
        assert_eq!(cli.live.pods, PodMode::Disabled);
        assert_eq!(cli.listen, vec!["0.0.0.0:53".parse::<SocketAddr>().unwrap()]);
    }

    #[test]
    fn bad_values_name_their_flag() {
        let long_zone = vec!["a".repeat(60); 4].join(".");
        for (args, flag) in [
            (&["--manifests", "x", "--ttl", "3601"][..], "--ttl"),
            (&["--manifests", "x", "--pods", "sometimes"][..], "--pods"),
            (&["--manifests", "x", "--listen", "localhost"][..], "--listen"),
            (&["--manifests", "x", "--zone", "."][..], "--zone"),
            (&["--manifests", "x", "--zone", &long_zone][..], "--zone"),
            (&["--manifests", "x", "--log-level", "loud=="][..], "--log-level"),
            (&["--startup-timeout", "soon"][..], "--startup-timeout"),
            (&["--upstream", "dns.example"][..], "--upstream"),
            (&["--stub", "corp.example"][..], "--stub"),
            (&["--stub", "corp.example=10.0.0.1,x"][..], "--stub"),
            (&["--manifests", "x", "--kubeconfig", "k"][..], "--kubeconfig"),
            (&["--client-nodes", "pods", "--node-name", "n1"][..], "--client-nodes"),
            (&["--manifests", "x", "--client-nodes", "pods"][..], "--client-nodes"),
            (&["--client-nodes", "kubelet"][..], "--client-nodes"),
            (&["--dummy-interface", "node-local-dns-0"][..], "--dummy-interface"),
            (&["--dummy-interface", "a/b"][..], "--dummy-interface"),
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn per_packet_library_logs_stay_quiet_unless_the_filter_names_them() {
        let filter = |level: &str| parse(&["--manifests", "x", "--log-level", level]).unwrap().log_filter();
        assert!(filter("warn,clusterdns::app=info").contains("hickory_proto=error"));
        assert!(filter("debug").contains("hickory_proto=error"));
        assert!(!filter("info,hickory_proto=debug").contains("hickory_proto=error"));
    }

    #[test]
    fn durations_take_units() {
        use std::time::Duration;
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("5 s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn zone_is_normalised_to_lower_case_fqdn() {
        let cli = parse(&["--manifests", "x", "--zone", "Corp.Example."]).unwrap();
        assert_eq!(cli.zones[0].to_string(), "corp.example.");
    }
}
