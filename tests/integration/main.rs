//! Integration tests: the real binary, real sockets, hickory's DNS client.

mod api_watch;
mod apiserver;
mod cli;
mod config;
mod container;
mod coredns_compat;
mod deploy;
mod faulty_manifests;
mod fixture;
mod forward;
mod harness;
mod hostile;
mod image;
mod manifests_reload;
mod multicluster;
mod netns;
mod oci;
mod operations;
mod requires;
mod resolvers;
mod spec_names;
mod spec_negative;
mod static_zones;
mod transport;
mod truncation;
mod upstream;
