#!/usr/bin/env bash
# Time `red exec` of a trivial experiment against `docker run --rm` of the same image and
# command (alternating, several rounds, medians and their ratio), then 100 trivial batches with
# `--jobs 2`. Needs a Docker daemon with the test images (scripts/docker-up).
#
#   scripts/bench-exec.sh [ROUNDS]      (default 10)
#
# RED_BIN=PATH times that binary instead of building target/release/red (to compare two builds
# in one sitting).
case ${1:-} in -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
if [ -z "${RED_BIN:-}" ]; then
  cargo build --locked --release --quiet
fi
red=${RED_BIN:-$PWD/target/release/red}
image=red-test/busybox:latest
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

write_red() { # $1 file, $2 batches (0 = single job)
  {
    echo 'redVersion: "9"'
    echo 'cli: {cwlVersion: v1.0, class: CommandLineTool, baseCommand: ["true"], inputs: {}, outputs: {}}'
    if [ "$2" -eq 0 ]; then
      echo 'inputs: {}'
    else
      echo 'batches:'
      for _ in $(seq "$2"); do echo '  - inputs: {}'; done
    fi
    echo "container: {engine: docker, settings: {image: {url: $image}, ram: 256}}"
    echo 'execution: {engine: ccfaice, settings: {}}'
  } > "$1"
}
write_red "$work/one.red.yml" 0
write_red "$work/hundred.red.yml" 100

seconds() { # run a command, print its wall time in seconds
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f\n", b - a }'
}
median() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }

cd "$work"
: > red.times; : > docker.times
for _ in $(seq "$rounds"); do
  seconds "$red" exec one.red.yml --no-pull >> red.times
  seconds docker run --rm --network none "$image" true >> docker.times
done
red_median=$(median < red.times)
docker_median=$(median < docker.times)
ratio=$(awk -v a="$red_median" -v b="$docker_median" 'BEGIN { print a / b }')
printf 'trivial experiment, median of %d: red exec %.3f s, docker run --rm %.3f s, ratio %.2f\n' \
  "$rounds" "$red_median" "$docker_median" "$ratio"
hundred=$(seconds "$red" exec hundred.red.yml --no-pull --jobs 2)
printf '100 trivial batches with --jobs 2: %.1f s\n' "$hundred"
