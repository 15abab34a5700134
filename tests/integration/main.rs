//! Integration tests: the real binary, real sockets, hickory's DNS client.

mod api_watch;
mod apiserver;
mod cli;
mod config;
mod deploy;
mod fixture;
mod forward;
mod harness;
mod manifests_reload;
mod operations;
mod spec_names;
mod spec_negative;
mod static_zones;
mod transport;
mod upstream;
