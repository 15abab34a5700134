//! Answering DNS questions: name parsing, per-zone answers, and the request handler.

pub mod answer;
pub mod authority;
pub mod autopath;
pub mod cluster;
pub mod fast;
pub mod handler;
pub mod qname;
pub mod reverse;
pub mod rewrite;
pub mod rules;
pub mod template;
pub mod wire;
pub mod zone;
