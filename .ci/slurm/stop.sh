#!/usr/bin/env bash
# Stop the cluster started by .ci/slurm/start.sh, by PID file (never by process name).
# Safe to call from a trap and when nothing runs. munged is stopped only if start.sh started it.
set -uo pipefail

STATE_DIR=${TERPENE_SLURM_DIR:-/tmp/terpene-slurm}

log() { echo "[slurm-stop] $*" >&2; }

stop_pid_file() {
    local name=$1 pid_file=$2 pid
    [[ -s "$pid_file" ]] || return 0
    pid=$(cat "$pid_file")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
        log "$name (pid $pid) stopped"
    fi
    rm -f "$pid_file"
}

stop_pid_file slurmd "$STATE_DIR/slurmd.pid"
stop_pid_file slurmctld "$STATE_DIR/slurmctld.pid"
if [[ -s "$STATE_DIR/munged.pidfile" ]]; then
    stop_pid_file munged "$(cat "$STATE_DIR/munged.pidfile")"
    rm -f "$STATE_DIR/munged.pidfile"
fi
# Remove the cluster configuration only if start.sh wrote it.
if grep -qxF "# terpene-ci one-node cluster, written by .ci/slurm/start.sh" /etc/slurm/slurm.conf 2>/dev/null; then
    rm -f /etc/slurm/slurm.conf
fi
exit 0
