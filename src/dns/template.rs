//! Answers made from templates (CoreDNS `template`): for questions of a class and type in some
//! zones whose name matches a regular expression, records rendered from the name and the
//! match, and an rcode. Asked before hosts entries and the cluster zone.
//!
//! A template is written `CLASS TYPE [ZONE...]; match REGEX; answer RR; additional RR;
//! authority RR; rcode RCODE; fallthrough` (`--template`), the lines of a Corefile `template`
//! block joined with `;`. Records are zone-file lines with `{{ .Name }}`, `{{ .Zone }}`,
//! `{{ .Class }}`, `{{ .Type }}`, `{{ .Remote }}`, `{{ index .Match N }}` and `{{ .Group.NAME }}`.

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, LowerName, Name, Record, RecordType};
use hickory_proto::serialize::txt::Parser;
use regex::Regex;

use super::answer::Answer;
use crate::metrics::ZoneKind;

#[derive(Debug)]
pub struct Template {
    class: Option<DNSClass>,
    qtype: Option<RecordType>,
    zones: Vec<LowerName>,
    matches: Vec<Regex>,
    answer: Vec<Text>,
    additional: Vec<Text>,
    authority: Vec<Text>,
    rcode: ResponseCode,
    fallthrough: bool,
}

/// A record line with `{{ ... }}` actions.
#[derive(Debug, Clone, PartialEq)]
struct Text(Vec<Piece>);

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(String),
    Name,
    Zone,
    Class,
    Type,
    Remote,
    Match(usize),
    Group(String),
}

/// What a rendering sees of the question.
struct Data<'a> {
    name: &'a str,
    zone: &'a str,
    class: &'a str,
    qtype: &'a str,
    remote: &'a str,
    captures: regex::Captures<'a>,
}

impl Template {
    pub fn parse(spec: &str) -> Result<Template, String> {
        let mut clauses = spec.split(';').map(str::trim).filter(|c| !c.is_empty());
        let head: Vec<&str> =
            clauses.next().ok_or("a template needs CLASS TYPE [ZONE...]")?.split_whitespace().collect();
        let [class, qtype, zones @ ..] = head.as_slice() else { return Err("a template needs CLASS and TYPE".into()) };
        let class = match class.to_ascii_uppercase().as_str() {
            "ANY" => None,
            other => Some(other.parse::<DNSClass>().map_err(|_| format!("{other:?} is not a class"))?),
        };
        let qtype = match qtype.to_ascii_uppercase().as_str() {
            "ANY" => None,
            other => Some(other.parse::<RecordType>().map_err(|_| format!("{other:?} is not a record type"))?),
        };
        let zones = zones
            .iter()
            .map(|z| {
                Name::from_ascii(z)
                    .map(|mut n| {
                        n.set_fqdn(true);
                        LowerName::new(&n)
                    })
                    .map_err(|e| format!("{z:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut template = Template {
            class,
            qtype,
            zones,
            matches: Vec::new(),
            answer: Vec::new(),
            additional: Vec::new(),
            authority: Vec::new(),
            rcode: ResponseCode::NoError,
            fallthrough: false,
        };
        for clause in clauses {
            let (keyword, rest) = clause.split_once(char::is_whitespace).unwrap_or((clause, ""));
            let rest = rest.trim();
            match keyword {
                "match" => {
                    for pattern in rest.split_whitespace().map(|p| p.trim_matches('"')) {
                        template.matches.push(Regex::new(pattern).map_err(|e| format!("match {pattern:?}: {e}"))?);
                    }
                }
                "answer" => template.answer.push(Text::parse(rest)?),
                "additional" => template.additional.push(Text::parse(rest)?),
                "authority" => template.authority.push(Text::parse(rest)?),
                "rcode" => template.rcode = rcode(rest)?,
                "fallthrough" => template.fallthrough = true,
                other => return Err(format!("{other:?} is not a template clause")),
            }
        }
        if template.matches.is_empty() {
            template.matches.push(Regex::new(".*").expect("static pattern"));
        }
        Ok(template)
    }

    /// The answer for a question, or `None` when this template does not take it.
    pub fn answer(&self, name: &Name, lower: &LowerName, qtype: RecordType, remote: IpAddr) -> Option<Answer> {
        if self.qtype.is_some_and(|t| t != qtype) || self.class.is_some_and(|c| c != DNSClass::IN) {
            return None;
        }
        let zone = match self.zones.as_slice() {
            [] => LowerName::new(&Name::root()),
            zones => zones.iter().filter(|z| z.zone_of(lower)).max_by_key(|z| z.num_labels())?.clone(),
        };
        let qname = lower.to_string();
        let Some(captures) = self.matches.iter().find_map(|m| m.captures(&qname)) else {
            return match self.fallthrough {
                true => None,
                false => Some(Answer { rcode: ResponseCode::ServFail, ..template_answer(Vec::new(), Vec::new()) }),
            };
        };
        let (zone, remote, qtype_text) = (zone.to_string(), remote.to_string(), qtype.to_string());
        let data = Data { name: &qname, zone: &zone, class: "IN", qtype: &qtype_text, remote: &remote, captures };
        let render = |texts: &[Text]| -> Result<Vec<Record>, String> {
            texts.iter().map(|t| record(&t.render(&data))).collect()
        };
        // A rendering that is not a record (a group that matched nothing, say) fails the
        // question, as in CoreDNS.
        let rendered = (render(&self.answer), render(&self.additional), render(&self.authority));
        let (Ok(answers), Ok(additionals), Ok(authority)) = rendered else {
            return Some(Answer { rcode: ResponseCode::ServFail, ..template_answer(Vec::new(), Vec::new()) });
        };
        let mut answer = template_answer(answers, additionals);
        answer.rcode = self.rcode;
        // Records keep the owner the template gave; a name as asked reads better echoed.
        for record in &mut answer.answers {
            if LowerName::new(&record.name) == *lower {
                record.name = name.clone();
            }
        }
        answer.soa = authority.into_iter().next();
        Some(answer)
    }
}

fn template_answer(answers: Vec<Record>, additionals: Vec<Record>) -> Answer {
    Answer { zone: ZoneKind::Static, ..Answer::records(answers, additionals) }
}

fn rcode(text: &str) -> Result<ResponseCode, String> {
    Ok(match text {
        "NOERROR" | "SUCCESS" => ResponseCode::NoError,
        "NXDOMAIN" => ResponseCode::NXDomain,
        "SERVFAIL" => ResponseCode::ServFail,
        "REFUSED" => ResponseCode::Refused,
        "NOTIMP" => ResponseCode::NotImp,
        "FORMERR" => ResponseCode::FormErr,
        other => return Err(format!("{other:?} is not an rcode (NOERROR, NXDOMAIN, SERVFAIL, REFUSED...)")),
    })
}

/// One zone-file line as a record.
fn record(line: &str) -> Result<Record, String> {
    let (_, rrsets) = Parser::new(line, None, Some(Name::root())).parse().map_err(|e| e.to_string())?;
    rrsets
        .into_values()
        .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>())
        .next()
        .ok_or_else(|| "no record".into())
}

impl Text {
    fn parse(text: &str) -> Result<Text, String> {
        let text = text.trim().trim_matches('"');
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let end = rest[start..].find("}}").ok_or("a '{{' is not closed")? + start;
            let mut before = &rest[..start];
            let mut action = &rest[start + 2..end];
            let mut after = &rest[end + 2..];
            if let Some(trimmed) = action.strip_prefix('-') {
                action = trimmed;
                before = before.trim_end();
            }
            if let Some(trimmed) = action.strip_suffix('-') {
                action = trimmed;
                after = after.trim_start();
            }
            pieces.push(Piece::Literal(before.to_string()));
            pieces.push(piece(action.trim())?);
            rest = after;
        }
        pieces.push(Piece::Literal(rest.to_string()));
        Ok(Text(pieces))
    }

    fn render(&self, data: &Data<'_>) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Name => out.push_str(data.name),
                Piece::Zone => out.push_str(data.zone),
                Piece::Class => out.push_str(data.class),
                Piece::Type => out.push_str(data.qtype),
                Piece::Remote => out.push_str(data.remote),
                Piece::Match(i) => out.push_str(data.captures.get(*i).map_or("", |m| m.as_str())),
                Piece::Group(name) => {
                    let group = match name.parse::<usize>() {
                        Ok(i) => data.captures.get(i),
                        Err(_) => data.captures.name(name),
                    };
                    out.push_str(group.map_or("", |m| m.as_str()));
                }
            }
        }
        out
    }
}

fn piece(action: &str) -> Result<Piece, String> {
    let words: Vec<&str> = action.split_whitespace().collect();
    Ok(match words.as_slice() {
        [".Name"] => Piece::Name,
        [".Zone"] => Piece::Zone,
        [".Class"] => Piece::Class,
        [".Type"] => Piece::Type,
        [".Remote"] => Piece::Remote,
        ["index", ".Match", n] => {
            Piece::Match(n.parse().map_err(|_| format!("{{{{ {action} }}}}: {n:?} is not a number"))?)
        }
        ["index", ".Group", name] => Piece::Group(name.trim_matches('"').to_string()),
        [group] if group.starts_with(".Group.") => Piece::Group(group[".Group.".len()..].to_string()),
        _ => return Err(format!("{{{{ {action} }}}} is not something clusterdns renders")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(template: &Template, name: &str, qtype: RecordType) -> Option<(ResponseCode, Vec<String>, Option<String>)> {
        let name = Name::from_ascii(name).unwrap();
        let answer = template.answer(&name, &LowerName::new(&name), qtype, "10.1.2.3".parse().unwrap())?;
        let records = answer.answers.iter().map(|r| format!("{} {} {}", r.name, r.record_type(), r.data)).collect();
        Some((answer.rcode, records, answer.soa.map(|r| r.name.to_string())))
    }

    #[test]
    fn templates_answer_matched_names_and_leave_the_rest() {
        let nx = Template::parse(
            r#"ANY ANY internal.cloudapp.net; match "^(?:[^.]+\.){4,}internal\.cloudapp\.net\.$"; rcode NXDOMAIN; fallthrough"#,
        );
        let nx = nx.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ask(&nx, "a.b.c.d.internal.cloudapp.net.", RecordType::A),
            Some((ResponseCode::NXDomain, vec![], None))
        );
        assert_eq!(ask(&nx, "vm.internal.cloudapp.net.", RecordType::A), None, "no match: falls through");
        assert_eq!(ask(&nx, "example.com.", RecordType::A), None, "outside the zone");
        let strict = Template::parse("ANY ANY reddog.microsoft.com; rcode NXDOMAIN").unwrap();
        assert_eq!(ask(&strict, "x.reddog.microsoft.com.", RecordType::AAAA).unwrap().0, ResponseCode::NXDomain);
        let ip = Template::parse(
            "IN A example; match (^|[.])ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$; \
             answer \"{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}\"; \
             authority \"{{ .Zone }} 60 IN NS ns0.example.\"",
        )
        .unwrap();
        let (rcode, records, authority) = ask(&ip, "ip-10-0-0-7.example.", RecordType::A).unwrap();
        assert_eq!((rcode, records), (ResponseCode::NoError, vec!["ip-10-0-0-7.example. A 10.0.0.7".to_string()]));
        assert_eq!(authority.as_deref(), Some("example."));
        assert_eq!(ask(&ip, "ip-10-0-0-7.example.", RecordType::AAAA), None, "another type");
        assert_eq!(
            ask(&ip, "other.example.", RecordType::A).unwrap().0,
            ResponseCode::ServFail,
            "no match, no fallthrough"
        );
        let broken = Template::parse("IN A example; answer \"{{ .Name }} 60 IN A not-an-ip\"").unwrap();
        assert_eq!(ask(&broken, "x.example.", RecordType::A).unwrap().0, ResponseCode::ServFail);
        let remote = Template::parse("IN TXT whoami.example; answer \"{{ .Name }} 0 IN TXT {{ .Remote }}\"").unwrap();
        assert_eq!(ask(&remote, "whoami.example.", RecordType::TXT).unwrap().1, ["whoami.example. TXT 10.1.2.3"]);
    }

    #[test]
    fn bad_templates_are_errors() {
        for (spec, want) in [
            ("IN", "CLASS and TYPE"),
            ("IN A example; answer \"{{ .Name }} 60 IN A {{ .Nope }}\"", "is not something clusterdns renders"),
            ("IN A example; match (", "match"),
            ("IN A example; rcode MAYBE", "is not an rcode"),
            ("IN A example; colour blue", "is not a template clause"),
        ] {
            let error = Template::parse(spec).unwrap_err();
            assert!(error.contains(want), "{spec}: {error}");
        }
    }
}
