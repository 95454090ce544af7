#!/usr/bin/env bash
# red's own SSHFS (`red mount ssh://…`) against libfuse `sshfs`, over a loopback sshd, measured
# with fio the way the Curious Containers study did (docs/sshfs.md, "Figures").
#
#   scripts/bench-sshfs.sh [SIZE_GIB] [ROUNDS]        # default: a 2 GiB file, 3 rounds
#
# One run starts the test sshd (scripts/sshd-up, 127.0.0.1 only), writes SIZE_GIB GiB of random
# bytes into a directory under the sshd user's home, mounts it, and then, ROUNDS times, for each
# of
#   local          the file itself (the ceiling of the disk)
#   sshfs-default  libfuse sshfs with its default options (OpenSSH's cipher: chacha20-poly1305)
#   sshfs-tuned    sshfs -o Ciphers=aes128-gcm@openssh.com,max_read=65536,kernel_cache and the
#                  mount's kernel read-ahead raised to 16 MiB (the best tuned sshfs measured)
#   red            `red mount` with its default options
#   red-directio   `red mount --direct-io`
# drops the page cache (as root) and runs fio jobs, each reading as many bytes as the file holds
# with plain read(2) calls (all mounts stay up; each job runs on every mount in turn, so
# compared figures are taken close together):
#   seq     sequential 1 MiB reads
#   rand1   random 16 MiB reads, one reader (fio's random map: every aligned block once)
#   rand4   random 16 MiB reads, four readers, each over its own quarter of the file
#   urand1  random 16 MiB reads at any 4 KiB page (not on block lines), one reader
#   ubyte1  random 16 MiB reads at any byte, one reader
#   mixed   random reads of 64 KiB to 16 MiB (fio's bsrange) at any 4 KiB page, one reader
#   over4   random 16 MiB reads at any 4 KiB page, four readers over the whole file (their
#           regions overlap)
#   over9   the same with nine readers (the study's loader count)
# The unaligned jobs draw offsets without fio's random map (blocks may overlap, as a loader's
# crops do). The job `loader` runs `red bench loader` (an HDF5 dataset of LOADER_GIB GiB,
# default 1, written by `red bench dataset` next to the file) through each mount with
# `--compare` against the local dataset, and prints the slowdown of each mount; the binary
# needs `--features hdf5`. The job `tree` reads a tree of small files (TREE_FILES, default 2000,
# of 16 KiB in 20 directories, written next to the file) with `find | xargs cat` and prints
# files per second: what a mount costs per file (open, read, close) rather than per byte.
# and times `ssh -c aes128-gcm@openssh.com … cat FILE > /dev/null` (the link's ceiling with the
# cipher red uses). The table shows the median MiB/s of the rounds and the ratios of red to
# each reference (above 1: red is faster), then which of the targets of issue 7 are met.
# A second table shows the CPU time per GiB read of each whole chain (ssh, sshd, sftp-server
# and the FUSE process, counted from /proc while the job ran; for `ssh cat`: ssh, sshd and cat,
# in a second, untimed copy) and, in brackets, of the FUSE process alone: on a machine whose
# cores are all busy, that is what sets the throughput. Each line also gives the share of CPU
# time the hypervisor stole while the job ran: on a shared virtual machine, steal is what makes
# rounds differ, and the CPU figures of a job with much steal are inflated too. A third table
# shows the bytes the SFTP servers read per byte the job read (rchar of every sftp-server):
# above 1, read-ahead that was never used; below 1, reads served again from the page cache.
# Needs root for the page-cache drops, the read-ahead of sshfs-tuned and the sshd user (as
# another user it still runs, with warm caches: the figures then say less).
#
# Env: RED (the binary; default: build target/release/red), WORK (default /tmp/red-bench-sshfs),
# JOBS (which jobs, default "seq rand1 rand4"; ALL_JOBS lists every one), MOUNTS (which mounts,
# default all five),
# RED_OPTS (more options for both red mounts, e.g. "--readahead 4M").
#
# The older form `scripts/bench-sshfs.sh start DATA_DIR MOUNT_POINT [STATE_DIR]` / `stop
# MOUNT_POINT [STATE_DIR]` (docs/bench.md) still mounts a directory with libfuse sshfs alone.
case ${1:-} in -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
set -euo pipefail
cd "$(dirname "$0")/.."
# The peers it starts are stopped again at the end (RED_KEEP_SERVICES=1 keeps them).
. scripts/lib/services.sh
services_stop_on_exit

legacy() {
    local action=$1
    case "$action" in
    start)
        local data mount_point state port
        data=$(realpath "${2:?data directory}")
        mount_point=${3:?mount point}
        state=${4:-/tmp/red-bench-sshd}
        mkdir -p "$state" "$mount_point" /run/sshd
        chmod 700 "$state"
        [ -f "$state/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$state/host_ed25519"
        [ -f "$state/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$state/client_ed25519"
        cp "$state/client_ed25519.pub" "$state/authorized_keys"
        chmod 600 "$state/authorized_keys"
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        cat > "$state/sshd_config" <<CONFIG
ListenAddress 127.0.0.1
Port $port
HostKey $state/host_ed25519
PidFile $state/sshd.pid
AuthorizedKeysFile $state/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp /usr/lib/openssh/sftp-server
CONFIG
        /usr/sbin/sshd -f "$state/sshd_config" -E "$state/sshd.log"
        # Pin the host key: read it from the file instead of trusting the first connection.
        echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$state/host_ed25519.pub")" > "$state/known_hosts"
        sshfs -p "$port" \
            -o "IdentityFile=$state/client_ed25519,UserKnownHostsFile=$state/known_hosts,StrictHostKeyChecking=yes" \
            "root@127.0.0.1:$data" "$mount_point"
        echo "$port"
        ;;
    stop)
        local mount_point=${2:?mount point} state=${3:-/tmp/red-bench-sshd}
        fusermount3 -u "$mount_point" || true
        if [ -f "$state/sshd.pid" ]; then kill "$(cat "$state/sshd.pid")" || true; fi
        ;;
    esac
}
case "${1:-}" in
start | stop)
    legacy "$@"
    exit 0
    ;;
esac

size_gib=${1:-2}
rounds=${2:-3}
work=${WORK:-/tmp/red-bench-sshfs}
all_jobs="seq rand1 rand4 urand1 ubyte1 mixed over4 over9 loader tree"
jobs_wanted=${JOBS:-seq rand1 rand4}
[ "$jobs_wanted" = all ] && jobs_wanted=$all_jobs
mounts_wanted=${MOUNTS:-local sshfs-default sshfs-tuned red red-directio}
say() { echo "bench-sshfs: $*" >&2; }
root=0
[ "$(id -u)" -eq 0 ] && root=1

# Tools.
missing=()
command -v fio > /dev/null || missing+=(fio)
command -v sshfs > /dev/null || missing+=(sshfs)
command -v fusermount3 > /dev/null || missing+=(fuse3)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$root" = 1 ] && command -v apt-get > /dev/null; then
        say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq < /dev/null
        apt-get install -y -qq --no-install-recommends "${missing[@]}" < /dev/null > /dev/null
    else
        say "missing: ${missing[*]} (run as root to install them with apt)"
        exit 2
    fi
fi
if [ -n "${RED:-}" ]; then
    red=$RED
else
    say "building red (release)"
    cargo build --release --quiet
    red=target/release/red
fi
[ "$root" = 1 ] || say "not root: page caches are not dropped and sshfs-tuned keeps 128 KiB read-ahead"

# The server and the file.
state=$(scripts/sshd-up | tail -n1)
state=${state#RED_TEST_SSHD=}
port=$(cat "$state/port")
user=$(cat "$state/user")
home=$(cat "$state/home_path")
key=$state/id_ed25519
host_key=$(cut -d' ' -f1,2 "$state/host_ed25519.pub")
mkdir -p "$work"
known_hosts=$work/known_hosts
echo "[127.0.0.1]:$port $host_key" > "$known_hosts"
data=$home/bench-sshfs
file=$data/big.bin
bytes=$((size_gib * 1024 * 1024 * 1024))
mkdir -p "$data"
if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" -ne "$bytes" ]; then
    say "writing $size_gib GiB of random bytes to $file"
    head -c "$bytes" /dev/urandom > "$file.part"
    mv "$file.part" "$file"
fi
if [ "$root" = 1 ]; then chown -R "$user:" "$data"; fi

# Mounts, always removed on the way out.
mounted=()
cleanup() {
    local point
    for point in "${mounted[@]}"; do
        if mountpoint -q "$point"; then
            fusermount3 -u "$point" 2> /dev/null || fusermount3 -u -z "$point" 2> /dev/null || true
        fi
    done
}
trap 'cleanup; services_stop' EXIT
trap 'exit 130' INT TERM HUP

set_readahead() { # MOUNT_POINT KIB
    local dev
    dev=$(mountpoint -d "$1")
    if [ "$root" = 1 ] && [ -w "/sys/class/bdi/$dev/read_ahead_kb" ]; then
        echo "$2" > "/sys/class/bdi/$dev/read_ahead_kb"
    fi
}

ssh_opts=(-p "$port" -i "$key" -o IdentitiesOnly=yes -o "UserKnownHostsFile=$known_hosts"
    -o StrictHostKeyChecking=yes -o BatchMode=yes -o LogLevel=ERROR)

mount_one() { # NAME MOUNT_POINT
    local name=$1 point=$2
    mkdir -p "$point"
    mounted+=("$point")
    case "$name" in
    sshfs-default)
        sshfs -p "$port" -o "IdentityFile=$key,UserKnownHostsFile=$known_hosts,StrictHostKeyChecking=yes" \
            "$user@127.0.0.1:$data" "$point"
        ;;
    sshfs-tuned)
        sshfs -p "$port" \
            -o "IdentityFile=$key,UserKnownHostsFile=$known_hosts,StrictHostKeyChecking=yes" \
            -o Ciphers=aes128-gcm@openssh.com,max_read=65536,kernel_cache \
            "$user@127.0.0.1:$data" "$point"
        set_readahead "$point" 16384
        ;;
    red | red-directio)
        local extra=()
        [ "$name" = red-directio ] && extra=(--direct-io)
        # shellcheck disable=SC2086
        "$red" mount "ssh://$user@127.0.0.1:$port$data" "$point" --identity "$key" \
            --host-key "$host_key" --background "${extra[@]}" ${RED_OPTS:-} > /dev/null
        ;;
    esac
}

unmount_one() { # NAME MOUNT_POINT
    case "$1" in
    red | red-directio) "$red" umount "$2" 2> /dev/null ;;
    *) fusermount3 -u "$2" ;;
    esac
}

drop_caches() {
    sync
    if [ "$root" = 1 ]; then echo 3 > /proc/sys/vm/drop_caches; fi
}

# Clock ticks used so far by every process of a mount's chain (the other mounts are idle while
# a job runs): "PID COMM TICKS" lines.
chain_ticks() {
    local stat pid rest comm
    for stat in /proc/[0-9]*/stat; do
        pid=${stat#/proc/}
        pid=${pid%/stat}
        rest=$(cat "$stat" 2> /dev/null) || continue
        comm=${rest#*(}
        comm=${comm%%)*}
        case "$comm" in
        ssh | sshd | sshd-session | sftp-server | sshfs | red | "$(basename "$red")")
            # utime and stime: fields 14 and 15, the 12th and 13th after the command name.
            # shellcheck disable=SC2086
            set -- ${rest##*) }
            echo "$pid $comm $((${12} + ${13}))"
            ;;
        esac
    done
}

# CPU seconds the chain used between two chain_ticks snapshots (processes alive in both):
# "WHOLE_CHAIN FUSE_PROCESS".
chain_seconds() { # BEFORE AFTER
    python3 - "$1" "$2" "$(getconf CLK_TCK)" "$(basename "$red")" <<'PY'
import sys
def load(path):
    return {pid: (comm, int(ticks)) for pid, comm, ticks in (line.split() for line in open(path) if line.strip())}
before, after, tick, red = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
used = [(comm, ticks - before[pid][1]) for pid, (comm, ticks) in after.items() if pid in before]
whole = sum(ticks for _, ticks in used)
fuse = sum(ticks for comm, ticks in used if comm in ("sshfs", "red", red))
print(f"{whole / tick:.2f} {fuse / tick:.2f}")
PY
}

# Bytes the SFTP servers read so far (rchar of every sftp-server; the other mounts are idle while
# a job runs): what a mount fetched. Against the bytes the job read, it shows read-ahead that
# was never used (above 1) or reads served twice from the page cache (below 1).
server_bytes() {
    local pid total=0 value
    for pid in $(pgrep -x sftp-server); do
        value=$(sed -n 's/^rchar: //p' "/proc/$pid/io" 2> /dev/null) || continue
        total=$((total + ${value:-0}))
    done
    echo "$total"
}

# The share of CPU time the hypervisor gave to other machines ("steal") since SNAPSHOT, in %:
# on a shared virtual machine it is what makes rounds differ.
steal_snapshot() { head -n1 /proc/stat; }
steal_percent() { # SNAPSHOT
    python3 - "$1" "$(head -n1 /proc/stat)" <<'PY'
import sys
before, after = ([int(v) for v in line.split()[1:]] for line in sys.argv[1:3])
spent = sum(after) - sum(before)
print(f"{100 * (after[7] - before[7]) / spent:.0f}" if spent > 0 else "0")
PY
}

# fio job: prints MiB/s (all readers together).
run_fio() { # JOB FILE
    local job=$1 target=$2 args
    case "$job" in
    seq) args=(--rw=read --bs=1m --size="$bytes" --numjobs=1) ;;
    rand1) args=(--rw=randread --bs=16m --size="$bytes" --numjobs=1) ;;
    rand4) args=(--rw=randread --bs=16m --size=$((bytes / 4)) --offset_increment=$((bytes / 4))
        --numjobs=4) ;;
    urand1) args=(--rw=randread --bs=16m --blockalign=4k --norandommap --io_size="$bytes" --numjobs=1) ;;
    ubyte1) args=(--rw=randread --bs=16m --blockalign=1 --norandommap --io_size="$bytes" --numjobs=1) ;;
    mixed) args=(--rw=randread --bsrange=64k-16m --blockalign=4k --norandommap --io_size="$bytes"
        --numjobs=1) ;;
    over4) args=(--rw=randread --bs=16m --blockalign=4k --norandommap --io_size=$((bytes / 4))
        --numjobs=4) ;;
    over9) args=(--rw=randread --bs=16m --blockalign=4k --norandommap --io_size=$((bytes / 9))
        --numjobs=9) ;;
    esac
    fio --name="$job" --filename="$target" --readonly --ioengine=psync --direct=0 \
        --group_reporting --runtime=120 --output-format=json "${args[@]}" |
        python3 -c 'import json, sys; j = json.load(sys.stdin)["jobs"][0]["read"]; print("%.1f" % (j["bw_bytes"] / 1048576))'
}

ssh_cat() {
    local start end
    start=$(date +%s.%N)
    ssh -c aes128-gcm@openssh.com "${ssh_opts[@]}" "$user@127.0.0.1" cat "$file" > /dev/null
    end=$(date +%s.%N)
    python3 -c "print(f'{$bytes / 1048576 / ($end - $start):.1f}')"
}

# CPU seconds per GiB of the whole `ssh cat` chain: the ssh client (its own rusage) and every
# process below the sshd listener (sshd-session, the shell, cat), sampled from /proc while the
# copy runs, since they end with it. A run of its own, so the sampling does not slow the timed
# one.
ssh_cat_cpu() {
    python3 - "$(cat "$state/sshd.pid")" "$size_gib" ssh -c aes128-gcm@openssh.com "${ssh_opts[@]}" \
        "$user@127.0.0.1" cat "$file" <<'PY'
import os, subprocess, sys, time
listener, size_gib, command = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
tick = os.sysconf("SC_CLK_TCK")
def below_listener():
    parent, ticks = {}, {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        parent[pid], ticks[pid] = fields[1], int(fields[11]) + int(fields[12])
    found, todo = {}, [listener]
    while todo:
        here = todo.pop()
        for pid, up in parent.items():
            if up == here and pid not in found:
                found[pid] = ticks[pid]
                todo.append(pid)
    return found
before = below_listener()
last = dict(before)
child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
while True:
    last.update(below_listener())
    pid, _, usage = os.wait4(child.pid, os.WNOHANG)
    if pid:
        break
    time.sleep(0.02)
last.update(below_listener())
server = sum(t - before.get(pid, 0) for pid, t in last.items()) / tick
client = usage.ru_utime + usage.ru_stime
print(f"{(server + client) / size_gib:.2f}")
PY
}

# `red bench loader` on the dataset through a mount against the local one: prints the slowdown.
loader_dataset=$data/tiles.h5
make_dataset() {
    local tiles=$((${LOADER_GIB:-1} * 256))
    if [ ! -f "$loader_dataset" ]; then
        say "writing an HDF5 dataset of $tiles tiles per array (${LOADER_GIB:-1} GiB)"
        "$red" bench dataset "$loader_dataset.part" --tiles-per-array "$tiles" > /dev/null
        mv "$loader_dataset.part" "$loader_dataset"
        [ "$root" = 1 ] && chown "$user:" "$loader_dataset"
    fi
}
run_loader() { # MOUNTED_DATASET
    local drop=()
    [ "$root" = 1 ] && drop=(--drop-caches)
    "$red" bench loader "$loader_dataset" --compare "$1" "${drop[@]}" --format json |
        python3 -c 'import json, sys; print("%.3f" % json.load(sys.stdin)["slowdown"])'
}

# A tree of small files for the job `tree`, and its reading: prints files per second.
tree=$data/tree
tree_files=${TREE_FILES:-2000}
make_tree() {
    [ "$(find "$tree" -type f 2> /dev/null | wc -l)" -eq "$tree_files" ] && return
    say "writing a tree of $tree_files files of 16 KiB"
    rm -rf "$tree"
    python3 - "$tree" "$tree_files" <<'PY'
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
for index in range(count):
    folder = os.path.join(root, f"d{index % 20:02}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"f{index}.bin"), "wb") as out:
        out.write(os.urandom(16384))
PY
    [ "$root" = 1 ] && chown -R "$user:" "$tree"
}
run_tree() { # TREE
    local start end
    start=$(date +%s.%N)
    find "$1" -type f -print0 | xargs -0 cat > /dev/null
    end=$(date +%s.%N)
    python3 -c "print(f'{$tree_files / ($end - $start):.1f}')"
}

# Run a job measured as a whole (the loader, the tree) on mount NAME: records the figure
# COMMAND prints with the CPU seconds the chain used.
whole_job() { # ROUND NAME JOB UNIT COMMAND...
    local round=$1 name=$2 job=$3 unit=$4 figure cpu fuse_cpu
    shift 4
    chain_ticks > "$work/ticks-before"
    figure=$("$@")
    chain_ticks > "$work/ticks-after"
    read -r cpu fuse_cpu < <(chain_seconds "$work/ticks-before" "$work/ticks-after")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t0\t\n' "$round" "$name" "$job" "$figure" "$cpu" "$fuse_cpu" >> "$results"
    say "round $round $job $name: $figure $unit, chain CPU $cpu s (FUSE process $fuse_cpu), load $(cut -d' ' -f1 /proc/loadavg)"
}

# All mounts stay up for the whole run, and each job is run on every mount in turn, so the
# figures a ratio compares are taken seconds apart (the load of a shared machine drifts).
declare -A target_of dataset_of
case " $jobs_wanted " in *" loader "*) make_dataset ;; esac
case " $jobs_wanted " in *" tree "*) make_tree ;; esac
for name in $mounts_wanted; do
    if [ "$name" = local ]; then
        target_of[$name]=$file
        continue
    fi
    point=$work/mnt-$name
    mount_one "$name" "$point"
    target_of[$name]=$point/big.bin
    dataset_of[$name]=$point/tiles.h5
    [ "$(stat -c %s "${target_of[$name]}")" -eq "$bytes" ] || { say "$name shows the wrong size"; exit 1; }
    cmp -n 16777216 "$file" "${target_of[$name]}" || { say "$name reads other bytes"; exit 1; }
done

results=$work/results.tsv
: > "$results"
say "file $size_gib GiB, $rounds rounds, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
    for job in $jobs_wanted; do
        for name in $mounts_wanted; do
            if [ "$job" = loader ]; then
                [ "$name" = local ] ||
                    whole_job "$round" "$name" loader "(slowdown against the local dataset)" \
                        run_loader "${dataset_of[$name]}"
                continue
            fi
            if [ "$job" = tree ]; then
                drop_caches
                whole_tree=$tree
                [ "$name" = local ] || whole_tree=$work/mnt-$name/tree
                whole_job "$round" "$name" tree files/s run_tree "$whole_tree"
                continue
            fi
            drop_caches
            chain_ticks > "$work/ticks-before"
            served=$(server_bytes)
            stolen=$(steal_snapshot)
            mibs=$(run_fio "$job" "${target_of[$name]}")
            steal=$(steal_percent "$stolen")
            served=$(($(server_bytes) - served))
            chain_ticks > "$work/ticks-after"
            read -r cpu fuse_cpu < <(chain_seconds "$work/ticks-before" "$work/ticks-after")
            read -r cpu_per_gib fuse_per_gib < <(python3 -c "print(f'{$cpu / $size_gib:.2f} {$fuse_cpu / $size_gib:.2f}')")
            fetched=$(python3 -c "print(f'{$served / $bytes:.2f}')")
            [ "$name" = local ] && fetched=
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$job" "$mibs" "$cpu_per_gib" \
                "$fuse_per_gib" "$steal" "$fetched" >> "$results"
            say "round $round $job $name: $mibs MiB/s, chain CPU $cpu_per_gib s/GiB (FUSE process $fuse_per_gib), server read ${fetched:-—} per byte read, steal $steal %, load $(cut -d' ' -f1 /proc/loadavg)"
        done
        if [ "$job" = seq ]; then
            drop_caches
            stolen=$(steal_snapshot)
            mibs=$(ssh_cat)
            steal=$(steal_percent "$stolen")
            drop_caches
            cpu_per_gib=$(ssh_cat_cpu)
            printf '%s\tssh-cat\tseq\t%s\t%s\t\t%s\t\n' "$round" "$mibs" "$cpu_per_gib" "$steal" >> "$results"
            say "round $round seq ssh cat (aes128-gcm): $mibs MiB/s, chain CPU $cpu_per_gib s/GiB, steal $steal %"
        fi
    done
done
for name in $mounts_wanted; do
    [ "$name" = local ] || unmount_one "$name" "$work/mnt-$name"
done
say "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$results" "$size_gib" "$rounds" <<'PY'
import statistics, sys
from collections import defaultdict

path, size_gib, rounds = sys.argv[1], sys.argv[2], sys.argv[3]
runs = defaultdict(list)
cpus = defaultdict(list)
fuses = defaultdict(list)
fetched = defaultdict(list)
steals = []
for line in open(path):
    _, mount, job, mibs, cpu, fuse, steal, served = line.rstrip("\n").split("\t")
    if served:
        fetched[(mount, job)].append(float(served))
    runs[(mount, job)].append(float(mibs))
    steals.append(float(steal))
    if cpu and mount != "local":
        cpus[(mount, job)].append(float(cpu))
    if fuse:
        fuses[(mount, job)].append(float(fuse))
med = {key: statistics.median(values) for key, values in runs.items()}
heads = {"seq": "seq 1 MiB", "rand1": "rand 16 MiB, 1 reader", "rand4": "rand 16 MiB, 4 readers",
         "urand1": "16 MiB at any page, 1 reader", "ubyte1": "16 MiB at any byte, 1 reader",
         "mixed": "64 KiB–16 MiB at any page", "over4": "16 MiB at any page, 4 readers, overlapping",
         "over9": "16 MiB at any page, 9 readers, overlapping"}
jobs = [j for j in heads if any(key[1] == j for key in runs)]
loaders = {key[0]: values for key, values in runs.items() if key[1] == "loader"}
trees = {key[0]: values for key, values in runs.items() if key[1] == "tree"}
names = {
    "local": "local file (ceiling of the disk)",
    "ssh-cat": "`ssh -c aes128-gcm cat` (ceiling of the link)",
    "sshfs-default": "libfuse sshfs, default options",
    "sshfs-tuned": "sshfs tuned (aes128-gcm, max_read=65536, kernel_cache, 16 MiB read-ahead)",
    "red": "red mount (default options)",
    "red-directio": "red mount --direct-io",
}
present = [m for m in names if any((m, j) in med for j in jobs)]

def cell(value):
    return "—" if value is None else f"{value:.0f}"

def spread(mount, job):
    values = runs.get((mount, job))
    return "" if not values or len(values) < 2 else f" ({min(values):.0f}–{max(values):.0f})"

if jobs:
    print(f"\nMiB/s, median of {rounds} rounds (min–max), {size_gib} GiB file\n")
    print("| mount | " + " | ".join(heads[j] for j in jobs) + " |")
    print("| --- |" + " --- |" * len(jobs))
    for m in present:
        print(f"| {names[m]} | " + " | ".join(cell(med.get((m, j))) + spread(m, j) for j in jobs) + " |")

def figures(title, figures_of, brackets=None):
    """A table of one figure per mount and job: median (min–max) [median of brackets]."""
    if not figures_of or not jobs:
        return
    print(title)
    print("| mount | " + " | ".join(heads[j] for j in jobs) + " |")
    print("| --- |" + " --- |" * len(jobs))
    for m in present:
        if not any((m, j) in figures_of for j in jobs):
            continue
        row = []
        for j in jobs:
            values = figures_of.get((m, j))
            if not values:
                row.append("—")
                continue
            text = f"{statistics.median(values):.2f}"
            if len(values) > 1:
                text += f" ({min(values):.2f}–{max(values):.2f})"
            if brackets and brackets.get((m, j)):
                text += f" [{statistics.median(brackets[(m, j)]):.2f}]"
            row.append(text)
        print(f"| {names[m]} | " + " | ".join(row) + " |")

figures("\nCPU seconds per GiB read by the whole chain (ssh, sshd, sftp-server or cat, the FUSE\n"
        "process), median (min–max); in brackets the FUSE process alone\n", cpus, fuses)
figures("\nBytes the SFTP server read per byte the job read, median (min–max): above 1, read-ahead\n"
        "that was never used; below 1, reads served again from the page cache\n", fetched)
if steals:
    print(f"\nCPU time stolen by the hypervisor while the jobs ran: median {statistics.median(steals):.0f} %,"
          f" max {max(steals):.0f} % (rounds with much steal are slow for every mount)")

refs = [("sshfs-default", "sshfs default"), ("sshfs-tuned", "sshfs tuned"), ("local", "local"),
        ("ssh-cat", "ssh cat")]
if jobs:
    print("\nRatios (red / reference)\n")
    print("| red | reference | " + " | ".join(heads[j] for j in jobs) + " |")
    print("| --- | --- |" + " --- |" * len(jobs))
for red in ("red", "red-directio"):
    if red not in present or not jobs:
        continue
    for ref, label in refs:
        row = []
        for j in jobs:
            a, b = med.get((red, j)), med.get((ref, j))
            row.append("—" if a is None or b is None or b == 0 else f"{a / b:.2f}")
        if any(r != "—" for r in row):
            print(f"| {names[red]} | {label} | " + " | ".join(row) + " |")

def ratio(red, ref, job):
    a, b = med.get((red, job)), med.get((ref, job))
    return None if a is None or b is None or b == 0 else a / b

def whole_runs(title, unit, values_of, job, digits):
    """A table of a job measured as a whole per mount: its figure and the chain's CPU seconds."""
    print(title)
    print(f"| mount | {unit} | chain CPU s |")
    print("| --- | --- | --- |")
    for m in present + [m for m in values_of if m not in present]:
        if m in values_of:
            values = values_of[m]
            cpu = cpus.get((m, job))
            cpu_text = f"{statistics.median(cpu):.2f}" if cpu else "—"
            shown = [f"{v:.{digits}f}" for v in (statistics.median(values), min(values), max(values))]
            print(f"| {names[m]} | {shown[0]} ({shown[1]}–{shown[2]}) | {cpu_text} |")

if loaders:
    whole_runs("\n`red bench loader` through each mount against the local dataset: slowdown (1 = as fast\n"
               "as the local file), median (min–max); chain CPU seconds of the whole run\n",
               "slowdown", loaders, "loader", 2)

if trees:
    whole_runs("\nA tree of small files read with `find | xargs cat`: files per second, median (min–max);\n"
               "chain CPU seconds of the whole read\n", "files/s", trees, "tree", 0)
    for red in ("red", "red-directio"):
        if red in trees and "sshfs-default" in trees:
            files = statistics.median(trees[red]) / statistics.median(trees["sshfs-default"])
            print(f"  {names[red]} / sshfs default: {files:.2f}")

print("\nTargets of issue 22 (against the default sshfs)")
for red in ("red", "red-directio"):
    if red not in present and red not in loaders:
        continue
    for label, job, want in [
        ("≥ 2x, 16 MiB at any page, 1 reader", "urand1", 2.0),
        ("≥ 2x, 16 MiB at any byte, 1 reader", "ubyte1", 2.0),
        ("≥ 1.5x, 16 MiB at any page, 4 readers", "over4", 1.5),
        ("≥ 1.5x, 16 MiB at any page, 9 readers", "over9", 1.5),
        ("≥ 1.5x, mixed sizes", "mixed", 1.5),
        ("≥ 1.6x, sequential", "seq", 1.6),
    ]:
        r = ratio(red, "sshfs-default", job)
        if r is not None:
            print(f"  {names[red]}: {label}: {r:.2f} -> {'met' if r >= want else 'NOT met'}")
    if red in loaders:
        slow = statistics.median(loaders[red])
        print(f"  {names[red]}: loader slowdown ≤ 1.1x: {slow:.2f} -> {'met' if slow <= 1.1 else 'NOT met'}")

print("\nTargets of issue 7")
targets = [
    ("≥ 2x sshfs default, rand 16 MiB 1 reader", "sshfs-default", "rand1", 2.0),
    ("≥ 2x sshfs default, rand 16 MiB 4 readers", "sshfs-default", "rand4", 2.0),
    ("≥ 1.6x sshfs default, sequential", "sshfs-default", "seq", 1.6),
    ("≥ 1.3x sshfs tuned, sequential", "sshfs-tuned", "seq", 1.3),
    ("≥ 1.3x sshfs tuned, rand 16 MiB 1 reader", "sshfs-tuned", "rand1", 1.3),
    ("≥ 1.3x sshfs tuned, rand 16 MiB 4 readers", "sshfs-tuned", "rand4", 1.3),
    ("within 15% of ssh cat (aes128-gcm), sequential", "ssh-cat", "seq", 0.85),
]
for red in ("red", "red-directio"):
    if red not in present:
        continue
    for label, ref, job, want in targets:
        r = ratio(red, ref, job)
        verdict = "n/a" if r is None else ("met" if r >= want else "NOT met")
        shown = "—" if r is None else f"{r:.2f}"
        print(f"  {names[red]}: {label}: {shown} -> {verdict}")
PY
