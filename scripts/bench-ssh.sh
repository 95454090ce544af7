#!/usr/bin/env bash
# Transfer speed of red's built-in ssh connector against scp, sftp and the reference
# red-connector-ssh 1.3, over a loopback sshd, in one run (benches/ssh.rs). Not a test.
#
#   scripts/bench-ssh.sh            # 1 GiB file + 1,000 small files, 3 rounds each
#   RED_BENCH_SSH_MB=256 RED_BENCH_SSH_ROUNDS=1 scripts/bench-ssh.sh
#
# Starts the server with scripts/sshd-up. The reference is installed from PyPI into a venv
# under /tmp (once) unless RED_BENCH_REFERENCE names a red-connector-ssh executable, or
# RED_BENCH_REFERENCE=none skips it.
case ${1:-} in -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
set -euo pipefail
cd "$(dirname "$0")/.."
# The peers it starts are stopped again at the end (RED_KEEP_SERVICES=1 keeps them).
. scripts/lib/services.sh
services_stop_on_exit
export PATH="$HOME/.cargo/bin:$PATH"

state=$(scripts/sshd-up | tail -n 1)
export "$state"

if [ -z "${RED_BENCH_REFERENCE:-}" ]; then
  venv=/tmp/red-bench-reference
  if [ ! -x "$venv/bin/red-connector-ssh" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q red-connector-ssh==1.3.0
  fi
  export RED_BENCH_REFERENCE=$venv/bin/red-connector-ssh
elif [ "$RED_BENCH_REFERENCE" = none ]; then
  unset RED_BENCH_REFERENCE
fi

cargo bench --bench ssh
