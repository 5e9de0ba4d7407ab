#!/usr/bin/env bash
# start-slurm.sh - bring up a REAL single-node Slurm cluster on this machine
# (Debian 12, root, no systemd as PID 1), idempotently. Used by CI (.ci/run) and
# by tests/pipeline/test_slurm.py. Adapted from a measured single-node reference setup;
# r1 additions: job comments and gres/gpu are stored in slurmdbd (AccountingStoreFlags,
# AccountingStorageTRES) so tests can read each job's rule name and GPU request
# back from `sacct`.
#
#   install (only what is missing) -> write configs -> start daemons by hand
#   -> wait until `sinfo` shows the node idle -> smoke test with srun.
#
# Safe to run again: installed packages are skipped, configs are rewritten
# only when their content changes, running daemons are left alone unless
# their config changed (then only those daemons are restarted, by PID).
# Stop everything again with stop-slurm.sh (kills by pidfile, never by name).
#
# Knobs (environment variables):
#   SLURM_LOCAL_ACCOUNTING  slurmdbd (default) | none
#       slurmdbd: MariaDB + slurmdbd, so `sacct` works and the Snakemake slurm
#                 executor plugin works with its defaults (status via sacct).
#       none:     no database; `sacct` fails ("Slurm accounting storage is
#                 disabled"), so the plugin MUST be run with
#                 --slurm-status-command squeue (else Snakemake hangs forever).
#   SLURM_LOCAL_PARTITION   partition name (default: debug)
#   SLURM_LOCAL_CPUS        CPUs advertised for the node (default: nproc)
#   SLURM_LOCAL_MEM_MB      RealMemory in MB (default: MemTotal - 2048)
#   SLURM_LOCAL_GPUS        fake GPUs to advertise (default: 0 = none). Backed
#                           by char devices /run/slurm-fakegpu/gpuN (= /dev/null)
#                           so rules with gpu=N / gres=gpu:N get scheduled and
#                           see CUDA_VISIBLE_DEVICES, without any GPU present.
#   SLURM_LOCAL_GPU_TYPE    GPU type name for gpu_model= requests (default: h200)
#   SLURM_LOCAL_WAIT_S      seconds to wait for each daemon / the node (default 60)
#   SLURM_LOCAL_DBPASS      MariaDB password of the 'slurm' DB user (local only)
#   SLURM_LOCAL_SMOKE       1 (default) runs `srun hostname` at the end; 0 skips
#
# CPUS/MEM/GPUS may exceed the real machine: SlurmdParameters=config_overrides
# makes slurmd trust slurm.conf (nothing is enforced: no cgroups).
set -euo pipefail

ACCOUNTING=${SLURM_LOCAL_ACCOUNTING:-slurmdbd}
PARTITION=${SLURM_LOCAL_PARTITION:-debug}
GPUS=${SLURM_LOCAL_GPUS:-0}
GPU_TYPE=${SLURM_LOCAL_GPU_TYPE:-h200}
WAIT_S=${SLURM_LOCAL_WAIT_S:-60}
DBPASS=${SLURM_LOCAL_DBPASS:-slurm-local-test}
SMOKE=${SLURM_LOCAL_SMOKE:-1}

T_START=$(date +%s.%N)
elapsed() { awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
log() { echo "[start-slurm +$(elapsed)s] $*"; }
die() { echo "[start-slurm] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
case "$ACCOUNTING" in slurmdbd|none) ;; *) die "SLURM_LOCAL_ACCOUNTING must be slurmdbd or none";; esac
case "$GPUS" in ''|*[!0-9]*) die "SLURM_LOCAL_GPUS must be an integer";; esac

# ---------------------------------------------------------------- packages --
PKGS="munge slurmctld slurmd slurm-client"
[ "$ACCOUNTING" = slurmdbd ] && PKGS="$PKGS slurmdbd mariadb-server"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's postinst would try to start the daemons through invoke-rc.d;
  # container images block that with policy-rc.d, and we start them by hand.
  apt-get install -y -qq --no-install-recommends $missing >/var/log/start-slurm-apt.log 2>&1 \
    || { tail -20 /var/log/start-slurm-apt.log; die "apt-get install failed"; }
  log "installed"
else
  log "packages already installed"
fi
T_INSTALLED=$(date +%s.%N)

# ------------------------------------------------------------------- basics --
H=$(hostname -s)
if ! getent hosts "$H" >/dev/null; then
  log "adding $H to /etc/hosts"
  echo "127.0.0.1 $H" >>/etc/hosts
fi
CPUS=${SLURM_LOCAL_CPUS:-$(nproc)}
if [ -z "${SLURM_LOCAL_MEM_MB:-}" ]; then
  MEM_MB=$(( $(awk '/^MemTotal:/{print int($2/1024)}' /proc/meminfo) - 2048 ))
  [ "$MEM_MB" -ge 512 ] || MEM_MB=512
else
  MEM_MB=$SLURM_LOCAL_MEM_MB
fi

if [ ! -s /etc/munge/munge.key ]; then
  log "creating munge key"
  mkdir -p /etc/munge
  mungekey --create --keyfile=/etc/munge/munge.key --force
fi
chown munge:munge /etc/munge /etc/munge/munge.key
chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key

install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
install -d -o slurm -g slurm -m 0755 /var/lib/slurm /var/lib/slurm/slurmctld /var/log/slurm
install -d -o root -g root -m 0755 /var/lib/slurm/slurmd /etc/slurm

# --------------------------------------------------------------- configs --
# install_if_changed SRC DEST OWNER MODE -> returns 0 if DEST changed
install_if_changed() {
  local src=$1 dest=$2 owner=$3 mode=$4
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
    chown "$owner" "$dest"; chmod "$mode" "$dest"; rm -f "$src"; return 1
  fi
  install -o "${owner%%:*}" -g "${owner##*:}" -m "$mode" "$src" "$dest"; rm -f "$src"
  log "wrote $dest"
  return 0
}
CTLD_CHANGED=0; DBD_CHANGED=0

if [ "$ACCOUNTING" = slurmdbd ]; then
  ACCT_CONF="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStoreFlags=job_comment"
else
  ACCT_CONF="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi
GRES_LINE=""; NODE_GRES=""
if [ "$GPUS" -gt 0 ]; then
  GRES_LINE="GresTypes=gpu
AccountingStorageTRES=gres/gpu,gres/gpu:${GPU_TYPE}"
  NODE_GRES=" Gres=gpu:${GPU_TYPE}:${GPUS}"
fi

tmp=$(mktemp)
cat >"$tmp" <<EOF
# Written by start-slurm.sh: single-node Slurm on localhost for tests/CI.
ClusterName=localcluster
SlurmctldHost=${H}
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# no cgroups in this VM/container: track processes via /proc, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# trust the NodeName line below even if it is bigger than the real machine
SlurmdParameters=config_overrides
ReturnToService=2
# keep finished jobs visible to squeue for 10 min (squeue status mode needs
# MinJobAge >= 3 x --slurm-init-seconds-before-status-checks)
MinJobAge=600
DefMemPerCPU=500
MailProg=/bin/true
SlurmctldTimeout=30
SlurmdTimeout=30
JobCompType=jobcomp/none
${ACCT_CONF}
${GRES_LINE}
NodeName=${H} CPUs=${CPUS} RealMemory=${MEM_MB} State=UNKNOWN${NODE_GRES}
PartitionName=${PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
install_if_changed "$tmp" /etc/slurm/slurm.conf root:root 0644 && CTLD_CHANGED=1

if [ "$GPUS" -gt 0 ]; then
  install -d -m 0755 /run/slurm-fakegpu
  for i in $(seq 0 $((GPUS - 1))); do
    [ -c /run/slurm-fakegpu/gpu$i ] || mknod -m 0666 /run/slurm-fakegpu/gpu$i c 1 3
  done
  tmp=$(mktemp)
  if [ "$GPUS" -eq 1 ]; then files=/run/slurm-fakegpu/gpu0; else files="/run/slurm-fakegpu/gpu[0-$((GPUS - 1))]"; fi
  echo "NodeName=${H} Name=gpu Type=${GPU_TYPE} File=${files}" >"$tmp"
  install_if_changed "$tmp" /etc/slurm/gres.conf root:root 0644 && CTLD_CHANGED=1
elif [ -f /etc/slurm/gres.conf ]; then
  rm -f /etc/slurm/gres.conf; CTLD_CHANGED=1; log "removed /etc/slurm/gres.conf"
fi

if [ "$ACCOUNTING" = slurmdbd ]; then
  tmp=$(mktemp)
  cat >"$tmp" <<EOF
# Written by start-slurm.sh
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=${DBPASS}
EOF
  install_if_changed "$tmp" /etc/slurm/slurmdbd.conf slurm:slurm 0600 && DBD_CHANGED=1
fi

# --------------------------------------------------------------- daemons --
# running NAME PIDFILE -> prints pid and returns 0 if the process in PIDFILE
# is alive and really is NAME (guards against stale pidfiles / reused pids)
running() {
  local name=$1 pidfile=$2 pid
  [ -s "$pidfile" ] || return 1
  pid=$(tr -dc 0-9 <"$pidfile")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
  echo "$pid"
}
stop_pid() { # NAME PIDFILE
  local pid
  pid=$(running "$1" "$2") || return 0
  log "stopping $1 (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((WAIT_S * 10))); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
wait_for() { # DESCRIPTION COMMAND...
  local what=$1; shift
  for _ in $(seq 1 $((WAIT_S * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "timed out after ${WAIT_S}s waiting for $what"
}

# munge
if pid=$(running munged /run/munge/munged.pid); then
  log "munged already running (pid $pid)"
else
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged
  log "started munged (pid $(cat /run/munge/munged.pid))"
fi
wait_for munge sh -c 'munge -n | unmunge'

if [ "$ACCOUNTING" = slurmdbd ]; then
  # MariaDB, started by hand (mariadbd does not daemonize: detach it)
  install -d -o mysql -g mysql -m 0755 /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    log "initialising MariaDB datadir"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/var/log/start-slurm-mariadb-init.log 2>&1
  fi
  if pid=$(running mariadbd /run/mysqld/mysqld.pid); then
    log "mariadbd already running (pid $pid)"
  else
    setsid /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 \
      --pid-file=/run/mysqld/mysqld.pid --socket=/run/mysqld/mysqld.sock \
      --innodb-lock-wait-timeout=900 \
      </dev/null >>/var/log/mariadbd-local.log 2>&1 &
    wait_for mariadb mariadb-admin --socket=/run/mysqld/mysqld.sock ping
    log "started mariadbd (pid $(cat /run/mysqld/mysqld.pid))"
  fi
  mariadb --socket=/run/mysqld/mysqld.sock <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '${DBPASS}';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '${DBPASS}';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
  [ "$DBD_CHANGED" = 1 ] && stop_pid slurmdbd /run/slurmdbd.pid
  if pid=$(running slurmdbd /run/slurmdbd.pid); then
    log "slurmdbd already running (pid $pid)"
  else
    rm -f /run/slurmdbd.pid
    /usr/sbin/slurmdbd
    wait_for slurmdbd bash -c 'exec 3<>/dev/tcp/127.0.0.1/6819'
    log "started slurmdbd (pid $(cat /run/slurmdbd.pid))"
  fi
fi

if [ "$CTLD_CHANGED" = 1 ]; then
  # slurm.conf/gres.conf changed: restart both (scontrol reconfigure cannot
  # change node GRES/CPUs or plugins); job state survives in StateSaveLocation
  stop_pid slurmd /run/slurmd.pid
  stop_pid slurmctld /run/slurmctld.pid
fi
if pid=$(running slurmctld /run/slurmctld.pid); then
  log "slurmctld already running (pid $pid)"
else
  rm -f /run/slurmctld.pid
  /usr/sbin/slurmctld
  wait_for slurmctld scontrol ping
  log "started slurmctld (pid $(cat /run/slurmctld.pid))"
fi
SLURMD_T0=0
if pid=$(running slurmd /run/slurmd.pid); then
  log "slurmd already running (pid $pid)"
else
  rm -f /run/slurmd.pid
  SLURMD_T0=$(( $(date +%s) - 1 ))
  /usr/sbin/slurmd
  wait_for "slurmd pidfile" test -s /run/slurmd.pid
  log "started slurmd (pid $(cat /run/slurmd.pid))"
fi

# ---------------------------------------------------- wait for idle node --
# After a restart slurmctld reloads the old node state (often "idle") before
# the new slurmd has registered: first wait for SlurmdStartTime to move on.
slurmd_registered() {
  local t
  t=$(scontrol show node -o "$H" 2>/dev/null | tr ' ' '\n' | sed -n 's/^SlurmdStartTime=//p')
  case "$t" in ''|None) return 1;; esac
  [ "$(date -d "$t" +%s 2>/dev/null || echo 0)" -ge "$SLURMD_T0" ]
}
[ "$SLURMD_T0" = 0 ] || wait_for "slurmd to register" slurmd_registered
resumed=0
for i in $(seq 1 $((WAIT_S * 10))); do
  state=$(sinfo -h -N -n "$H" -o %t 2>/dev/null | head -1 || true)
  case "$state" in
    idle|mix|alloc) break ;;
    drain*|drng*|inval*|down|fail*)
      # left over from an earlier config (e.g. GRES count changed)
      if [ "$resumed" = 0 ] && [ "$i" -gt 20 ]; then
        log "node state '$state', resuming"
        scontrol update nodename="$H" state=resume || true
        resumed=1
      fi ;;
  esac
  sleep 0.1
done
case "$state" in idle|mix|alloc) ;; *)
  sinfo -N -l >&2 || true
  tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
  die "node $H not ready after ${WAIT_S}s (state '$state')" ;;
esac
T_READY=$(date +%s.%N)
log "node $H is $state"

if [ "$SMOKE" = 1 ]; then
  out=$(timeout 60 srun -N1 -n1 --mem=50 -t 1 -J start-slurm-smoke hostname) || die "srun smoke test failed"
  log "srun hostname -> $out"
  if [ "$ACCOUNTING" = slurmdbd ]; then
    sacct -n -X --clusters all -S now-1hours -o JobIdRaw >/dev/null || die "sacct does not work"
    log "sacct works"
  fi
fi

sinfo -N -o '%N %t cpus=%c mem=%m gres=%G partition=%P'
awk -v a="$T_START" -v b="$T_INSTALLED" -v c="$T_READY" -v d="$(date +%s.%N)" \
  'BEGIN{printf "[start-slurm] install %.1fs, daemons to idle node %.1fs, total %.1fs\n", b-a, c-b, d-a}'
echo "[start-slurm] $(sinfo -V), accounting=$ACCOUNTING, partition=$PARTITION"
