#!/usr/bin/env bash
# Forwarding benchmark: cache-hit throughput of clusterdns against Unbound configured as a
# forwarder (both warm, one thread, pinned to CPU 0, dnsperf on CPU 1), and the latency a
# forwarded cache miss adds over asking the upstream directly. The upstream is Knot DNS
# serving a zone of 20,000 names. Everything stays on loopback.
#
#   bench/forward.sh [SECONDS]     # default 15 seconds per server
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-15}
upstream=15370; cdns=15371; unbound_port=15372

. bench/common.sh
need dnsperf:dnsperf knotd:knot unbound:unbound taskset:util-linux dig:dnsutils
cargo build --release --quiet

# The upstream zone and the query lists.
{
  echo '$ORIGIN bench.example.com.'
  echo '@ 3600 IN SOA ns hostmaster 1 7200 900 86400 60'
  echo '@ 3600 IN NS ns'
  echo 'ns 3600 IN A 127.0.0.1'
  for i in $(seq 0 19999); do echo "h$i 3600 IN A 10.$((i / 65536)).$((i / 256 % 256)).$((i % 256))"; done
} >"$work/bench.example.com.zone"
for i in $(seq 0 999); do echo "h$i.bench.example.com A"; done >"$work/hits.txt"
for i in $(seq 10000 14999); do echo "h$i.bench.example.com A"; done >"$work/miss-direct.txt"
for i in $(seq 15000 19999); do echo "h$i.bench.example.com A"; done >"$work/miss-forwarded.txt"

mkdir -p "$work/knot"
cat >"$work/knot.conf" <<CONF
server:
    listen: 127.0.0.1@$upstream
    rundir: "$work/knot"
database:
    storage: "$work/knot"
log:
  - target: stderr
    any: error
zone:
  - domain: bench.example.com
    file: "$work/bench.example.com.zone"
CONF
taskset -c 1 knotd -c "$work/knot.conf" &
pids+=($!)

cat >"$work/unbound.conf" <<CONF
server:
    interface: 127.0.0.1@$unbound_port
    port: $unbound_port
    num-threads: 1
    do-not-query-localhost: no
    do-ip6: no
    chroot: ""
    username: ""
    directory: "$work"
    pidfile: "$work/unbound.pid"
    module-config: "iterator"
    access-control: 127.0.0.0/8 allow
    msg-cache-size: 64m
    rrset-cache-size: 64m
    use-syslog: no
    logfile: ""
    verbosity: 0
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$upstream
CONF
taskset -c 0 unbound -d -c "$work/unbound.conf" &
pids+=($!)

echo 'apiVersion: v1
kind: Namespace
metadata: {name: default}' >"$work/cluster.yaml"
taskset -c 0 target/release/clusterdns --manifests "$work/cluster.yaml" --listen "127.0.0.1:$cdns" \
  --upstream "127.0.0.1:$upstream" --cache-max-ttl 5m --cache-size 100000 --lameduck 0s --log-level warn &
pids+=($!)

for port in $upstream $unbound_port $cdns; do wait_ready "$port" h1.bench.example.com; done

perf() { # port file seconds clients outstanding -> dnsperf output
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l "$3" -c "$4" -q "$5" 2>&1
}
qps() { awk '/Queries per second/ {print $4}'; }
latency_ms() { awk '/Average Latency/ {printf "%.3f", $4 * 1000}'; }

# Misses first, one query at a time, while the caches are cold for these names.
direct=$(perf $upstream "$work/miss-direct.txt" 5 1 1 | latency_ms)
forwarded=$(perf $cdns "$work/miss-forwarded.txt" 5 1 1 | latency_ms)

# Warm both caches with every hit name, then measure.
perf $cdns "$work/hits.txt" 2 1 20 >/dev/null
perf $unbound_port "$work/hits.txt" 2 1 20 >/dev/null
qps_cdns=$(perf $cdns "$work/hits.txt" "$seconds" 8 200 | qps)
qps_unbound=$(perf $unbound_port "$work/hits.txt" "$seconds" 8 200 | qps)

echo "machine: $(nproc) CPUs, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')"
echo "cache hits (1,000 names, warm, dnsperf -c 8 -q 200, ${seconds}s, server pinned to CPU 0):"
echo "  clusterdns: $qps_cdns queries/s"
echo "  unbound:    $qps_unbound queries/s ($(unbound -V | head -1))"
awk -v a="$qps_cdns" -v b="$qps_unbound" 'BEGIN { printf "  ratio clusterdns/unbound: %.2f\n", a / b }'
echo "cache misses (one at a time, 5s, every name new):"
echo "  upstream directly:      $direct ms average"
echo "  through clusterdns:     $forwarded ms average"
awk -v a="$forwarded" -v b="$direct" 'BEGIN { printf "  added by forwarding:    %.3f ms\n", a - b }'
