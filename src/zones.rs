//! Static zones from RFC 1035 zone files (`--zone-file`), served authoritatively next to the
//! cluster zone and re-read when they change. A file with an error is reported with its line
//! and the zone it replaced stays in service.
//!
//! The zone's origin is the owner of its SOA record. Names are answered with CNAMEs (chased
//! by the authority), NODATA and NXDOMAIN as in our other zones; wildcards and delegations
//! below the apex are served as plain data.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;
use tracing::{error, info};

use crate::dns::answer::Answer;

/// How often zone files are checked for changes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ZoneFileError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: line {line}: {message}")]
    Syntax { path: PathBuf, line: usize, message: String },
    #[error("{path}: {message}")]
    Content { path: PathBuf, message: String },
}

#[derive(Debug)]
pub struct StaticZone {
    pub origin: LowerName,
    soa: Record,
    records: HashMap<LowerName, Vec<Record>>,
    /// Names with nothing of their own but names below them.
    nonterminals: HashSet<LowerName>,
}

impl StaticZone {
    pub fn parse(path: &Path, text: &str) -> Result<StaticZone, ZoneFileError> {
        let (_, rrsets) = Parser::new(text, Some(path.to_path_buf()), None).parse().map_err(|e| {
            ZoneFileError::Syntax { path: path.into(), line: error_line(path, text), message: e.to_string() }
        })?;
        let content = |message: String| ZoneFileError::Content { path: path.into(), message };
        let mut soas = rrsets.values().filter(|set| set.record_type() == RecordType::SOA);
        let soa = soas
            .next()
            .and_then(|set| set.records_without_rrsigs().next().cloned())
            .ok_or_else(|| content("no SOA record".into()))?;
        if soas.next().is_some() {
            return Err(content("more than one SOA record".into()));
        }
        let origin = LowerName::new(&soa.name);
        let mut records: HashMap<LowerName, Vec<Record>> = HashMap::new();
        for (key, set) in &rrsets {
            if !origin.zone_of(&key.name) {
                return Err(content(format!("{} is outside the zone {}", key.name, *origin)));
            }
            records.entry(key.name.clone()).or_default().extend(set.records_without_rrsigs().cloned());
        }
        let mut nonterminals = HashSet::new();
        for name in records.keys() {
            let mut parent = name.base_name();
            while origin.zone_of(&parent) && parent != origin {
                if !records.contains_key(&parent) {
                    nonterminals.insert(parent.clone());
                }
                parent = parent.base_name();
            }
        }
        Ok(StaticZone { origin, soa, records, nonterminals })
    }

    /// The SOA for negative answers, with the TTL a resolver should keep them (RFC 2308 §3).
    fn negative_soa(&self) -> Record {
        let mut soa = self.soa.clone();
        if let RData::SOA(data) = &soa.data {
            soa.ttl = soa.ttl.min(data.minimum);
        }
        soa
    }

    pub fn answer(&self, name: &Name, lower: &LowerName, qtype: RecordType) -> Answer {
        let Some(records) = self.records.get(lower) else {
            return match self.nonterminals.contains(lower) {
                true => Answer::no_data(self.negative_soa()),
                false => Answer::nx_domain(self.negative_soa()),
            };
        };
        let owned = |r: &Record| {
            let mut r = r.clone();
            r.name = name.clone();
            r
        };
        if qtype != RecordType::CNAME
            && let Some(cname) = records.iter().find(|r| r.record_type() == RecordType::CNAME)
            && let RData::CNAME(target) = &cname.data
        {
            return Answer::alias(owned(cname), target.0.clone());
        }
        let matching: Vec<Record> = match qtype {
            // RFC 8482: one RRset for ANY.
            RecordType::ANY => {
                let first = records.first().map(Record::record_type);
                records.iter().filter(|r| Some(r.record_type()) == first).map(owned).collect()
            }
            _ => records.iter().filter(|r| r.record_type() == qtype).map(owned).collect(),
        };
        match matching.is_empty() {
            true => Answer::no_data(self.negative_soa()),
            false => Answer::records(matching, Vec::new()),
        }
    }
}

/// The line a zone file's first error is on: one after the longest prefix of whole lines that
/// parses (the parser itself does not say). Runs only when a file has an error.
fn error_line(path: &Path, text: &str) -> usize {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut last_good = 0;
    let mut prefix = String::new();
    for (i, line) in lines.iter().enumerate() {
        prefix.push_str(line);
        if Parser::new(prefix.as_str(), Some(path.to_path_buf()), None).parse().is_ok() {
            last_good = i + 1;
        }
    }
    (last_good + 1).min(lines.len().max(1))
}

/// The static zones in service, swapped whole when a file changes.
pub type Zones = Arc<ArcSwap<Vec<Arc<StaticZone>>>>;

pub struct ZoneFiles {
    /// The files to serve; the configuration reload replaces the list.
    paths: Arc<std::sync::Mutex<Vec<PathBuf>>>,
    stamps: BTreeMap<PathBuf, Option<SystemTime>>,
    loaded: BTreeMap<PathBuf, Arc<StaticZone>>,
    zones: Zones,
}

impl ZoneFiles {
    pub fn new(paths: Vec<PathBuf>) -> ZoneFiles {
        let paths = Arc::new(std::sync::Mutex::new(paths));
        ZoneFiles { paths, stamps: BTreeMap::new(), loaded: BTreeMap::new(), zones: Zones::default() }
    }

    pub fn paths(&self) -> Arc<std::sync::Mutex<Vec<PathBuf>>> {
        self.paths.clone()
    }

    pub fn zones(&self) -> Zones {
        self.zones.clone()
    }

    /// Re-reads the files that changed; a file with an error keeps the zone it had.
    pub fn refresh(&mut self) {
        let paths = self.paths.lock().expect("zone file list lock").clone();
        let before = self.loaded.len();
        self.loaded.retain(|path, _| paths.contains(path));
        self.stamps.retain(|path, _| paths.contains(path));
        let mut changed = self.loaded.len() != before;
        for path in &paths {
            let stamp = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if self.stamps.get(path) == Some(&stamp) {
                continue;
            }
            self.stamps.insert(path.clone(), stamp);
            let loaded = std::fs::read_to_string(path)
                .map_err(|source| ZoneFileError::Read { path: path.clone(), source })
                .and_then(|text| StaticZone::parse(path, &text));
            match loaded {
                Ok(zone) => {
                    info!(path = %path.display(), origin = %*zone.origin, names = zone.records.len(), "zone file loaded");
                    self.loaded.insert(path.clone(), Arc::new(zone));
                    changed = true;
                }
                Err(e) => error!(error = %e, "zone file not loaded; the zone it had stays in service"),
            }
        }
        if changed {
            self.zones.store(Arc::new(self.loaded.values().cloned().collect()));
        }
    }

    pub async fn watch(mut self) {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.refresh();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = "$ORIGIN corp.example.\n$TTL 300\n\
        @ IN SOA ns1 hostmaster 1 7200 900 86400 60\n\
        @ IN NS ns1\n\
        ns1 IN A 10.9.0.1\n\
        www IN A 10.9.0.10\n\
        www IN A 10.9.0.11\n\
        app IN CNAME www\n\
        a.b.deep IN TXT \"hello\"\n";

    fn zone() -> StaticZone {
        StaticZone::parse(Path::new("corp.zone"), ZONE).unwrap()
    }

    fn ask(zone: &StaticZone, name: &str, qtype: RecordType) -> Answer {
        let name = Name::from_ascii(name).unwrap();
        zone.answer(&name, &LowerName::new(&name), qtype)
    }

    #[test]
    fn records_cnames_nodata_and_nxdomain() {
        use hickory_proto::op::ResponseCode::*;
        let zone = zone();
        assert_eq!(*zone.origin, Name::from_ascii("corp.example.").unwrap());
        assert_eq!(ask(&zone, "www.corp.example.", RecordType::A).answers.len(), 2);
        let alias = ask(&zone, "App.corp.example.", RecordType::A);
        assert_eq!(alias.chase, Some(Name::from_ascii("www.corp.example.").unwrap()));
        assert_eq!(alias.answers[0].name.to_string(), "App.corp.example.");
        let nodata = ask(&zone, "www.corp.example.", RecordType::AAAA);
        assert_eq!((nodata.rcode, nodata.answers.len(), nodata.soa.is_some()), (NoError, 0, true));
        let nonterminal = ask(&zone, "b.deep.corp.example.", RecordType::A);
        assert_eq!((nonterminal.rcode, nonterminal.soa.as_ref().map(|s| s.ttl)), (NoError, Some(60)));
        assert_eq!(ask(&zone, "nope.corp.example.", RecordType::A).rcode, NXDomain);
    }

    #[test]
    fn errors_name_their_line() {
        let broken = ZONE.replace("www IN A 10.9.0.11", "www IN A 10.9.0.300");
        let error = StaticZone::parse(Path::new("corp.zone"), &broken).unwrap_err().to_string();
        assert!(error.starts_with("corp.zone: line 7:"), "{error}");
        let no_soa = "$ORIGIN x.example.\nwww 300 IN A 10.0.0.1\n";
        let error = StaticZone::parse(Path::new("x.zone"), no_soa).unwrap_err().to_string();
        assert!(error.contains("no SOA"), "{error}");
    }
}
