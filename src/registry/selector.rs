//! Kubernetes label selectors (`env=prod,tier!=cache,team in (a,b),!legacy`), for matching
//! objects read from manifests the way the API server matches them for a watch.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed selector; every requirement must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector(Vec<Requirement>);

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut requirements = Vec::new();
        for term in split_terms(text)? {
            requirements.push(requirement(term.trim()).ok_or_else(|| format!("{term:?} is not a label requirement"))?);
        }
        Ok(Selector(requirements))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

/// The comma-separated terms, commas inside `( )` kept.
fn split_terms(text: &str) -> Result<Vec<&str>, String> {
    let (mut terms, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(format!("{text:?}: unbalanced parentheses"));
        }
    }
    if depth != 0 {
        return Err(format!("{text:?}: unbalanced parentheses"));
    }
    terms.push(&text[start..]);
    Ok(terms.into_iter().filter(|t| !t.trim().is_empty()).collect())
}

fn requirement(term: &str) -> Option<Requirement> {
    let key = |k: &str| Some(k.trim().to_string()).filter(|k| is_key(k));
    let value = |v: &str| Some(v.trim().to_string()).filter(|v| is_value(v));
    if let Some(k) = term.strip_prefix('!') {
        return Some(Requirement::DoesNotExist(key(k)?));
    }
    for (op, set) in [(" notin ", false), (" in ", true)] {
        if let Some((k, rest)) = term.split_once(op) {
            let values = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
            let values = values.split(',').map(value).collect::<Option<Vec<_>>>()?;
            return Some(if set { Requirement::In(key(k)?, values) } else { Requirement::NotIn(key(k)?, values) });
        }
    }
    if let Some((k, v)) = term.split_once("!=") {
        return Some(Requirement::NotEquals(key(k)?, value(v)?));
    }
    if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Some(Requirement::Equals(key(k)?, value(v)?));
    }
    Some(Requirement::Exists(key(term)?))
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters.
fn is_key(key: &str) -> bool {
    let name = key.rsplit_once('/').map_or(key, |(_, name)| name);
    !name.is_empty() && name.len() <= 63 && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn is_value(value: &str) -> bool {
    value.len() <= 63 && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn selectors_match_as_the_api_server_matches() {
        let prod = labels(&[("env", "prod"), ("team", "a")]);
        let dev = labels(&[("env", "dev"), ("legacy", "yes")]);
        for (text, on_prod, on_dev) in [
            ("env=prod", true, false),
            ("env==prod", true, false),
            ("env!=prod", false, true),
            ("team in (a, b)", true, false),
            ("team notin (a)", false, true),
            ("legacy", false, true),
            ("!legacy", true, false),
            ("env in (prod,dev),!legacy", true, false),
            ("", true, true),
        ] {
            let selector = Selector::parse(text).unwrap();
            assert_eq!((selector.matches(&prod), selector.matches(&dev)), (on_prod, on_dev), "{text}");
        }
    }

    #[test]
    fn bad_selectors_are_errors() {
        for text in ["env in (a", "env in a", "=x", "a b", "env=a b"] {
            assert!(Selector::parse(text).is_err(), "{text}");
        }
    }
}
