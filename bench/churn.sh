#!/usr/bin/env bash
# Churn benchmark: 10,000 services and 150,000 endpoints from the in-process test API server,
# then 1,000 endpoint changes per second for 30 s while dnsperf queries (see benches/churn.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v dnsperf >/dev/null; then
  apt-get update -qq && apt-get install -y -qq dnsperf >/dev/null
fi
echo "machine: $(nproc) CPUs, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')"
cargo bench --quiet --bench churn
