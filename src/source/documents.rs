//! Kubernetes manifests (YAML or JSON) to trimmed objects, one document at a time.
//!
//! A document is converted while it is read: the items of a `kind: List` (a whole-cluster
//! `kubectl get -o yaml` is one such document) are trimmed one by one, so no tree of the whole
//! file is ever held, only the objects DNS keeps. The YAML parser's budget is set from the
//! file's size, so aliases cannot make a small file expand into gigabytes.

use std::fmt;
use std::io::Read;
use std::path::Path;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::mcs;
use crate::registry::imported;
use crate::registry::object::{self, ClusterObjects, EndpointSlice, ObjectError, Pod, Service, TrimOptions, Trimmed};
use crate::registry::selector::Selector;

thread_local! {
    /// The options of the parse running on this thread: serde's `Deserialize` for a document
    /// cannot carry them.
    static OPTIONS: std::cell::RefCell<ReadOptions> = std::cell::RefCell::new(ReadOptions::default());
}

/// An object, or part of one, that DNS cannot use.
#[derive(Debug)]
pub struct Skipped {
    pub document: usize,
    pub kind: String,
    pub name: String,
    pub error: ObjectError,
    /// Only part of the object (an endpoint, a port) was left out.
    pub part: bool,
}

/// What one file holds.
#[derive(Debug, Default)]
pub struct Parsed {
    pub objects: ClusterObjects,
    pub skipped: Vec<Skipped>,
}

/// Why a file could not be parsed: its whole contents are then ignored.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{0}")]
    Syntax(String),
    #[error("document {document}: {message}")]
    Document { document: usize, message: String },
}

/// What the manifests are read for.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub trim: TrimOptions,
    /// EndpointSlices are not read (CoreDNS `noendpoints`).
    pub no_endpoints: bool,
    /// Only Namespaces whose labels match (CoreDNS `namespace_labels`).
    pub namespaces: Option<std::sync::Arc<Selector>>,
    /// ServiceImports and their EndpointSlices are read (Multi-Cluster Services).
    pub multicluster: bool,
}

/// Parses `input`, a file of `len` bytes; JSON when `path` ends in `.json`, YAML otherwise.
pub fn parse(path: &Path, input: impl Read, len: u64, options: ReadOptions) -> Result<Parsed, ParseError> {
    OPTIONS.with(|o| *o.borrow_mut() = options);
    let mut parsed = Parsed::default();
    if path.extension().is_some_and(|e| e == "json") {
        let mut deserializer = serde_json::Deserializer::from_reader(std::io::BufReader::new(input));
        let seed = DocumentSeed { out: &mut parsed, document: 1 };
        seed.deserialize(&mut deserializer).map_err(|e| ParseError::Syntax(e.to_string()))?;
        deserializer.end().map_err(|e| ParseError::Syntax(e.to_string()))?;
        return Ok(parsed);
    }
    let mut input = input;
    let documents = serde_saphyr::read_with_options::<_, Document>(&mut input, yaml_options(len));
    for (index, document) in documents.enumerate() {
        let number = index + 1;
        let document = document.map_err(|e| ParseError::Document { document: number, message: e.to_string() })?;
        parsed.objects.extend(document.objects);
        parsed.skipped.extend(document.skipped.into_iter().map(|s| Skipped { document: number, ..s }));
    }
    Ok(parsed)
}

/// Budgets for a file of `len` bytes. Without aliases, a document has fewer nodes than bytes
/// and no more scalar text than the file; aliases may repeat a little, not multiply it.
fn yaml_options(len: u64) -> serde_saphyr::Options {
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = None; // the caller limits what it reads
    budget.max_documents = len / 4 + 16;
    budget.max_nodes = len.saturating_add(1024);
    budget.max_events = len.saturating_mul(2).saturating_add(4096);
    budget.max_total_scalar_bytes = len.saturating_mul(2).saturating_add(1 << 20);
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// One document of a YAML stream, converted as it is deserialized. A document whose structure
/// is wrong (no `kind`, a field of the wrong type) is an error, which fails its file.
struct Document {
    objects: ClusterObjects,
    skipped: Vec<Skipped>,
}

impl<'de> serde::Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Document, D::Error> {
        let mut parsed = Parsed::default();
        DocumentSeed { out: &mut parsed, document: 0 }.deserialize(deserializer)?;
        Ok(Document { objects: parsed.objects, skipped: parsed.skipped })
    }
}

/// Deserializes one document into `out`.
struct DocumentSeed<'a> {
    out: &'a mut Parsed,
    document: usize,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes object or list")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    /// The fields of one object are kept as a tree (one object's worth); a list's `items` are
    /// converted as they arrive.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut fields = serde_json::Map::new();
        let mut had_items = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                map.next_value_seed(ItemsSeed { out: &mut *self.out, document: self.document })?;
                had_items = true;
            } else {
                fields.insert(key, map.next_value()?);
            }
        }
        let kind = fields.get("kind").and_then(Value::as_str).ok_or_else(|| A::Error::custom("kind is missing"))?;
        if kind == "List" || kind.ends_with("List") {
            return if had_items { Ok(()) } else { Err(A::Error::custom(format!("{kind} has no items"))) };
        }
        add_object(Value::Object(fields), self.document, self.out).map_err(A::Error::custom)
    }
}

/// The `items` of a list, each converted and dropped before the next is read.
struct ItemsSeed<'a> {
    out: &'a mut Parsed,
    document: usize,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence of Kubernetes objects")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(item) = seq.next_element::<Value>()? {
            add_object(item, self.document, self.out).map_err(|e| A::Error::custom(format!("items[{index}]: {e}")))?;
            index += 1;
        }
        Ok(())
    }
}

/// Converts one object (or a nested list of them) and adds it, or what was skipped, to `out`.
fn add_object(value: Value, document: usize, out: &mut Parsed) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    let options = OPTIONS.with(|o| o.borrow().clone());
    let kind = value.get("kind").and_then(Value::as_str).ok_or("kind is missing")?.to_string();
    let api_version = value.get("apiVersion").and_then(Value::as_str).ok_or("apiVersion is missing")?.to_string();
    if kind == "List" || kind.ends_with("List") {
        let Some(Value::Array(items)) = value.get("items").cloned() else {
            return Err(format!("{kind} has no items"));
        };
        for (i, item) in items.into_iter().enumerate() {
            add_object(item, document, out).map_err(|e| format!("items[{i}]: {e}"))?;
        }
        return Ok(());
    }
    let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?").to_string();
    let mut keep = |result: Result<Trimmed<()>, ObjectError>| {
        let skip = |error, part| Skipped { document, kind: kind.clone(), name: name.clone(), error, part };
        match result {
            Ok(trimmed) => out.skipped.extend(trimmed.skipped.into_iter().map(|e| skip(e, true))),
            Err(error) => out.skipped.push(skip(error, false)),
        }
    };
    let objects = &mut out.objects;
    match (api_version.as_str(), kind.as_str()) {
        ("v1", "Service") => {
            keep(Service::trim(&typed::<core::Service>(value)?).map(|t| stash(t, &mut objects.services)))
        }
        ("discovery.k8s.io/v1", "EndpointSlice") if !options.no_endpoints => {
            let slice = typed::<discovery::EndpointSlice>(value)?;
            // A ServiceImport's slice: read for the clusterset zone, and not a Service's.
            if options.multicluster && slice.metadata.labels.iter().flatten().any(|(k, _)| k == mcs::SERVICE_NAME_LABEL)
            {
                keep(imported::imported_slice(&slice, options.trim).map(|t| stash(t, &mut objects.imported_slices)));
            }
            if !imported::is_imported_only(&slice.metadata) {
                keep(EndpointSlice::trim(&slice, options.trim).map(|t| stash(t, &mut objects.endpoint_slices)));
            }
        }
        (mcs::API_VERSION, "ServiceImport") if options.multicluster => {
            keep(imported::service_import(&typed::<mcs::ServiceImport>(value)?).map(|t| stash(t, &mut objects.imports)))
        }
        ("v1", "Namespace") => {
            let namespace = typed::<core::Namespace>(value)?;
            let labels = namespace.metadata.labels.clone().unwrap_or_default();
            if options.namespaces.as_ref().is_none_or(|selector| selector.matches(&labels)) {
                keep(
                    object::namespace_name(&namespace)
                        .map(|name| stash(Trimmed { object: name, skipped: Vec::new() }, &mut objects.namespaces)),
                )
            }
        }
        ("v1", "Pod") => {
            keep(Pod::trim(&typed::<core::Pod>(value)?, options.trim).map(|t| stash(t, &mut objects.pods)))
        }
        _ => {}
    }
    Ok(())
}

/// Keeps the object in `list` and returns what was left out of it.
fn stash<T>(trimmed: Trimmed<T>, list: &mut Vec<T>) -> Trimmed<()> {
    list.push(trimmed.object);
    Trimmed { object: (), skipped: trimmed.skipped }
}

fn typed<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<Parsed, ParseError> {
        parse(Path::new("x.yaml"), text.as_bytes(), text.len() as u64, ReadOptions::default())
    }

    #[test]
    fn a_list_and_plain_documents_are_read() {
        let text = "apiVersion: v1\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n\
                    - {apiVersion: v1, kind: Namespace, metadata: {name: b}}\nkind: List\n---\n\
                    apiVersion: v1\nkind: Namespace\nmetadata: {name: c}\n---\n";
        assert_eq!(yaml(text).unwrap().objects.namespaces, ["a", "b", "c"]);
    }

    #[test]
    fn a_document_without_kind_fails_the_file() {
        let error = yaml("apiVersion: v1\nmetadata: {name: a}\n").unwrap_err().to_string();
        assert!(error.contains("kind is missing"), "{error}");
    }

    #[test]
    fn aliases_cannot_blow_a_small_file_up() {
        let mut text = format!("a: &big {}\nb: [", "x".repeat(100_000));
        text.push_str(&vec!["*big"; 1000].join(", "));
        text.push_str("]\n");
        assert!(yaml(&text).is_err(), "100 MB of scalars from a 106 kB file");
    }

    #[test]
    fn skipped_objects_and_parts_are_reported_with_their_document() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\n\
                    apiVersion: v1\nkind: Service\nmetadata: {name: Web-Upper, namespace: ok}\nspec: {clusterIP: 10.0.0.1}\n";
        let parsed = yaml(text).unwrap();
        assert_eq!(parsed.skipped.len(), 1);
        assert_eq!((parsed.skipped[0].document, parsed.skipped[0].part), (2, false));
        assert!(parsed.objects.services.is_empty());
    }
}
