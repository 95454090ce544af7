#!/usr/bin/env bash
# Time `red lock` of a RED file whose one input is a 1 GiB file on a loopback sshd, against
# `red exec` of the same file (one batch that only tests the input is there), alternating,
# with the release build. Not a test: prints the medians and their ratio.
#
#   scripts/bench-lock.sh                       # 1 GiB, 3 rounds
#   RED_BENCH_LOCK_MB=256 RED_BENCH_LOCK_ROUNDS=5 scripts/bench-lock.sh
#
# Uses the sshd whose state directory RED_TEST_SSHD names (starting one with scripts/sshd-up
# when it is unset) and the local Docker (DOCKER_HOST) with the test image red-test/busybox.
case ${1:-} in -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/services.sh
services_stop_on_exit
export PATH="$HOME/.cargo/bin:$PATH"

if [ -z "${RED_TEST_SSHD:-}" ]; then
  export "$(scripts/sshd-up | tail -n 1)"
fi
state=$RED_TEST_SSHD
mb=${RED_BENCH_LOCK_MB:-1024}
rounds=${RED_BENCH_LOCK_ROUNDS:-3}

cargo build --release --quiet
red=${CARGO_TARGET_DIR:-target}/release/red

home=$(cat "$state/home_path")
user=$(cat "$state/user")
name="bench-lock-$$"
remote="$home/$name"
mkdir -p "$remote"
head -c "$((mb * 1024 * 1024))" /dev/urandom > "$remote/big.bin"
chown -R "$user" "$remote"
work=$(mktemp -d)
trap 'status=$?; rm -rf "$work" "$remote"; (exit $status); services_stop' EXIT
printf 'ssh_password: %s\n' "$(cat "$state/password")" > "$work/vars.yml"
host_key=$(cut -d' ' -f1,2 "$state/host_ed25519.pub")
cat > "$work/big.red.yml" <<RED
redVersion: "9"
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: [test, -s]
  inputs:
    big:
      type: File
      inputBinding: {position: 0}
  outputs: {}
inputs:
  big:
    class: File
    connector:
      command: red-connector-ssh
      access:
        host: 127.0.0.1
        port: $(cat "$state/port")
        hostKey: $host_key
        auth:
          username: $user
          password: '{{ssh_password}}'
        filePath: ~/$name/big.bin
container:
  engine: docker
  settings:
    image:
      url: red-test/busybox:latest
execution:
  engine: ccfaice
  settings: {}
RED

seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
: > "$work/lock.txt"
: > "$work/exec.txt"
for round in $(seq "$rounds"); do
  seconds "$red" lock "$work/big.red.yml" --vars "$work/vars.yml" -o "$work/locked.red.yml" >> "$work/lock.txt"
  rm -rf "$work/out"
  seconds "$red" exec "$work/big.red.yml" --vars "$work/vars.yml" --no-pull --outputs "$work/out" >> "$work/exec.txt"
  echo "round $round: lock $(tail -n 1 "$work/lock.txt") s, exec $(tail -n 1 "$work/exec.txt") s" >&2
done
grep -q "size: $((mb * 1024 * 1024))" "$work/locked.red.yml" || { echo "the lock did not record the size" >&2; exit 1; }
lock=$(median < "$work/lock.txt")
exec=$(median < "$work/exec.txt")
echo "red lock: ${lock} s, red exec: ${exec} s (median of $rounds, ${mb} MiB over ssh); lock/exec = $(echo "scale=2; $lock / $exec" | bc)"
