#!/usr/bin/env bash
# Measure the FUSE layer of `red mount` alone: mount a local directory with `red mount --local`
# (the LocalRemote, no network, no encryption) and compare `red bench io` on the mount with the
# same file read directly (docs/sshfs.md, "Figures").
#
#   scripts/bench-mount.sh [SIZE_GIB] [WORK_DIR]
#
# Two set-ups, each with sequential 1 MiB reads and random 16 MiB reads (1 and 4 readers):
#   warm:  the source file is in the page cache and the mount uses --direct-io, so every read
#          goes through FUSE and red; the direct path is the memory ceiling.
#   cold:  the default mount (page cache, read-ahead); as root the caches are dropped before
#          every round, so both paths read the disk.
# Env: RED (the binary, default target/release/red), ROUNDS (3), MOUNT_OPTS (extra options).
case ${1:-} in -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
set -euo pipefail
cd "$(dirname "$0")/.."

red=${RED:-target/release/red}
size_gib=${1:-3}
work=${2:-/tmp/red-bench-mount}
rounds=${ROUNDS:-3}
[ -x "$red" ] || { echo "bench-mount: build first: cargo build --release (or set RED)" >&2; exit 2; }

mkdir -p "$work/data" "$work/mnt"
file="$work/data/big.bin"
want=$((size_gib * 1024 * 1024 * 1024))
if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" -ne "$want" ]; then
    echo "bench-mount: writing $size_gib GiB of random bytes to $file" >&2
    head -c "$want" /dev/urandom > "$file"
fi

mounted=0
cleanup() { if [ "$mounted" = 1 ]; then "$red" umount "$work/mnt" || true; fi; }
trap cleanup EXIT

jobs() {
    local label=$1; shift
    local extra=("$@")
    echo "== $label: sequential 1 MiB reads" >&2
    "$red" bench io "$work/mnt/big.bin" --compare "$file" --pattern sequential --block 1M \
        --bytes 2G --rounds "$rounds" "${extra[@]}"
    echo "== $label: random 16 MiB reads, 1 reader" >&2
    "$red" bench io "$work/mnt/big.bin" --compare "$file" --pattern random --block 16M \
        --bytes 1G --rounds "$rounds" "${extra[@]}"
    echo "== $label: random 16 MiB reads, 4 readers" >&2
    "$red" bench io "$work/mnt/big.bin" --compare "$file" --pattern random --block 16M \
        --readers 4 --bytes 2G --rounds "$rounds" "${extra[@]}"
}

# warm: source cached, mount with direct_io.
cat "$file" > /dev/null
# shellcheck disable=SC2086
"$red" mount --local "$work/data" "$work/mnt" --direct-io --background ${MOUNT_OPTS:-} > /dev/null
mounted=1
jobs "warm source, --direct-io mount"
"$red" umount "$work/mnt"
mounted=0

# cold: default mount; drop caches between rounds where allowed.
drop=()
if [ "$(id -u)" -eq 0 ]; then drop=(--drop-caches); fi
# shellcheck disable=SC2086
"$red" mount --local "$work/data" "$work/mnt" --background ${MOUNT_OPTS:-} > /dev/null
mounted=1
jobs "default mount${drop:+, caches dropped every round}" "${drop[@]}"
