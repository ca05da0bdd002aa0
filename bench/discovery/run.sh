#!/usr/bin/env bash
# Usage: bench/discovery/run.sh [--timeout S] [--repeat K] [--compare-ref GITREF]
# Summary: Seconds auto_discovery.sh takes for N=4 (one node cut) and N=32 configured nodes (28 of them
#          addresses in the lab subnet with no server), next to the plan's sequential design (one SSH
#          attempt with a 5 s ConnectTimeout per node, one after another) measured in the same run.
#
# Runs a private 4-node lab (prefix dsc2-bench) and removes it at the end, whatever happens. The
# parallel runs are repeated K times (default 3; the machine is shared, so the spread matters) and each
# is printed with the 1-minute load average at its start; the sequential baseline runs once per N.
# --compare-ref also times the collector of lib/discovery.sh as it was at GITREF (e.g. aa42166, the
# first version with a time limit per probe), in the same lab, right after each parallel run.
# Goal (issue 4): parallel discovery = one probe timeout + at most 0.5 s, for both N.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
REPO=$PWD
LAB=(env LAB_PREFIX=dsc2-bench "$REPO/bats/lab/lab")
T=3
REPEAT=3
REF=""
while (( $# )); do
  case "$1" in
    --timeout) T=$2; shift ;;
    --repeat) REPEAT=$2; shift ;;
    --compare-ref) REF=$2; shift ;;
    *) echo "usage: $0 [--timeout S] [--repeat K] [--compare-ref GITREF]" >&2; exit 2 ;;
  esac
  shift
done
WORK="$(mktemp -d /tmp/dsc2-bench.XXXXXX)"
TK=/opt/hpc-dashboard/cluster

cleanup() {
  "${LAB[@]}" down >/dev/null 2>&1 || true
  rm -rf -- "$WORK"
}
trap cleanup EXIT

# config N FILE: a cluster config with N nodes at 10.213.0.11.. (only the first 4 exist in the lab).
config() {
  local n=$1 i
  {
    printf 'cluster:\n  name: bench\n  nodes:\n'
    for (( i = 1; i <= n; i++ )); do
      printf '    - { ip: 10.213.0.%d, hostname: node%d, priority: %d }\n' $((10 + i)) "$i" $((200 - i))
    done
    printf '  vip: { address: 10.213.0.100, interface: eth0, vrrp_router_id: 51, advert_int: 0.1 }\n'
    printf '  storage: { type: glusterfs, mount_point: /mnt/gluster, backup_path: /data/system_backup, brick_path: /data/glusterfs/shared, volume_name: shared_data }\n'
    printf '  database: { cluster_name: bench, databases: [] }\n'
    # shellcheck disable=SC2016 # the config holds the literal ${REDIS_PASSWORD} reference
    printf '  redis: { type: cluster, password: "${REDIS_PASSWORD}" }\n'
    printf '  discovery: { ssh_timeout: %d, probe_timeout: %d }\n' "$T" "$T"
  } > "$2"
}

secs() {  # START_EPOCHREALTIME -> seconds with 2 decimals
  local us=$(( ${EPOCHREALTIME/./} - ${1/./} ))
  printf '%d.%02d' $((us / 1000000)) $(((us % 1000000) / 10000))
}

# sequential N: the plan's design - ssh to each node in turn, 5 s ConnectTimeout each.
sequential() {
  local n=$1 i start
  start=$EPOCHREALTIME
  for (( i = 1; i <= n; i++ )); do
    "${LAB[@]}" exec n1 ssh -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=accept-new \
      "root@10.213.0.$((10 + i))" true >/dev/null 2>&1 || true
  done
  secs "$start"
}

load1() { cut -d' ' -f1 /proc/loadavg; }

# parallel [DIR]: auto_discovery.sh of the toolkit pushed to n1 at $TK (or DIR); prints
# "seconds (active/inactive/unknown, in-script duration, load)".
parallel() {
  local start out load dir=${1:-$TK}
  load=$(load1)
  start=$EPOCHREALTIME
  out="$("${LAB[@]}" exec n1 "$dir/discovery/auto_discovery.sh" --json)"
  printf '%s %s\n' "$(secs "$start")" "$(jq -r --arg load "$load" '"(\(.active_nodes) active, \(.inactive_nodes) inactive [\(.nodes | map(select(.status == "inactive") | .reason) | group_by(.) | map("\(.[0]) \(length)") | join(", "))], \(.unknown_nodes) unknown; in-script \(.duration_ms) ms; load \($load))"' <<< "$out")"
}

main() {
  local n
  "${LAB[@]}" down >/dev/null 2>&1 || true
  "${LAB[@]}" up 4 >/dev/null
  "${LAB[@]}" ssh-mesh >/dev/null
  for n in 4 32; do
    config "$n" "$WORK/c$n.yaml"
    npx tsx generator/cli/main.ts generate -c "$WORK/c$n.yaml" -o "$WORK/tk$n" >/dev/null
    if [[ -n $REF ]]; then
      cp -a "$WORK/tk$n" "$WORK/ref$n"
      git show "$REF:templates/lib/discovery.sh" > "$WORK/ref$n/cluster/lib/discovery.sh"
    fi
  done
  # the toolkit on every node (peers run their own --self-json); each node needs the 4-node copy
  "${LAB[@]}" push "$WORK/tk4/cluster" >/dev/null 2>&1
  "${LAB[@]}" cut n4
  printf 'discovery benchmark: probe timeout %s s, n4 cut (silent partition), load %s\n' "$T" "$(cut -d' ' -f1-3 /proc/loadavg)"
  for n in 4 32; do
    local p s k best="" worst=""
    "${LAB[@]}" exec n1 rm -rf "$TK"
    "${LAB[@]}" push "$WORK/tk$n/cluster" n1 >/dev/null 2>&1
    if [[ -n $REF ]]; then
      # beside the toolkit on every node (peers run the copy at the caller's path); the lab pushes only to $TK
      local node
      for node in n1 n2 n3 n4; do
        "${LAB[@]}" exec "$node" rm -rf /opt/dsc2-ref
        tar -C "$WORK/ref$n/cluster" -cf - . | "${LAB[@]}" exec "$node" sh -c 'mkdir -p /opt/dsc2-ref && tar -C /opt/dsc2-ref -xf -'
      done
    fi
    printf '\nN=%s\n' "$n"
    for (( k = 1; k <= REPEAT; k++ )); do
      p="$(parallel)"
      printf '  parallel run %d: %s s %s\n' "$k" "${p%% *}" "${p#* }"
      if [[ -z $best ]] || awk -v a="${p%% *}" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=${p%% *}; fi
      if [[ -z $worst ]] || awk -v a="${p%% *}" -v b="$worst" 'BEGIN { exit !(a > b) }'; then worst=${p%% *}; fi
      if [[ -n $REF ]]; then
        p="$(parallel /opt/dsc2-ref)"
        printf '     %s run %d: %s s %s\n' "$REF" "$k" "${p%% *}" "${p#* }"
      fi
    done
    s="$(sequential "$n")"
    printf '  %-6s parallel best %s s, worst %s s   sequential (5 s ConnectTimeout each) %s s   (load %s)\n' \
      "N=$n" "$best" "$worst" "$s" "$(load1)"
  done
  printf '\ngoal: parallel <= %s.5 s for both N (one probe timeout + 0.5 s); wall times include lab exec.\n' "$T"
}

main "$@"
