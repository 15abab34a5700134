#!/usr/bin/env bash
# Server CPU time per query at a fixed offered rate, below saturation: clusterdns, Knot DNS on
# the same records, and a responder that only echoes (the kernel's share, the floor). On two
# CPUs one dnsperf saturates before a good server does, so peak rates measure the load
# generator; CPU per query does not. Servers pinned to CPU 0 with one worker, dnsperf to CPU 1.
# The CPU time is read from /proc/<pid>/task/*/schedstat; the user-space share of it from perf
# samples of one more run.
#
# On loopback the kernel charges the receiving socket's work to whichever side happens to run it:
# the sender's system call when the receiver is idle, the receiver's when it holds its socket.
# Over TCP that moves microseconds between server and client depending on timing alone, so the
# script also prints server + dnsperf CPU per query (dnsperf's from getrusage via /usr/bin/time),
# which that accounting cannot shift.
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
need dnsperf:dnsperf knotd:knot taskset:util-linux dig:dnsutils cc:gcc /usr/bin/time:time perf:linux-perf
cargo build --release --quiet
cc -O2 -pthread -o "$work/echo" bench/echo.c
python3 bench/gen_cluster.py "$work"

total_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ sum += $1 } END { print sum }'; }

# dnsperf at a fixed rate: port, mix, rate, dnsperf flags. Its report goes to $work/dnsperf.txt,
# its own user and system seconds to $work/client.txt.
load() {
  local port=$1 mix=$2 rate=$3
  shift 3
  /usr/bin/time -f "%U %S" -o "$work/client.txt" taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" \
    -d "$work/queries-$mix.txt" -l "$seconds" -c 8 -q 200 -Q "$rate" "$@" >"$work/dnsperf.txt" 2>&1
}

# One run: pid, port, mix, rate, dnsperf flags. Prints "us_per_query completed lost
# client_us_per_query".
measure() {
  local pid=$1
  shift
  local before after
  before=$(total_ns "$pid")
  load "$@"
  after=$(total_ns "$pid")
  local completed lost
  completed=$(awk '/Queries completed/ {print $3}' "$work/dnsperf.txt")
  lost=$(awk '/Queries lost/ {print $3}' "$work/dnsperf.txt")
  echo "$before $after $completed $lost $(cat "$work/client.txt")" |
    awk '{ printf "%.2f %d %d %.2f\n", ($2 - $1) / $3 / 1000, $3, $4, ($5 + $6) * 1e6 / $3 }'
}

# The user-space share of the server's CPU time, from one more run sampled by perf (the clock
# ticks in /proc/<pid>/stat are too coarse to split a few microseconds): pid, then as load.
user_share() {
  local pid=$1
  shift
  perf record -q -F 2000 -p "$pid" -o "$work/perf.data" -- sleep "$seconds" >/dev/null 2>&1 &
  local perf_pid=$!
  load "$@"
  wait "$perf_pid" || true
  perf report -q -i "$work/perf.data" --sort dso --stdio 2>/dev/null |
    awk '{ sub("%", "", $1) } $2 !~ /kernel/ { user += $1 } END { printf "%.2f\n", user / 100 }'
}

# Medians over rounds: pid, port, mix, rate, flags. Prints "us_per_query user_share lost
# total_us_per_query", the last the median of server + client.
median() {
  for _ in $(seq "$rounds"); do measure "$@"; done >"$work/rounds.txt"
  local total share
  total=$(awk '{ printf "%.2f\n", $1 + $4 }' "$work/rounds.txt" | sort -n | awk -v r="$rounds" \
    'NR == int((r + 1) / 2) { print }')
  share=$(user_share "$@")
  sort -n "$work/rounds.txt" | awk -v r="$rounds" -v total="$total" -v share="$share" '{ us[NR] = $1; lost += $3 }
    END { m = int((r + 1) / 2); printf "%s %s %d %s\n", us[m], share, lost, total }'
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
run_server echo "${pids[0]}" "$port_echo" "udp tcp" >>"$work/results.txt"
kill "${pids[0]}"

taskset -c 0 target/release/clusterdns --manifests "$work/manifests" --listen "127.0.0.1:$port_cdns" \
  --resolv-conf /dev/null --lameduck 0s --log-level warn --udp-workers 1 &
pids+=($!)
wait_ready "$port_cdns" svc999.ns9.svc.cluster.local
run_server clusterdns "${pids[1]}" "$port_cdns" "udp tcp" >>"$work/results.txt"
kill "${pids[1]}"

start_knot "$port_knot" svc999.ns9.svc.cluster.local cluster.local in-addr.arpa
run_server knot "${pids[2]}" "$port_knot" "udp tcp" >>"$work/results.txt"

echo "machine: $(nproc) CPUs, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')"
echo "load: UDP at $udp_rate q/s, TCP at $tcp_rate q/s over 8 connections, ${seconds}s per run," \
  "median of $rounds"
echo "server: the server's CPU time per query (us) and the user-space share of it (perf samples)"
echo "+ client: server and dnsperf together, per query (us)"
printf "%-9s %-5s | %12s %16s %16s %6s | %12s %12s %12s %6s\n" mix proto "echo (floor)" knot clusterdns ratio \
  "echo+client" "knot+client" "cdns+client" ratio
for mix in $mixes; do
  for transport in udp tcp; do
    row() { awk -v s="$1" -v m="$mix" -v t="$transport" '$1 == s && $2 == m && $3 == t { print $4, $5, $6, $7 }' "$work/results.txt"; }
    read -r e_us e_share e_lost e_total <<<"$(row echo)"
    read -r k_us k_share k_lost k_total <<<"$(row knot)"
    read -r c_us c_share c_lost c_total <<<"$(row clusterdns)"
    percent() { awk -v s="$1" 'BEGIN { printf "%2.0f%%", s * 100 }'; }
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
    printf "%-9s %-5s | %12s %10s (%s) %10s (%s) %6s | %12s %12s %12s %6s" "$mix" "$transport" "$e_us" \
      "$k_us" "$(percent "$k_share")" "$c_us" "$(percent "$c_share")" "$(ratio "$c_us" "$k_us")" \
      "$e_total" "$k_total" "$c_total" "$(ratio "$c_total" "$k_total")"
    if [ "$c_lost" = 0 ] && [ "$k_lost" = 0 ] && [ "$e_lost" = 0 ]; then echo
    else echo "  (lost: echo $e_lost, knot $k_lost, clusterdns $c_lost)"; fi
  done
done
