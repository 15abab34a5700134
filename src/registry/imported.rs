//! Multi-Cluster Services objects as the clusterset zone answers them: a ServiceImport becomes
//! a Service (its clusterset IPs, or headless) and an imported EndpointSlice an EndpointSlice
//! of it whose endpoints are named with their cluster, `<hostname>.<clusterid>`, the two labels
//! the multicluster DNS specification puts before `<svc>.<ns>.svc.<zone>` (§2.4.1).

use k8s_openapi::api::discovery::v1 as discovery;

use super::object::{
    EndpointSlice, ObjectError, Owner, Service, ServiceKind, TrimOptions, Trimmed, dns1123_label, each, label_of,
    named_port, namespace_of, parse_ip, service_name_of, sorted_ports,
};
use super::snapshot::dashed_ip;
use crate::mcs;

/// The Service DNS answers for `import`; bad ports and IPs are left out.
pub fn service_import(import: &mcs::ServiceImport) -> Result<Trimmed<Service>, ObjectError> {
    let name = service_name_of(&import.metadata)?;
    let namespace = namespace_of(&import.metadata)?;
    let spec = import.spec.as_ref().ok_or(ObjectError::MissingField { field: "spec" })?;
    let mut skipped = Vec::new();
    let kind = match spec.type_.as_deref() {
        Some("ClusterSetIP") => {
            let ips = each(spec.ips.iter().flatten(), &mut skipped, |ip| parse_ip("spec.ips", ip));
            ServiceKind::ClusterIp(ips)
        }
        Some("Headless") => ServiceKind::Headless,
        Some(other) => {
            let value = other.to_string();
            return Err(ObjectError::NotOneOf { field: "spec.type", value, expected: "ClusterSetIP, Headless" });
        }
        None => return Err(ObjectError::MissingField { field: "spec.type" }),
    };
    let ports = each(spec.ports.iter().flatten(), &mut skipped, |p| {
        named_port("spec.ports[].port", p.name.as_ref(), p.protocol.as_ref(), p.port)
    });
    let ports = sorted_ports(ports);
    let service = Service { namespace, name, kind, ports, publish_not_ready: false, traffic_distribution: None };
    Ok(Trimmed { object: service, skipped })
}

/// The endpoints of an imported EndpointSlice, each named `<hostname>.<clusterid>` (the dashed
/// IP when it has no hostname), the cluster ID from its source-cluster label.
pub fn imported_slice(
    slice: &discovery::EndpointSlice,
    options: TrimOptions,
) -> Result<Trimmed<EndpointSlice>, ObjectError> {
    const CLUSTER_FIELD: &str = "metadata.labels[multicluster.kubernetes.io/source-cluster]";
    let cluster = label_of(&slice.metadata, mcs::SOURCE_CLUSTER_LABEL)
        .ok_or(ObjectError::MissingField { field: CLUSTER_FIELD })?
        .to_ascii_lowercase();
    dns1123_label(CLUSTER_FIELD, &cluster)?;
    let owner =
        Owner { label: mcs::SERVICE_NAME_LABEL, field: "metadata.labels[multicluster.kubernetes.io/service-name]" };
    let mut trimmed = EndpointSlice::trim_owned(slice, options, owner)?;
    for endpoint in &mut trimmed.object.endpoints {
        let host = endpoint.hostname.take().map_or_else(|| dashed_ip(endpoint.address), |h| h.to_string());
        endpoint.hostname = Some(format!("{host}.{cluster}").into());
    }
    Ok(trimmed)
}

/// Whether a slice belongs to a ServiceImport rather than to a Service of this cluster.
pub fn is_imported_only(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> bool {
    label_of(meta, mcs::SERVICE_NAME_LABEL).is_some() && label_of(meta, super::object::SERVICE_NAME_LABEL).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(value: serde_json::Value) -> mcs::ServiceImport {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_service_import_is_a_service_of_the_clusterset() {
        let cluster_set_ip = import(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"type": "ClusterSetIP", "ips": ["10.42.0.1", "bad"], "ports": [{"name": "HTTP", "port": 80}]},
        }));
        let trimmed = service_import(&cluster_set_ip).unwrap();
        assert_eq!(trimmed.object.kind, ServiceKind::ClusterIp(vec!["10.42.0.1".parse().unwrap()]));
        assert_eq!(trimmed.object.ports[0].name, "http");
        assert_eq!(trimmed.object.ports[0].protocol, "tcp");
        assert_eq!(trimmed.skipped.len(), 1, "the bad IP alone is left out");
        let headless = import(serde_json::json!({"metadata": {"name": "db"}, "spec": {"type": "Headless"}}));
        let trimmed = service_import(&headless).unwrap();
        assert_eq!((trimmed.object.namespace.as_str(), &trimmed.object.kind), ("default", &ServiceKind::Headless));
        let odd = import(serde_json::json!({"metadata": {"name": "db"}, "spec": {"type": "LoadBalanced"}}));
        assert!(matches!(service_import(&odd), Err(ObjectError::NotOneOf { field: "spec.type", .. })));
        let untyped = import(serde_json::json!({"metadata": {"name": "db"}, "spec": {}}));
        assert_eq!(service_import(&untyped).unwrap_err(), ObjectError::MissingField { field: "spec.type" });
    }

    fn slice(labels: serde_json::Value) -> discovery::EndpointSlice {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "db-east", "namespace": "shop", "labels": labels},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.1.0.1"], "hostname": "db-0"}, {"addresses": ["10.1.0.2"]}],
        }))
        .unwrap()
    }

    #[test]
    fn imported_endpoints_are_named_with_their_cluster() {
        let labels = serde_json::json!({mcs::SERVICE_NAME_LABEL: "db", mcs::SOURCE_CLUSTER_LABEL: "East"});
        let trimmed = imported_slice(&slice(labels), TrimOptions::default()).unwrap().object;
        assert_eq!(trimmed.service, "db");
        let names: Vec<&str> = trimmed.endpoints.iter().filter_map(|e| e.hostname.as_deref()).collect();
        assert_eq!(names, ["db-0.east", "10-1-0-2.east"]);
        let no_cluster = serde_json::json!({mcs::SERVICE_NAME_LABEL: "db"});
        let error = imported_slice(&slice(no_cluster), TrimOptions::default()).unwrap_err();
        assert_eq!(error.to_string(), "metadata.labels[multicluster.kubernetes.io/source-cluster] is missing");
        let bad_cluster = serde_json::json!({mcs::SERVICE_NAME_LABEL: "db", mcs::SOURCE_CLUSTER_LABEL: "a.b"});
        assert!(imported_slice(&slice(bad_cluster), TrimOptions::default()).is_err());
    }
}
