//! Each CoreDNS plugin's lines as clusterdns settings (see [`super::translate`]).

use super::parse::Directive;
use super::translate::{Block, Out, args, duration};

/// Every plugin CoreDNS builds in (plugin.cfg): a directive not listed is an unknown one.
const COREDNS_PLUGINS: &[&str] = &[
    "root",
    "metadata",
    "geoip",
    "cancel",
    "tls",
    "proxyproto",
    "quic",
    "grpc_server",
    "https",
    "https3",
    "timeouts",
    "multisocket",
    "reload",
    "nsid",
    "bufsize",
    "bind",
    "debug",
    "trace",
    "ready",
    "health",
    "pprof",
    "prometheus",
    "errors",
    "log",
    "dnstap",
    "local",
    "dns64",
    "acl",
    "any",
    "chaos",
    "loadbalance",
    "tsig",
    "cache",
    "rewrite",
    "header",
    "dnssec",
    "autopath",
    "minimal",
    "template",
    "transfer",
    "hosts",
    "route53",
    "azure",
    "clouddns",
    "k8s_external",
    "kubernetes",
    "file",
    "auto",
    "secondary",
    "etcd",
    "loop",
    "forward",
    "grpc",
    "erratic",
    "whoami",
    "on",
    "sign",
    "view",
    "nomad",
];

/// CoreDNS's `cache` defaults: the longest a success and a denial are kept.
const CACHE_SUCCESS_TTL: u64 = 3600;
const CACHE_DENIAL_TTL: u64 = 1800;

pub fn translate(directive: &Directive, block: &Block<'_>, out: &mut Out) {
    let at = directive.at();
    match directive.name.text.as_str() {
        "kubernetes" => kubernetes(directive, block, out),
        "forward" => forward(directive, block, out),
        "cache" => cache(directive, block, out),
        "file" => file(directive, block, out),
        "hosts" => hosts(directive, block, out),
        "template" => template(directive, block, out),
        "rewrite" => rewrite(directive, out),
        "health" => {
            admin(directive, ":8080", out);
            for line in &directive.block {
                match (line.name.text.as_str(), args(line).as_slice()) {
                    ("lameduck", [value]) => match duration(value) {
                        Ok(value) => out.set("lameduck", value, line.at()),
                        Err(e) => out.error(line.at(), format!("lameduck: {e}")),
                    },
                    (name, _) => out.error(line.at(), format!("health: unknown property {name:?}")),
                }
            }
        }
        "ready" => {
            admin(directive, ":8181", out);
            no_block(directive, out);
        }
        "prometheus" => {
            admin(directive, "localhost:9153", out);
            no_block(directive, out);
        }
        "errors" => out.note(at, "errors: clusterdns always logs errors"),
        "log" => {
            out.set("log-queries", true, at);
            if !directive.args.is_empty() || !directive.block.is_empty() {
                out.note(
                    at,
                    "log: every query is logged, in clusterdns's format (names, format and classes are not applied)",
                );
            }
        }
        "loop" => out.note(at, "loop: clusterdns always checks its upstreams for loops and stops using one that loops"),
        "reload" => out.note(at, "reload: clusterdns re-reads the Corefile and what it imports every second"),
        "loadbalance" => match args(directive).as_slice() {
            [] | ["round_robin"] => out.note(
                at,
                "loadbalance: headless answers rotate on every query; forwarded answers keep the upstream's order",
            ),
            _ => out.unsupported(at, "loadbalance other than round_robin"),
        },
        "any" => out.note(at, "any: ANY gets one RRset (RFC 8482)"),
        "bufsize" => out.note(at, "bufsize: clusterdns answers UDP with at most 1232 bytes"),
        "bind" => bind(directive, block, out),
        "multisocket" => match args(directive).as_slice() {
            [count] => out.set("udp-workers", count.to_string(), at),
            _ => out.note(at, "multisocket: one SO_REUSEPORT socket per UDP worker, one worker per CPU"),
        },
        name if COREDNS_PLUGINS.contains(&name) => out.unsupported(at, format!("the {name} plugin")),
        name => out.error(at, format!("unknown directive {name:?}")),
    }
}

/// Anything that needs the whole Corefile seen.
pub fn finish(_out: &mut Out) {}

fn no_block(directive: &Directive, out: &mut Out) {
    if let Some(line) = directive.block.first() {
        out.error(line.at(), format!("{}: unknown property {:?}", directive.name.text, line.name.text));
    }
}

/// health, ready and prometheus: one more address of the admin endpoint.
fn admin(directive: &Directive, default: &str, out: &mut Out) {
    let at = directive.at();
    let address = match args(directive).as_slice() {
        [] => default.to_string(),
        [address] => address.to_string(),
        _ => return out.error(at, format!("{}: one address at most", directive.name.text)),
    };
    match socket_address(&address) {
        Some(address) => out.add("admin", address, at),
        None => out.error(at, format!("{}: {address:?} is not an address like :8080", directive.name.text)),
    }
}

/// `:8080` -> `0.0.0.0:8080`, `localhost:9153` -> `127.0.0.1:9153`, IPs as given.
fn socket_address(text: &str) -> Option<String> {
    let (host, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = match host {
        "" => "0.0.0.0",
        "localhost" => "127.0.0.1",
        host => host,
    };
    let address = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    address.parse::<std::net::SocketAddr>().ok().map(|a| a.to_string())
}

fn bind(directive: &Directive, block: &Block<'_>, out: &mut Out) {
    let at = directive.at();
    if !directive.block.is_empty() {
        return out.unsupported(at, "bind except");
    }
    for host in args(directive) {
        if host.parse::<std::net::IpAddr>().is_err() {
            return out.unsupported(at, format!("bind to {host:?}, an interface (bind takes IP addresses here)"));
        }
        for address in block.addresses {
            let listen = if host.contains(':') {
                format!("[{host}]:{}", address.port)
            } else {
                format!("{host}:{}", address.port)
            };
            out.add("listen", listen, at);
        }
    }
}

/// The reverse zone a CIDR key covers, when it is octet (IPv4) or nibble (IPv6) aligned.
pub fn reverse_zone_of(cidr: &str) -> Result<String, String> {
    let (ip, bits) = cidr.split_once('/').ok_or("not a CIDR")?;
    let bits: u32 = bits.parse().map_err(|_| format!("{bits:?} is not a prefix length"))?;
    let ip: std::net::IpAddr = ip.parse().map_err(|_| format!("{ip:?} is not an IP address"))?;
    let (digits, step): (Vec<String>, u32) = match ip {
        std::net::IpAddr::V4(v4) => (v4.octets().iter().map(u8::to_string).collect(), 8),
        std::net::IpAddr::V6(v6) => {
            (v6.octets().iter().flat_map(|b| [b >> 4, b & 15]).map(|n| format!("{n:x}")).collect(), 4)
        }
    };
    if bits > step * digits.len() as u32 {
        return Err(format!("/{bits} is longer than the address"));
    }
    // A prefix between boundaries covers several zones; the smallest zone holding it all is
    // the shorter aligned prefix (CoreDNS splits it, with the same names answered).
    let kept = (bits / step) as usize;
    let suffix = if ip.is_ipv4() { "in-addr.arpa." } else { "ip6.arpa." };
    let labels: Vec<&str> = digits[..kept].iter().rev().map(String::as_str).collect();
    Ok(if labels.is_empty() { suffix.to_string() } else { format!("{}.{suffix}", labels.join(".")) })
}

fn is_reverse(zone: &str) -> bool {
    zone.ends_with("in-addr.arpa.") || zone.ends_with("ip6.arpa.")
}

fn fqdn(zone: &str) -> String {
    let zone = zone.to_ascii_lowercase();
    if zone.ends_with('.') { zone } else { format!("{zone}.") }
}

fn without_dot(zone: &str) -> &str {
    if zone == "." { zone } else { zone.trim_end_matches('.') }
}

fn kubernetes(directive: &Directive, block: &Block<'_>, out: &mut Out) {
    let at = directive.at();
    if let Some(first) = &out.kubernetes {
        let first = first.to_string();
        return out.unsupported(
            at,
            format!("a second kubernetes plugin (the first is at {first}); clusterdns serves one cluster"),
        );
    }
    out.kubernetes = Some(at.clone());
    let zones: Vec<String> = match directive.args.is_empty() {
        true => block.zones(),
        false => directive
            .args
            .iter()
            .map(|a| match a.text.contains('/') {
                true => reverse_zone_of(&a.text).unwrap_or_else(|_| fqdn(&a.text)),
                false => fqdn(&a.text),
            })
            .collect(),
    };
    let mut multicluster: Vec<String> = Vec::new();
    let mut fallthrough: Option<Vec<String>> = None;
    for line in &directive.block {
        let values = args(line);
        let lat = line.at();
        let one = |out: &mut Out, key: &'static str| match values.as_slice() {
            [value] => out.set(key, value.to_string(), lat),
            _ => out.error(lat, format!("{} takes one value", line.name.text)),
        };
        match line.name.text.as_str() {
            "pods" => one(out, "pods"),
            "ttl" => one(out, "ttl"),
            "endpoint_pod_names" => out.set("endpoint-pod-names", true, lat),
            "noendpoints" => out.set("no-endpoints", true, lat),
            "zonal" => out.set("zonal", true, lat),
            "ignore" => match values.as_slice() {
                ["empty_service"] => out.set("ignore-empty-service", true, lat),
                _ => out.error(lat, "ignore takes empty_service"),
            },
            "namespaces" => values.iter().for_each(|ns| out.add("namespaces", ns.to_string(), lat)),
            "labels" => out.set("labels", values.join(" "), lat),
            "namespace_labels" => out.set("namespace-labels", values.join(" "), lat),
            "startup_timeout" => match values.as_slice() {
                [value] => match duration(value) {
                    Ok(value) => out.set("startup-timeout", value, lat),
                    Err(e) => out.error(lat, format!("startup_timeout: {e}")),
                },
                _ => out.error(lat, "startup_timeout takes one duration"),
            },
            "apiserver_qps" => one(out, "api-qps"),
            "apiserver_burst" => one(out, "api-burst"),
            "apiserver_max_inflight" => one(out, "api-max-inflight"),
            "kubeconfig" => match values.as_slice() {
                [file] => out.set("kubeconfig", block.folder.join(file).display().to_string(), lat),
                [file, context] => {
                    out.set("kubeconfig", block.folder.join(file).display().to_string(), lat);
                    out.set("context", context.to_string(), lat);
                }
                _ => out.error(lat, "kubeconfig takes a file and an optional context"),
            },
            "multicluster" => multicluster.extend(values.iter().map(|z| fqdn(z))),
            "fallthrough" => fallthrough = Some(values.iter().map(|z| fqdn(z)).collect()),
            "endpoint" | "tls" => {
                out.unsupported(lat, format!("kubernetes {} (give clusterdns a kubeconfig instead)", line.name.text))
            }
            name => out.error(lat, format!("kubernetes: unknown property {name:?}")),
        }
    }
    let mut cluster_zones = Vec::new();
    for zone in &zones {
        if zone == "." {
            out.error(at, "kubernetes: the root cannot be a cluster zone");
        } else if is_reverse(zone) {
            if zone != "in-addr.arpa." && zone != "ip6.arpa." {
                out.note(at, format!("kubernetes {zone}: clusterdns answers PTRs for every address of the cluster"));
            }
        } else if multicluster.contains(zone) {
            out.add("multicluster", without_dot(zone).to_string(), at);
        } else {
            cluster_zones.push(zone.clone());
            out.cluster_zones.push(zone.clone());
            out.add("zone", without_dot(zone).to_string(), at);
        }
    }
    if !zones.iter().any(|z| is_reverse(z)) {
        out.note(at, "kubernetes: no reverse zone listed; clusterdns answers PTRs for cluster addresses anyway");
    }
    // Fallthrough: reverse zones on by default here, so say when they are not listed.
    let fallthrough = fallthrough
        .map(|zones| if zones.is_empty() { [cluster_zones, vec!["in-addr.arpa.".into()]].concat() } else { zones });
    let reverse = fallthrough.as_ref().is_some_and(|zones| zones.iter().any(|z| is_reverse(z)));
    if !reverse {
        out.set("no-reverse-fallthrough", true, at);
    }
    for zone in fallthrough.iter().flatten().filter(|z| !is_reverse(z)) {
        out.add("fallthrough", without_dot(zone).to_string(), at);
    }
}

/// `forward FROM TO... { options }`.
fn forward(directive: &Directive, block: &Block<'_>, out: &mut Out) {
    let at = directive.at();
    let values = args(directive);
    let Some((from, targets)) = values.split_first().filter(|(_, to)| !to.is_empty()) else {
        return out.error(at, "forward needs FROM and at least one TO");
    };
    // `.` in a block for other zones means that block's zones.
    let domains: Vec<String> = match *from {
        "." => block.zones(),
        from => vec![fqdn(from)],
    };
    let mut addresses = Vec::new();
    let mut resolv_conf = None;
    for target in targets {
        let target = target.strip_prefix("dns://").unwrap_or(target);
        if target.contains("://") {
            return out.unsupported(at, format!("forward to {target} (only plain DNS upstreams)"));
        }
        match upstream(target) {
            Some(address) => addresses.push(address),
            None => resolv_conf = Some(block.folder.join(target).display().to_string()),
        }
    }
    let default_upstreams = domains.iter().any(|d| d == ".");
    for line in &directive.block {
        forward_option(line, default_upstreams, out);
    }
    // CoreDNS asks a random healthy upstream unless told otherwise.
    if default_upstreams && !directive.block.iter().any(|line| line.name.is("policy")) {
        out.set("upstream-policy", "random", at);
    }
    for domain in &domains {
        if domain == "." {
            match (resolv_conf.as_ref(), addresses.is_empty()) {
                (Some(path), true) => out.set("resolv-conf", path.clone(), at),
                (None, false) => addresses.iter().for_each(|a| out.add("upstream", a.clone(), at)),
                _ => out.unsupported(at, "forward to a resolv.conf and to addresses at once"),
            }
        } else if resolv_conf.is_some() {
            out.unsupported(at, format!("forward {domain} to a resolv.conf (give the stub domain's addresses)"));
        } else {
            out.add("stub", format!("{}={}", without_dot(domain), addresses.join(",")), at);
        }
    }
}

/// `IP`, `IP:port`, `[v6]:port`: an upstream address; anything else is a resolv.conf path.
fn upstream(text: &str) -> Option<String> {
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Some(match ip {
            std::net::IpAddr::V4(_) => format!("{ip}:53"),
            std::net::IpAddr::V6(_) => format!("[{ip}]:53"),
        });
    }
    text.parse::<std::net::SocketAddr>().ok().map(|a| a.to_string())
}

fn forward_option(line: &Directive, default_upstreams: bool, out: &mut Out) {
    let at = line.at();
    let values = args(line);
    match (line.name.text.as_str(), values.as_slice()) {
        ("max_concurrent", [n]) => out.set("max-concurrent", n.to_string(), at),
        ("policy", [policy @ ("random" | "round_robin" | "sequential")]) => {
            out.set("upstream-policy", policy.replace('_', "-"), at)
        }
        ("force_tcp", []) => out.set("upstream-tcp", true, at),
        ("prefer_udp", []) => {
            out.note(at, "prefer_udp: clusterdns asks upstreams over UDP first, TCP for a truncated reply")
        }
        ("except", names) if !names.is_empty() => {
            if default_upstreams {
                names.iter().for_each(|n| out.add("forward-except", without_dot(&fqdn(n)).to_string(), at));
            } else {
                out.unsupported(at, "except in a forward for a stub domain");
            }
        }
        ("health_check", [_, ..]) | ("max_fails", [_]) => out.note(
            at,
            format!(
                "{}: an upstream that fails is skipped for a while and tried again with real queries",
                line.name.text
            ),
        ),
        ("expire", [_]) => out.note(at, "expire: clusterdns does not keep upstream connections open"),
        (
            "tls"
            | "tls_servername"
            | "next"
            | "failover"
            | "failfast_all_unhealthy_upstreams"
            | "max_idle_conns"
            | "max_age"
            | "max_connect_attempts"
            | "min_max_dial_timeout",
            _,
        ) => out.unsupported(at, format!("forward {}", line.name.text)),
        (name, _) => out.error(at, format!("forward: unknown property {name:?} or wrong arguments")),
    }
}

fn cache(directive: &Directive, block: &Block<'_>, out: &mut Out) {
    let at = directive.at();
    let values = args(directive);
    let (ttl, zones) = match values.split_first() {
        Some((ttl, zones)) if ttl.parse::<u64>().is_ok() => (ttl.parse::<u64>().ok(), zones),
        _ => (None, values.as_slice()),
    };
    let block_zones = block.zones();
    if zones.iter().any(|z| !block_zones.contains(&fqdn(z))) {
        return out.unsupported(at, "cache for some zones only (clusterdns has one cache for forwarded names)");
    }
    let (mut success_ttl, mut denial_ttl) =
        (ttl.unwrap_or(CACHE_SUCCESS_TTL), ttl.unwrap_or(CACHE_SUCCESS_TTL).min(CACHE_DENIAL_TTL));
    let mut capacity: Option<u64> = None;
    let mut disabled_ours = false;
    for line in &directive.block {
        let lat = line.at();
        let values = args(line);
        match (line.name.text.as_str(), values.as_slice()) {
            (kind @ ("success" | "denial"), [cap, rest @ ..]) if rest.len() <= 2 => {
                let Ok(cap) = cap.parse::<u64>() else {
                    return out.error(lat, format!("{kind}: {cap:?} is not a capacity"));
                };
                capacity = Some(capacity.unwrap_or(0) + cap);
                if let Some(ttl) = rest.first() {
                    let Ok(ttl) = ttl.parse::<u64>() else {
                        return out.error(lat, format!("{kind}: {ttl:?} is not a TTL"));
                    };
                    if kind == "success" { success_ttl = ttl } else { denial_ttl = ttl }
                }
                if rest.len() == 2 {
                    out.note(
                        lat,
                        "MINTTL: clusterdns keeps a forwarded answer for its own TTL (at most the cache's maximum)",
                    );
                }
            }
            ("disable", [kind @ ("success" | "denial"), zones @ ..]) => {
                let zones: Vec<String> =
                    if zones.is_empty() { block_zones.clone() } else { zones.iter().map(|z| fqdn(z)).collect() };
                let key = if *kind == "success" { "cache-disable-success" } else { "cache-disable-denial" };
                for zone in &zones {
                    if out_zone_is_cluster(out, zone) {
                        disabled_ours = true;
                        out.note(
                            lat,
                            format!("disable {kind} {zone}: answers from Kubernetes data are never cached here"),
                        );
                    } else {
                        out.add(key, without_dot(zone).to_string(), lat);
                    }
                }
            }
            ("prefetch" | "serve_stale" | "servfail" | "keepttl", _) => {
                out.unsupported(lat, format!("cache {}", line.name.text))
            }
            (name, _) => return out.error(lat, format!("cache: unknown property {name:?} or wrong arguments")),
        }
    }
    out.set("cache-max-ttl", format!("{success_ttl}s"), at);
    out.set("cache-max-negative-ttl", format!("{denial_ttl}s"), at);
    if let Some(capacity) = capacity {
        out.set("cache-size", capacity.to_string(), at);
    }
    if !disabled_ours {
        out.note(at, "cache: answers from Kubernetes data are never cached here (always current); the cache holds forwarded answers");
    }
}

/// Whether `zone` is one of the cluster zones translated so far (the kubernetes line comes
/// before cache in every default Corefile; a zone listed later is not known yet).
fn out_zone_is_cluster(out: &Out, zone: &str) -> bool {
    out.cluster_zones.contains(&fqdn(zone))
}

/// `template CLASS TYPE [ZONE...] { match, answer, additional, authority, rcode, fallthrough }`
/// as one `--template` value, its lines joined with `;`.
fn template(directive: &Directive, block: &Block<'_>, out: &mut Out) {
    let at = directive.at();
    let values = args(directive);
    let zones: Vec<String> = match values.get(2..) {
        Some(zones) if !zones.is_empty() => zones.iter().map(|z| z.to_string()).collect(),
        _ => block.zones(),
    };
    let (Some(class), Some(qtype)) = (values.first(), values.get(1)) else {
        return out.error(at, "template needs CLASS and TYPE");
    };
    let mut clauses = vec![format!("{class} {qtype} {}", zones.join(" "))];
    for line in &directive.block {
        let lat = line.at();
        let values = args(line);
        if values.iter().any(|v| v.contains(';')) {
            return out.unsupported(lat, "a template value with ';' in it");
        }
        match line.name.text.as_str() {
            "match" | "answer" | "additional" | "authority" | "rcode" => {
                for value in &values {
                    clauses.push(format!("{} {value}", line.name.text));
                }
            }
            "fallthrough" => {
                if !values.is_empty() {
                    out.note(lat, "fallthrough: for every zone of the template");
                }
                clauses.push("fallthrough".into());
            }
            "ederror" | "upstream" => return out.unsupported(lat, format!("template {}", line.name.text)),
            name => return out.error(lat, format!("template: unknown property {name:?}")),
        }
    }
    let spec = clauses.join("; ");
    match crate::dns::template::Template::parse(&spec) {
        Ok(_) => out.add("template", spec, at),
        Err(e) => out.error(at, format!("template: {e}")),
    }
}

/// `rewrite [continue|stop] name ...`, or its block form, as one `--rewrite` value.
fn rewrite(directive: &Directive, out: &mut Out) {
    let at = directive.at();
    let mut words: Vec<&str> = args(directive);
    for line in &directive.block {
        words.push(&line.name.text);
        words.extend(args(line));
    }
    let field = words.iter().find(|w| !matches!(**w, "stop" | "continue")).copied().unwrap_or_default();
    if field != "name" {
        return out.unsupported(at, format!("rewrite {field}: only name rules are rewritten"));
    }
    let spec = words.join(" ");
    match crate::dns::rewrite::Rewrite::parse(&spec) {
        Ok(_) => out.add("rewrite", spec, at),
        Err(e) => out.error(at, format!("rewrite: {e}")),
    }
}

/// `hosts [FILE [ZONES...]] { INLINE... ttl, no_reverse, reload, fallthrough }`.
fn hosts(directive: &Directive, block: &Block<'_>, out: &mut Out) {
    let at = directive.at();
    let values = args(directive);
    let file = values.first().copied().unwrap_or("/etc/hosts");
    out.add("hosts-file", block.folder.join(file).display().to_string(), at);
    let zones: Vec<String> = match values.get(1..) {
        Some(zones) if !zones.is_empty() => zones.iter().map(|z| fqdn(z)).collect(),
        _ => block.zones(),
    };
    for zone in zones.iter().filter(|z| *z != ".") {
        out.add("hosts-zone", without_dot(zone).to_string(), at);
    }
    for line in &directive.block {
        let lat = line.at();
        let values = args(line);
        match (line.name.text.as_str(), values.as_slice()) {
            ("ttl", [ttl]) => out.set("hosts-ttl", ttl.to_string(), lat),
            ("no_reverse", []) => out.set("hosts-no-reverse", true, lat),
            ("reload", [interval]) => match duration(interval) {
                Ok(interval) => out.set("hosts-reload", interval, lat),
                Err(e) => out.error(lat, format!("reload: {e}")),
            },
            ("fallthrough", only) => {
                let only: Vec<String> = only.iter().map(|z| fqdn(z)).collect();
                if only.is_empty() || only.iter().all(|z| zones.contains(z)) && zones.iter().all(|z| only.contains(z)) {
                    out.set("hosts-fallthrough", true, lat);
                } else {
                    out.unsupported(lat, "hosts fallthrough for some of its zones only");
                }
            }
            (first, _) if first.parse::<std::net::IpAddr>().is_ok() || first.contains('%') => {
                let entry: Vec<&str> = std::iter::once(first).chain(values.iter().copied()).collect();
                out.add("host", entry.join(" "), lat);
            }
            (name, _) => out.error(lat, format!("hosts: unknown property {name:?}")),
        }
    }
}

fn file(directive: &Directive, block: &Block<'_>, out: &mut Out) {
    let at = directive.at();
    let Some(path) = directive.args.first() else { return out.error(at, "file needs a zone file") };
    out.add("zone-file", block.folder.join(&path.text).display().to_string(), at);
    for line in &directive.block {
        match (line.name.text.as_str(), args(line).as_slice()) {
            ("reload", [_]) => out.note(line.at(), "reload: zone files are checked every second"),
            ("fallthrough", zones) => {
                let zones: Vec<String> =
                    if zones.is_empty() { block.zones() } else { zones.iter().map(|z| fqdn(z)).collect() };
                zones
                    .iter()
                    .filter(|z| *z != ".")
                    .for_each(|z| out.add("fallthrough", without_dot(z).to_string(), line.at()));
            }
            (name, _) => out.error(line.at(), format!("file: unknown property {name:?}")),
        }
    }
}
