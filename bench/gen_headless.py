#!/usr/bin/env python3
"""Generates the headless-heavy benchmark cluster: Kubernetes manifests for clusterdns, the same
records as a zone file for Knot DNS, and a dnsperf query file.

Cluster: 20 headless Services of 5 ready endpoints, 20 of 50, 4 of 500, in 4 namespaces.
Queries: A for those Services, each size a third of the mix.
"""
import ipaddress
import os
import random
import sys

SIZES = [(5, 20), (50, 20), (500, 4)]
NAMESPACES = 4
TTL = 5
ZONE = "cluster.local"


def services():
    """Yields (namespace, name, [ips])."""
    base = int(ipaddress.ip_address("10.128.0.0"))
    for size, count in SIZES:
        for i in range(count):
            ips = [ipaddress.ip_address(base + k) for k in range(size)]
            base += 1024
            yield f"ns{i % NAMESPACES}", f"hl{size}-{i}", ips


def manifests(out):
    docs = [f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: ns{n}}}\n" for n in range(NAMESPACES)]
    for ns, name, ips in services():
        docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{clusterIP: None}}\n")
        lines = "".join(f"- addresses: [{ip}]\n" for ip in ips)
        docs.append(
            f"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
            f"metadata: {{name: {name}-1, namespace: {ns}, labels: {{kubernetes.io/service-name: {name}}}}}\n"
            f"addressType: IPv4\nendpoints:\n{lines}"
        )
    os.makedirs(os.path.join(out, "manifests"), exist_ok=True)
    with open(os.path.join(out, "manifests", "cluster.yaml"), "w") as f:
        f.write("---\n".join(docs))


def zone_file(out):
    soa = f"ns.dns.{ZONE}. hostmaster.{ZONE}. 1 7200 1800 86400 {TTL}"
    lines = [f"$ORIGIN {ZONE}.", f"@ {TTL} IN SOA {soa}", f"@ {TTL} IN NS ns.dns.{ZONE}."]
    for ns, name, ips in services():
        lines.extend(f"{name}.{ns}.svc {TTL} IN A {ip}" for ip in ips)
    with open(os.path.join(out, "cluster.local.zone"), "w") as f:
        f.write("\n".join(lines) + "\n")


def queries(out, count=30000):
    rng = random.Random(11)
    by_size = {}
    for ns, name, ips in services():
        by_size.setdefault(len(ips), []).append(f"{name}.{ns}.svc.{ZONE}")
    sizes = sorted(by_size)
    with open(os.path.join(out, "queries.txt"), "w") as f:
        for i in range(count):
            f.write(f"{rng.choice(by_size[sizes[i % len(sizes)]])} A\n")


if __name__ == "__main__":
    out = sys.argv[1]
    manifests(out)
    zone_file(out)
    queries(out)
