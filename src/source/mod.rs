//! Sources of cluster data. Each builds [`crate::registry::ClusterObjects`] and hands them to
//! the registry writer; nothing else.

pub mod backoff;
pub mod connect;
pub mod documents;
pub mod kube;
pub mod manifests;
pub mod saved;
pub mod streaming;
