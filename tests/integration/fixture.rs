//! The cluster most tests query, written as `kubectl get -o yaml` would print it.

use std::fmt::Write as _;

pub const NAMESPACES: &str = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: apps}
- apiVersion: v1
  kind: Namespace
  metadata: {name: empty}
"#;

pub const SERVICES: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec:
  type: ClusterIP
  clusterIP: 10.96.1.10
  clusterIPs: [10.96.1.10]
  ports:
  - {name: http, port: 80, protocol: TCP}
  - {name: dns, port: 53, protocol: UDP}
  - {port: 9000, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata: {name: dual, namespace: apps}
spec:
  type: LoadBalancer
  clusterIP: 10.96.1.20
  clusterIPs: [10.96.1.20, "fd00::20"]
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: v6only, namespace: apps}
spec:
  type: NodePort
  clusterIP: "fd00::30"
  clusterIPs: ["fd00::30"]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: apps}
spec:
  clusterIP: None
  ports: [{name: postgres, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: noname, namespace: apps}
spec: {clusterIP: None}
---
apiVersion: v1
kind: Service
metadata: {name: idle, namespace: apps}
spec: {clusterIP: None}
---
apiVersion: v1
kind: Service
metadata: {name: pub, namespace: apps}
spec: {clusterIP: None, publishNotReadyAddresses: true}
---
apiVersion: v1
kind: Service
metadata:
  name: legacy
  namespace: apps
  annotations: {service.alpha.kubernetes.io/tolerate-unready-endpoints: "true"}
spec: {clusterIP: None}
---
apiVersion: v1
kind: Service
metadata: {name: twins, namespace: apps}
spec: {clusterIP: None}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: apps}
spec: {type: ExternalName, externalName: example.com}
---
apiVersion: v1
kind: Service
metadata: {name: alias, namespace: apps}
spec: {type: ExternalName, externalName: web.apps.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: loop1, namespace: apps}
spec: {type: ExternalName, externalName: loop2.apps.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: loop2, namespace: apps}
spec: {type: ExternalName, externalName: loop1.apps.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: dangling, namespace: apps}
spec: {type: ExternalName, externalName: missing.apps.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: dns, port: 53, protocol: UDP}]
"#;

pub const SLICES: &str = r#"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-v4
  namespace: apps
  labels: {kubernetes.io/service-name: db}
addressType: IPv4
ports: [{name: postgres, port: 15432, protocol: TCP}]
endpoints:
- addresses: [10.1.0.10]
  hostname: db-0
  conditions: {ready: true}
- addresses: [10.1.0.11]
  hostname: db-1
- addresses: [10.1.0.12]
  hostname: db-2
  conditions: {ready: false}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-v4-b
  namespace: apps
  labels: {kubernetes.io/service-name: db}
addressType: IPv4
ports: [{name: postgres, port: 15432, protocol: TCP}]
endpoints:
- addresses: [10.1.0.10]
  hostname: db-0
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-v6
  namespace: apps
  labels: {kubernetes.io/service-name: db}
addressType: IPv6
ports: [{name: postgres, port: 15432, protocol: TCP}]
endpoints:
- addresses: ["fd00:1::10"]
  hostname: db-0
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: noname-v4
  namespace: apps
  labels: {kubernetes.io/service-name: noname}
addressType: IPv4
endpoints:
- addresses: [10.1.0.20]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: noname-v6
  namespace: apps
  labels: {kubernetes.io/service-name: noname}
addressType: IPv6
endpoints:
- addresses: ["fd00:1::20"]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: idle-1
  namespace: apps
  labels: {kubernetes.io/service-name: idle}
addressType: IPv4
endpoints:
- addresses: [10.1.0.25]
  conditions: {ready: false}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: pub-1
  namespace: apps
  labels: {kubernetes.io/service-name: pub}
addressType: IPv4
endpoints:
- addresses: [10.1.0.30]
  conditions: {ready: false}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: legacy-1
  namespace: apps
  labels: {kubernetes.io/service-name: legacy}
addressType: IPv4
endpoints:
- addresses: [10.1.0.31]
  conditions: {ready: false}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: twins-1
  namespace: apps
  labels: {kubernetes.io/service-name: twins}
addressType: IPv4
endpoints:
- addresses: [10.1.0.40]
  hostname: shared
- addresses: [10.1.0.41]
  hostname: shared
"#;

pub const PODS: &str = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: db-0, namespace: apps}
  status: {phase: Running, podIP: 10.1.0.10, podIPs: [{ip: 10.1.0.10}, {ip: "fd00:1::10"}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: job-x, namespace: apps}
  status: {phase: Succeeded, podIP: 10.1.0.99}
"#;

/// The fixture's files, ready for [`crate::harness::DnsServer::start`].
pub fn files() -> Vec<(&'static str, &'static str)> {
    vec![("namespaces.yaml", NAMESPACES), ("services.yaml", SERVICES), ("slices.yaml", SLICES), ("pods.yaml", PODS)]
}

/// Every object of the manifest fixture, sent through the API instead.
pub fn apply(api: &crate::apiserver::ApiServer) {
    for (_, text) in files() {
        apply_text(api, text);
    }
}

/// The objects of a manifest text, sent through the API.
pub fn apply_text(api: &crate::apiserver::ApiServer, text: &str) {
    {
        let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).unwrap();
        for document in documents {
            let items = match document.get("items") {
                Some(serde_json::Value::Array(items)) => items.clone(),
                _ => vec![document],
            };
            for mut item in items {
                let cluster_scoped = item["kind"] == "Namespace" || item["kind"] == "Node";
                if item.pointer("/metadata/namespace").is_none() && !cluster_scoped {
                    item["metadata"]["namespace"] = "default".into();
                }
                api.apply(&item);
            }
        }
    }
}

/// A headless Service with `count` ready endpoints.
pub fn big_headless(count: usize) -> String {
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: apps}\nspec: {clusterIP: None}\n---\n\
         apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-1\n  namespace: apps\n  \
         labels: {kubernetes.io/service-name: big}\naddressType: IPv4\nendpoints:\n",
    );
    for i in 0..count {
        writeln!(yaml, "- addresses: [10.2.{}.{}]", i / 250, i % 250 + 1).unwrap();
    }
    yaml
}
