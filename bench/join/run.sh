#!/usr/bin/env bash
# Usage: bench/join/run.sh [--big-mb N] [--keep]
# Summary: Seconds from `start_multi_complete.sh --join` on a node to Synced, for a small (~1 MB) and a big
#          (default 200 MB of rows) database - the table shows the donor datadir an SST copies - by SST (empty datadir) and IST (node stopped while writes happen),
#          next to a bare mariadbd join of the same data measured in the same run (same config, init
#          script start, polling for Synced every 0.2 s). The ratio is our orchestration overhead.
# Runs in its own lab (prefix gal-bench: 2 nodes); not part of npm test. Needs root.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export LAB_PREFIX=gal-bench
BIG_MB=200 KEEP=0
while (( $# )); do
  case "$1" in
    --big-mb) BIG_MB=$2; shift ;;
    --keep) KEEP=1 ;;
    *) echo "usage: $0 [--big-mb N] [--keep]" >&2; exit 2 ;;
  esac
  shift
done
LAB=bats/lab/lab
TK=/opt/hpc-dashboard/cluster
OUT="$(mktemp -d /tmp/bench-join.XXXXXX)"

cleanup() { (( KEEP )) || "$LAB" down >/dev/null 2>&1 || true; rm -rf "$OUT"; }
trap cleanup EXIT

x() { "$LAB" exec "$@"; }
sql() { local n=$1; shift; x "$n" mariadb -N -B -e "$*"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
synced() { [[ "$(sql n2 "SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | cut -f2)" == Synced ]]; }

stop_n2() { x n2 /etc/init.d/mariadb stop >/dev/null 2>&1; }
wipe_n2() { x n2 sh -c 'rm -rf /var/lib/mysql/* && chown mysql:mysql /var/lib/mysql'; }
# datadir_mb: what an SST copies - the size of the donor's datadir.
datadir_mb() { x n1 du -sm /var/lib/mysql | cut -f1; }
write_rows() { sql n1 "INSERT INTO auth_portal.small (pad) SELECT pad FROM auth_portal.small LIMIT $1"; }

# toolkit_join: our orchestrator, end to end (discovery, checks, config, start, verification).
toolkit_join() {
  local t0 t1
  t0=$(now)
  x n2 "$TK/start_multi_complete.sh" --join --only database --yes >"$OUT/join.log" 2>&1 \
    || { cat "$OUT/join.log" >&2; exit 1; }
  t1=$(now)
  secs "$t0" "$t1"
}

# bare_join: the same data and config, started by the init script alone, polled until Synced.
bare_join() {
  local t0 t1 deadline
  t0=$(now)
  x n2 sh -c '/etc/init.d/mariadb start </dev/null >/dev/null 2>&1 &'
  deadline=$(( SECONDS + 900 ))
  until synced; do (( SECONDS < deadline )) || { echo "bare join timed out" >&2; exit 1; }; sleep 0.2; done
  t1=$(now)
  secs "$t0" "$t1"
}

measure() {  # LABEL
  local tk_sst bare_sst tk_ist bare_ist
  stop_n2; wipe_n2; tk_sst=$(toolkit_join)
  stop_n2; wipe_n2; bare_sst=$(bare_join)
  stop_n2; write_rows 500; tk_ist=$(toolkit_join)
  stop_n2; write_rows 500; bare_ist=$(bare_join)
  printf '%-8s %-4s %10s %10s %7s\n' "$1" SST "$tk_sst" "$bare_sst" "$(awk -v a="$tk_sst" -v b="$bare_sst" 'BEGIN { printf "%.2f", a / b }')"
  printf '%-8s %-4s %10s %10s %7s\n' "$1" IST "$tk_ist" "$bare_ist" "$(awk -v a="$tk_ist" -v b="$bare_ist" 'BEGIN { printf "%.2f", a / b }')"
}

"$LAB" down >/dev/null 2>&1 || true
"$LAB" up 2 >/dev/null 2>&1
"$LAB" ssh-mesh >/dev/null 2>&1
npx tsx generator/cli/main.ts generate -c test/fixtures/lab/galera-2.yaml -o "$OUT/tk" >/dev/null 2>&1
"$LAB" push "$OUT/tk/cluster" >/dev/null 2>&1
for n in n1 n2; do
  x "$n" sh -c 'mkdir -p /etc/hpc-cluster /data && umask 077 && printf "DB_AUTH_PASSWORD=bench\nREDIS_PASSWORD=bench\n" > /etc/hpc-cluster/secrets.env'
done
x n1 "$TK/start_multi_complete.sh" --bootstrap --only database --yes >/dev/null 2>&1
sql n1 "CREATE TABLE auth_portal.small (id INT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(1000)); INSERT INTO auth_portal.small (pad) VALUES (REPEAT('x', 1000))"
for _ in $(seq 1 10); do write_rows 1000; done
# first join (establishes n2's config), not measured
x n2 "$TK/start_multi_complete.sh" --join --only database --yes >/dev/null 2>&1

printf 'bench/join: seconds from start to Synced (2 nodes, rsync SST, %s)\n' "$(nproc) cores"
printf '%-8s %-4s %10s %10s %7s\n' datadir how toolkit bare ratio
measure "$(datadir_mb)MB"

# grow to BIG_MB of 1 kB rows, in transactions of at most 20 MB
sql n1 "CREATE TABLE auth_portal.big (id INT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(1000)); INSERT INTO auth_portal.big (pad) SELECT pad FROM auth_portal.small"
until (( $(sql n1 "SELECT COUNT(*) FROM auth_portal.big") >= BIG_MB * 1000 )); do
  sql n1 "INSERT INTO auth_portal.big (pad) SELECT pad FROM auth_portal.big LIMIT 20000"
done
measure "$(datadir_mb)MB"
