//! Names from hosts files and inline entries (CoreDNS `hosts`), answered before the cluster
//! zone: A and AAAA for the names, PTR for the addresses. Files are re-read when they change.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use tracing::{info, warn};

use crate::dns::answer::Answer;
use crate::metrics::ZoneKind;

/// The hosts settings (flags `--hosts-*`, CoreDNS `hosts`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostsSettings {
    pub files: Vec<PathBuf>,
    /// `IP name [alias...]` lines given inline.
    pub entries: Vec<String>,
    pub ttl: u32,
    /// How often the files are checked for changes (zero: never).
    pub reload: Duration,
    /// Answer PTRs for the addresses.
    pub reverse: bool,
    /// A name in the zones without an entry goes on to the cluster zone and the forwarder;
    /// without it, it is SERVFAIL (as CoreDNS answers it).
    pub fallthrough: bool,
    /// Names outside these are not read from the files, nor answered (empty: every name).
    pub zones: Vec<Name>,
}

impl HostsSettings {
    pub fn is_on(&self) -> bool {
        !self.files.is_empty() || !self.entries.is_empty()
    }
}

/// Every name and address, from all files and the inline entries.
#[derive(Debug, Default, PartialEq)]
struct Table {
    names: HashMap<LowerName, Vec<IpAddr>>,
    addresses: HashMap<IpAddr, Vec<Name>>,
}

impl Table {
    fn add_line(&mut self, line: &str, zones: &[LowerName]) -> Result<(), String> {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let Some(address) = fields.next() else { return Ok(()) };
        // An IPv6 zone index (`fe80::1%eth0`) says nothing to a client elsewhere.
        let address = address.split('%').next().unwrap_or(address);
        let ip: IpAddr = address.parse().map_err(|_| format!("{address:?} is not an IP address"))?;
        for name in fields {
            let mut name = Name::from_ascii(name).map_err(|e| format!("{name:?} is not a name: {e}"))?;
            name.set_fqdn(true);
            let lower = LowerName::new(&name);
            if !zones.is_empty() && !zones.iter().any(|z| z.zone_of(&lower)) {
                continue;
            }
            let ips = self.names.entry(lower).or_default();
            if !ips.contains(&ip) {
                ips.push(ip);
            }
            let names = self.addresses.entry(ip).or_default();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Ok(())
    }
}

/// The hosts entries in force, replaced whole when a file changes.
pub struct Hosts {
    settings: HostsSettings,
    zones: Vec<LowerName>,
    table: ArcSwap<Table>,
}

impl Hosts {
    /// Reads the files once; a file that cannot be read is logged and counts as empty.
    pub fn new(settings: HostsSettings) -> Arc<Hosts> {
        let zones = settings.zones.iter().map(LowerName::new).collect();
        let hosts = Arc::new(Hosts { settings, zones, table: ArcSwap::from_pointee(Table::default()) });
        hosts.reload_files(&mut Vec::new());
        hosts
    }

    /// Re-reads the files whenever one changes, as long as this is the hosts in force.
    pub async fn watch(self: Arc<Hosts>) {
        if self.settings.reload.is_zero() || self.settings.files.is_empty() {
            return;
        }
        let mut stamps = self.stamps();
        loop {
            tokio::time::sleep(self.settings.reload).await;
            if Arc::strong_count(&self) == 1 {
                return;
            }
            let now = self.stamps();
            if now != stamps {
                stamps = now;
                self.reload_files(&mut Vec::new());
            }
        }
    }

    fn stamps(&self) -> Vec<Option<(SystemTime, u64)>> {
        let stamp = |path: &PathBuf| std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
        self.settings.files.iter().map(stamp).collect()
    }

    fn reload_files(&self, errors: &mut Vec<String>) {
        let mut table = Table::default();
        for (number, line) in self.settings.entries.iter().enumerate() {
            if let Err(error) = table.add_line(line, &self.zones) {
                errors.push(format!("hosts entry {}: {error}", number + 1));
            }
        }
        for path in &self.settings.files {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    for (number, line) in text.lines().enumerate() {
                        if let Err(error) = table.add_line(line, &self.zones) {
                            errors.push(format!("{}:{}: {error}", path.display(), number + 1));
                        }
                    }
                }
                Err(error) => {
                    warn!(file = %path.display(), %error, "cannot read the hosts file; its names are not answered")
                }
            }
        }
        for error in errors.iter() {
            warn!("{error}; the line is left out");
        }
        info!(names = table.names.len(), "hosts entries loaded");
        self.table.store(Arc::new(table));
    }

    /// The answer for a question, or `None` when the question is not the hosts entries' (the
    /// cluster zone and the forwarder decide then).
    pub fn answer(&self, name: &Name, lower: &LowerName, qtype: RecordType) -> Option<Answer> {
        let table = self.table.load();
        let ttl = self.settings.ttl;
        if qtype == RecordType::PTR && self.settings.reverse {
            let ip = crate::dns::qname::reverse_address(lower)?;
            let targets = table.addresses.get(&ip)?;
            let records = targets.iter().map(|t| Record::from_rdata(name.clone(), ttl, RData::PTR(PTR(t.clone()))));
            return Some(hosts_answer(records.collect()));
        }
        if !self.zones.is_empty() && !self.zones.iter().any(|z| z.zone_of(lower)) {
            return None;
        }
        match table.names.get(lower) {
            Some(ips) => {
                let records = ips.iter().filter_map(|ip| match (ip, qtype) {
                    (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(*v4))),
                    (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(*v6))),
                    _ => None,
                });
                // A name with addresses has no other records: NODATA, without an SOA.
                Some(hosts_answer(records.map(|rdata| Record::from_rdata(name.clone(), ttl, rdata)).collect()))
            }
            None if self.settings.fallthrough => None,
            None => Some(Answer { rcode: ResponseCode::ServFail, ..hosts_answer(Vec::new()) }),
        }
    }
}

fn hosts_answer(answers: Vec<Record>) -> Answer {
    Answer { zone: ZoneKind::Hosts, ..Answer::records(answers, Vec::new()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str], fallthrough: bool, zones: &[&str]) -> Arc<Hosts> {
        Hosts::new(HostsSettings {
            entries: entries.iter().map(|e| e.to_string()).collect(),
            ttl: 60,
            reverse: true,
            fallthrough,
            zones: zones.iter().map(|z| Name::from_ascii(z).unwrap()).collect(),
            ..HostsSettings::default()
        })
    }

    fn ask(hosts: &Hosts, name: &str, qtype: RecordType) -> Option<(ResponseCode, Vec<String>)> {
        let name = Name::from_ascii(name).unwrap();
        let answer = hosts.answer(&name, &LowerName::new(&name), qtype)?;
        Some((answer.rcode, answer.answers.iter().map(|r| r.data.to_string()).collect()))
    }

    #[test]
    fn names_addresses_and_what_goes_on() {
        let entries = ["10.0.0.1 vm1 vm1.nodes.internal # the first", "fd00::1 vm1", "10.0.0.2 VM2", "bad line"];
        let hosts = hosts(&entries, true, &[]);
        assert_eq!(ask(&hosts, "vm1.", RecordType::A), Some((ResponseCode::NoError, vec!["10.0.0.1".into()])));
        assert_eq!(ask(&hosts, "VM1.", RecordType::AAAA), Some((ResponseCode::NoError, vec!["fd00::1".into()])));
        assert_eq!(ask(&hosts, "vm2.", RecordType::A), Some((ResponseCode::NoError, vec!["10.0.0.2".into()])));
        assert_eq!(ask(&hosts, "vm2.", RecordType::TXT), Some((ResponseCode::NoError, vec![])), "NODATA");
        assert_eq!(ask(&hosts, "other.", RecordType::A), None, "fallthrough");
        let ptr = ask(&hosts, "1.0.0.10.in-addr.arpa.", RecordType::PTR).unwrap().1;
        assert_eq!(ptr, ["vm1.", "vm1.nodes.internal."]);
        assert_eq!(ask(&hosts, "9.0.0.10.in-addr.arpa.", RecordType::PTR), None, "unknown addresses go on");
        let strict = super::tests::hosts(&["10.0.0.1 vm1"], false, &["nodes.internal."]);
        assert_eq!(ask(&strict, "vm1.", RecordType::A), None, "outside the zones");
        assert_eq!(ask(&strict, "x.nodes.internal.", RecordType::A), Some((ResponseCode::ServFail, vec![])));
    }
}
