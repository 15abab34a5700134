#!/usr/bin/env python3
"""Generates the benchmark cluster three ways: Kubernetes manifests for clusterdns, the same
records as zone files for Knot DNS, and a dnsperf query file.

Cluster: 1,000 services in 10 namespaces; 100 of them headless with 5 ready endpoints each.
Query mix, in equal parts: ClusterIP A, headless A, AAAA with no data, NXDOMAIN, SRV, PTR.
"""
import ipaddress
import os
import random
import sys

NAMESPACES = 10
SERVICES = 1000
HEADLESS = 100
ENDPOINTS = 5
TTL = 5
ZONE = "cluster.local"


def services():
    """Yields (namespace, name, kind, cluster_ip, endpoints) with endpoints as (host, ip)."""
    for i in range(SERVICES):
        ns = f"ns{i % NAMESPACES}"
        if i < HEADLESS:
            eps = [(f"pod-{k}", ipaddress.ip_address(f"10.244.{i // 50}.{(i % 50) * ENDPOINTS + k + 1}")) for k in range(ENDPOINTS)]
            yield ns, f"hl{i}", "headless", None, eps
        else:
            yield ns, f"svc{i}", "clusterip", ipaddress.ip_address(f"10.96.{i // 250}.{i % 250 + 1}"), []


def manifests(out):
    docs = [f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: ns{n}}}\n" for n in range(NAMESPACES)]
    for ns, name, kind, ip, eps in services():
        ip_field = "None" if kind == "headless" else str(ip)
        docs.append(
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\n"
            f"spec:\n  clusterIP: {ip_field}\n  ports: [{{name: http, port: 80, protocol: TCP}}]\n"
        )
        if eps:
            lines = "".join(f"- addresses: [{ip}]\n  hostname: {host}\n  conditions: {{ready: true}}\n" for host, ip in eps)
            docs.append(
                f"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                f"metadata:\n  name: {name}-1\n  namespace: {ns}\n  labels: {{kubernetes.io/service-name: {name}}}\n"
                f"addressType: IPv4\nports: [{{name: http, port: 8080, protocol: TCP}}]\nendpoints:\n{lines}"
            )
    with open(os.path.join(out, "cluster.yaml"), "w") as f:
        f.write("---\n".join(docs))


def zone_files(out):
    soa = f"ns.dns.{ZONE}. hostmaster.{ZONE}. 1 7200 1800 86400 {TTL}"
    fwd = [f"$ORIGIN {ZONE}.", f"@ {TTL} IN SOA {soa}", f"@ {TTL} IN NS ns.dns.{ZONE}.",
           f'dns-version 28800 IN TXT "1.1.0"']
    rev = ["$ORIGIN in-addr.arpa.", f"@ {TTL} IN SOA {soa}", f"@ {TTL} IN NS ns.dns.{ZONE}."]
    for ns, name, kind, ip, eps in services():
        svc = f"{name}.{ns}.svc"
        if kind == "headless":
            weight = 100 // len(eps)
            for host, addr in eps:
                fwd.append(f"{svc} {TTL} IN A {addr}")
                fwd.append(f"{host}.{svc} {TTL} IN A {addr}")
                fwd.append(f"_http._tcp.{svc} {TTL} IN SRV 0 {weight} 8080 {host}.{svc}.{ZONE}.")
                rev.append(f"{addr.reverse_pointer}. {TTL} IN PTR {host}.{svc}.{ZONE}.")
        else:
            fwd.append(f"{svc} {TTL} IN A {ip}")
            fwd.append(f"_http._tcp.{svc} {TTL} IN SRV 0 100 80 {svc}.{ZONE}.")
            rev.append(f"{ip.reverse_pointer}. {TTL} IN PTR {svc}.{ZONE}.")
    with open(os.path.join(out, "cluster.local.zone"), "w") as f:
        f.write("\n".join(fwd) + "\n")
    with open(os.path.join(out, "in-addr.arpa.zone"), "w") as f:
        f.write("\n".join(rev) + "\n")


# Query mixes, as weights of the kinds of question below: `equal` (the same share each), `cluster`
# (what a cluster mostly asks: ClusterIP A 50%, headless A 15%, AAAA NODATA 10%, SRV 10%,
# NXDOMAIN 10%, PTR 5%) and `headless` (headless A and SRV, and endpoint names).
MIXES = {
    "equal": [1, 1, 1, 1, 1, 1, 0],
    "cluster": [50, 15, 10, 10, 10, 5, 0],
    "headless": [0, 50, 0, 0, 20, 0, 30],
}


def queries(out, count=60000, mix="equal", name="queries.txt"):
    rng = random.Random(7)
    all_svcs = list(services())
    cluster_ip = [s for s in all_svcs if s[2] == "clusterip"]
    headless = [s for s in all_svcs if s[2] == "headless"]

    def fqdn(s):
        return f"{s[1]}.{s[0]}.svc.{ZONE}"

    def endpoint(s):
        return f"{rng.choice(s[4])[0]}.{fqdn(s)}"

    def ptr(s):
        ip = s[3] if s[3] else rng.choice(s[4])[1]
        return ip.reverse_pointer

    kinds = [
        lambda: (fqdn(rng.choice(cluster_ip)), "A"),
        lambda: (fqdn(rng.choice(headless)), "A"),
        lambda: (fqdn(rng.choice(cluster_ip)), "AAAA"),
        lambda: (f"missing{rng.randrange(100000)}.ns{rng.randrange(NAMESPACES)}.svc.{ZONE}", "A"),
        lambda: ("_http._tcp." + fqdn(rng.choice(all_svcs)), "SRV"),
        lambda: (ptr(rng.choice(all_svcs)), "PTR"),
        lambda: (endpoint(rng.choice(headless)), "A"),
    ]

    # Deterministic shares: the kinds repeat in a fixed pattern of their weights.
    weights = MIXES[mix]
    pattern = [k for k, w in enumerate(weights) for _ in range(w)]
    rng.shuffle(pattern)
    with open(os.path.join(out, name), "w") as f:
        for i in range(count):
            qname, qtype = kinds[pattern[i % len(pattern)]]()
            f.write(f"{qname} {qtype}\n")


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "manifests"), exist_ok=True)
    manifests(os.path.join(out, "manifests"))
    zone_files(out)
    queries(out)
    for mix in MIXES:
        queries(out, mix=mix, name=f"queries-{mix}.txt")
