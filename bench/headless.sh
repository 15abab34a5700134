#!/usr/bin/env bash
# Headless-heavy answers, clusterdns against Knot DNS on the same records: Services of 5, 50 and
# 500 ready endpoints, asked over UDP without EDNS (512-byte replies: partial answers), UDP with
# EDNS (1232 bytes) and TCP (everything). On two CPUs one dnsperf saturates before the servers
# do, so each server is offered a fixed rate below saturation and the figure is its CPU time
# per query, read from /proc/<pid>/task/*/schedstat. Servers on CPU 0, dnsperf on CPU 1.
#
#   bench/headless.sh [SECONDS] [UDP_RATE] [TCP_RATE]     # defaults: 10 s, 20000 q/s, 10000 q/s
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
udp_rate=${2:-20000}
tcp_rate=${3:-10000}
port_cdns=15363
port_knot=15364

. bench/common.sh
need dnsperf:dnsperf knotd:knot taskset:util-linux dig:dnsutils
cargo build --release --quiet
python3 bench/gen_headless.py "$work"

cpu_ns() {
  cat /proc/"$1"/task/*/schedstat | awk '{ sum += $1 } END { print sum }'
}

# One run: server pid, port, transport flags, rate. Prints "us_per_query completed lost".
measure() {
  local pid=$1 port=$2 rate=$3
  shift 3
  local before after
  before=$(cpu_ns "$pid")
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l "$seconds" -c 8 -q 100 \
    -Q "$rate" "$@" >"$work/dnsperf.txt" 2>&1
  after=$(cpu_ns "$pid")
  local completed lost
  completed=$(awk '/Queries completed/ {print $3}' "$work/dnsperf.txt")
  lost=$(awk '/Queries lost/ {print $3}' "$work/dnsperf.txt")
  awk -v a="$after" -v b="$before" -v n="$completed" -v l="$lost" \
    'BEGIN { printf "%.2f %d %d\n", (a - b) / n / 1000, n, l }'
}

run_all() {
  local pid=$1 port=$2
  echo "udp $(measure "$pid" "$port" "$udp_rate")"
  echo "udp-edns $(measure "$pid" "$port" "$udp_rate" -e)"
  echo "tcp $(measure "$pid" "$port" "$tcp_rate" -m tcp)"
}

taskset -c 0 target/release/clusterdns --manifests "$work/manifests" --listen "127.0.0.1:$port_cdns" \
  --resolv-conf /dev/null --lameduck 0s --log-level warn --udp-workers 1 &
pids+=($!)
wait_ready "$port_cdns" hl5-0.ns0.svc.cluster.local
run_all "${pids[0]}" "$port_cdns" >"$work/cdns.txt"
kill "${pids[0]}"

start_knot "$port_knot" hl5-0.ns0.svc.cluster.local cluster.local
run_all "${pids[1]}" "$port_knot" >"$work/knot.txt"

echo "machine: $(nproc) CPUs, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')"
echo "load: A for headless Services of 5, 50 and 500 endpoints (a third each), ${seconds}s per run,"
echo "      UDP offered at $udp_rate q/s, TCP at $tcp_rate q/s; server CPU time per query"
printf "%-9s %18s %18s %8s\n" transport "clusterdns us/q" "knot us/q" ratio
join "$work/cdns.txt" "$work/knot.txt" | while read -r name c_us c_n c_lost k_us k_n k_lost; do
  ratio=$(awk -v a="$c_us" -v b="$k_us" 'BEGIN { printf "%.2f", a / b }')
  printf "%-9s %9s (%s lost) %9s (%s lost) %8s\n" "$name" "$c_us" "$c_lost" "$k_us" "$k_lost" "$ratio"
done
