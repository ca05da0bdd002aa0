#!/usr/bin/env bash
# Usage: bench/slurm-takeover/run.sh [--skip-baseline] [--rounds N] [--timeout T]
# Summary: Seconds from crashing the primary slurmctld to a backup serving requests, with the toolkit's
#          SlurmctldTimeout (cluster_config slurm.controller_timeout, default 10) next to Slurm's default
#          (120 s), both measured in this run on a 2-node lab (real glusterd, munged, slurmctld, slurmd).
#
# For each timeout: a fresh lab (prefix gls-bench), shared storage + Slurm set up by the generated
# toolkit, a job submitted and saved, then `lab crash n1` (power loss of the primary). Two figures:
#   log     - n2's slurmctld.log line "Running as primary controller", minus the crash time
#   answer  - the first `squeue` on n2 that succeeds (what a user sees), minus the crash time
# A third row runs keepalived too (the VIP's move triggers the takeover, as on a full cluster).
# Goal: answer <= 15 s with the toolkit's setting. --skip-baseline prints only the toolkit's figure (saves ~3 min);
# --timeout T measures the toolkit with slurm.controller_timeout T instead of the default 10.
# Not part of npm test. Needs root and the lab (bats/lab/lab); removes its lab however it ends.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
REPO=$PWD
export LAB_PREFIX=gls-bench
LAB=("$REPO/bats/lab/lab")
T=/opt/hpc-dashboard/cluster
ROUNDS=1
BASELINE=1
TOOLKIT_TIMEOUT=10
WORK="$(mktemp -d /tmp/slurm-takeover.XXXXXX)"

cleanup() {
  "${LAB[@]}" down >/dev/null 2>&1 || true
  rm -rf -- "$WORK"
}
trap cleanup EXIT

while (( $# )); do
  case "$1" in
    --skip-baseline) BASELINE=0 ;;
    --rounds) ROUNDS=${2:?}; shift ;;
    --timeout) TOOLKIT_TIMEOUT=${2:?}; shift ;;
    -h|--help) sed -n '2,/^set -Eeuo/{/^set -Eeuo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

now() { date +%s.%N; }

# config TIMEOUT: a 2-node lab cluster without accounting (the database is not what is measured).
config() {
  cat <<YAML
cluster:
  name: bench-takeover
  nodes:
    - { ip: 10.213.0.11, hostname: node1, priority: 100 }
    - { ip: 10.213.0.12, hostname: node2, priority: 99 }
  vip: { address: 10.213.0.100, interface: eth0, vrrp_router_id: 54 }
  redis: { type: sentinel, password: "\${REDIS_PASSWORD}" }
  slurm: { cluster_name: bench, controller_timeout: $1 }
  discovery: { ssh_timeout: 2, probe_timeout: 2 }
YAML
}

wait_for() {  # TIMEOUT CMD...
  local deadline
  deadline=$(( SECONDS + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < deadline )) || { echo "timed out: $*" >&2; return 1; }
    sleep 0.2
  done
}

# round TIMEOUT [vip]: prints "LOG_SECONDS ANSWER_SECONDS". With vip, keepalived runs too (phase 4, the
# VIP on n1 beside the primary controller), as on a full cluster: the VIP's move runs vip_notify.sh on n2,
# whose `scontrol takeover` promotes the backup without waiting SlurmctldTimeout.
round() {
  local timeout=$1 vip=${2:-} gen="$WORK/gen-$1" job t0 t_answer line t_log
  config "$timeout" > "$WORK/config-$timeout.yaml"
  rm -rf "$gen"
  node_modules/.bin/tsx generator/cli/main.ts generate -c "$WORK/config-$timeout.yaml" -o "$gen" >/dev/null 2>&1
  "${LAB[@]}" down >/dev/null 2>&1 || true
  "${LAB[@]}" up 2 >/dev/null 2>&1
  "${LAB[@]}" ssh-mesh >/dev/null 2>&1
  "${LAB[@]}" push "$gen/cluster" >/dev/null 2>&1
  "${LAB[@]}" exec n1 "$T/setup/phase0_storage_setup.sh" --bootstrap --yes >/dev/null 2>&1
  "${LAB[@]}" exec n2 "$T/setup/phase0_storage_setup.sh" --join --peer 10.213.0.11 --yes >/dev/null 2>&1
  "${LAB[@]}" exec n1 "$T/setup/phase3_slurm_setup.sh" --bootstrap --yes >/dev/null 2>&1
  "${LAB[@]}" exec n2 "$T/setup/phase3_slurm_setup.sh" --join --peer 10.213.0.11 --yes >/dev/null 2>&1
  wait_for 60 "${LAB[@]}" exec n2 sh -c 'scontrol ping | grep -q "(backup) at node2 is UP"'
  if [[ $vip == vip ]]; then
    "${LAB[@]}" exec n1 "$T/setup/phase4_keepalived_setup.sh" --bootstrap --yes >/dev/null 2>&1
    "${LAB[@]}" exec n2 "$T/setup/phase4_keepalived_setup.sh" --join --peer 10.213.0.11 --yes >/dev/null 2>&1
    wait_for 60 "${LAB[@]}" exec n1 sh -c 'ip -4 -o addr show dev eth0 | grep -q " 10.213.0.100/"'
  fi
  job="$("${LAB[@]}" exec n2 sbatch --parsable -J bench_probe -w node2 -o /dev/null --wrap 'sleep 300')"
  wait_for 60 "${LAB[@]}" exec n2 grep -aq bench_probe /mnt/gluster/slurm/state/job_state
  t0=$(now)
  "${LAB[@]}" crash n1 >/dev/null 2>&1
  wait_for $(( timeout + 120 )) "${LAB[@]}" exec n2 timeout 20 squeue -h -j "$job"
  t_answer=$(now)
  line="$("${LAB[@]}" exec n2 grep -m1 'Running as primary controller' /var/log/slurm/slurmctld.log)"
  t_log="$(date -d "$(sed -n 's/^\[\([^]]*\)\].*/\1/p' <<< "$line")" +%s.%N)"
  printf '%.2f %.2f\n' "$(bc <<< "$t_log - $t0")" "$(bc <<< "$t_answer - $t0")"
}

row() {  # LABEL TIMEOUT [vip]
  local i log answer
  for (( i = 1; i <= ROUNDS; i++ )); do
    read -r log answer < <(round "$2" "${3:-}")
    printf '%-34s %8s s %10s s %12s s\n' "$1" "$2" "$log" "$answer"
  done
}

printf '%-34s %10s %12s %14s\n' "setting" "timeout" "log" "answer"
row "toolkit (slurm.controller_timeout)" "$TOOLKIT_TIMEOUT"
row "toolkit + keepalived (VIP moves)" "$TOOLKIT_TIMEOUT" vip
if (( BASELINE )); then
  row "Slurm default SlurmctldTimeout" 120
else
  printf '%-34s %8s s %12s %14s\n' "Slurm default SlurmctldTimeout" 120 "(skipped)" "~120+ s"
fi
printf 'goal: answer <= 15 s with the toolkit setting (issue 14: what a user on a surviving node sees)\n'
