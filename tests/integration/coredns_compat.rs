//! Answers the Kubernetes DNS specification leaves open and CoreDNS's `kubernetes` plugin gives,
//! which workloads rely on: checked through manifests and through the API watch alike.

use std::time::Duration;

use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::RecordType;

use crate::apiserver::ApiServer;
use crate::fixture;
use crate::harness::{DnsServer, rdatas};

const WAIT: Duration = Duration::from_secs(20);

const CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.96.7.1, ports: [{name: http, port: 80}, {port: 81}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.7.0.1], hostname: web-a}
- {addresses: [10.7.0.2]}
---
apiVersion: v1
kind: Service
metadata: {name: admin, namespace: shop}
spec: {clusterIP: 10.96.7.2}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: admin-1, namespace: shop, labels: {kubernetes.io/service-name: admin}}
addressType: IPv4
endpoints:
- {addresses: [10.7.0.1]}
"#;

/// The same cluster served from manifests and from the API.
fn servers(args: &[&str]) -> (Vec<DnsServer>, ApiServer) {
    let from_files = DnsServer::start(&[("cluster.yaml", CLUSTER)], args);
    let api = ApiServer::start();
    fixture::apply_text(&api, CLUSTER);
    let from_api = DnsServer::start_api(&api, args);
    from_api.expect_log("initial sync complete", WAIT);
    (vec![from_files, from_api], api)
}

#[tokio::test]
async fn endpoints_of_a_service_with_a_cluster_ip_have_names_and_ptrs() {
    let (servers, _api) = servers(&[]);
    for server in &servers {
        let a = server.query("web-a.web.shop.svc.cluster.local.", RecordType::A).await;
        assert_eq!(rdatas(&a.answers), ["10.7.0.1"]);
        let dashed = server.query("10-7-0-2.web.shop.svc.cluster.local.", RecordType::A).await;
        assert_eq!(rdatas(&dashed.answers), ["10.7.0.2"]);
        assert_eq!(rdatas(&server.query("web.shop.svc.cluster.local.", RecordType::A).await.answers), ["10.96.7.1"]);
        // One PTR per Service the address is an endpoint of.
        let ptr = server.query("1.0.7.10.in-addr.arpa.", RecordType::PTR).await;
        assert_eq!(
            rdatas(&ptr.answers),
            ["10-7-0-1.admin.shop.svc.cluster.local.", "web-a.web.shop.svc.cluster.local."]
        );
        let missing = server.query("nope.web.shop.svc.cluster.local.", RecordType::A).await;
        assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    }
}

#[tokio::test]
async fn srv_at_the_service_name_lists_every_port() {
    let (servers, _api) = servers(&[]);
    for server in &servers {
        let srv = server.query("web.shop.svc.cluster.local.", RecordType::SRV).await;
        assert_eq!(
            rdatas(&srv.answers),
            ["0 50 80 web.shop.svc.cluster.local.", "0 50 81 web.shop.svc.cluster.local."]
        );
        assert_eq!(rdatas(&srv.additionals), ["10.96.7.1"]);
        // A Service without ports has no SRV records: NODATA.
        let none = server.query("admin.shop.svc.cluster.local.", RecordType::SRV).await;
        assert_eq!(none.metadata.response_code, ResponseCode::NoError);
        assert!(none.answers.is_empty() && none.authorities.len() == 1);
    }
}
