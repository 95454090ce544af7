#!/usr/bin/env bash
# HTTP download speed: red's built-in http connector vs curl vs the reference red-connector-http,
# same 1 GiB file (RED_BENCH_HTTP_MB to change), same busybox httpd on 127.0.0.1, same run.
# Installs the reference connector first (scripts/peers-up). Prints MiB/s and the ratios.
case ${1:-} in -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
RED_PEERS_BIN=$(scripts/peers-up | tail -n 1)
export RED_PEERS_BIN
command -v busybox >/dev/null || { echo "bench-http: needs busybox (Debian package busybox)" >&2; exit 2; }
command -v curl >/dev/null || { echo "bench-http: needs curl" >&2; exit 2; }
cargo bench --locked --bench http
