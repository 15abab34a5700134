#!/usr/bin/env bash
# Server CPU time per query at a fixed offered rate, below saturation: clusterdns, Knot DNS on
# the same records, and a responder that only echoes (the kernel's share, the floor). On two
# CPUs one dnsperf saturates before a good server does, so peak rates measure the load
# generator; CPU per query does not. Servers pinned to CPU 0 with one worker, dnsperf to CPU 1.
# The CPU time is read from /proc/<pid>/task/*/schedstat (total) and stat (user and system).
#
# Mixes (bench/gen_cluster.py, 1,000 Services, 100 headless of 5 endpoints): `cluster` (ClusterIP
# A 50%, headless A 15%, AAAA NODATA 10%, SRV 10%, NXDOMAIN 10%, PTR 5%), `equal` (bench/run.sh's)
# and `headless` (headless A 50%, SRV 20%, endpoint names 30%). Each figure is the median of
# ROUNDS runs.
#
#   bench/cpu.sh [SECONDS] [ROUNDS] [UDP_RATE] [TCP_RATE]   # defaults: 5 s, 5, 40000, 30000
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-5}
rounds=${2:-5}
udp_rate=${3:-40000}
tcp_rate=${4:-30000}
port_cdns=15371
port_knot=15372
port_echo=15373
mixes="cluster equal headless"

. bench/common.sh
need dnsperf:dnsperf knotd:knot taskset:util-linux dig:dnsutils cc:gcc
cargo build --release --quiet
cc -O2 -o "$work/echo" bench/echo.c
python3 bench/gen_cluster.py "$work"
ticks=$(getconf CLK_TCK)

total_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ sum += $1 } END { print sum }'; }
# user and system clock ticks, summed over threads
user_sys() { cat /proc/"$1"/task/*/stat | awk '{ u += $14; s += $15 } END { print u, s }'; }

# One run: pid, port, mix, rate, dnsperf flags. Prints "us_per_query user_share completed lost".
measure() {
  local pid=$1 port=$2 mix=$3 rate=$4
  shift 4
  local before after us_before us_after
  before=$(total_ns "$pid")
  us_before=$(user_sys "$pid")
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries-$mix.txt" -l "$seconds" -c 8 -q 200 \
    -Q "$rate" "$@" >"$work/dnsperf.txt" 2>&1
  after=$(total_ns "$pid")
  us_after=$(user_sys "$pid")
  local completed lost
  completed=$(awk '/Queries completed/ {print $3}' "$work/dnsperf.txt")
  lost=$(awk '/Queries lost/ {print $3}' "$work/dnsperf.txt")
  echo "$before $after $us_before $us_after $completed $lost" | awk -v t="$ticks" \
    '{ ud = $5 - $3; sd = $6 - $4; share = (ud + sd) > 0 ? ud / (ud + sd) : 0;
       printf "%.2f %.2f %d %d\n", ($2 - $1) / $7 / 1000, share, $7, $8 }'
}

# Medians over rounds: pid, port, mix, rate, flags. Prints "us_per_query user_share lost".
median() {
  local pid=$1 port=$2 mix=$3 rate=$4
  shift 4
  for _ in $(seq "$rounds"); do measure "$pid" "$port" "$mix" "$rate" "$@"; done >"$work/rounds.txt"
  sort -n "$work/rounds.txt" | awk -v r="$rounds" '{ us[NR] = $1; sh[NR] = $2; lost += $4 }
    END { m = int((r + 1) / 2); printf "%s %s %d\n", us[m], sh[m], lost }'
}

# Every mix and transport for one server: name, pid, port, transports.
run_server() {
  local name=$1 pid=$2 port=$3 transports=$4
  for mix in $mixes; do
    for transport in $transports; do
      case $transport in
        udp) echo "$name $mix udp $(median "$pid" "$port" "$mix" "$udp_rate")" ;;
        tcp) echo "$name $mix tcp $(median "$pid" "$port" "$mix" "$tcp_rate" -m tcp)" ;;
      esac
    done
  done
}

taskset -c 0 "$work/echo" 127.0.0.1 "$port_echo" &
pids+=($!)
run_server echo "${pids[0]}" "$port_echo" "udp" >>"$work/results.txt"
kill "${pids[0]}"

taskset -c 0 target/release/clusterdns --manifests "$work/manifests" --listen "127.0.0.1:$port_cdns" \
  --resolv-conf /dev/null --lameduck 0s --log-level warn --udp-workers 1 &
pids+=($!)
wait_ready "$port_cdns" svc999.ns9.svc.cluster.local
run_server clusterdns "${pids[1]}" "$port_cdns" "udp tcp" >>"$work/results.txt"
kill "${pids[1]}"

mkdir -p "$work/knot"
cat >"$work/knot.conf" <<CONF
server:
    listen: 127.0.0.1@$port_knot
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    rundir: "$work/knot"
database:
    storage: "$work/knot"
log:
  - target: stderr
    any: warning
zone:
  - domain: cluster.local
    file: "$work/cluster.local.zone"
  - domain: in-addr.arpa
    file: "$work/in-addr.arpa.zone"
CONF
taskset -c 0 knotd -c "$work/knot.conf" &
pids+=($!)
wait_ready "$port_knot" svc999.ns9.svc.cluster.local
run_server knot "${pids[2]}" "$port_knot" "udp tcp" >>"$work/results.txt"

echo "machine: $(nproc) CPUs, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')"
echo "load: UDP at $udp_rate q/s, TCP at $tcp_rate q/s over 8 connections, ${seconds}s per run," \
  "median of $rounds; server CPU time per query (us), user-space share of it"
printf "%-9s %-5s %16s %16s %16s %10s\n" mix proto "echo (floor)" "knot" "clusterdns" "cdns/knot"
for mix in $mixes; do
  for transport in udp tcp; do
    row() { awk -v s="$1" -v m="$mix" -v t="$transport" '$1 == s && $2 == m && $3 == t { print $4, $5, $6 }' "$work/results.txt"; }
    read -r e_us e_share e_lost <<<"$(row echo)" || true
    read -r k_us k_share k_lost <<<"$(row knot)"
    read -r c_us c_share c_lost <<<"$(row clusterdns)"
    floor=$([ -n "${e_us:-}" ] && printf "%.2f" "$e_us" || echo "-")
    ratio=$(awk -v a="$c_us" -v b="$k_us" 'BEGIN { printf "%.2f", a / b }')
    printf "%-9s %-5s %16s %10s (%2.0f%%) %10s (%2.0f%%) %10s" "$mix" "$transport" "$floor" \
      "$k_us" "$(awk -v s="$k_share" 'BEGIN { print s * 100 }')" \
      "$c_us" "$(awk -v s="$c_share" 'BEGIN { print s * 100 }')" "$ratio"
    [ "$c_lost" = 0 ] && [ "$k_lost" = 0 ] && echo || echo "  (lost: clusterdns $c_lost, knot $k_lost)"
    unset e_us e_share e_lost
  done
done
