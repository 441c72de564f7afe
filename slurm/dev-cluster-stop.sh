#!/usr/bin/env bash
# Stop the cluster slurm/dev-cluster-start.sh started: cancel its jobs, then stop each daemon by the
# PID recorded when it was started (never by name), TERM first and KILL after 20 s.
set -uo pipefail
STATE=${BENCH_SLURM_STATE:-/run/bench-slurm}

is_ours() {  # is_ours PID NAME: that PID is alive and still the program we started
  kill -0 "$1" 2>/dev/null && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

pid=$(cat "$STATE/slurmctld.pid" 2>/dev/null || true)
if [ -n "$pid" ] && is_ours "$pid" slurmctld && scontrol ping >/dev/null 2>&1; then
  scancel --partition=debug 2>/dev/null || true
  for _ in $(seq 40); do [ -z "$(squeue --noheader --states=R,CG 2>/dev/null)" ] && break; sleep 0.25; done
fi

for name in slurmd slurmctld munged; do
  pid=$(cat "$STATE/$name.pid" 2>/dev/null || true)
  [ -n "$pid" ] || continue
  if is_ours "$pid" "$name"; then
    kill -TERM "$pid"
    for _ in $(seq 100); do is_ours "$pid" "$name" || break; sleep 0.2; done
    is_ours "$pid" "$name" && kill -KILL "$pid"
    echo "stopped $name (pid $pid)"
  fi
  rm -f "$STATE/$name.pid"
done
