//! Upstream addresses: `--upstream ADDR[:PORT]` values and `nameserver` lines of a resolv.conf.

use std::net::{IpAddr, SocketAddr};

pub const DNS_PORT: u16 = 53;

/// `10.0.0.1`, `10.0.0.1:5353`, `::1`, `[::1]:5353`.
pub fn parse_upstream(s: &str) -> Result<SocketAddr, String> {
    if let Ok(address) = s.parse::<SocketAddr>() {
        return Ok(address);
    }
    let ip = s.trim_start_matches('[').trim_end_matches(']');
    ip.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, DNS_PORT))
        .map_err(|_| format!("{s:?} is not an IP address with an optional port"))
}

/// The `nameserver` addresses of a resolv.conf, port 53. Lines that are not nameservers, and
/// nameservers that are not IP addresses (or carry an IPv6 zone), are skipped.
pub fn nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()).flatten()
        })
        .filter_map(|address| address.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, DNS_PORT))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_take_an_optional_port() {
        assert_eq!(parse_upstream("10.0.0.1"), Ok("10.0.0.1:53".parse().unwrap()));
        assert_eq!(parse_upstream("10.0.0.1:5353"), Ok("10.0.0.1:5353".parse().unwrap()));
        assert_eq!(parse_upstream("::1"), Ok("[::1]:53".parse().unwrap()));
        assert_eq!(parse_upstream("[::1]:5353"), Ok("[::1]:5353".parse().unwrap()));
        assert!(parse_upstream("dns.example").is_err());
    }

    #[test]
    fn resolv_conf_nameservers_are_read() {
        let text = "# comment\nsearch a.svc.cluster.local svc.cluster.local\nnameserver 10.0.0.10\n\
                    nameserver fe80::1%eth0\nnameserver 2001:db8::53\noptions ndots:5\n";
        let want: Vec<SocketAddr> = vec!["10.0.0.10:53".parse().unwrap(), "[2001:db8::53]:53".parse().unwrap()];
        assert_eq!(nameservers(text), want);
    }
}
