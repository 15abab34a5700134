//! The Multi-Cluster Services API objects clusterdns reads (KEP-1645,
//! `multicluster.x-k8s.io/v1alpha1`), defined the way k8s-openapi defines the built-in ones:
//! only the fields DNS answers from, everything else ignored when decoding.
//!
//! A ServiceImport is what a cluster may reach under `<svc>.<ns>.svc.clusterset.local`; its
//! backends are EndpointSlices labelled with [`SERVICE_NAME_LABEL`] and, per source cluster,
//! [`SOURCE_CLUSTER_LABEL`].

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "multicluster.x-k8s.io";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "multicluster.x-k8s.io/v1alpha1";
/// Ties an imported EndpointSlice to its ServiceImport.
pub const SERVICE_NAME_LABEL: &str = "multicluster.kubernetes.io/service-name";
/// The cluster an imported EndpointSlice's endpoints run in (its cluster ID, a DNS label).
pub const SOURCE_CLUSTER_LABEL: &str = "multicluster.kubernetes.io/source-cluster";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceImport {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Option<ServiceImportSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceImportSpec {
    /// `ClusterSetIP` or `Headless`.
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    /// The clusterset IPs of a `ClusterSetIP` import.
    #[serde(default)]
    pub ips: Option<Vec<String>>,
    #[serde(default)]
    pub ports: Option<Vec<ServicePort>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServicePort {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
    pub port: i32,
}

impl kube::Resource for ServiceImport {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "ServiceImport".into()
    }

    fn group(_: &()) -> Cow<'_, str> {
        GROUP.into()
    }

    fn version(_: &()) -> Cow<'_, str> {
        VERSION.into()
    }

    fn plural(_: &()) -> Cow<'_, str> {
        "serviceimports".into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
