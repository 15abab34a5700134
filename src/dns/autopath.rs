//! Autopath (`--autopath`): a pod's resolver walks its search list one query at a time
//! (`<name>.<ns>.svc.<zone>`, `<name>.svc.<zone>`, `<name>.<zone>`, the node's search domains,
//! then `<name>.` itself, with ndots:5 for any name of fewer than five dots). When the first
//! query of such a walk would be NXDOMAIN, the server walks the rest itself and answers the
//! first query with a CNAME to the first name that exists, and that name's records: one round
//! trip instead of up to six.
//!
//! Which walk a query starts is read from the query alone: `<name>.<ns>.svc.<zone>` where
//! `<ns>` is an existing namespace is the first query of the standard pod search list of a pod
//! in `<ns>`. With `--pods verified` the client must also be a running Pod of `<ns>`. The
//! answer depends only on the question and the data, so every replica gives the same one.

use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record};

/// The rest of the walk a question starts, when it is the first query of a pod's search list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    /// The pod's namespace: the label before `svc`.
    pub namespace: String,
    /// The names the pod would ask next, in order; the last is the name itself.
    pub rest: Vec<Name>,
}

/// The walk `name` starts, if it is `<name>.<ns>.svc.<zone>` with at least one label before
/// the namespace. `host_search` is the node's search list, which kubelet appends to a pod's.
pub fn walk(name: &Name, zone: &Name, host_search: &[Name]) -> Option<Walk> {
    if !zone.zone_of(name) {
        return None;
    }
    let labels: Vec<&[u8]> = name.iter().collect();
    let inside = labels.len().checked_sub(usize::from(zone.num_labels()))?;
    // <asked...>.<ns>.svc
    if inside < 3 || !labels[inside - 1].eq_ignore_ascii_case(b"svc") {
        return None;
    }
    let namespace = std::str::from_utf8(labels[inside - 2]).ok()?.to_ascii_lowercase();
    let asked = Name::from_labels(labels[..inside - 2].iter().copied()).ok()?;
    let svc = Name::from_ascii("svc").ok()?.append_domain(zone).ok()?;
    let mut rest = Vec::new();
    for suffix in [&svc, zone].into_iter().chain(host_search) {
        // A name too long with a suffix is one the pod's resolver skips too.
        if let Ok(candidate) = asked.clone().append_domain(suffix) {
            rest.push(candidate);
        }
    }
    let mut bare = asked;
    bare.set_fqdn(true);
    rest.push(bare);
    Some(Walk { namespace, rest })
}

/// The record that tells the client its question led to `target`.
pub fn alias(asked: &Name, target: &Name, ttl: u32) -> Record {
    Record::from_rdata(asked.clone(), ttl, RData::CNAME(CNAME(target.clone())))
}

/// The node's search domains: the last `search` (or `domain`) line of a resolv.conf.
pub fn search_domains(resolv_conf: &str) -> Vec<Name> {
    let mut domains = Vec::new();
    for line in resolv_conf.lines() {
        let mut words = line.split_whitespace();
        if matches!(words.next(), Some("search" | "domain")) {
            domains = words.filter_map(|d| Name::from_ascii(d.trim_end_matches('.')).ok()).collect();
            domains.iter_mut().for_each(|d| d.set_fqdn(true));
        }
    }
    domains
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn the_first_query_of_a_pod_walk_gives_the_rest_of_it() {
        let zone = name("cluster.local.");
        let walk = walk(&name("www.Example.com.Shop.svc.cluster.local."), &zone, &[name("corp.internal.")]).unwrap();
        assert_eq!(walk.namespace, "shop");
        let rest: Vec<String> = walk.rest.iter().map(ToString::to_string).collect();
        assert_eq!(
            rest,
            [
                "www.Example.com.svc.cluster.local.",
                "www.Example.com.cluster.local.",
                "www.Example.com.corp.internal.",
                "www.Example.com."
            ]
        );
    }

    #[test]
    fn other_names_start_no_walk() {
        let zone = name("cluster.local.");
        for other in ["shop.svc.cluster.local.", "svc.cluster.local.", "www.example.com.", "a.b.pod.cluster.local."] {
            assert_eq!(walk(&name(other), &zone, &[]), None, "{other}");
        }
    }

    #[test]
    fn the_search_list_is_the_last_search_line() {
        let text = "nameserver 10.0.0.2\ndomain old.example\nsearch a.example b.example.\noptions ndots:2\n";
        let domains: Vec<String> = search_domains(text).iter().map(ToString::to_string).collect();
        assert_eq!(domains, ["a.example.", "b.example."]);
        assert!(search_domains("nameserver 10.0.0.2\n").is_empty());
    }
}
