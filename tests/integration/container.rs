//! The image run the way a kubelet runs it: `deploy/build-image.sh`'s image unpacked, the OCI
//! runtime configuration derived from the rendered `deploy/base` (src: oci.rs), started by runc
//! in a network namespace of the test's, with the pod's service-account volume and the
//! Kubernetes service environment pointing at the test API server over HTTPS with a bearer
//! token: the in-cluster connection path. Needs root, runc and umoci (see image.rs).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_net::proto::rr::RecordType;
use hickory_net::runtime::TokioRuntimeProvider;
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, PodTemplateSpec, Service};
use serde_json::Value;

use crate::apiserver::ApiServer;
use crate::harness::{Transport, exchange, file_appears, http_get, query_message, rdatas};
use crate::image::{self, can_run_containers};
use crate::netns::Netns;
use crate::oci;
use crate::{deploy, fixture};

/// The pod's address, and the `kubernetes` Service's, both on the namespace's loopback.
const POD_IP: &str = "10.244.0.10";
const API_SERVICE_IP: &str = "10.96.0.1";
const API_SERVICE_PORT: u16 = 443;
const TOKEN: &str = "clusterdns-test-service-account-token";
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A kustomization of `deploy/` as `kubectl kustomize` renders it.
struct Rendered {
    /// The pod template of the Deployment or DaemonSet under test.
    template: PodTemplateSpec,
    config_maps: Vec<ConfigMap>,
    dns_service: Option<Service>,
}

fn render_base() -> Rendered {
    render("base", "Deployment", "clusterdns")
}

/// The pod template of the workload `kind` `name` in `kustomization`, with what it uses.
fn render(kustomization: &str, kind: &str, name: &str) -> Rendered {
    let objects = deploy::render(kustomization);
    let service = objects.iter().find(|o| o["kind"] == "Service" && o["metadata"]["name"] == "kube-dns");
    let template = deploy::object(&objects, kind, name)["spec"]["template"].clone();
    Rendered {
        template: serde_json::from_value(template).unwrap(),
        config_maps: objects
            .iter()
            .filter(|o| o["kind"] == "ConfigMap")
            .map(|c| serde_json::from_value(c.clone()).unwrap())
            .collect(),
        dns_service: service.map(|s| serde_json::from_value(s.clone()).unwrap()),
    }
}

impl Rendered {
    fn pod_spec(&self) -> PodSpec {
        self.template.spec.clone().expect("a pod spec")
    }
}

fn container(spec: &PodSpec) -> &Container {
    &spec.containers[0]
}

/// The container port a probe or annotation names, by name or number (a number need not be a
/// declared port, as for the kubelet).
fn container_port(container: &Container, port: &str) -> u16 {
    if let Ok(number) = port.parse() {
        return number;
    }
    let ports = container.ports.iter().flatten();
    let found = ports.clone().find(|p| p.name.as_deref() == Some(port)).map(|p| p.container_port);
    let number = found.or_else(|| port.parse().ok().filter(|n| ports.clone().any(|p| p.container_port == *n)));
    u16::try_from(number.unwrap_or_else(|| panic!("the container has no port {port}"))).unwrap()
}

/// How the pod differs from `deploy/base`.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    AsDeployed,
    WithoutSysctl,
    WithoutFileCapability,
    WithoutEither,
}

/// A node's side of a pod: the network namespace (the pod's own, or the node's for a
/// host-network pod), the API server there, and the node's directories (hostPath volumes).
struct Node {
    netns: Netns,
    api: ApiServer,
    host: tempfile::TempDir,
}

/// The node the test pods run on.
const NODE_NAME: &str = "node-1";

impl Node {
    /// A namespace holding `addresses` (and the API server's), with the API server serving the
    /// fixture over HTTPS.
    fn new(addresses: &[IpAddr]) -> Arc<Node> {
        let api_ip: IpAddr = API_SERVICE_IP.parse().unwrap();
        let all: Vec<IpAddr> = addresses.iter().copied().chain([api_ip]).collect();
        let netns = Netns::create(&all);
        let listener = netns.run(|| std::net::TcpListener::bind((api_ip, API_SERVICE_PORT)).expect("bind the API"));
        let api = ApiServer::start_https(listener, TOKEN);
        fixture::apply(&api);
        Arc::new(Node { netns, api, host: tempfile::tempdir().unwrap() })
    }
}

/// One pod: its node, and `runc run` in the foreground.
struct PodRun {
    node: Arc<Node>,
    /// Where it answers and is probed: the probes' `host`, or the pod's own address.
    address: IpAddr,
    spec: PodSpec,
    runc: Child,
    id: String,
    state: PathBuf,
    logs: Arc<Mutex<Vec<String>>>,
    dir: tempfile::TempDir,
}

impl PodRun {
    /// A pod in a network namespace of its own, at POD_IP.
    fn start(rendered: &Rendered, variant: Variant) -> PodRun {
        PodRun::start_on(Node::new(&[POD_IP.parse().unwrap()]), rendered, variant)
    }

    fn start_on(node: Arc<Node>, rendered: &Rendered, variant: Variant) -> PodRun {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let mut spec = rendered.pod_spec();
        if matches!(variant, Variant::WithoutSysctl | Variant::WithoutEither) {
            spec.security_context.as_mut().unwrap().sysctls = None;
        }
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        image::built().unpack(&bundle);
        if matches!(variant, Variant::WithoutFileCapability | Variant::WithoutEither) {
            remove_file_capability(&bundle.join("rootfs/usr/local/bin/clusterdns"));
        }
        let name = format!("clusterdns-{}", COUNT.fetch_add(1, Ordering::Relaxed));
        let volumes = pod_volumes(&spec, &rendered.config_maps, &dir.path().join("volumes"), node.host.path());
        nested_mount_points(container(&spec), &volumes);
        let uid = spec.security_context.as_ref().and_then(|s| s.run_as_user).unwrap_or(0);
        let service_account = service_account(dir.path(), &node.api, uid);
        let etc = pod_etc(dir.path(), &name);
        let pod = oci::Pod {
            name: &name,
            spec: &spec,
            netns: &node.netns.path,
            volumes,
            service_account: &service_account,
            etc: &etc,
            service_env: vec![
                ("KUBERNETES_SERVICE_HOST".into(), API_SERVICE_IP.into()),
                ("KUBERNETES_SERVICE_PORT".into(), API_SERVICE_PORT.to_string()),
                ("KUBERNETES_SERVICE_PORT_HTTPS".into(), API_SERVICE_PORT.to_string()),
            ],
            node_name: NODE_NAME,
        };
        let defaults: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
        let config = oci::runtime_config(&defaults, &image::built().config(), &pod, container(&spec));
        std::fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();

        let id = format!("clusterdns-test-{}-{name}", std::process::id());
        let state = dir.path().join("runc");
        let mut runc = Command::new("runc")
            .arg("--root")
            .arg(&state)
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start runc");
        let logs = Arc::new(Mutex::new(Vec::new()));
        collect(runc.stdout.take().unwrap(), logs.clone());
        collect(runc.stderr.take().unwrap(), logs.clone());
        let probed = container(&spec).readiness_probe.as_ref().and_then(|p| p.http_get.as_ref()?.host.clone());
        let address = probed.unwrap_or_else(|| POD_IP.into()).parse().unwrap();
        PodRun { node, address, spec, runc, id, state, logs, dir }
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    fn runc(&self, args: &[&str]) -> std::process::Output {
        Command::new("runc").arg("--root").arg(&self.state).args(args).output().expect("run runc")
    }

    /// The container's process id on this host.
    fn pid(&self) -> u32 {
        let out = self.runc(&["state", &self.id]);
        let state: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("runc state: {}\n{}", String::from_utf8_lossy(&out.stderr), self.logs()));
        assert_eq!(state["status"], "running", "{state}\n{}", self.logs());
        u32::try_from(state["pid"].as_u64().unwrap()).unwrap()
    }

    /// The exit code, once `runc run` has ended, waiting up to `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.runc.try_wait().unwrap() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn pod_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.address, port)
    }

    /// GET as the kubelet probes: from outside the container, to the pod's address.
    fn get(&self, port: u16, path: &str) -> (u16, String) {
        let addr = self.pod_addr(port);
        self.node.netns.run(|| http_get(addr, path))
    }

    /// Polls the Deployment's readiness probe until it passes; panics if the container exits.
    fn wait_ready(&mut self) {
        let probe = container(&self.spec).readiness_probe.clone().expect("a readiness probe");
        let http = probe.http_get.expect("an httpGet readiness probe");
        let port = container_port(container(&self.spec), &int_or_string(&http.port));
        let path = http.path.unwrap_or_else(|| "/".into());
        let deadline = Instant::now() + START_TIMEOUT;
        while self.get(port, &path).0 != 200 {
            if let Some(code) = self.runc.try_wait().unwrap().map(|s| s.code()) {
                panic!("the container exited ({code:?}) before it was ready:\n{}", self.logs());
            }
            assert!(Instant::now() < deadline, "not ready after {START_TIMEOUT:?}:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A query for `name` A to the pod's port 53.
    fn ask(&self, name: &str, transport: Transport) -> Vec<String> {
        let addr = self.pod_addr(53);
        let response = self.node.netns.block_on(|| async move {
            let provider = TokioRuntimeProvider::default();
            exchange(addr, query_message(name, RecordType::A, None), transport, &provider).await
        });
        rdatas(&response.answers)
    }
}

impl Drop for PodRun {
    fn drop(&mut self) {
        let _ = self.runc(&["kill", &self.id, "KILL"]);
        let _ = self.runc.wait();
        let _ = self.runc(&["delete", "--force", &self.id]);
    }
}

fn collect(stream: impl std::io::Read + Send + 'static, sink: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
}

fn int_or_string(value: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> String {
    match value {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n) => n.to_string(),
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
    }
}

fn make_dir(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

fn write_file(path: &Path, contents: &str, mode: u32) {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A volume mounted inside another needs its mount point in the outer volume, which the
/// kubelet creates (the outer one is read-only in the container).
fn nested_mount_points(container: &Container, volumes: &BTreeMap<String, PathBuf>) {
    let mounts: Vec<_> = container.volume_mounts.iter().flatten().collect();
    for inner in &mounts {
        for outer in &mounts {
            let below =
                Path::new(&inner.mount_path).strip_prefix(&outer.mount_path).ok().filter(|p| !p.as_os_str().is_empty());
            if let (Some(relative), Some(host)) = (below, volumes.get(&outer.name)) {
                make_dir(&host.join(relative));
            }
        }
    }
}

/// The pod's volumes, by name: each ConfigMap's keys as files (mode 0644, the kubelet's
/// default), each emptyDir an empty folder anyone may write (mode 0777, as the kubelet makes it),
/// each hostPath the node's directory under `host` (DirectoryOrCreate: made, mode 0755).
fn pod_volumes(spec: &PodSpec, config_maps: &[ConfigMap], root: &Path, host: &Path) -> BTreeMap<String, PathBuf> {
    let mut volumes = BTreeMap::new();
    for volume in spec.volumes.iter().flatten() {
        if let Some(host_path) = &volume.host_path {
            assert_eq!(host_path.type_.as_deref(), Some("DirectoryOrCreate"), "hostPath types other than that");
            let dir = make_dir(&host.join(host_path.path.trim_start_matches('/')));
            volumes.insert(volume.name.clone(), dir);
            continue;
        }
        let dir = make_dir(&root.join(&volume.name));
        if volume.empty_dir.is_some() {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
            volumes.insert(volume.name.clone(), dir);
            continue;
        }
        let source = volume
            .config_map
            .as_ref()
            .unwrap_or_else(|| panic!("volume {} is neither a ConfigMap nor an emptyDir", volume.name));
        let map = config_maps.iter().find(|c| c.metadata.name == Some(source.name.clone()));
        let Some(map) = map else {
            // A missing optional ConfigMap is an empty folder, as the kubelet mounts it.
            assert!(source.optional == Some(true), "no ConfigMap {} rendered", source.name);
            volumes.insert(volume.name.clone(), dir);
            continue;
        };
        for (key, value) in map.data.iter().flatten() {
            let path = match &source.items {
                Some(items) => match items.iter().find(|i| &i.key == key) {
                    Some(item) => item.path.clone(),
                    None => continue,
                },
                None => key.clone(),
            };
            write_file(&dir.join(path), value, 0o644);
        }
        volumes.insert(volume.name.clone(), dir);
    }
    volumes
}

/// The projected service-account volume: the token readable only by the pod's user (as the
/// kubelet does when every container runs as one user), the API server's CA, the namespace.
fn service_account(root: &Path, api: &ApiServer, uid: i64) -> PathBuf {
    let dir = make_dir(&root.join("serviceaccount"));
    write_file(&dir.join("token"), TOKEN, 0o600);
    let uid = u32::try_from(uid).unwrap();
    std::os::unix::fs::chown(dir.join("token"), Some(uid), Some(uid)).unwrap();
    write_file(&dir.join("ca.crt"), api.ca_pem(), 0o644);
    write_file(&dir.join("namespace"), "kube-system", 0o644);
    dir
}

/// The pod's /etc/hosts, /etc/hostname and /etc/resolv.conf. `dnsPolicy: Default` gives the
/// node's resolv.conf: here one without nameservers, so nothing leaves the namespace.
fn pod_etc(root: &Path, name: &str) -> PathBuf {
    let dir = make_dir(&root.join("etc"));
    write_file(&dir.join("hosts"), &format!("127.0.0.1 localhost\n{POD_IP} {name}\n"), 0o644);
    write_file(&dir.join("hostname"), &format!("{name}\n"), 0o644);
    write_file(&dir.join("resolv.conf"), "# the node's resolv.conf: no nameservers in this test\n", 0o644);
    dir
}

fn remove_file_capability(binary: &Path) {
    let path = CString::new(binary.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: both arguments are NUL-terminated strings that outlive the call.
    let removed = unsafe { libc::removexattr(path.as_ptr(), c"security.capability".as_ptr()) };
    assert_eq!(removed, 0, "removexattr: {}", std::io::Error::last_os_error());
}

/// A `/proc/<pid>/status` field, e.g. `CapEff`.
fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap_or_else(|| panic!("no {field}"));
    line.split_once(':').unwrap().1.trim().to_string()
}

/// CAP_NET_BIND_SERVICE is capability 10.
const NET_BIND_SERVICE: u64 = 1 << 10;

fn capability_set(pid: u32, field: &str) -> u64 {
    u64::from_str_radix(&status_field(pid, field), 16).unwrap()
}

#[test]
fn the_image_runs_under_runc_exactly_as_deploy_base_specifies() {
    if !can_run_containers("the_image_runs_under_runc_exactly_as_deploy_base_specifies") {
        return;
    }
    let rendered = render_base();
    let started = Instant::now();
    let mut pod = PodRun::start(&rendered, Variant::AsDeployed);
    pod.wait_ready();
    let ready_after = started.elapsed();

    // The process: uid and gid 65532, NET_BIND_SERVICE and nothing else.
    let pid = pod.pid();
    let uid = rendered.pod_spec().security_context.unwrap().run_as_user.unwrap().to_string();
    assert_eq!(status_field(pid, "Uid").split_whitespace().collect::<Vec<_>>(), [uid.as_str(); 4]);
    assert_eq!(status_field(pid, "Gid").split_whitespace().collect::<Vec<_>>(), [uid.as_str(); 4]);
    assert_eq!(capability_set(pid, "CapEff"), NET_BIND_SERVICE, "effective capabilities");
    assert_eq!(capability_set(pid, "CapPrm"), NET_BIND_SERVICE, "permitted capabilities");
    assert_eq!(capability_set(pid, "CapAmb"), 0, "ambient capabilities");
    assert_eq!(status_field(pid, "NoNewPrivs"), "1", "allowPrivilegeEscalation: false");

    // DNS on port 53, over UDP and TCP, from what the API server holds.
    assert_eq!(pod.ask("web.apps.svc.cluster.local.", Transport::Udp), ["10.96.1.10"], "{}", pod.logs());
    assert_eq!(pod.ask("web.apps.svc.cluster.local.", Transport::Tcp), ["10.96.1.10"]);
    let api = &pod.node.api;
    assert!(!api.requests().is_empty() && api.unauthorized() == 0, "{:?}", api.requests());

    // The snapshot is saved to the emptyDir, the one place a read-only root lets it write.
    let snapshot = pod.dir.path().join("volumes/snapshot/snapshot.json");
    let saved = file_appears(&snapshot, Duration::from_secs(20));
    assert!(saved, "no snapshot saved in the emptyDir: {}", pod.logs());

    // The probes, and metrics where the kube-dns Service's annotation says they are.
    let spec = rendered.pod_spec();
    let container = container(&spec);
    let liveness = container.liveness_probe.clone().unwrap().http_get.unwrap();
    let live_port = container_port(container, &int_or_string(&liveness.port));
    assert_eq!(pod.get(live_port, &liveness.path.unwrap()).0, 200, "liveness");
    let annotations = rendered.dns_service.as_ref().unwrap().metadata.annotations.clone().unwrap();
    let metrics_port = container_port(container, &annotations["prometheus.io/port"]);
    let (status, metrics) = pod.get(metrics_port, "/metrics");
    assert!(status == 200 && metrics.contains("clusterdns_build_info"), "{status} {metrics}");

    // Still up after all that; then SIGTERM: exit 0 within the grace period.
    assert_eq!(pod.pid(), pid, "the same process throughout");
    assert_eq!(pod.runc(&["kill", &pod.id, "TERM"]).status.code(), Some(0));
    let terminated = Instant::now();
    let grace = Duration::from_secs(rendered.pod_spec().termination_grace_period_seconds.unwrap().unsigned_abs());
    let exit = pod.wait_exit(grace);
    assert_eq!(exit, Some(0), "exit after SIGTERM within {grace:?}:\n{}", pod.logs());
    eprintln!("container test: ready {ready_after:?} after runc run; exited {:?} after SIGTERM", terminated.elapsed());
}

/// Starts `variant` and asserts that it answers on port 53.
fn serves_port_53(variant: Variant) {
    let rendered = render_base();
    let mut pod = PodRun::start(&rendered, variant);
    pod.wait_ready();
    assert_eq!(pod.ask("web.apps.svc.cluster.local.", Transport::Udp), ["10.96.1.10"], "{}", pod.logs());
    assert_eq!(capability_set(pod.pid(), "CapAmb"), 0);
}

#[test]
fn port_53_binds_with_the_file_capability_alone() {
    if can_run_containers("port_53_binds_with_the_file_capability_alone") {
        serves_port_53(Variant::WithoutSysctl);
    }
}

#[test]
fn port_53_binds_with_the_unprivileged_port_sysctl_alone() {
    if can_run_containers("port_53_binds_with_the_unprivileged_port_sysctl_alone") {
        serves_port_53(Variant::WithoutFileCapability);
    }
}

#[test]
fn without_the_file_capability_or_the_sysctl_it_cannot_bind_port_53() {
    if !can_run_containers("without_the_file_capability_or_the_sysctl_it_cannot_bind_port_53") {
        return;
    }
    let rendered = render_base();
    let mut pod = PodRun::start(&rendered, Variant::WithoutEither);
    let exit = pod.wait_exit(START_TIMEOUT);
    let logs = pod.logs();
    assert!(matches!(exit, Some(code) if code != 0), "it must not start: {exit:?}\n{logs}");
    assert!(logs.contains("Permission denied") && logs.contains(":53"), "{logs}");
}

#[test]
fn the_coredns_deployment_runs_clusterdns_from_its_own_corefile() {
    if !can_run_containers("the_coredns_deployment_runs_clusterdns_from_its_own_corefile") {
        return;
    }
    // The overlay brings no ConfigMap: the cluster's `coredns` one holds kubeadm's Corefile.
    let mut rendered = render("overlays/coredns-compatible", "Deployment", "coredns");
    assert!(rendered.config_maps.is_empty() && rendered.dns_service.is_none(), "an image swap brings no config");
    let corefile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corefiles/kubeadm/Corefile"))
            .unwrap();
    rendered.config_maps.push(ConfigMap {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("coredns".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("Corefile".to_string(), corefile)])),
        ..Default::default()
    });
    let spec = rendered.pod_spec();
    assert_eq!(container(&spec).args.as_deref(), Some(&["-conf".to_string(), "/etc/coredns/Corefile".to_string()][..]));
    let mut pod = PodRun::start(&rendered, Variant::AsDeployed);
    pod.wait_ready();
    assert_eq!(pod.ask("web.apps.svc.cluster.local.", Transport::Udp), ["10.96.1.10"], "{}", pod.logs());
    assert_eq!(pod.ask("web.apps.svc.cluster.local.", Transport::Tcp), ["10.96.1.10"]);
    assert_eq!(pod.get(8080, "/health").0, 200, "the Corefile's health port");
    let (status, metrics) = pod.get(9153, "/metrics");
    assert!(status == 200 && metrics.contains("clusterdns_build_info"), "the Corefile's prometheus port");
    assert!(pod.logs().contains("running from the Corefile"), "{}", pod.logs());
}

/// CAP_NET_ADMIN is capability 12.
const NET_ADMIN: u64 = 1 << 12;

/// Waits until the pod's log holds `needle`, at most START_TIMEOUT.
fn wait_for_log(pod: &PodRun, needle: &str) {
    let deadline = Instant::now() + START_TIMEOUT;
    while !pod.logs().contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?} in:\n{}", pod.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_link_local_daemonset_updates_on_one_node_without_giving_up_its_address() {
    if !can_run_containers("the_link_local_daemonset_updates_on_one_node_without_giving_up_its_address") {
        return;
    }
    let rendered = render("overlays/node-local-link-local", "DaemonSet", "clusterdns-node-local");
    // The node's network: no pod address; the pods make theirs on the dummy interface.
    let node = Node::new(&[]);
    if !node.netns.makes_dummy_interfaces() {
        node.netns.add_stand_in_interface("nodelocaldns");
    }
    let mut old = PodRun::start_on(node.clone(), &rendered, Variant::AsDeployed);
    old.wait_ready();
    let pid = old.pid();
    assert_eq!(status_field(pid, "Uid").split_whitespace().collect::<Vec<_>>(), ["0"; 4]);
    assert_eq!(capability_set(pid, "CapEff"), NET_ADMIN | NET_BIND_SERVICE, "effective capabilities");
    assert_eq!(status_field(pid, "NoNewPrivs"), "1", "allowPrivilegeEscalation: false");
    assert_eq!(old.ask("web.apps.svc.cluster.local.", Transport::Udp), ["10.96.1.10"], "{}", old.logs());
    let snapshot = node.host.path().join("var/cache/clusterdns/snapshot.json");
    assert!(file_appears(&snapshot, START_TIMEOUT), "no snapshot saved on the node: {}", old.logs());

    // The surge pod: same address and ports, beside the old one, from the old one's snapshot.
    let new = PodRun::start_on(node.clone(), &rendered, Variant::AsDeployed);
    wait_for_log(&new, "answering from the saved snapshot");
    wait_for_log(&new, "initial sync complete");
    assert_eq!(old.runc(&["kill", &old.id, "TERM"]).status.code(), Some(0));
    let grace = Duration::from_secs(rendered.pod_spec().termination_grace_period_seconds.unwrap().unsigned_abs());
    assert_eq!(old.wait_exit(grace), Some(0), "{}", old.logs());
    assert_eq!(new.ask("web.apps.svc.cluster.local.", Transport::Udp), ["10.96.1.10"], "{}", new.logs());
    assert_eq!(new.ask("web.apps.svc.cluster.local.", Transport::Tcp), ["10.96.1.10"]);
    let probe = container(&new.spec).readiness_probe.clone().unwrap().http_get.unwrap();
    assert_eq!(new.get(9153, &probe.path.unwrap()).0, 200, "the probe address answers after the old pod left");
}
