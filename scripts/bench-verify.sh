#!/usr/bin/env bash
# What checking an input's checksum costs a run: `red exec` of one batch whose File input
# (1 GiB by default) comes over ssh from a loopback sshd, once without and once with a declared
# `checksum` (and `size`), alternating, several rounds; each round's wall time and red's CPU
# time (user + system: steadier than the wall time on a busy machine), the medians and their
# ratios, and the load average. Not a test. Both variants hash the file as it streams in
# (red records every File input's sha256); the one with a checksum also compares it. To see
# what hashing costs at all, time a red without it as RED_BASE_BIN (e.g. a build of a commit
# before inputs were hashed).
#
#   scripts/bench-verify.sh [ROUNDS]          (default 3)
#   RED_BENCH_VERIFY_MB=256 scripts/bench-verify.sh 5
#
# Needs a Docker daemon with the test images (scripts/docker-up) and the test sshd: the one that
# RED_TEST_SSHD names (its state directory) when set, else scripts/sshd-up starts one.
# RED_BIN=PATH times that binary instead of building target/release/red; RED_BASE_BIN=PATH
# times a second build the same way (an older red, to compare in one sitting), or several
# separated by `:`.
case ${1:-} in -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
megabytes=${RED_BENCH_VERIFY_MB:-1024}
if [ -z "${RED_TEST_SSHD:-}" ]; then
  . scripts/lib/services.sh
  services_stop_on_exit
  export "$(scripts/sshd-up | tail -n 1)"
fi
if [ -z "${RED_BIN:-}" ]; then
  cargo build --locked --release --quiet
fi
red=${RED_BIN:-$PWD/target/release/red}
state=$RED_TEST_SSHD
port=$(cat "$state/port")
user=$(cat "$state/user")
home=$(cat "$state/home_path")
host_key=$(cut -d' ' -f1,2 "$state/host_ed25519.pub")
password=$(cat "$state/password")

work=$(mktemp -d)
remote_dir=red-bench-verify-$$
trap 'rm -rf "$work" "${home:?}/$remote_dir"' EXIT
mkdir "$home/$remote_dir"
head -c "${megabytes}M" /dev/urandom > "$home/$remote_dir/data.bin"
chown -R "$(stat -c %u:%g "$home")" "$home/$remote_dir"
size=$(stat -c %s "$home/$remote_dir/data.bin")
checksum=sha256\$$(sha256sum "$home/$remote_dir/data.bin" | cut -d' ' -f1)
printf 'ssh_password: "%s"\n' "$password" > "$work/vars.yml"

write_red() { # $1 file, $2 extra keys of the input (a YAML flow fragment, or nothing)
  cat > "$1" <<EOF
redVersion: "9"
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: [test, -s]
  inputs: {data: {type: File, inputBinding: {position: 0}}}
  outputs: {}
inputs:
  data:
    class: File
    connector:
      command: red-connector-ssh
      access:
        host: 127.0.0.1
        port: $port
        auth: {username: $user, password: '{{ssh_password}}'}
        hostKey: '$host_key'
        filePath: $remote_dir/data.bin
    $2
container: {engine: docker, settings: {image: {url: red-test/busybox:latest}, ram: 256}}
execution: {engine: ccfaice, settings: {}}
EOF
}
write_red "$work/plain.red.yml" ""
write_red "$work/checked.red.yml" "size: $size
    checksum: '$checksum'"

measure() { # run a command; print its wall time and the CPU time (user + system) of red
  local TIMEFORMAT='%R %U %S' timing
  timing=$({ time "$@" >/dev/null 2>&1; } 2>&1) || { echo "failed: $*" >&2; exit 1; }
  awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' <<< "$timing"
}
median() { # of column $1 of the input
  awk -v c="$1" '{ print $c }' | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }

cd "$work"
bins=("$red")
if [ -n "${RED_BASE_BIN:-}" ]; then
  IFS=: read -ra base_bins <<< "$RED_BASE_BIN"
  bins+=("${base_bins[@]}")
fi
printf 'load average before the runs: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
  # Every build and variant once a round, and the order turned round every other round, so
  # that none always meets a colder cache or a busier machine.
  runs=()
  for b in "${!bins[@]}"; do runs+=("$b plain" "$b checked"); done
  if [ $((round % 2)) -eq 0 ]; then
    for ((i = ${#runs[@]} - 1; i >= 0; i--)); do reversed+=("${runs[i]}"); done
    runs=("${reversed[@]}"); reversed=()
  fi
  for run in "${runs[@]}"; do
    read -r b variant <<< "$run"
    t=$(measure "${bins[b]}" exec "$variant.red.yml" --vars vars.yml --no-pull --outputs out)
    echo "$t" >> "$b.$variant.times"
    read -r wall cpu <<< "$t"
    printf '  round %d: %s %s checksum: %s s, CPU %s s\n' "$round" "${bins[b]}" \
      "$([ "$variant" = plain ] && echo without || echo with)" "$wall" "$cpu"
  done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
for b in "${!bins[@]}"; do
  plain=$(median 1 < "$b.plain.times"); checked=$(median 1 < "$b.checked.times")
  plain_cpu=$(median 2 < "$b.plain.times"); checked_cpu=$(median 2 < "$b.checked.times")
  printf '%s: %d MiB over ssh, medians of %d: without checksum %s s (CPU %s s), with checksum %s s (CPU %s s); ratio %s (CPU %s)\n' \
    "${bins[b]}" "$megabytes" "$rounds" "$plain" "$plain_cpu" "$checked" "$checked_cpu" \
    "$(ratio "$checked" "$plain")" "$(ratio "$checked_cpu" "$plain_cpu")"
done
printf 'load average after the runs: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
