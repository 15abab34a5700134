//! Command-line configuration: flags to a validated [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use hickory_proto::rr::Name;

/// Exit code for bad flags or values (BSD `EX_USAGE`).
pub const EXIT_USAGE: i32 = 64;

/// How `<dashed-ip>.<ns>.pod.<zone>` names are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PodMode {
    /// No pod records: every name under `pod.<zone>` is NXDOMAIN.
    Disabled,
    /// Echo the IP of any well-formed name whose namespace exists (kube-dns behaviour).
    Insecure,
    /// Answer only if a running Pod in that namespace has that IP.
    Verified,
}

#[derive(Debug, Parser)]
#[command(
    name = "clusterdns",
    version,
    about = "Kubernetes cluster DNS server",
    long_about = "Kubernetes cluster DNS server.\n\n\
        Answers the Kubernetes DNS specification (services, headless endpoints, SRV, PTR, pod \
        records) for the cluster zone, in-addr.arpa and ip6.arpa, from Kubernetes manifests \
        that are re-read when they change. Names outside those zones are REFUSED."
)]
pub struct Cli {
    /// Kubernetes manifests (YAML or JSON, as `kubectl get -o yaml` prints them): a file, or a
    /// folder read recursively. Repeatable. Files are re-read when they change.
    #[arg(long = "manifests", value_name = "PATH", required = true)]
    pub manifests: Vec<PathBuf>,

    /// Address to serve DNS on, over UDP and TCP. Repeatable. Port 0 picks one free port for both.
    #[arg(long = "listen", value_name = "ADDR:PORT", default_value = "0.0.0.0:53")]
    pub listen: Vec<SocketAddr>,

    /// The cluster domain.
    #[arg(long = "zone", value_name = "NAME", default_value = "cluster.local", value_parser = parse_zone)]
    pub zone: Name,

    /// TTL in seconds of every record built from Kubernetes data (0..=3600).
    #[arg(long = "ttl", value_name = "SECONDS", default_value_t = 5, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub ttl: u32,

    /// Pod records `<a-b-c-d>.<ns>.pod.<zone>`.
    #[arg(long = "pods", value_name = "MODE", value_enum, default_value_t = PodMode::Disabled)]
    pub pods: PodMode,

    /// UDP worker threads per listen address, each with its own socket (0: one per CPU this
    /// process may run on).
    #[arg(long = "udp-workers", value_name = "N", default_value_t = 0)]
    pub udp_workers: usize,

    /// Log filter: a level (error, warn, info, debug, trace) or a tracing directive such as
    /// `info,clusterdns::source=debug`. `debug` logs every query.
    #[arg(long = "log-level", value_name = "LEVEL", default_value = "info", value_parser = parse_log_level)]
    pub log_level: String,
}

fn parse_zone(s: &str) -> Result<Name, String> {
    let trimmed = s.trim_end_matches('.');
    if trimmed.is_empty() {
        return Err("the zone must not be the root".into());
    }
    let mut name = Name::from_ascii(trimmed).map_err(|e| format!("{s:?} is not a valid domain name: {e}"))?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

fn parse_log_level(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("{s:?} is not a log level or filter: {e}"))
}

impl Cli {
    pub fn udp_workers(&self) -> usize {
        match self.udp_workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The tracing filter: the user's level, with hickory's per-response logs kept quiet unless
    /// a directive names them.
    pub fn log_filter(&self) -> String {
        if self.log_level.contains('=') {
            self.log_level.clone()
        } else {
            format!("{},hickory_server=warn,hickory_proto=warn,hickory_net=warn", self.log_level)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("clusterdns").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_match_the_documentation() {
        let cli = parse(&["--manifests", "zones/demo"]).unwrap();
        assert_eq!(cli.zone, Name::from_ascii("cluster.local.").unwrap());
        assert_eq!(cli.ttl, 5);
        assert_eq!(cli.pods, PodMode::Disabled);
        assert_eq!(cli.listen, vec!["0.0.0.0:53".parse::<SocketAddr>().unwrap()]);
    }

    #[test]
    fn bad_values_name_their_flag() {
        for (args, flag) in [
            (&["--manifests", "x", "--ttl", "3601"][..], "--ttl"),
            (&["--manifests", "x", "--pods", "sometimes"][..], "--pods"),
            (&["--manifests", "x", "--listen", "localhost"][..], "--listen"),
            (&["--manifests", "x", "--zone", "."][..], "--zone"),
            (&["--manifests", "x", "--log-level", "loud=="][..], "--log-level"),
            (&[][..], "--manifests"),
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn zone_is_normalised_to_lower_case_fqdn() {
        let cli = parse(&["--manifests", "x", "--zone", "Corp.Example."]).unwrap();
        assert_eq!(cli.zone.to_string(), "corp.example.");
    }
}
