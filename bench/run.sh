#!/usr/bin/env bash
# Throughput of clusterdns against Knot DNS on the same records and the same query mix.
#
# Builds release, generates a cluster (1,000 services in 10 namespaces, 100 headless with 5
# ready endpoints), serves it from clusterdns and then from Knot DNS (one UDP worker), each
# pinned to CPU 0, and drives each with dnsperf pinned to CPU 1. Everything stays on loopback.
#
#   bench/run.sh [SECONDS]     # default 15 seconds per server
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-15}
clients=${CLIENTS:-8}
outstanding=${OUTSTANDING:-200}
port_cdns=15353
port_knot=15354

. bench/common.sh
need dnsperf:dnsperf knotd:knot taskset:util-linux dig:dnsutils
cargo build --release --quiet

python3 bench/gen_cluster.py "$work"

# dnsperf prints "Queries per second:   12345.678"; keep the number.
drive() {
  local port=$1
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l "$seconds" \
    -c "$clients" -q "$outstanding" >"$work/dnsperf-$port.txt" 2>&1
  awk '/Queries per second/ {print $4}' "$work/dnsperf-$port.txt"
}


check_answers() {
  local port=$1
  awk '/Queries completed|Queries lost|Response codes/' "$work/dnsperf-$port.txt" | sed 's/^ */    /'
}

taskset -c 0 target/release/clusterdns --manifests "$work/manifests" --listen "127.0.0.1:$port_cdns" \
  --resolv-conf /dev/null --lameduck 0s --log-level warn &
pids+=($!)
wait_ready "$port_cdns" svc999.ns9.svc.cluster.local
qps_cdns=$(drive "$port_cdns")
rss_cdns=$(awk '/VmHWM/ {print $2}' "/proc/${pids[0]}/status")
kill "${pids[0]}"

start_knot "$port_knot" svc999.ns9.svc.cluster.local cluster.local in-addr.arpa
qps_knot=$(drive "$port_knot")

echo "machine: $(nproc) CPUs, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')"
echo "load: dnsperf -c $clients -q $outstanding, ${seconds}s per server, mix of ClusterIP A, headless A,"
echo "      AAAA NODATA, NXDOMAIN, SRV, PTR in equal parts ($(wc -l <"$work/queries.txt") queries)"
echo "clusterdns: $qps_cdns queries/s (peak RSS ${rss_cdns} kB)"
check_answers "$port_cdns"
echo "knot:       $qps_knot queries/s"
check_answers "$port_knot"
awk -v a="$qps_cdns" -v b="$qps_knot" 'BEGIN { printf "ratio clusterdns/knot: %.2f\n", a / b }'
