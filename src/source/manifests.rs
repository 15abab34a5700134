//! The manifest source: Kubernetes objects from YAML or JSON files, re-read when they change.
//!
//! Each file is parsed on its own. A file that cannot be read or parsed keeps the objects it
//! had before (or none, at first), so one broken edit never takes names out of service. An
//! object that DNS cannot use is skipped with a warning; the rest of its file still loads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::{debug, error, info, warn};

use crate::registry::RegistryWriter;
use crate::registry::object::{self, ClusterObjects, EndpointSlice, ObjectError, Pod, Service};

/// How often files are checked for changes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: document {document}: {message}")]
    Document { path: PathBuf, document: usize, message: String },
}

/// What a file looked like when it was last read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

struct LoadedFile {
    stamp: Stamp,
    objects: ClusterObjects,
}

pub struct ManifestSource {
    roots: Vec<PathBuf>,
    files: BTreeMap<PathBuf, LoadedFile>,
    /// The listing error last logged, so a lasting problem is logged once, not every poll.
    listing_error: Option<String>,
}

impl ManifestSource {
    pub fn new(roots: Vec<PathBuf>) -> ManifestSource {
        ManifestSource { roots, files: BTreeMap::new(), listing_error: None }
    }

    /// Re-reads what changed and returns whether anything did. Errors are logged.
    pub fn refresh(&mut self) -> bool {
        let current = match discover(&self.roots) {
            Ok(current) => current,
            Err(e) => {
                let message = e.to_string();
                if self.listing_error.as_ref() != Some(&message) {
                    error!(error = %message, "cannot list manifests; keeping the data in service");
                    self.listing_error = Some(message);
                }
                return false;
            }
        };
        if self.listing_error.take().is_some() {
            info!("manifests can be listed again");
        }
        let before = self.files.len();
        self.files.retain(|path, _| current.contains_key(path));
        let mut changed = self.files.len() != before;
        for (path, stamp) in current {
            if self.files.get(&path).is_some_and(|f| f.stamp == stamp) {
                continue;
            }
            changed = true;
            match load_file(&path) {
                Ok(objects) => {
                    debug!(path = %path.display(), "loaded manifest");
                    self.files.insert(path, LoadedFile { stamp, objects });
                }
                Err(e) => {
                    error!(error = %e, "manifest not loaded; its previous contents stay in service");
                    // Remember the stamp so the same broken file is reported once, not every poll.
                    let objects = self.files.remove(&path).map(|f| f.objects).unwrap_or_default();
                    self.files.insert(path, LoadedFile { stamp, objects });
                }
            }
        }
        changed
    }

    pub fn objects(&self) -> ClusterObjects {
        let mut all = ClusterObjects::default();
        for file in self.files.values() {
            all.extend(file.objects.clone());
        }
        all
    }

    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Polls for changes forever, swapping each new view into the registry.
    pub async fn watch(mut self, mut writer: RegistryWriter) {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.refresh() {
                publish(&self, &mut writer);
            }
        }
    }
}

/// Swaps the source's current view into the registry and says what it holds.
pub fn publish(source: &ManifestSource, writer: &mut RegistryWriter) {
    let objects = source.objects();
    if writer.replace(&objects) {
        info!(
            files = source.file_count(),
            namespaces = objects.namespaces.len(),
            services = objects.services.len(),
            endpoint_slices = objects.endpoint_slices.len(),
            pods = objects.pods.len(),
            "manifests loaded"
        );
    }
}

/// Every manifest file under the roots, with its current stamp. A root that is missing is an
/// error (the data stays as it was); files are `.yaml`, `.yml` and `.json`, and names starting
/// with `.` are skipped (editor swap files, the `..data` links of a mounted ConfigMap).
fn discover(roots: &[PathBuf]) -> std::io::Result<BTreeMap<PathBuf, Stamp>> {
    let mut found = BTreeMap::new();
    for root in roots {
        let meta =
            std::fs::metadata(root).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", root.display())))?;
        if meta.is_dir() {
            walk(root, &mut found)?;
        } else {
            found.insert(root.clone(), stamp(&meta));
        }
    }
    Ok(found)
}

fn walk(dir: &Path, found: &mut BTreeMap<PathBuf, Stamp>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let hidden = path.file_name().and_then(|n| n.to_str()).is_none_or(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(&path, found)?;
        } else if is_manifest(&path) {
            found.insert(path, stamp(&meta));
        }
    }
    Ok(())
}

fn is_manifest(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    Stamp { modified: meta.modified().ok(), len: meta.len() }
}

fn load_file(path: &Path) -> Result<ClusterObjects, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.into(), source })?;
    parse_manifests(path, &text)
}

/// Parses one file's documents into trimmed objects.
pub fn parse_manifests(path: &Path, text: &str) -> Result<ClusterObjects, ManifestError> {
    let syntax = |message: String| ManifestError::Syntax { path: path.into(), message };
    let documents: Vec<Value> = if path.extension().is_some_and(|e| e == "json") {
        vec![serde_json::from_str(text).map_err(|e| syntax(e.to_string()))?]
    } else {
        serde_saphyr::from_multiple_with_options(text, yaml_options()).map_err(|e| syntax(e.to_string()))?
    };
    let mut objects = ClusterObjects::default();
    for (index, document) in documents.into_iter().enumerate() {
        let document_error =
            |message: String| ManifestError::Document { path: path.into(), document: index + 1, message };
        add_document(path, index + 1, document, &mut objects).map_err(document_error)?;
    }
    Ok(objects)
}

/// The YAML parser's limits, raised for whole-cluster dumps (the defaults stop at 1,024
/// documents and 250,000 nodes); its alias-expansion guards stay as they are.
fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = 1 << 22;
    budget.max_nodes = 1 << 28;
    budget.max_events = 1 << 30;
    budget.max_total_scalar_bytes = 1 << 32;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// Adds one document (an object or a `kind: List` of them).
fn add_document(path: &Path, document: usize, value: Value, objects: &mut ClusterObjects) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    let kind = value.get("kind").and_then(Value::as_str).ok_or("kind is missing")?.to_string();
    let api_version = value.get("apiVersion").and_then(Value::as_str).ok_or("apiVersion is missing")?.to_string();
    if kind == "List" || kind.ends_with("List") {
        let Some(Value::Array(items)) = value.get("items").cloned() else {
            return Err(format!("{kind} has no items"));
        };
        for (i, item) in items.into_iter().enumerate() {
            add_document(path, document, item, objects).map_err(|e| format!("items[{i}]: {e}"))?;
        }
        return Ok(());
    }
    let rejected = |name: Option<&str>, e: ObjectError| {
        warn!(path = %path.display(), document, kind = %kind, name = name.unwrap_or("?"), error = %e,
            "object skipped: DNS cannot use it");
    };
    let name = value.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string);
    match (api_version.as_str(), kind.as_str()) {
        ("v1", "Service") => match Service::try_from(&typed::<core::Service>(value)?) {
            Ok(svc) => objects.services.push(svc),
            Err(e) => rejected(name.as_deref(), e),
        },
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            match EndpointSlice::try_from(&typed::<discovery::EndpointSlice>(value)?) {
                Ok(slice) => objects.endpoint_slices.push(slice),
                Err(e) => rejected(name.as_deref(), e),
            }
        }
        ("v1", "Namespace") => match object::namespace_name(&typed::<core::Namespace>(value)?) {
            Ok(ns) => objects.namespaces.push(ns),
            Err(e) => rejected(name.as_deref(), e),
        },
        ("v1", "Pod") => match Pod::try_from(&typed::<core::Pod>(value)?) {
            Ok(pod) => objects.pods.push(pod),
            Err(e) => rejected(name.as_deref(), e),
        },
        _ => {
            debug!(path = %path.display(), document, api_version = %api_version, kind = %kind, "kind not used by DNS; skipped")
        }
    }
    Ok(())
}

fn typed<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}
