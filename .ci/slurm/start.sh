#!/usr/bin/env bash
# Bring up a one-node SLURM cluster on this machine, without systemd: munged (as the munge
# user), slurmctld and slurmd (node name "localhost"). Idempotent: daemons that already run
# from an earlier call are kept. Waits until the node is idle.
#
#   .ci/slurm/start.sh            # sinfo, sbatch, snakemake --profile profiles/slurm ...
#   .ci/slurm/stop.sh             # stops what start.sh started, by PID file
#
# The configuration goes to /etc/slurm/slurm.conf (marked as ours; start.sh refuses to
# overwrite a foreign one): the SLURM plugin's job step drops SLURM_CONF from the
# environment of the srun it starts inside each job, so only the default path works.
#
# Environment: TERPENE_SLURM_DIR (state, logs, PID files; default /tmp/terpene-slurm),
# TERPENE_SLURM_CPUS / TERPENE_SLURM_MEMORY_MB (declared node size; default 16 / 64000),
# TERPENE_SLURM_CTLD_PORT / TERPENE_SLURM_SLURMD_PORT (default 6817 / 6818).
# Needs root and Debian's packages: slurmctld slurmd slurm-client munge.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE_DIR=${TERPENE_SLURM_DIR:-/tmp/terpene-slurm}
CPUS=${TERPENE_SLURM_CPUS:-16}
MEMORY_MB=${TERPENE_SLURM_MEMORY_MB:-64000}
CTLD_PORT=${TERPENE_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${TERPENE_SLURM_SLURMD_PORT:-6818}
WAIT_SECONDS=${TERPENE_SLURM_WAIT_SECONDS:-60}
MUNGE_SOCKET=/run/munge/munge.socket.2
MUNGE_PID_FILE=/run/munge/munged.pid

SLURM_CONF_PATH=/etc/slurm/slurm.conf
MARKER="# terpene-ci one-node cluster, written by .ci/slurm/start.sh"
export SLURM_CONF="$SLURM_CONF_PATH"

log() { echo "[slurm-start] $*" >&2; }

die() {
    log "ERROR: $*"
    for f in "$STATE_DIR/slurmctld.log" "$STATE_DIR/slurmd.log"; do
        if [[ -f "$f" ]]; then
            log "--- last lines of $f"
            tail -n 20 "$f" >&2
        fi
    done
    exit 1
}

# True when the PID file names a live process.
alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

[[ $(id -u) -eq 0 ]] || die "must run as root (munged runs as the munge user, slurmd as root)"
for tool in munged munge unmunge slurmctld slurmd sinfo scontrol sbatch squeue; do
    command -v "$tool" >/dev/null || die "$tool not found: apt-get install slurmctld slurmd slurm-client munge"
done

if [[ -f "$SLURM_CONF_PATH" ]] && ! grep -qxF "$MARKER" "$SLURM_CONF_PATH"; then
    die "$SLURM_CONF_PATH exists and was not written by this script; not overwriting it"
fi
mkdir -p "$STATE_DIR/ctld" "$STATE_DIR/spool" "$(dirname "$SLURM_CONF_PATH")"
{ echo "$MARKER"; sed -e "s|@STATE_DIR@|$STATE_DIR|g" -e "s|@CPUS@|$CPUS|g" -e "s|@MEMORY_MB@|$MEMORY_MB|g" \
    -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" \
    -e "s|@CONTROLLER@|$(hostname -s)|g" \
    "$HERE/slurm.conf.in"; } >"$SLURM_CONF_PATH.new"
mv "$SLURM_CONF_PATH.new" "$SLURM_CONF_PATH"

# --- munge: reuse a working munged, else start one as the munge user.
if munge -n -S "$MUNGE_SOCKET" 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; then
    log "munged already answers on $MUNGE_SOCKET"
else
    install -d -o munge -g munge -m 0755 /run/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        install -d -o munge -g munge -m 0700 /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=128 count=1 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    runuser -u munge -- munged --pid-file="$MUNGE_PID_FILE" --socket="$MUNGE_SOCKET"
    echo "$MUNGE_PID_FILE" >"$STATE_DIR/munged.pidfile"
    for _ in $(seq 50); do
        munge -n -S "$MUNGE_SOCKET" 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n -S "$MUNGE_SOCKET" | unmunge -S "$MUNGE_SOCKET" >/dev/null || die "munged does not answer"
    log "munged started (pid $(cat "$MUNGE_PID_FILE"))"
fi

# --- slurmctld (daemonizes itself and writes its PID file).
if alive "$STATE_DIR/slurmctld.pid"; then
    log "slurmctld already running (pid $(cat "$STATE_DIR/slurmctld.pid"))"
else
    # -c: start clean, forget jobs of an earlier cluster in this state directory.
    slurmctld -c -f "$SLURM_CONF" || die "slurmctld failed to start"
    log "slurmctld started"
fi

for _ in $(seq $((WAIT_SECONDS * 5))); do
    scontrol ping 2>/dev/null | grep -q "is UP" && break
    sleep 0.2
done
scontrol ping | grep -q "is UP" || die "slurmctld does not answer"

# --- slurmd, registered under the stable name "localhost".
if alive "$STATE_DIR/slurmd.pid"; then
    log "slurmd already running (pid $(cat "$STATE_DIR/slurmd.pid"))"
else
    slurmd -f "$SLURM_CONF" -N localhost || die "slurmd failed to start"
    log "slurmd started"
fi

state=""
for _ in $(seq $((WAIT_SECONDS * 5))); do
    state=$(sinfo -h -N -n localhost -o %t 2>/dev/null | head -n 1)
    case "$state" in
        idle | mix | alloc) break ;;
        down* | drain* | drng*) scontrol update nodename=localhost state=resume 2>/dev/null || true ;;
    esac
    sleep 0.2
done
case "$state" in
    idle | mix | alloc) ;;
    *) die "node localhost is '$state', not idle, after ${WAIT_SECONDS}s" ;;
esac
log "node localhost is $state (config $SLURM_CONF_PATH, logs in $STATE_DIR)"
