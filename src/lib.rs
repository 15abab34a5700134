//! clusterdns: a Kubernetes cluster DNS server.
//!
//! Data flows one way: a source ([`source`]) reads Kubernetes objects and hands trimmed copies
//! to the [`registry`], which indexes them into an immutable snapshot swapped in atomically;
//! the DNS handler ([`dns`]) answers each query from the current snapshot. [`app`] wires the
//! pieces to sockets; [`config`] turns flags into settings.

pub mod admin;
pub mod app;
pub mod config;
pub mod config_file;
pub mod connections;
pub mod corefile;
pub mod dns;
pub mod dummy_interface;
pub mod forward;
pub mod hosts;
pub mod log_limit;
pub mod mcs;
pub mod metrics;
pub mod query_stats;
pub mod registry;
pub mod reload;
pub mod source;
pub mod tcp;
pub mod telemetry;
pub mod udp;
pub mod zones;
