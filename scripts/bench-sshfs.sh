#!/usr/bin/env bash
# Start a loopback OpenSSH sshd (127.0.0.1 only, its own host key, config and client key in a
# private directory) and mount DATA_DIR through libfuse sshfs, for `red bench` comparisons
# (docs/bench.md). Needs root, openssh-server, sshfs and fuse3:
#   apt-get install -y openssh-server sshfs fuse3
#
#   scripts/bench-sshfs.sh start DATA_DIR MOUNT_POINT [STATE_DIR]   # prints the sshd port
#   scripts/bench-sshfs.sh stop MOUNT_POINT [STATE_DIR]
set -euo pipefail

action=${1:?usage: bench-sshfs.sh start DATA_DIR MOUNT_POINT [STATE_DIR] | stop MOUNT_POINT [STATE_DIR]}
case "$action" in
start)
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
    # libfuse sshfs with its default options (cipher chosen by OpenSSH: chacha20-poly1305).
    sshfs -p "$port" \
        -o "IdentityFile=$state/client_ed25519,UserKnownHostsFile=$state/known_hosts,StrictHostKeyChecking=yes" \
        "root@127.0.0.1:$data" "$mount_point"
    echo "$port"
    ;;
stop)
    mount_point=${2:?mount point}
    state=${3:-/tmp/red-bench-sshd}
    fusermount3 -u "$mount_point" || true
    if [ -f "$state/sshd.pid" ]; then kill "$(cat "$state/sshd.pid")" || true; fi
    ;;
*)
    echo "unknown action \`$action\`" >&2
    exit 2
    ;;
esac
