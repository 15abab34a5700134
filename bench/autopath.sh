#!/usr/bin/env bash
# A pod's lookups with and without --autopath: queries to clusterdns and latency per lookup.
#
# glibc's getaddrinfo (AF_UNSPEC: A and AAAA) runs in a network namespace of its own with a
# pod's resolv.conf: namespace `shop`, the standard search list plus one node search domain,
# ndots:5. clusterdns listens on 127.0.0.1:53 there; names outside the cluster go to an upstream
# on 127.0.0.1:5300 in the same namespace (a second clusterdns serving example.com and the node's
# domain from zone files). Queries per lookup come from clusterdns's request counter.
#
#   sudo bench/autopath.sh [LOOKUPS]      # default 2000 per name and mode
set -euo pipefail
cd "$(dirname "$0")/.."

lookups=${1:-2000}
. bench/common.sh
need ip:iproute2 nsenter:util-linux cc:gcc python3:python3
cargo build --release --quiet
cc -O2 -o "$work/lookup" bench/lookup.c

netns="clusterdns-bench-autopath-$$"
ip netns add "$netns"
trap 'cleanup; ip netns delete "$netns" 2>/dev/null || true; rm -rf "/etc/netns/$netns"' EXIT
ip -n "$netns" link set lo up
mkdir -p "/etc/netns/$netns"
cat >"/etc/netns/$netns/resolv.conf" <<CONF
nameserver 127.0.0.1
search shop.svc.cluster.local svc.cluster.local cluster.local corp.internal
options ndots:5
CONF

mkdir -p "$work/manifests"
cat >"$work/manifests/cluster.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: billing}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.96.0.20}
---
apiVersion: v1
kind: Service
metadata: {name: ledger, namespace: billing}
spec: {clusterIP: 10.96.0.30}
YAML
for zone in example.com corp.internal; do
  cat >"$work/$zone.zone" <<ZONE
\$ORIGIN $zone.
\$TTL 300
@    IN SOA ns hostmaster 1 7200 900 1209600 60
@    IN NS  ns
ns   IN A   192.0.2.53
www  IN A   192.0.2.80
www  IN AAAA 2001:db8::80
ZONE
done
# corp.internal holds no www.example.com: that name is NXDOMAIN there, as a node domain's would be.

# Servers are started with nsenter directly (not through a function, which would run in a
# subshell): nsenter execs the program, so `$!` is the server's own pid. The client runs under
# `ip netns exec`, which also mounts the namespace's resolv.conf over /etc's.
in_netns() { nsenter --net="/run/netns/$netns" "$@"; }
as_pod() { ip netns exec "$netns" "$@"; }
mkdir -p "$work/no-cluster"
nsenter --net="/run/netns/$netns" target/release/clusterdns --manifests "$work/no-cluster" --zone-file "$work/example.com.zone" \
  --zone-file "$work/corp.internal.zone" --listen 127.0.0.1:5300 --resolv-conf /dev/null --log-level warn \
  --lameduck 0s >/dev/null 2>"$work/upstream.log" &
pids+=($!)

requests() {
  in_netns python3 -c 'import re, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:9153/metrics").read().decode()
print(int(sum(float(m) for m in re.findall(r"^clusterdns_dns_requests_total\{[^}]*\} (\S+)", text, re.M))))'
}

# One mode: extra flags. Prints a row per name.
run() {
  local mode=$1
  shift
  nsenter --net="/run/netns/$netns" target/release/clusterdns --manifests "$work/manifests" --listen 127.0.0.1:53 \
    --upstream 127.0.0.1:5300 --resolv-conf "/etc/netns/$netns/resolv.conf" --admin 127.0.0.1:9153 \
    --log-level warn --lameduck 0s "$@" >/dev/null 2>"$work/clusterdns.log" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    requests >/dev/null 2>&1 && break
    sleep 0.1
  done
  for name in www.example.com web ledger.billing; do
    as_pod "$work/lookup" "$name" 50 >/dev/null # warm the cache of forwarded answers
    local before after
    before=$(requests)
    read -r mean p50 p99 worst failed <<<"$(as_pod "$work/lookup" "$name" "$lookups")"
    after=$(requests)
    awk -v m="$mode" -v n="$name" -v q="$((after - before))" -v l="$lookups" -v mean="$mean" -v p50="$p50" \
      -v p99="$p99" -v worst="$worst" -v f="$failed" \
      'BEGIN { printf "%-9s %-16s %10.1f %9s %9s %9s %9s %7s\n", m, n, q / l, mean, p50, p99, worst, f }'
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

echo "machine: $(nproc) CPUs, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')"
echo "glibc getaddrinfo (AF_UNSPEC), search shop.svc.cluster.local svc.cluster.local cluster.local corp.internal, ndots:5; $lookups lookups per row"
printf "%-9s %-16s %10s %9s %9s %9s %9s %7s\n" mode name "queries" "mean us" "p50 us" "p99 us" "max us" failed
run off
run autopath --autopath
