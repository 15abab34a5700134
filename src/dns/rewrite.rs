//! Query names rewritten before they are answered (CoreDNS `rewrite name`), and the answer's
//! names rewritten back, so that the client sees the name it asked.
//!
//! A rule is written as after `rewrite` in a Corefile (`--rewrite`):
//! `[stop|continue] name [exact|prefix|suffix|substring|regex] FROM TO [answer auto |
//! answer name FROM TO | answer value FROM TO]...`. Rules apply in order; a matching `stop`
//! rule (the default) ends the list. The question is always sent back as asked.

use hickory_proto::rr::rdata::{CNAME, NS, PTR};
use hickory_proto::rr::{Name, RData, Record};
use regex::Regex;
use std::sync::Arc;

#[derive(Debug)]
pub struct Rewrite {
    stop: bool,
    kind: Kind,
    answers: Vec<AnswerRule>,
}

#[derive(Debug)]
enum Kind {
    Exact { from: String, to: String },
    Prefix { from: String, to: String },
    Suffix { from: String, to: String },
    Substring { from: String, to: String },
    Regex { from: Regex, to: String },
}

#[derive(Debug)]
enum AnswerRule {
    /// Owners that are the rewritten name become the name asked (and, for prefix, suffix and
    /// substring rules, the reverse substitution applies to other owners).
    Auto,
    Name(Regex, String),
    Value(Regex, String),
}

/// The rewrites one question went through, to undo in its answer (held while it is
/// forwarded, so it owns what it needs).
#[derive(Debug, Default, Clone)]
pub struct Applied {
    /// `(name before, name after, rule)` per rule that matched.
    steps: Vec<(String, String, Arc<Rewrite>)>,
}

impl Rewrite {
    pub fn parse(spec: &str) -> Result<Rewrite, String> {
        let mut words: Vec<&str> = spec.split_whitespace().collect();
        let stop = match words.first() {
            Some(&"continue") => false,
            Some(&"stop") => true,
            _ => {
                words.insert(0, "stop");
                true
            }
        };
        if words.get(1) != Some(&"name") {
            return Err(format!(
                "{spec:?}: only name rules are rewritten (name [exact|prefix|suffix|substring|regex] FROM TO)"
            ));
        }
        let rest = &words[2..];
        let (kind_word, rest) = match rest.first() {
            Some(&k @ ("exact" | "prefix" | "suffix" | "substring" | "regex")) => (k, &rest[1..]),
            _ => ("exact", rest),
        };
        let [from, to, options @ ..] = rest else { return Err(format!("{spec:?}: name needs FROM and TO")) };
        let (from, to) = (from.to_ascii_lowercase(), to.to_ascii_lowercase());
        let kind = match kind_word {
            "exact" => Kind::Exact { from: fqdn(&from), to: fqdn(&to) },
            "prefix" => Kind::Prefix { from, to },
            "suffix" => Kind::Suffix { from: fqdn(&from), to: fqdn(&to) },
            "substring" => Kind::Substring { from, to },
            _ => Kind::Regex { from: Regex::new(&from).map_err(|e| format!("regex {from:?}: {e}"))?, to },
        };
        let mut answers = Vec::new();
        let mut options = options;
        while !options.is_empty() {
            // `answer` may be left out after the first answer option.
            let after_keyword = if options[0] == "answer" { &options[1..] } else { options };
            match after_keyword {
                ["auto", more @ ..] => {
                    answers.push(AnswerRule::Auto);
                    options = more;
                }
                [kind @ ("name" | "value"), from, to, more @ ..] => {
                    let regex = Regex::new(from).map_err(|e| format!("answer {kind} {from:?}: {e}"))?;
                    answers.push(if *kind == "name" {
                        AnswerRule::Name(regex, to.to_string())
                    } else {
                        AnswerRule::Value(regex, to.to_string())
                    });
                    options = more;
                }
                _ => {
                    return Err(format!(
                        "{spec:?}: after TO, answer auto, answer name FROM TO or answer value FROM TO"
                    ));
                }
            }
        }
        Ok(Rewrite { stop, kind, answers })
    }

    /// The name this rule makes of `name` (lower case, fully qualified), if it matches.
    fn apply(&self, name: &str) -> Option<String> {
        let rewritten = match &self.kind {
            Kind::Exact { from, to } => (name == from).then(|| to.clone())?,
            Kind::Prefix { from, to } => format!("{to}{}", name.strip_prefix(from.as_str())?),
            Kind::Suffix { from, to } => format!("{}{to}", name.strip_suffix(from.as_str())?),
            Kind::Substring { from, to } => name.contains(from.as_str()).then(|| name.replace(from.as_str(), to))?,
            Kind::Regex { from, to } => substitute(from, name, to)?,
        };
        Some(fqdn(&rewritten))
    }

    /// The owner name an answer record of the rewritten question gets back.
    fn undo_owner(&self, owner: &str, before: &str, after: &str) -> Option<String> {
        let automatic =
            matches!(self.kind, Kind::Exact { .. }) || self.answers.iter().any(|a| matches!(a, AnswerRule::Auto));
        if automatic {
            if owner == after {
                return Some(before.to_string());
            }
            let swapped = match &self.kind {
                Kind::Prefix { from, to } => owner.strip_prefix(to.as_str()).map(|rest| format!("{from}{rest}")),
                Kind::Suffix { from, to } => owner.strip_suffix(to.as_str()).map(|rest| format!("{rest}{from}")),
                Kind::Substring { from, to } => owner.contains(to.as_str()).then(|| owner.replace(to.as_str(), from)),
                _ => None,
            };
            if swapped.is_some() {
                return swapped;
            }
        }
        self.answers.iter().find_map(|rule| match rule {
            AnswerRule::Name(from, to) => substitute(from, owner, to).map(|n| fqdn(&n)),
            _ => None,
        })
    }

    fn undo_value(&self, value: &str) -> Option<String> {
        self.answers.iter().find_map(|rule| match rule {
            AnswerRule::Value(from, to) => substitute(from, value, to).map(|n| fqdn(&n)),
            _ => None,
        })
    }
}

/// `to` with `{N}` replaced by the regex's groups, when `from` matches `text`.
fn substitute(from: &Regex, text: &str, to: &str) -> Option<String> {
    let captures = from.captures(text)?;
    let mut out = to.to_string();
    for i in (0..captures.len()).rev() {
        out = out.replace(&format!("{{{i}}}"), captures.get(i).map_or("", |m| m.as_str()));
    }
    Some(out)
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') { name.to_string() } else { format!("{name}.") }
}

/// Runs `name` (lower case, fully qualified) through the rules: the name to answer, and what
/// to undo in the answer. `None` when no rule matched.
pub fn rewrite(rules: &[Arc<Rewrite>], name: &str) -> Option<(Name, Applied)> {
    let mut current = name.to_string();
    let mut applied = Applied::default();
    for rule in rules {
        if let Some(next) = rule.apply(&current) {
            applied.steps.push((current.clone(), next.clone(), rule.clone()));
            current = next;
            if rule.stop {
                break;
            }
        }
    }
    if applied.steps.is_empty() {
        return None;
    }
    Name::from_ascii(&current).ok().map(|name| (name, applied))
}

impl Applied {
    /// Gives records of the rewritten question their names back, last rewrite first.
    pub fn undo(&self, records: &mut [Record]) {
        for (before, after, rule) in self.steps.iter().rev() {
            for record in records.iter_mut() {
                let owner = record.name.to_lowercase().to_string();
                if let Some(name) = rule.undo_owner(&owner, before, after).and_then(|n| Name::from_ascii(n).ok()) {
                    record.name = name;
                }
                let value = |name: &Name| {
                    rule.undo_value(&name.to_lowercase().to_string()).and_then(|n| Name::from_ascii(n).ok())
                };
                match &mut record.data {
                    RData::CNAME(CNAME(target)) | RData::PTR(PTR(target)) | RData::NS(NS(target)) => {
                        if let Some(name) = value(target) {
                            *target = name;
                        }
                    }
                    RData::SRV(srv) => {
                        if let Some(name) = value(&srv.target) {
                            srv.target = name;
                        }
                    }
                    RData::MX(mx) => {
                        if let Some(name) = value(&mx.exchange) {
                            mx.exchange = name;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::rdata::A;

    use super::*;

    fn rules(specs: &[&str]) -> Vec<Arc<Rewrite>> {
        specs.iter().map(|s| Arc::new(Rewrite::parse(s).unwrap_or_else(|e| panic!("{e}")))).collect()
    }

    fn renamed(rules: &[Arc<Rewrite>], name: &str) -> Option<String> {
        rewrite(rules, name).map(|(n, _)| n.to_string())
    }

    #[test]
    fn names_are_rewritten_by_each_kind_of_rule() {
        let exact = rules(&["name foo.example.com web.shop.svc.cluster.local"]);
        assert_eq!(renamed(&exact, "foo.example.com.").as_deref(), Some("web.shop.svc.cluster.local."));
        assert_eq!(renamed(&exact, "x.foo.example.com."), None);
        let suffix = rules(&["name suffix .corp.example .svc.cluster.local"]);
        assert_eq!(renamed(&suffix, "web.shop.corp.example.").as_deref(), Some("web.shop.svc.cluster.local."));
        let prefix = rules(&["name prefix legacy- new-"]);
        assert_eq!(renamed(&prefix, "legacy-db.example.").as_deref(), Some("new-db.example."));
        let regex = rules(&["stop name regex (.*)\\.example\\.com\\. {1}.default.svc.cluster.local"]);
        assert_eq!(renamed(&regex, "api.example.com.").as_deref(), Some("api.default.svc.cluster.local."));
        let substring = rules(&["name substring old-corp new-corp"]);
        assert_eq!(renamed(&substring, "db.old-corp.example.").as_deref(), Some("db.new-corp.example."));
        // stop (the default) ends the list; continue goes on.
        let chain = rules(&[
            "continue name exact a.example b.example",
            "name exact b.example c.example",
            "name exact c.example d.example",
        ]);
        assert_eq!(renamed(&chain, "a.example.").as_deref(), Some("c.example."));
    }

    #[test]
    fn answers_get_the_asked_name_back() {
        let a = |owner: &str| Record::from_rdata(Name::from_ascii(owner).unwrap(), 5, RData::A(A::new(10, 0, 0, 1)));
        let exact = rules(&["name foo.example.com web.shop.svc.cluster.local"]);
        let (_, applied) = rewrite(&exact, "foo.example.com.").unwrap();
        let mut records = vec![a("web.shop.svc.cluster.local.")];
        applied.undo(&mut records);
        assert_eq!(records[0].name.to_string(), "foo.example.com.");
        let regex = rules(&[
            "stop name regex (.*)\\.example\\.com\\. {1}.default.svc.cluster.local answer name (.*)\\.default\\.svc\\.cluster\\.local\\. {1}.example.com",
        ]);
        let (_, applied) = rewrite(&regex, "api.example.com.").unwrap();
        let mut records = vec![a("api.default.svc.cluster.local.")];
        applied.undo(&mut records);
        assert_eq!(records[0].name.to_string(), "api.example.com.");
        let plain_regex = rules(&["name regex (.*)\\.example\\.com\\. {1}.default.svc.cluster.local"]);
        let (_, applied) = rewrite(&plain_regex, "api.example.com.").unwrap();
        let mut records = vec![a("api.default.svc.cluster.local.")];
        applied.undo(&mut records);
        assert_eq!(records[0].name.to_string(), "api.default.svc.cluster.local.", "regex without answer: as CoreDNS");
        assert!(Rewrite::parse("type A AAAA").is_err());
        assert!(Rewrite::parse("name regex ( x").is_err());
        assert!(Rewrite::parse("name exact a.example b.example answer bogus").is_err());
    }
}
