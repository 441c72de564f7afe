#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for trying `bench run --launcher slurm` and for CI.
#
# Debian/Ubuntu, as root, no systemd needed: installs munge + slurmctld + slurmd (slurm-wlm) when
# missing, writes /etc/slurm/slurm.conf (only if absent or written by this script: a real cluster's
# configuration is never touched), starts the daemons that are not already running, records their PIDs
# in $BENCH_SLURM_STATE and waits until the node takes jobs. Run it again: it starts only what is down.
# Stop with slurm/dev-cluster-stop.sh, which stops exactly these PIDs.
#
# Environment:
#   BENCH_SLURM_CPUS=N     CPUs the node advertises (default: the real count, but at least 4); more
#                          lets array tasks of 1 CPU share the cores, as tiny cells on one GPU would.
#                          The floor of 4 is what tests/launch/test_slurm_packed.py asks for one task
#                          (4 one-CPU cells): on a 2-core CI machine the node would otherwise have 2,
#                          and that task could never start (SLURM's reason: PartitionConfig)
#   BENCH_SLURM_STATE=DIR  PID files and logs (default /run/bench-slurm)
#   BENCH_SLURM_WAIT=S     seconds to wait for the node (default 60)
#
# Facts this relies on (measured on Debian 12, SLURM 22.05):
# - a requeued job waits `cred_expire` seconds (default 120) before it may start again: set to 10 here;
# - no cgroups in containers: proctrack/linuxproc and task/none;
# - no accounting storage: `sacct` does not work, so bench reads job states from `squeue`.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "dev-cluster-start: must run as root (it installs packages and starts daemons)" >&2; exit 1; }
STATE=${BENCH_SLURM_STATE:-/run/bench-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by bench slurm/dev-cluster-start.sh"
mkdir -p "$STATE"

running() {  # running NAME: the PID recorded for NAME is alive and is that program
  local pid
  pid=$(cat "$STATE/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]
}
daemon() {  # daemon NAME CMD... : start CMD (which stays in the foreground) detached; record its PID
  local name=$1; shift
  setsid "$@" </dev/null >>"$STATE/$name.out" 2>&1 &
  echo $! >"$STATE/$name.pid"
}
until_ok() {  # until_ok SECONDS CMD... : retry CMD every 0.2 s
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || { echo "dev-cluster-start: gave up waiting for: $*" >&2; return 1; }
    sleep 0.2
  done
}

# 1. Packages.
missing=0
for cmd in munged slurmctld slurmd sbatch; do command -v "$cmd" >/dev/null || missing=1; done
if [ "$missing" = 1 ]; then
  command -v apt-get >/dev/null || { echo "dev-cluster-start: needs apt-get (Debian/Ubuntu)" >&2; exit 1; }
  pkgs=(munge slurmctld slurmd slurm-client)
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${pkgs[@]}" >"$STATE/apt.log" 2>&1 \
    || { apt-get update -q >>"$STATE/apt.log" 2>&1 \
         && apt-get install -y -q --no-install-recommends "${pkgs[@]}" >>"$STATE/apt.log" 2>&1; } \
    || { tail -n 20 "$STATE/apt.log" >&2; echo "dev-cluster-start: package install failed" >&2; exit 1; }
fi

# 2. MUNGE authenticates every SLURM message; reuse a munged that already answers.
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
munge_works() { munge -n | unmunge; }
if ! running munged && ! munge_works >/dev/null 2>&1; then
  daemon munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground
  until_ok 10 munge_works
fi

# 3. slurm.conf: this host on loopback, one partition, no cgroups, quick requeue.
if [ -e "$CONF" ] && ! grep -qxF "$MARK" "$CONF"; then
  echo "dev-cluster-start: $CONF exists and was not written by this script; leaving it alone" >&2
  exit 1
fi
host=$(hostname -s)
hw=$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //')  # CPUs=... RealMemory=...
MIN_CPUS=4
real_cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
if [ -z "${BENCH_SLURM_CPUS:-}" ] && [ "${real_cpus:-0}" -lt "$MIN_CPUS" ]; then
  BENCH_SLURM_CPUS=$MIN_CPUS
  echo "dev-cluster-start: this machine has ${real_cpus:-?} CPUs; the node advertises $MIN_CPUS (BENCH_SLURM_CPUS to change)" >&2
fi
if [ -n "${BENCH_SLURM_CPUS:-}" ]; then
  case "$BENCH_SLURM_CPUS" in
    '' | *[!0-9]* | 0) echo "dev-cluster-start: BENCH_SLURM_CPUS must be a positive whole number, not '$BENCH_SLURM_CPUS'" >&2; exit 2 ;;
  esac
  hw="CPUs=$BENCH_SLURM_CPUS RealMemory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")"
  overrides="SlurmdParameters=config_overrides"
fi
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat >"$CONF.new" <<CONF
$MARK
ClusterName=bench-dev
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=10
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=5
ReturnToService=2
KillWait=5
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.daemon.pid
SlurmdPidFile=$STATE/slurmd.daemon.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
$overrides
NodeName=${host} NodeAddr=127.0.0.1 ${hw} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
if cmp -s "$CONF.new" "$CONF"; then
  rm -f "$CONF.new"
else
  mv "$CONF.new" "$CONF"
  if running slurmctld; then
    echo "dev-cluster-start: slurm.conf changed; run slurm/dev-cluster-stop.sh, then this again" >&2
  fi
fi

# 4. The controller, then the node daemon (both in the foreground, so $! is the daemon itself).
if ! running slurmctld; then
  daemon slurmctld /usr/sbin/slurmctld -D
  until_ok 30 scontrol ping
fi
running slurmd || daemon slurmd /usr/sbin/slurmd -D

# 5. Until the node takes jobs.
end=$((SECONDS + ${BENCH_SLURM_WAIT:-60}))
while :; do
  state=$(sinfo --noheader --Node --nodes="$host" --format=%T 2>/dev/null || true)
  case "$state" in
    idle | mixed | allocated | completing) break ;;
    *drain* | down*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
  esac
  if [ "$SECONDS" -ge "$end" ]; then
    echo "dev-cluster-start: node not ready (state '$state'); logs in /var/log/slurm and $STATE" >&2
    tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
    exit 1
  fi
  sleep 0.5
done
sinfo
