#!/usr/bin/env bash
# Remote-client benchmark (a measurement, not a test): red against the CC-Agency peer and the
# Kiosk double, and kiosk-client 0.8.4 (PyPI) against the same double in the same run.
#
#   scripts/bench-remote.sh [AGENCY_BATCHES=1000] [KIOSK_JOBS=200] [IN_FLIGHT=16]
#
# 1. Agency: one RED file with AGENCY_BATCHES batches, `red submit --wait --format json`; prints
#    the wall time and red's own CPU time (user+sys): the client's overhead next to the server's.
# 2. Kiosk: KIOSK_JOBS jobs of one image by `red kiosk submit --benchmark` (IN_FLIGHT jobs at
#    once, then every job at once with IN_FLIGHT requests at once) and by kiosk-client
#    (`--benchmark -U`, same longest poll interval, CONCURRENT_REQUESTS_PER_HOST=IN_FLIGHT: it
#    creates every job at once and bounds its requests); prints the wall times, each client's
#    CPU and the double's, and the throughput ratios.
# Needs a release build (cargo build --release) and starts the peers with scripts/agency-up
# and scripts/kiosk-up (as root they install what they need).
case ${1:-} in -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
set -euo pipefail
cd "$(dirname "$0")/.."
# The peers it starts are stopped again at the end (RED_KEEP_SERVICES=1 keeps them).
. scripts/lib/services.sh
services_stop_on_exit
batches=${1:-1000}
jobs=${2:-200}
flight=${3:-16}
red=${RED_BIN:-$PWD/target/release/red}
[ -x "$red" ] || { echo "build first: cargo build --release (or set RED_BIN)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"; services_stop' EXIT
TIMEFORMAT='%R %U %S'

# 1. Agency (skipped with AGENCY_BATCHES=0)
if [ "$batches" -gt 0 ]; then
agency_url=$(FAKE_NODE_RAM=${FAKE_NODE_RAM:-262144} scripts/agency-up | tail -n 1)
agency_url=${agency_url#RED_TEST_AGENCY_URL=}
python3 - "$batches" "$work/many.red.json" "$agency_url" <<'PY'
import json, sys
n, path, url = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {"class": "File", "connector": {"command": "red-connector-ssh", "access": {
    "host": "127.0.0.1", "auth": {"username": "u", "password": "p"}, "filePath": "/o"}}}
red = {
    "redVersion": "9",
    "cli": {"cwlVersion": "v1.0", "class": "CommandLineTool", "baseCommand": "echo",
            "inputs": {"n": {"type": "int", "inputBinding": {"position": 0}}},
            "outputs": {"o": {"type": "File", "outputBinding": {"glob": "o"}}}},
    "batches": [{"inputs": {"n": i}, "outputs": {"o": out}} for i in range(n)],
    "container": {"engine": "docker", "settings": {"image": {"url": "x/y:1"}, "ram": 256}},
    "execution": {"engine": "ccagency", "settings": {"access": {"url": url, "auth": {
        "username": "bob", "password": "bob-pw"}}, "batchConcurrencyLimit": 1000}},
}
json.dump(red, open(path, "w"))
PY
echo "agency: $batches batches at $agency_url" >&2
{ time "$red" submit "$work/many.red.json" --no-prompt --wait --format json >"$work/agency.json"; } 2>"$work/agency.time"
read -r wall user sys <"$work/agency.time"
ok=$(python3 -c "import json,sys; d=json.load(open('$work/agency.json')); print(sum(b['state']=='succeeded' for b in d['batches']))")
echo "agency: $ok/$batches succeeded; wall ${wall}s; red CPU $(python3 -c "print(round($user+$sys,2))")s"
fi

# 2. Kiosk
# A double that is not the bottleneck: only the queue used, 32 consumers on it, two front-end
# processes (the front end is autoscaled pods in a real Kiosk), 0.05 s per step.
kiosk_url=$(RED_KIOSK_PORT=${BENCH_KIOSK_PORT:-8096} RED_KIOSK_REDIS_PORT=${BENCH_KIOSK_REDIS_PORT:-6391} \
  KIOSK_WORKERS=32 KIOSK_FRONTENDS=2 JOB_TYPES=mesmer KIOSK_STEP_SECONDS=0.05 scripts/kiosk-up | tail -n 1)
kiosk_url=${kiosk_url#RED_TEST_KIOSK_URL=}
printf '\x89PNG\r\n\x1a\nbench' >"$work/cells.png"
# CPU seconds the double's processes have used so far (its front ends and consumers).
double_cpu() {
  local ticks=0 pid
  for pid in $(pgrep -f kiosk/peer.py); do
    ticks=$((ticks + $(awk '{print $14+$15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  python3 -c "print($ticks / $(getconf CLK_TCK))"
}

# red, two ways: FLIGHT jobs in flight (red's --jobs), and every job in flight with FLIGHT
# requests at once (--requests), which is what kiosk-client's CONCURRENT_REQUESTS_PER_HOST bounds.
red_kiosk() { # label, extra args...
  local label=$1 before after
  shift
  before=$(double_cpu)
  { time "$red" kiosk submit --url "$kiosk_url" --job-type mesmer "$work/cells.png" \
      --benchmark "$jobs" "$@" --poll 1 --format json >"$work/kiosk-red.json"; } 2>"$work/red.time"
  after=$(double_cpu)
  read -r red_wall red_user red_sys <"$work/red.time"
  red_ok=$(python3 -c "import json; print(json.load(open('$work/kiosk-red.json'))['succeeded'])")
  echo "kiosk: red $label: $red_ok/$jobs done; wall ${red_wall}s; red CPU" \
    "$(python3 -c "print(round($red_user+$red_sys,2))")s; the double's CPU $(python3 -c "print(round($after-$before,2))")s"
}
red_kiosk "--jobs $flight" --jobs "$flight"
red_jobs_wall=$red_wall
red_kiosk "--jobs $jobs --requests $flight" --jobs "$jobs" --requests "$flight"
red_requests_wall=$red_wall

kc=${KIOSK_CLIENT_VENV:-/tmp/red-bench-kc}
if ! "$kc/bin/python" -c 'import kiosk_client' 2>/dev/null; then
  python3 -m venv "$kc"
  "$kc/bin/pip" install -q kiosk-client==0.8.4 </dev/null
fi
mkdir -p "$work/kc-out" "$work/kc-dl"
cp "$work/cells.png" "$work/kc-cells.png"
before=$(double_cpu)
{ time (cd "$work" && LOG_FILE=$work/kc.log LOG_DIR=$work DOWNLOAD_DIR=$work/kc-dl \
    OUTPUT_DIR=$work/kc-out CONCURRENT_REQUESTS_PER_HOST=$flight \
    "$kc/bin/python" -m kiosk_client kc-cells.png --benchmark -c "$jobs" -U \
    --job-type mesmer --host "${kiosk_url#http://}" --update-interval 1 --refresh-rate 1 \
    --start-delay 0 --expire-time 600 --output-dir "$work/kc-out" -L WARN >/dev/null 2>&1); } 2>"$work/kc.time"
after=$(double_cpu)
read -r kc_wall kc_user kc_sys <"$work/kc.time"
echo "kiosk: kiosk-client 0.8.4 (every job in flight, $flight requests at once): wall ${kc_wall}s;" \
  "CPU $(python3 -c "print(round($kc_user+$kc_sys,2))")s; the double's CPU $(python3 -c "print(round($after-$before,2))")s"
echo "kiosk: red throughput = $(python3 -c "print(round($kc_wall/$red_jobs_wall,2))")x kiosk-client's with $flight jobs in flight," \
  "$(python3 -c "print(round($kc_wall/$red_requests_wall,2))")x with $flight requests at once"
