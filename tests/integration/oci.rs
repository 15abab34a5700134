//! What a kubelet and containerd's CRI plugin hand to runc for a pod's container: the OCI runtime
//! configuration, derived from the pod spec and the image's configuration the way containerd
//! derives it (`WithCapabilities`, `WithoutAmbientCaps`, `WithNoNewPrivileges`,
//! `WithRootFSReadonly`, sysctls, volume and service-account mounts). Not reproduced: the
//! RuntimeDefault seccomp profile, cgroup CPU shares, and the pause container.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, PodSpec};
use serde_json::{Value, json};

/// The pod-level facts a kubelet knows that the spec does not say.
pub struct Pod<'a> {
    pub name: &'a str,
    pub spec: &'a PodSpec,
    /// The pod's network namespace (the sandbox's).
    pub netns: &'a Path,
    /// Host directories holding each volume's files, by volume name.
    pub volumes: BTreeMap<String, PathBuf>,
    /// The projected service-account volume: token, ca.crt, namespace.
    pub service_account: &'a Path,
    /// The pod's /etc/hosts, /etc/hostname and /etc/resolv.conf, written by the kubelet.
    pub etc: &'a Path,
    /// Service environment variables (KUBERNETES_SERVICE_HOST and friends).
    pub service_env: Vec<(String, String)>,
    /// The node the pod is bound to (`spec.nodeName`, for the downward API).
    pub node_name: &'a str,
}

/// Where the kubelet mounts the service-account volume.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// containerd's paths hidden from and made read-only for every container.
const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The runtime configuration for `container` of `pod`, on top of `defaults` (the config.json
/// `umoci unpack` writes: the runtime's default mounts, namespaces and devices) and the image's
/// configuration (`image_config["config"]`).
pub fn runtime_config(defaults: &Value, image_config: &Value, pod: &Pod, container: &Container) -> Value {
    let mut config = defaults.clone();
    config["process"] = process(image_config, pod, container);
    config["hostname"] = json!(pod.name);
    config["root"] = json!({"path": "rootfs", "readonly": security(container, |s| s.read_only_root_filesystem)});
    let mounts = config["mounts"].as_array_mut().expect("default mounts");
    mounts.extend(pod_mounts(pod, container));
    let linux = &mut config["linux"];
    for namespace in linux["namespaces"].as_array_mut().expect("default namespaces") {
        if namespace["type"] == "network" {
            namespace["path"] = json!(pod.netns);
        }
    }
    linux["maskedPaths"] = json!(MASKED_PATHS);
    linux["readonlyPaths"] = json!(READONLY_PATHS);
    let sysctls = pod.spec.security_context.as_ref().and_then(|s| s.sysctls.as_ref());
    let sysctls: BTreeMap<&str, &str> =
        sysctls.into_iter().flatten().map(|s| (s.name.as_str(), s.value.as_str())).collect();
    linux["sysctl"] = json!(sysctls);
    if let Some(limit) = memory_limit(container) {
        linux["resources"]["memory"] = json!({"limit": limit});
    }
    config
}

fn security(
    container: &Container,
    field: impl Fn(&k8s_openapi::api::core::v1::SecurityContext) -> Option<bool>,
) -> bool {
    container.security_context.as_ref().and_then(field).unwrap_or(false)
}

fn process(image_config: &Value, pod: &Pod, container: &Container) -> Value {
    let image = &image_config["config"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
    };
    // Kubernetes: `command` replaces the image's entrypoint, `args` its cmd.
    let mut args = container.command.clone().unwrap_or_else(|| strings(&image["Entrypoint"]));
    args.extend(container.args.clone().unwrap_or_else(|| strings(&image["Cmd"])));
    let mut env = strings(&image["Env"]);
    env.push(format!("HOSTNAME={}", pod.name));
    for var in container.env.iter().flatten() {
        // The downward API: only the field clusterdns's manifests ask for.
        let field = var.value_from.as_ref().and_then(|v| v.field_ref.as_ref()).map(|f| f.field_path.as_str());
        let value = match (&var.value, field) {
            (Some(value), _) => value.as_str(),
            (None, Some("spec.nodeName")) => pod.node_name,
            _ => panic!("env {}: only values and fieldRef spec.nodeName are supported", var.name),
        };
        env.push(format!("{}={value}", var.name));
    }
    env.extend(pod.service_env.iter().map(|(k, v)| format!("{k}={v}")));
    let pod_security = pod.spec.security_context.as_ref();
    let container_security = container.security_context.as_ref();
    let (image_uid, image_gid) = image_user(image["User"].as_str().unwrap_or(""));
    let uid = container_security.and_then(|s| s.run_as_user).or(pod_security.and_then(|s| s.run_as_user));
    let gid = container_security.and_then(|s| s.run_as_group).or(pod_security.and_then(|s| s.run_as_group));
    // allowPrivilegeEscalation defaults to true.
    let no_new_privileges = container_security.and_then(|s| s.allow_privilege_escalation) == Some(false);
    let capabilities = capabilities(container);
    json!({
        "terminal": false,
        "user": {"uid": uid.unwrap_or(image_uid), "gid": gid.unwrap_or(image_gid)},
        "args": args,
        "env": env,
        "cwd": image["WorkingDir"].as_str().filter(|d| !d.is_empty()).unwrap_or("/"),
        // containerd after CVE-2022-24769: bounding, effective and permitted; never
        // inheritable or ambient.
        "capabilities": {
            "bounding": capabilities, "effective": capabilities, "permitted": capabilities,
            "inheritable": [], "ambient": []
        },
        "noNewPrivileges": no_new_privileges,
    })
}

fn image_user(user: &str) -> (i64, i64) {
    let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
    (uid.parse().unwrap_or(0), gid.parse().unwrap_or(0))
}

/// containerd's default set, then `drop` and `add` as its CRI plugin applies them.
fn capabilities(container: &Container) -> Vec<String> {
    const DEFAULT: &[&str] = &[
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ];
    let mut set: Vec<String> = DEFAULT.iter().map(|c| c.to_string()).collect();
    let Some(caps) = container.security_context.as_ref().and_then(|s| s.capabilities.as_ref()) else {
        return set;
    };
    let name = |c: &String| format!("CAP_{}", c.to_uppercase());
    let drop = caps.drop.clone().unwrap_or_default();
    if drop.iter().any(|c| c == "ALL") {
        set.clear();
    }
    set.retain(|c| !drop.iter().map(name).any(|d| &d == c));
    for add in caps.add.iter().flatten().map(name) {
        if !set.contains(&add) {
            set.push(add);
        }
    }
    set
}

fn bind(source: &Path, destination: &str, read_only: bool) -> Value {
    let mut options = vec!["rbind", "nosuid", "nodev"];
    if read_only {
        options.push("ro");
    }
    json!({"destination": destination, "type": "bind", "source": source, "options": options})
}

fn pod_mounts(pod: &Pod, container: &Container) -> Vec<Value> {
    let mut mounts: Vec<Value> = container
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| {
            let source = pod.volumes.get(&m.name).unwrap_or_else(|| panic!("no files for volume {}", m.name));
            bind(source, &m.mount_path, m.read_only.unwrap_or(false))
        })
        .collect();
    mounts.push(bind(pod.service_account, SERVICE_ACCOUNT_DIR, true));
    for file in ["hosts", "hostname", "resolv.conf"] {
        mounts.push(bind(&pod.etc.join(file), &format!("/etc/{file}"), true));
    }
    mounts
}

/// `resources.limits.memory` in bytes (plain, or with a binary or decimal suffix).
fn memory_limit(container: &Container) -> Option<u64> {
    let quantity = &container.resources.as_ref()?.limits.as_ref()?.get("memory")?.0;
    let split = quantity.find(|c: char| !c.is_ascii_digit()).unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(split);
    let factor: u64 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        other => panic!("memory limit suffix {other} not supported"),
    };
    Some(number.parse::<u64>().ok()? * factor)
}
