//! A parsed Corefile as clusterdns settings: the keys of the configuration file (the flags'
//! long names), each with the Corefile line it came from. Three kinds of outcome per line: a
//! setting; a note (the line asks for what clusterdns does anyway, or something that does not
//! change an answer); or unsupported (clusterdns cannot serve it as written). Lines CoreDNS
//! itself would refuse (an unknown directive, a missing argument) are errors.

use std::path::{Path, PathBuf};

use super::lexer::{Location, Token};
use super::parse::{Corefile, Directive, ParseError, ServerBlock};
use super::plugins;

/// The port CoreDNS serves a block on when its address names none.
const DEFAULT_PORT: u16 = 53;

#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub key: &'static str,
    pub value: toml::Value,
    pub at: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub at: Location,
    pub text: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.text)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Translation {
    pub settings: Vec<Setting>,
    pub notes: Vec<Note>,
    pub unsupported: Vec<Note>,
}

/// One server block's address: `[dns://]ZONE[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Lower case, fully qualified (`.` for the root).
    pub zone: String,
    pub port: u16,
}

impl Address {
    pub fn is_root(&self) -> bool {
        self.zone == "."
    }
}

/// What a plugin translation sees of its server block.
pub struct Block<'a> {
    pub addresses: &'a [Address],
    /// The folder of the file the directive was written in: relative paths are relative to it.
    pub folder: PathBuf,
}

impl Block<'_> {
    /// Whether the block serves the root zone (names of every zone reach it).
    pub fn is_root(&self) -> bool {
        self.addresses.iter().any(Address::is_root)
    }

    /// The block's zones, fully qualified.
    pub fn zones(&self) -> Vec<String> {
        self.addresses.iter().map(|a| a.zone.clone()).collect()
    }
}

/// Collects what the lines translate to.
#[derive(Default)]
pub struct Out {
    translation: Translation,
    errors: Vec<ParseError>,
    /// Where the kubernetes plugin was, and the cluster zones it serves.
    pub kubernetes: Option<Location>,
    pub cluster_zones: Vec<String>,
}

impl Out {
    /// Sets a single-valued key; setting it again to another value is an error naming both lines.
    pub fn set(&mut self, key: &'static str, value: impl Into<toml::Value>, at: &Location) {
        let value = typed(value.into());
        match self.translation.settings.iter().find(|s| s.key == key) {
            Some(first) if first.value != value => {
                let message = format!("{key} = {value} conflicts with {} from {}", first.value, first.at);
                self.error(at, message);
            }
            Some(_) => {}
            None => self.translation.settings.push(Setting { key, value, at: at.clone() }),
        }
    }

    /// Adds a value to a list-valued key (once).
    pub fn add(&mut self, key: &'static str, value: impl Into<toml::Value>, at: &Location) {
        let value = typed(value.into());
        match self.translation.settings.iter_mut().find(|s| s.key == key) {
            Some(Setting { value: toml::Value::Array(items), .. }) => {
                if !items.contains(&value) {
                    items.push(value);
                }
            }
            _ => {
                self.translation.settings.push(Setting { key, value: toml::Value::Array(vec![value]), at: at.clone() })
            }
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.translation.settings.iter().any(|s| s.key == key)
    }

    pub fn note(&mut self, at: &Location, text: impl Into<String>) {
        self.translation.notes.push(Note { at: at.clone(), text: text.into() });
    }

    pub fn unsupported(&mut self, at: &Location, text: impl Into<String>) {
        self.translation.unsupported.push(Note { at: at.clone(), text: text.into() });
    }

    pub fn error(&mut self, at: &Location, message: impl Into<String>) {
        self.errors.push(ParseError { at: at.clone(), message: message.into() });
    }
}

/// A number written as text is a number in the configuration file.
fn typed(value: toml::Value) -> toml::Value {
    match value {
        toml::Value::String(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            text.parse::<i64>().map_or(toml::Value::String(text), toml::Value::Integer)
        }
        other => other,
    }
}

/// The settings a Corefile asks for, or every line CoreDNS itself would refuse.
pub fn translate(corefile: &Corefile) -> Result<Translation, Vec<ParseError>> {
    let mut out = Out::default();
    let mut ports: Vec<(u16, Location)> = Vec::new();
    for block in &corefile.blocks {
        let Some(addresses) = addresses(block, &mut out) else { continue };
        for address in &addresses {
            if !ports.iter().any(|(port, _)| *port == address.port) {
                ports.push((address.port, block.keys[0].at.clone()));
            }
        }
        for directive in &block.directives {
            let folder = directive.at().file.parent().map(Path::to_path_buf).unwrap_or_default();
            let context = Block { addresses: &addresses, folder };
            plugins::translate(directive, &context, &mut out);
        }
    }
    listen(&ports, &mut out);
    plugins::finish(&mut out);
    if out.errors.is_empty() { Ok(out.translation) } else { Err(out.errors) }
}

/// Every block serves on the same port(s) here: clusterdns has one set of zones for all its
/// listen addresses, where CoreDNS keeps a server per port.
fn listen(ports: &[(u16, Location)], out: &mut Out) {
    match ports {
        [] | [(DEFAULT_PORT, _)] => {}
        [(port, at)] => {
            if !out.has("listen") {
                out.add("listen", format!("0.0.0.0:{port}"), at);
            }
        }
        [_, (port, at), ..] => {
            out.unsupported(at, format!("a server block on port {port} beside another port (clusterdns serves the same zones on every address)"));
        }
    }
}

/// A block's addresses; `None` (with an error or an unsupported line) when one cannot be served.
fn addresses(block: &ServerBlock, out: &mut Out) -> Option<Vec<Address>> {
    let mut addresses = Vec::new();
    for key in &block.keys {
        match address(key) {
            Ok(Ok(address)) => addresses.push(address),
            Ok(Err(unsupported)) => {
                out.unsupported(&key.at, unsupported);
                return None;
            }
            Err(message) => {
                out.error(&key.at, message);
                return None;
            }
        }
    }
    Some(addresses)
}

/// `Err`: CoreDNS would refuse it too; `Ok(Err)`: valid, but not something clusterdns serves.
fn address(key: &Token) -> Result<Result<Address, String>, String> {
    let text = key.text.to_ascii_lowercase();
    let text = match text.split_once("://") {
        None => text.as_str(),
        Some(("dns", rest)) => rest,
        Some((scheme, _)) => return Ok(Err(format!("{scheme}:// servers (clusterdns serves DNS over UDP and TCP)"))),
    };
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() => {
            let port = port.parse::<u16>().map_err(|_| format!("{:?}: {port:?} is not a port", key.text))?;
            (host, port)
        }
        Some((_, _)) => return Err(format!("{:?}: expecting data after the last colon", key.text)),
        None => (text, DEFAULT_PORT),
    };
    let zone = match host.trim_end_matches('.') {
        "" => ".".to_string(),
        cidr if cidr.contains('/') => plugins::reverse_zone_of(cidr).map_err(|e| format!("{:?}: {e}", key.text))?,
        name => {
            hickory_proto::rr::Name::from_ascii(name)
                .map_err(|e| format!("{:?} is not a domain name: {e}", key.text))?;
            format!("{name}.")
        }
    };
    Ok(Ok(Address { zone, port }))
}

/// The directive's arguments as text.
pub fn args(directive: &Directive) -> Vec<&str> {
    directive.args.iter().map(|a| a.text.as_str()).collect()
}

/// A Go duration (`5s`, `1m30s`, `500ms`, `2h`) as the flags write it (`1500ms`), or why not.
pub fn duration(text: &str) -> Result<String, String> {
    let bad = || format!("{text:?} is not a duration (like 5s, 1m30s or 500ms)");
    let mut total_ms: f64 = 0.0;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let (number, tail) = rest.split_at(number_end);
        let value: f64 = number.parse().map_err(|_| bad())?;
        let unit_end = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let factor = match unit {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            _ => return Err(bad()),
        };
        total_ms += value * factor;
        rest = tail;
    }
    let ms = total_ms.round() as u64;
    Ok(if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{ms}ms") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_like_coredns() {
        let file: std::sync::Arc<Path> = Path::new("Corefile").into();
        let key = |text: &str| Token { text: text.into(), at: Location { file: file.clone(), line: 1 }, quoted: false };
        let ok = |text: &str| address(&key(text)).unwrap().unwrap();
        assert_eq!(ok(".:53"), Address { zone: ".".into(), port: 53 });
        assert_eq!(ok("."), Address { zone: ".".into(), port: 53 });
        assert_eq!(ok("dns://Consul.Local:1053"), Address { zone: "consul.local.".into(), port: 1053 });
        assert_eq!(ok(":53"), Address { zone: ".".into(), port: 53 });
        assert_eq!(ok("10.0.0.0/24"), Address { zone: "0.0.10.in-addr.arpa.".into(), port: 53 });
        assert!(address(&key("tls://.:853")).unwrap().is_err());
        assert!(address(&key("a.org:")).is_err());
        assert!(address(&key("a.org:x")).is_err());
    }

    #[test]
    fn go_durations_become_flag_durations() {
        assert_eq!(duration("5s").unwrap(), "5s");
        assert_eq!(duration("1m30s").unwrap(), "90s");
        assert_eq!(duration("500ms").unwrap(), "500ms");
        assert_eq!(duration("1.5s").unwrap(), "1500ms");
        assert_eq!(duration("2h").unwrap(), "7200s");
        assert!(duration("5").is_err() && duration("").is_err() && duration("5x").is_err());
    }
}
