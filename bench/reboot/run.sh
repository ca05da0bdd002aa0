#!/usr/bin/env bash
# Usage: bench/reboot/run.sh [--rounds N] [--keep]
# Summary: Seconds until a rebooted member is back in every service with no command (hpc-cluster-heal
#          .service), and until a cluster that lost power on every node is Primary again, with the rows
#          that were committed before the power loss counted afterwards.
#
# One 3-node lab with systemd nodes (prefix sz-bench): the generated toolkit from
# test/fixtures/lab/full-3.yaml, --bootstrap on n1, --join on n2 and n3 (as the full chain does). Then
#   reboot  N times (default 5): a row is committed on n1 while n2 is off (so n2 needs IST), `lab crash
#           n2` + `lab boot n2`, then the seconds from the boot until n2 is Synced in a Primary of 3, its
#           Redis says cluster_state:ok, /mnt/gluster is mounted and /health answers. Median printed.
#           Goal: <= 120 s.
#   outage  60 acknowledged INSERTs spread over the nodes, then power loss of all three and a boot of
#           each; the seconds from the first boot until every node is Synced in a Primary of 3, the
#           committed rows counted again (lost = acknowledged - found), and the line of
#           galera_recovery.log that names the node the cluster was started from. Goal: <= 240 s, 0 lost.
# Not part of npm test (~10 min on 2 cores). Needs root and the lab; removes its lab however it ends
# (--keep leaves it up to inspect).
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
REPO=$PWD
export LAB_PREFIX=${LAB_PREFIX:-sz-bench}
LAB=("$REPO/bats/lab/lab")
TK=/opt/hpc-dashboard/cluster
ROUNDS=5 KEEP=0
WORK="$(mktemp -d /tmp/reboot-bench.XXXXXX)"

cleanup() {
  ((KEEP)) || "${LAB[@]}" down >/dev/null 2>&1 || true
  rm -rf -- "$WORK"
}
trap cleanup EXIT

while (($#)); do
  case "$1" in
    --rounds) ROUNDS=${2:?--rounds needs a number}; shift ;;
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,/^set -Eeuo/{/^set -Eeuo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
ex() { "${LAB[@]}" exec "$@"; }
ip_of() { printf '10.213.0.1%s' "${1#n}"; }

wsrep() { ex "$1" mariadb -N -B -e "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null | awk '{ print $2 }'; }
synced3() {
  [[ "$(wsrep "$1" wsrep_cluster_status)" == Primary && "$(wsrep "$1" wsrep_local_state_comment)" == Synced \
    && "$(wsrep "$1" wsrep_cluster_size)" == 3 ]]
}
redis_ok() {
  ex "$1" env REDISCLI_AUTH=redis-secret-3 redis-cli -h "$(ip_of "$1")" cluster info 2>/dev/null | tr -d '\r' \
    | grep -qx 'cluster_state:ok'
}
health_answers() {
  local code
  code="$("${LAB[@]}" client curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$(ip_of "$1"):8430/health")" || true
  [[ $code == 200 || $code == 503 ]]
}
back() { synced3 "$1" && redis_ok "$1" && ex "$1" mountpoint -q /mnt/gluster && health_answers "$1"; }

# wait_secs TIMEOUT CMD...: poll CMD; print the seconds it took (fails after TIMEOUT)
wait_secs() {
  local timeout=$1 start=$EPOCHREALTIME
  shift
  until "$@" >/dev/null 2>&1; do
    if awk -v a="$start" -v b="$EPOCHREALTIME" -v t="$timeout" 'BEGIN { exit !(b - a > t) }'; then return 1; fi
    sleep 1
  done
  awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

build() {
  local n
  say "lab: 3 systemd nodes (prefix $LAB_PREFIX)"
  "${LAB[@]}" down >/dev/null 2>&1 || true
  "${LAB[@]}" up 3 --init systemd >/dev/null
  (cd "$REPO" && node_modules/.bin/tsx generator/cli/main.ts generate -c test/fixtures/lab/full-3.yaml -o "$WORK/tk" >/dev/null)
  "${LAB[@]}" ssh-mesh >/dev/null 2>&1
  "${LAB[@]}" push "$WORK/tk/cluster" >/dev/null 2>&1
  for n in n1 n2 n3; do
    ex "$n" sh -c 'mkdir -p /etc/hpc-cluster /data && umask 077 && cat > /etc/hpc-cluster/secrets.env' \
      <<<$'DB_SLURM_PASSWORD=slurm-secret-1\nDB_AUTH_PASSWORD=auth-secret-2\nREDIS_PASSWORD=redis-secret-3'
  done
  say "toolkit: --bootstrap n1, --join n2, n3"
  ex n1 "$TK/start_multi_complete.sh" --bootstrap --yes >"$WORK/n1.log" 2>&1 || { tail -20 "$WORK/n1.log" >&2; exit 1; }
  for n in n2 n3; do
    ex "$n" "$TK/start_multi_complete.sh" --join --yes >"$WORK/$n.log" 2>&1 || { tail -20 "$WORK/$n.log" >&2; exit 1; }
  done
  ex n1 mariadb -e "CREATE TABLE IF NOT EXISTS auth_portal.bench (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"
}

reboots() {
  local i s times=()
  for ((i = 1; i <= ROUNDS; i++)); do
    "${LAB[@]}" crash n2 >/dev/null 2>&1
    ex n1 mariadb -e "INSERT INTO auth_portal.bench (v) VALUES ($i)"
    "${LAB[@]}" boot n2 >/dev/null 2>&1
    s=$(wait_secs 300 back n2) || { say "round $i: n2 not back within 300 s"; s=300; }
    say "reboot round $i: n2 back in Galera, Redis, the mount and /health after ${s}s"
    times+=("$s")
  done
  printf 'reboot of n2 (power loss + boot), %d rounds: %s s; median %s s (goal <= 120 s)\n' \
    "$ROUNDS" "${times[*]}" "$(printf '%s\n' "${times[@]}" | median)"
}

outage() {
  local i acked found s n
  for ((i = 0; i < 60; i++)); do
    ex "n$((i % 3 + 1))" mariadb -e "INSERT INTO auth_portal.bench (v) VALUES (1000 + $i)" 2>/dev/null || true
  done
  acked=$(ex n1 mariadb -N -B -e "SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM auth_portal.bench")
  for n in n1 n2 n3; do "${LAB[@]}" crash "$n" >/dev/null 2>&1; done
  local start=$EPOCHREALTIME
  for n in n1 n2 n3; do "${LAB[@]}" boot "$n" >/dev/null 2>&1; done
  for n in n1 n2 n3; do
    wait_secs 600 synced3 "$n" >/dev/null || { say "outage: $n not Synced within 600 s"; break; }
  done
  s=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  found=$(ex n2 mariadb -N -B -e "SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM auth_portal.bench" 2>/dev/null || echo "?")
  printf 'power loss of all 3 + boot: Primary of 3 after %s s (goal <= 240 s); rows committed %s, found %s, lost %s\n' \
    "$s" "$acked" "$found" "$(( acked - ${found//\?/0} ))"
  for n in n1 n2 n3; do
    ex "$n" sh -c 'grep -h "leads the recovery\|start" /var/log/hpc-cluster/self_heal.log 2>/dev/null | tail -2; tail -3 /var/log/hpc-cluster/galera_recovery.log 2>/dev/null' \
      | sed "s/^/  $n: /"
  done
}

build
reboots
outage
