//! The manifest source: Kubernetes objects from YAML or JSON files, re-read when they change.
//!
//! Each file is parsed on its own. A file that cannot be read or parsed keeps the objects it
//! had before (or none, at first), so one broken edit never takes names out of service. An
//! object, or part of one, that DNS cannot use is skipped with a warning; the rest of its file
//! still loads. Only regular files are read, up to a size limit; folders that cannot be read
//! are skipped and named in the log; the data counts as complete once every root was read.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tracing::{debug, error, info, warn};

use super::documents::{self, ParseError, ReadOptions};
use crate::registry::RegistryWriter;
use crate::registry::object::ClusterObjects;

/// How often files are checked for changes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {size} bytes is more than --manifest-max-size ({max} bytes)")]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    #[error("{path}: not a regular file")]
    NotAFile { path: PathBuf },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: ParseError },
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

/// The manifest files under the roots, and what could not be read while looking for them.
#[derive(Debug, Default)]
struct Listing {
    files: BTreeMap<PathBuf, Stamp>,
    /// Paths skipped, with why: an unreadable folder, a FIFO, a symlink loop.
    problems: BTreeMap<PathBuf, String>,
    /// Every root could be read. Until then the data is not complete: unknown names get
    /// SERVFAIL, never NXDOMAIN, and /ready says not ready.
    complete: bool,
}

pub struct ManifestSource {
    roots: Vec<PathBuf>,
    max_size: u64,
    options: ReadOptions,
    files: BTreeMap<PathBuf, LoadedFile>,
    /// The listing problems last logged, so a lasting problem is logged once, not every poll.
    problems: BTreeMap<PathBuf, String>,
    /// Every root has been read completely at least once.
    synced: bool,
}

impl ManifestSource {
    pub fn new(roots: Vec<PathBuf>, max_size: u64, options: ReadOptions) -> ManifestSource {
        ManifestSource { roots, max_size, options, files: BTreeMap::new(), problems: BTreeMap::new(), synced: false }
    }

    /// Re-reads what changed and returns whether anything did (the sync state included).
    /// Errors are logged.
    pub fn refresh(&mut self) -> bool {
        let listing = discover(&self.roots);
        self.log_problems(listing.problems);
        if !listing.complete {
            // A root could not be read: its files keep what they had.
            return false;
        }
        let mut changed = !self.synced;
        self.synced = true;
        let before = self.files.len();
        self.files.retain(|path, _| listing.files.contains_key(path));
        changed |= self.files.len() != before;
        for (path, stamp) in listing.files {
            if self.files.get(&path).is_some_and(|f| f.stamp == stamp) {
                continue;
            }
            changed = true;
            let objects = match load_file(&path, self.max_size, self.options.clone()) {
                Ok(objects) => {
                    debug!(path = %path.display(), "loaded manifest");
                    objects
                }
                Err(e) => {
                    error!(error = %e, "manifest not loaded; its previous contents stay in service");
                    // Remember the stamp so the same broken file is reported once, not every poll.
                    self.files.remove(&path).map(|f| f.objects).unwrap_or_default()
                }
            };
            self.files.insert(path, LoadedFile { stamp, objects });
        }
        changed
    }

    fn log_problems(&mut self, problems: BTreeMap<PathBuf, String>) {
        for (path, problem) in &problems {
            if self.problems.get(path) != Some(problem) {
                warn!(path = %path.display(), problem = %problem, "cannot read a manifest path; what it held stays in service");
            }
        }
        for path in self.problems.keys().filter(|p| !problems.contains_key(*p)) {
            info!(path = %path.display(), "manifest path can be read again");
        }
        self.problems = problems;
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
            // Reading a large file takes a while: not on a thread the runtime needs for sockets.
            if tokio::task::block_in_place(|| self.refresh()) {
                publish(&self, &mut writer);
            }
        }
    }
}

/// Swaps the source's current view into the registry and says what it holds. Until every
/// root has been read, the view is published as not synced. The heap a load and its
/// publication freed is given back to the system.
pub fn publish(source: &ManifestSource, writer: &mut RegistryWriter) {
    let objects = source.objects();
    let changed = writer.replace(&objects, source.synced);
    if changed && source.synced {
        info!(
            files = source.file_count(),
            namespaces = objects.namespaces.len(),
            services = objects.services.len(),
            endpoint_slices = objects.endpoint_slices.len(),
            pods = objects.pods.len(),
            "manifests loaded"
        );
    }
    drop(objects);
    crate::registry::release_free_memory();
}

/// Every manifest file under the roots, with its current stamp. Files are regular files named
/// `.yaml`, `.yml` or `.json`; names starting with `.` are skipped (editor swap files, the
/// `..data` links of a mounted ConfigMap). A folder is read once however many links lead to it,
/// so symlink loops end.
fn discover(roots: &[PathBuf]) -> Listing {
    let mut listing = Listing { complete: true, ..Listing::default() };
    let mut visited = HashSet::new();
    for root in roots {
        let meta = match std::fs::metadata(root) {
            Ok(meta) => meta,
            Err(e) => {
                listing.problems.insert(root.clone(), e.to_string());
                listing.complete = false;
                continue;
            }
        };
        if meta.is_dir() {
            visited.insert((meta.dev(), meta.ino()));
            if let Err(e) = walk(root, &mut visited, &mut listing) {
                listing.problems.insert(root.clone(), format!("cannot list: {e}"));
                listing.complete = false;
            }
        } else if meta.is_file() {
            listing.files.insert(root.clone(), stamp(&meta));
        } else {
            listing.problems.insert(root.clone(), "not a regular file or folder".into());
            listing.complete = false;
        }
    }
    listing
}

/// Lists `dir` (an error only when `dir` itself cannot be listed); what cannot be read below
/// it is recorded in `listing.problems` and skipped.
fn walk(dir: &Path, visited: &mut HashSet<(u64, u64)>, listing: &mut Listing) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = match entry {
            Ok(entry) => entry.path(),
            Err(e) => {
                listing.problems.insert(dir.to_path_buf(), format!("cannot list: {e}"));
                continue;
            }
        };
        let hidden = path.file_name().and_then(|n| n.to_str()).is_none_or(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) => {
                listing.problems.insert(path, e.to_string());
                continue;
            }
        };
        if meta.is_dir() {
            if !visited.insert((meta.dev(), meta.ino())) {
                listing.problems.insert(path, "a folder already read (a symlink loop, or a second link)".into());
            } else if let Err(e) = walk(&path, visited, listing) {
                listing.problems.insert(path, format!("cannot list: {e}"));
            }
        } else if is_manifest(&path) {
            if meta.is_file() {
                listing.files.insert(path, stamp(&meta));
            } else {
                listing.problems.insert(path, "not a regular file (a FIFO, socket or device)".into());
            }
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

/// Reads and parses one file. It is opened without blocking (a FIFO put in its place would
/// otherwise wait for a writer), must still be a regular file, and is read up to `max_size`.
fn load_file(path: &Path, max_size: u64, options: ReadOptions) -> Result<ClusterObjects, ManifestError> {
    let read_error = |source| ManifestError::Read { path: path.into(), source };
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(read_error)?;
    let meta = file.metadata().map_err(read_error)?;
    if !meta.is_file() {
        return Err(ManifestError::NotAFile { path: path.into() });
    }
    if meta.len() > max_size {
        return Err(ManifestError::TooLarge { path: path.into(), size: meta.len(), max: max_size });
    }
    let parsed = documents::parse(path, Limited { inner: file, left: max_size }, meta.len(), options)
        .map_err(|source| ManifestError::Parse { path: path.into(), source })?;
    for skipped in &parsed.skipped {
        let what = if skipped.part { "part of an object skipped" } else { "object skipped" };
        warn!(path = %path.display(), document = skipped.document, kind = %skipped.kind, name = %skipped.name,
            error = %skipped.error, "{what}: DNS cannot use it");
    }
    Ok(parsed.objects)
}

/// A reader that fails once more than its limit has been read: a file that grows while it is
/// read fails, rather than being cut at an arbitrary point.
struct Limited<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::FileTooLarge, "the file grew past --manifest-max-size while read")
        })?;
        Ok(n)
    }
}
