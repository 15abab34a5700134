# Shared by the benchmark scripts: sourced, not run.

# Installs the Debian packages that provide the given commands ("command:package" pairs).
need() {
  local missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair##*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# A scratch folder and the background servers, both cleaned up on exit.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# Waits until the server on port $1 answers $2 (an A query), at most 10 seconds.
wait_ready() {
  for _ in $(seq 100); do
    if dig +short +time=1 +tries=1 @127.0.0.1 -p "$1" "$2" | grep -q .; then return 0; fi
    sleep 0.1
  done
  echo "server on port $1 did not come up" >&2; return 1
}

# Starts Knot DNS on CPU 0 (one worker per transport) on 127.0.0.1 port $1, serving the zone
# files $work/<zone>.zone of the zones given after it, and waits until it answers $2. Its pid is
# appended to `pids`.
start_knot() {
  local port=$1 probe=$2
  shift 2
  mkdir -p "$work/knot"
  {
    cat <<CONF
server:
    listen: 127.0.0.1@$port
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
CONF
    for zone in "$@"; do
      printf '  - domain: %s\n    file: "%s"\n' "$zone" "$work/$zone.zone"
    done
  } >"$work/knot.conf"
  taskset -c 0 knotd -c "$work/knot.conf" &
  pids+=($!)
  wait_ready "$port" "$probe"
}
