//! The last good view of the cluster, saved to a file (`--snapshot-file`) and read back at
//! start, so that an instance restarted while the Kubernetes API is unreachable answers from it
//! instead of SERVFAIL until its first list arrives.
//!
//! The file is a Kubernetes `List` in JSON, of the objects as DNS keeps them (what was trimmed
//! away is not there): it is read back by the manifest reader, with its checks and limits, and
//! `kubectl` or `jq` can read it too. Its first bytes name the format version; a file of
//! another version, or one that does not parse, is ignored with a log line. It is written to a
//! temporary file and renamed, so a crash never leaves half a file behind.

use std::io::{BufWriter, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::documents::{self, ReadOptions};
use crate::registry::ClusterObjects;
use crate::registry::model::Saved;
use crate::registry::object::{EndpointSlice, NamedPort, Pod, Prefer, SERVICE_NAME_LABEL, Service, ServiceKind};

/// The format this version writes and reads. A change to what the file holds, or how, takes
/// a new number: an instance never reads a file it may misunderstand.
const FORMAT: u32 = 1;
/// Every file of this format starts with exactly these bytes.
const HEADER: &str =
    "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"metadata\":{\"annotations\":{\"clusterdns/snapshot-format\":\"1\",";

/// A snapshot read back.
#[derive(Debug)]
pub struct Loaded {
    pub objects: ClusterObjects,
    /// When it was saved (seconds since the epoch).
    pub saved_at: u64,
    /// The last time the instance that saved it knew it to be current, its watches healthy
    /// (seconds since the epoch): the file's modification time, which [`confirm`] moves on
    /// while nothing changes, or the save time.
    pub current_at: u64,
}

/// Records that the saved view is still the cluster as the watches see it: the file's
/// modification time becomes now, without rewriting it.
pub fn confirm(path: &Path) -> std::io::Result<()> {
    std::fs::File::options().write(true).open(path)?.set_modified(SystemTime::now())
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
    #[error("it is not a clusterdns snapshot of format {FORMAT} (an older or newer version wrote it)")]
    Format,
    #[error("it does not parse: {0}")]
    Parse(String),
}

/// Writes `saved` to `path`, replacing what was there only once the new file is complete.
pub fn save(path: &Path, saved: &Saved) -> std::io::Result<()> {
    let temporary = temporary_path(path);
    let result = write(&temporary, saved).and_then(|()| std::fs::rename(&temporary, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// The file a save is written to before it is renamed: a name of its own for every save, so
/// that two instances sharing the file (a node-local update's old and new pod on a hostPath,
/// both process 1 of their containers) never write into one temporary file.
fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".writing.{:016x}", rand::random::<u64>()));
    path.with_file_name(name)
}

fn write(path: &Path, saved: &Saved) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut out = BufWriter::new(&file);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    write!(out, "{HEADER}\"clusterdns/saved-at\":\"{now}\"}}}},\"items\":[")?;
    let namespaces = saved.namespaces.iter().map(|name| namespace(name));
    let services = saved.services.iter().map(|svc| service(svc));
    let slices = saved.slices.iter().map(|slice| endpoint_slice(slice));
    let pods = saved.pods.iter().map(pod);
    for (i, item) in namespaces.chain(services).chain(slices).chain(pods).enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut out, &item)?;
    }
    out.write_all(b"]}\n")?;
    out.flush()?;
    drop(out);
    file.sync_all()
}

/// Reads the snapshot at `path` as `options` say objects are read.
pub fn load(path: &Path, max_size: u64, options: ReadOptions) -> Result<Loaded, LoadError> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > max_size {
        return Err(LoadError::Parse(format!("it is {len} bytes, more than --manifest-max-size ({max_size})")));
    }
    let mut head = vec![0u8; HEADER.len()];
    let mut reader = std::io::BufReader::new(file);
    reader.read_exact(&mut head).map_err(|_| LoadError::Format)?;
    if head != HEADER.as_bytes() {
        return Err(LoadError::Format);
    }
    let mut text = String::from(HEADER);
    reader.take(max_size).read_to_string(&mut text).map_err(|e| LoadError::Parse(e.to_string()))?;
    let saved_at = saved_at(&text).ok_or_else(|| LoadError::Parse("no clusterdns/saved-at".into()))?;
    // The manifest reader takes JSON by the file's extension.
    let parsed = documents::parse(Path::new("snapshot.json"), text.as_bytes(), len, options)
        .map_err(|e| LoadError::Parse(e.to_string()))?;
    let modified = file_modified(path).unwrap_or(0);
    Ok(Loaded { objects: parsed.objects, saved_at, current_at: saved_at.max(modified) })
}

fn file_modified(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(modified.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// The `clusterdns/saved-at` annotation, right after the header.
fn saved_at(text: &str) -> Option<u64> {
    let rest = text.strip_prefix(HEADER)?.strip_prefix("\"clusterdns/saved-at\":\"")?;
    rest.split('"').next()?.parse().ok()
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn ports(ports: &[NamedPort]) -> Vec<Value> {
    let port = |p: &NamedPort| json!({"name": p.name, "protocol": p.protocol.to_ascii_uppercase(), "port": p.port});
    ports.iter().map(port).collect()
}

fn service(svc: &Service) -> Value {
    let mut spec = match &svc.kind {
        ServiceKind::ClusterIp(ips) => json!({"type": "ClusterIP", "clusterIPs": ips}),
        ServiceKind::Headless => json!({"clusterIP": "None"}),
        ServiceKind::ExternalName(target) => json!({"type": "ExternalName", "externalName": target.to_ascii()}),
    };
    spec["ports"] = ports(&svc.ports).into();
    spec["publishNotReadyAddresses"] = svc.publish_not_ready.into();
    if let Some(prefer) = svc.traffic_distribution {
        let value = match prefer {
            Prefer::SameZone => "PreferSameZone",
            Prefer::SameNode => "PreferSameNode",
        };
        spec["trafficDistribution"] = value.into();
    }
    let metadata = json!({"name": svc.name, "namespace": svc.namespace});
    json!({"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec})
}

fn endpoint_slice(slice: &EndpointSlice) -> Value {
    let address_type = match slice.endpoints.first().map(|e| e.address) {
        Some(IpAddr::V6(_)) => "IPv6",
        _ => "IPv4",
    };
    let endpoints: Vec<Value> = slice
        .endpoints
        .iter()
        .map(|e| {
            let mut endpoint = json!({"addresses": [e.address], "conditions": {"ready": e.ready}});
            if let Some(hostname) = &e.hostname {
                endpoint["hostname"] = json!(&**hostname);
            }
            if let Some(zone) = slice.zone_of(e) {
                endpoint["zone"] = zone.into();
            }
            if let Some(place) = slice.place_of(e) {
                if let Some(node) = &place.node {
                    endpoint["nodeName"] = json!(&**node);
                }
                let names = |names: &[Box<str>]| names.iter().map(|n| json!({"name": &**n})).collect::<Vec<_>>();
                let mut hints = serde_json::Map::new();
                if !place.for_zones.is_empty() {
                    hints.insert("forZones".into(), names(&place.for_zones).into());
                }
                if !place.for_nodes.is_empty() {
                    hints.insert("forNodes".into(), names(&place.for_nodes).into());
                }
                if !hints.is_empty() {
                    endpoint["hints"] = hints.into();
                }
            }
            endpoint
        })
        .collect();
    let labels = json!({SERVICE_NAME_LABEL: slice.service});
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": slice.name, "namespace": slice.namespace, "labels": labels},
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": ports(&slice.ports),
    })
}

fn pod(pod: &Pod) -> Value {
    let ips: Vec<Value> = pod.ips.iter().map(|ip| json!({"ip": ip})).collect();
    let mut value = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod.name, "namespace": pod.namespace},
        "status": {"phase": "Running", "podIPs": ips},
    });
    if let Some(node) = &pod.node {
        value["spec"] = json!({"nodeName": node});
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::object::TrimOptions;

    const CLUSTER: &str = r#"
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: shop}}
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
  spec: {clusterIPs: [10.96.0.5, "fd00::5"], ports: [{name: http, port: 80}, {port: 53, protocol: UDP}]}
- apiVersion: v1
  kind: Service
  metadata: {name: db, namespace: shop}
  spec: {clusterIP: None, publishNotReadyAddresses: true, trafficDistribution: PreferSameNode}
- apiVersion: v1
  kind: Service
  metadata: {name: ext, namespace: shop}
  spec: {type: ExternalName, externalName: example.com}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: db-1, namespace: shop, labels: {kubernetes.io/service-name: db}}
  addressType: IPv6
  ports: [{name: pg, port: 5432, protocol: TCP}]
  endpoints:
  - {addresses: ["fd00::1"], hostname: db-0, zone: a, nodeName: n1, hints: {forZones: [{name: b}]}}
  - {addresses: ["fd00::2"], conditions: {ready: false}, nodeName: n2, hints: {forNodes: [{name: n3}]}}
- apiVersion: v1
  kind: Pod
  metadata: {name: p, namespace: shop}
  status: {phase: Running, podIPs: [{ip: 10.1.0.1}, {ip: "fd00::9"}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: q, namespace: shop}
  spec: {nodeName: n2}
  status: {phase: Running, podIPs: [{ip: 10.1.0.2}]}
"#;

    fn read(text: &str) -> ClusterObjects {
        documents::parse(Path::new("cluster.yaml"), text.as_bytes(), text.len() as u64, topology()).unwrap().objects
    }

    fn saved_of(objects: &ClusterObjects) -> Saved {
        Saved {
            namespaces: objects.namespaces.clone(),
            services: objects.services.iter().cloned().map(std::sync::Arc::new).collect(),
            slices: objects.endpoint_slices.iter().cloned().map(std::sync::Arc::new).collect(),
            pods: objects.pods.clone(),
        }
    }

    fn topology() -> ReadOptions {
        let trim = TrimOptions { topology: true, pod_nodes: true, ..TrimOptions::default() };
        ReadOptions { trim, ..Default::default() }
    }

    #[test]
    fn a_saved_cluster_reads_back_as_the_same_objects() {
        let objects = read(CLUSTER);
        assert_eq!((objects.services.len(), objects.endpoint_slices.len(), objects.pods.len()), (3, 1, 2));
        assert!(objects.pods.iter().any(|p| p.node.as_deref() == Some("n2")), "a Pod's node is kept to be saved");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot");
        save(&path, &saved_of(&objects)).unwrap();
        let loaded = load(&path, 1 << 20, topology()).unwrap();
        assert_eq!(loaded.objects, objects);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert!(loaded.saved_at <= now && loaded.saved_at + 60 > now, "{}", loaded.saved_at);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [std::ffi::OsString::from("snapshot")], "the temporary file is renamed");
        assert_ne!(temporary_path(&path), temporary_path(&path), "every save writes a file of its own");
    }

    #[test]
    fn a_confirmed_snapshot_is_current_as_of_its_confirmation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot");
        save(&path, &saved_of(&read(CLUSTER))).unwrap();
        let hours_ago = SystemTime::now() - std::time::Duration::from_secs(7200);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(hours_ago).unwrap();
        // Rewritten two hours ago (as the file's time says): current as of its save.
        let loaded = load(&path, 1 << 20, topology()).unwrap();
        assert_eq!(loaded.current_at, loaded.saved_at);
        let header_says = loaded.saved_at;
        let text = std::fs::read_to_string(&path).unwrap();
        let old = text.replacen(&header_says.to_string(), &(header_says - 7200).to_string(), 1);
        std::fs::write(&path, old).unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(hours_ago).unwrap();
        let stale = load(&path, 1 << 20, topology()).unwrap();
        assert!(stale.current_at + 7000 < header_says, "saved and last confirmed two hours ago");
        confirm(&path).unwrap();
        let confirmed = load(&path, 1 << 20, topology()).unwrap();
        assert_eq!(confirmed.saved_at, header_says - 7200, "confirming does not rewrite the file");
        assert!(confirmed.current_at >= header_says, "current as of the confirmation");
    }

    #[test]
    fn another_format_a_truncated_file_or_one_too_large_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot");
        save(&path, &saved_of(&read(CLUSTER))).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let too_large = load(&path, 10, topology());
        assert!(matches!(too_large, Err(LoadError::Parse(_))), "{too_large:?}");
        std::fs::write(&path, &text[..text.len() / 2]).unwrap();
        assert!(matches!(load(&path, 1 << 20, topology()), Err(LoadError::Parse(_))));
        std::fs::write(&path, text.replace("snapshot-format\":\"1\"", "snapshot-format\":\"0\"")).unwrap();
        assert!(matches!(load(&path, 1 << 20, topology()), Err(LoadError::Format)));
        std::fs::write(&path, "").unwrap();
        assert!(matches!(load(&path, 1 << 20, topology()), Err(LoadError::Format)));
        assert!(matches!(load(&dir.path().join("missing"), 1 << 20, topology()), Err(LoadError::Io(_))));
    }
}
