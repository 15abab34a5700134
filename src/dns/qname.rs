//! The name grammar of the Kubernetes DNS specification, as pure functions.
//!
//! A query name is parsed once, relative to the zone it falls in, into a [`ClusterName`] or a
//! [`ReverseName`]; the answering code never looks at labels again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use hickory_proto::rr::LowerName;

use crate::registry::snapshot::parse_dashed_ip;

/// A name inside the cluster zone. Labels are already lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterName<'a> {
    /// `<zone>`
    Apex,
    /// `dns-version.<zone>`
    DnsVersion,
    /// `dns.<zone>`, the parent of the name server's name.
    DnsParent,
    /// `ns.dns.<zone>`, the name server named in the SOA and NS records.
    NameServer,
    /// `svc.<zone>`
    ServiceRoot,
    /// `<ns>.svc.<zone>`
    Namespace { namespace: &'a str },
    /// `<svc>.<ns>.svc.<zone>`
    Service { namespace: &'a str, service: &'a str },
    /// `<host>.<svc>.<ns>.svc.<zone>`
    Endpoint { namespace: &'a str, service: &'a str, host: &'a str },
    /// `_<proto>.<svc>.<ns>.svc.<zone>`, the parent of SRV names.
    SrvProtocol { namespace: &'a str, service: &'a str, protocol: &'a str },
    /// `_<port>._<proto>.<svc>.<ns>.svc.<zone>`
    Srv { namespace: &'a str, service: &'a str, port: &'a str, protocol: &'a str },
    /// `_zone.<svc>.<ns>.svc.<zone>` and `pin._zone...`/`prefer._zone...`: the parents of
    /// topology-pinned names.
    ZonalParent { namespace: &'a str, service: &'a str },
    /// `<hostname>.<clusterid>.<svc>.<ns>.svc.<zone>`: an imported endpoint's name in a
    /// clusterset zone (Multi-Cluster Services).
    ClusterEndpoint { namespace: &'a str, service: &'a str, host: &'a str, cluster: &'a str },
    /// `<topology zone>.pin._zone.<svc>.<ns>.svc.<zone>` (`prefer: false`) or
    /// `<topology zone>.prefer._zone...`: a headless Service's endpoints in one topology zone.
    Zonal { namespace: &'a str, service: &'a str, zone: &'a str, prefer: bool },
    /// `pod.<zone>`
    PodRoot,
    /// `<ns>.pod.<zone>`
    PodNamespace { namespace: &'a str },
    /// `<dashed-ip>.<ns>.pod.<zone>`
    Pod { namespace: &'a str, ip: IpAddr },
    /// Anything else: no such name can exist in the zone.
    Nonexistent,
}

/// A name inside `in-addr.arpa` or `ip6.arpa`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReverseName {
    /// `in-addr.arpa` or `ip6.arpa` itself.
    Apex,
    /// A full address: the owner of its PTR records.
    Address(IpAddr),
    /// A shorter name: it exists if any address in the range has a PTR record.
    Prefix(RangeInclusive<IpAddr>),
    Nonexistent,
}

/// The labels of `name` before `zone`, leftmost first, or `None` if `name` is not in `zone`.
pub fn relative_labels<'n>(name: &'n LowerName, zone: &LowerName) -> Option<Vec<&'n str>> {
    if !zone.zone_of(name) {
        return None;
    }
    let count = name.num_labels().checked_sub(zone.num_labels())? as usize;
    // Labels that are not UTF-8 cannot name anything in the cluster: map them to a label that
    // matches nothing rather than failing.
    Some(name.iter().take(count).map(|l| std::str::from_utf8(l).unwrap_or("\u{0}")).collect())
}

pub fn parse_cluster_name<'a>(labels: &[&'a str]) -> ClusterName<'a> {
    use ClusterName::*;
    match *labels {
        [] => Apex,
        ["dns-version"] => DnsVersion,
        ["dns"] => DnsParent,
        ["ns", "dns"] => NameServer,
        ["svc"] => ServiceRoot,
        [namespace, "svc"] => Namespace { namespace },
        [service, namespace, "svc"] => Service { namespace, service },
        ["_zone", service, namespace, "svc"] => ZonalParent { namespace, service },
        [first, service, namespace, "svc"] => match first.strip_prefix('_') {
            Some(protocol) => SrvProtocol { namespace, service, protocol },
            None => Endpoint { namespace, service, host: first },
        },
        ["pin" | "prefer", "_zone", service, namespace, "svc"] => ZonalParent { namespace, service },
        [port, protocol, service, namespace, "svc"] => match (port.strip_prefix('_'), protocol.strip_prefix('_')) {
            (Some(port), Some(protocol)) => Srv { namespace, service, port, protocol },
            (None, None) => ClusterEndpoint { namespace, service, host: port, cluster: protocol },
            _ => Nonexistent,
        },
        [zone, directive @ ("pin" | "prefer"), "_zone", service, namespace, "svc"] => {
            Zonal { namespace, service, zone, prefer: directive == "prefer" }
        }
        ["pod"] => PodRoot,
        [namespace, "pod"] => PodNamespace { namespace },
        [ip, namespace, "pod"] => match parse_dashed_ip(ip) {
            Some(ip) => Pod { namespace, ip },
            None => Nonexistent,
        },
        _ => Nonexistent,
    }
}

/// The address a full reverse name stands for (`1.0.0.10.in-addr.arpa.` is 10.0.0.1).
pub fn reverse_address(name: &LowerName) -> Option<IpAddr> {
    for (apex, v4) in [("in-addr.arpa.", true), ("ip6.arpa.", false)] {
        let apex = LowerName::new(&hickory_proto::rr::Name::from_ascii(apex).ok()?);
        if let Some(labels) = relative_labels(name, &apex)
            && let ReverseName::Address(ip) = parse_reverse_name(&labels, v4)
        {
            return Some(ip);
        }
    }
    None
}

/// Parses the labels before `in-addr.arpa` (`v4 = true`) or `ip6.arpa`.
pub fn parse_reverse_name(labels: &[&str], v4: bool) -> ReverseName {
    if labels.is_empty() {
        return ReverseName::Apex;
    }
    let parsed = if v4 { reverse_v4(labels) } else { reverse_v6(labels) };
    parsed.unwrap_or(ReverseName::Nonexistent)
}

fn reverse_v4(labels: &[&str]) -> Option<ReverseName> {
    if labels.len() > 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    // Leftmost label is the last octet given: `3.2.1.10.in-addr.arpa` is 10.1.2.3.
    for (i, label) in labels.iter().rev().enumerate() {
        octets[i] = decimal_octet(label)?;
    }
    let bits = 8 * labels.len() as u32;
    let low = u32::from_be_bytes(octets);
    let high = low | (u32::MAX.checked_shr(bits).unwrap_or(0));
    Some(match labels.len() {
        4 => ReverseName::Address(IpAddr::V4(Ipv4Addr::from(low))),
        _ => ReverseName::Prefix(IpAddr::V4(low.into())..=IpAddr::V4(high.into())),
    })
}

/// An octet as an address label writes it: decimal, no leading zeros.
fn decimal_octet(label: &str) -> Option<u8> {
    if label.is_empty() || (label.len() > 1 && label.starts_with('0')) || !label.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    label.parse().ok()
}

fn reverse_v6(labels: &[&str]) -> Option<ReverseName> {
    if labels.len() > 32 {
        return None;
    }
    let mut value: u128 = 0;
    for (i, label) in labels.iter().rev().enumerate() {
        let nibble = match label.as_bytes() {
            [c] => (*c as char).to_digit(16)?,
            _ => return None,
        };
        value |= u128::from(nibble) << (124 - 4 * i);
    }
    let bits = 4 * labels.len() as u32;
    let high = value | u128::MAX.checked_shr(bits).unwrap_or(0);
    Some(match labels.len() {
        32 => ReverseName::Address(IpAddr::V6(Ipv6Addr::from(value))),
        _ => ReverseName::Prefix(IpAddr::V6(value.into())..=IpAddr::V6(high.into())),
    })
}

#[cfg(test)]
mod tests {
    use super::ClusterName::*;
    use super::*;

    fn labels(s: &str) -> Vec<&str> {
        if s.is_empty() { Vec::new() } else { s.split('.').collect() }
    }

    #[test]
    fn cluster_names_parse_by_the_spec_grammar() {
        let cases: &[(&str, ClusterName)] = &[
            ("", Apex),
            ("dns-version", DnsVersion),
            ("dns", DnsParent),
            ("ns.dns", NameServer),
            ("svc", ServiceRoot),
            ("shop.svc", Namespace { namespace: "shop" }),
            ("web.shop.svc", Service { namespace: "shop", service: "web" }),
            ("db-0.db.shop.svc", Endpoint { namespace: "shop", service: "db", host: "db-0" }),
            ("_tcp.db.shop.svc", SrvProtocol { namespace: "shop", service: "db", protocol: "tcp" }),
            ("_postgres._tcp.db.shop.svc", Srv { namespace: "shop", service: "db", port: "postgres", protocol: "tcp" }),
            ("_postgres.tcp.db.shop.svc", Nonexistent),
            ("postgres._tcp.db.shop.svc", Nonexistent),
            (
                "db-0.east.db.shop.svc",
                ClusterEndpoint { namespace: "shop", service: "db", host: "db-0", cluster: "east" },
            ),
            ("a.b.c.d.shop.svc", Nonexistent),
            ("_zone.db.shop.svc", ZonalParent { namespace: "shop", service: "db" }),
            ("pin._zone.db.shop.svc", ZonalParent { namespace: "shop", service: "db" }),
            ("prefer._zone.db.shop.svc", ZonalParent { namespace: "shop", service: "db" }),
            ("near._zone.db.shop.svc", Nonexistent),
            ("eu-1a.pin._zone.db.shop.svc", Zonal { namespace: "shop", service: "db", zone: "eu-1a", prefer: false }),
            ("eu-1a.prefer._zone.db.shop.svc", Zonal { namespace: "shop", service: "db", zone: "eu-1a", prefer: true }),
            ("eu-1a.near._zone.db.shop.svc", Nonexistent),
            ("eu-1a.pin.zone.db.shop.svc", Nonexistent),
            ("x.eu-1a.pin._zone.db.shop.svc", Nonexistent),
            ("pod", PodRoot),
            ("shop.pod", PodNamespace { namespace: "shop" }),
            ("10-1-2-3.shop.pod", Pod { namespace: "shop", ip: "10.1.2.3".parse().unwrap() }),
            ("2001-db8--1.shop.pod", Pod { namespace: "shop", ip: "2001:db8::1".parse().unwrap() }),
            ("web.shop.pod", Nonexistent),
            ("other", Nonexistent),
            ("web.shop", Nonexistent),
        ];
        for (name, want) in cases {
            assert_eq!(&parse_cluster_name(&labels(name)), want, "{name:?}");
        }
    }

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reverse_names_parse_to_addresses_and_prefixes() {
        let cases: &[(&str, bool, ReverseName)] = &[
            ("", true, ReverseName::Apex),
            ("20.0.96.10", true, ReverseName::Address(v4("10.96.0.20"))),
            ("96.10", true, ReverseName::Prefix(v4("10.96.0.0")..=v4("10.96.255.255"))),
            ("10", true, ReverseName::Prefix(v4("10.0.0.0")..=v4("10.255.255.255"))),
            ("01.0.96.10", true, ReverseName::Nonexistent),
            ("256.0.96.10", true, ReverseName::Nonexistent),
            ("1.20.0.96.10", true, ReverseName::Nonexistent),
            ("x.0.96.10", true, ReverseName::Nonexistent),
            (
                "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2",
                false,
                ReverseName::Address(v4("2001:db8::1")),
            ),
            (
                "8.b.d.0.1.0.0.2",
                false,
                ReverseName::Prefix(v4("2001:db8::")..=v4("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")),
            ),
            (
                "B.d.0.1.0.0.2",
                false,
                ReverseName::Prefix(v4("2001:db0::")..=v4("2001:dbf:ffff:ffff:ffff:ffff:ffff:ffff")),
            ),
            ("10.0.0.2", false, ReverseName::Nonexistent),
        ];
        for (name, is_v4, want) in cases {
            assert_eq!(&parse_reverse_name(&labels(name), *is_v4), want, "{name:?}");
        }
    }

    #[test]
    fn relative_labels_strip_the_zone() {
        let zone: LowerName = "cluster.local.".parse().unwrap();
        let name: LowerName = "Web.Shop.svc.cluster.local.".parse().unwrap();
        assert_eq!(relative_labels(&name, &zone), Some(vec!["web", "shop", "svc"]));
        let outside: LowerName = "example.com.".parse().unwrap();
        assert_eq!(relative_labels(&outside, &zone), None);
        assert_eq!(relative_labels(&zone, &zone), Some(vec![]));
    }
}
