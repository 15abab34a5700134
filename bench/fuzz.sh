#!/usr/bin/env bash
# Mutated DNS messages over UDP and TCP against the release binary, then a check that it still
# answers correctly (see bench/fuzz.py).   bench/fuzz.sh [UDP_COUNT] [TCP_COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
python3 bench/fuzz.py "$@"
