#!/usr/bin/env bash
# Usage: bench/galera-load/run.sh [--seconds N] [--baseline-seconds N] [--threads N]
# Summary: sysbench oltp_read_write on every node of a 3-node Galera cluster at once (local socket on
#          each node), with the toolkit's failure detection, counting view changes: a healthy member
#          evicted under load is a false eviction and fails the bench. Then the same client load (all the
#          threads) on one plain mariadbd (n1's server restarted with wsrep_provider=none), in the same run.
#
#   --seconds N           the loaded Galera run (default 600: issue 14's 10 minutes)
#   --baseline-seconds N  the plain mariadbd run (default 120)
#   --threads N           sysbench threads per Galera node (default 2; the baseline gets 3 x N)
#
# Not part of npm test. Needs root (the lab). Needs sysbench (bats/lab/deps.list).
set -Eeuo pipefail
trap 'printf "bench/galera-load: failed (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export HPC_REPO_ROOT=$REPO
export LAB_PREFIX=load-bench
SECONDS_GALERA=600
SECONDS_PLAIN=120
THREADS=2

while (( $# )); do
  case "$1" in
    --seconds) SECONDS_GALERA=${2:?--seconds needs a number}; shift ;;
    --baseline-seconds) SECONDS_PLAIN=${2:?--baseline-seconds needs a number}; shift ;;
    --threads) THREADS=${2:?--threads needs a number}; shift ;;
    -h|--help) sed -n '2,/^set -Eeuo/{/^set -Eeuo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) printf 'unknown argument: %s\n' "$1" >&2; exit 2 ;;
  esac
  shift
done
command -v sysbench >/dev/null || { printf 'sysbench is not installed (apt-get install sysbench)\n' >&2; exit 2; }

# The lab helpers are written for bats; these stand-ins are all they need outside it.
BATS_FILE_TMPDIR="$(mktemp -d /tmp/load-bench.XXXXXX)"
# shellcheck source=bats/lab/helpers.bash
source "$REPO/bats/lab/helpers.bash"
# shellcheck source=bats/helpers/toolkit.bash
source "$REPO/bats/helpers/toolkit.bash"
# shellcheck source=bats/lab/galera/galera_helpers.bash
source "$REPO/bats/lab/galera/galera_helpers.bash"

cleanup() {
  [[ -z ${LOAD_SAMPLER:-} ]] || kill "$LOAD_SAMPLER" 2>/dev/null || true
  lab down >/dev/null 2>&1 || true
  rm -rf -- "$BATS_FILE_TMPDIR"
}
trap cleanup EXIT

say() { printf '==> %s\n' "$*" >&2; }

SB=(sysbench oltp_read_write --db-driver=mysql --mysql-socket=/run/mysqld/mysqld.sock --mysql-user=root
    --mysql-db=sbtest --tables=4 --table-size=10000)

# sample_load FILE: the machine's 1-minute load average every 10 s, until killed.
sample_load() {
  while sleep 10; do cut -d' ' -f1 /proc/loadavg >> "$1"; done
}

# load_summary FILE: "mean M, max X" of the sampled load averages.
load_summary() {
  awk '{ s += $1; if ($1 > m) m = $1 } END { if (NR) printf "mean %.1f, max %.1f", s / NR, m; else printf "n/a" }' "$1"
}

# sb_figures LABEL FILES...: one table row from sysbench reports (transactions and queries summed,
# latency: the worst node's 95th percentile, errors summed).
sb_figures() {
  local label=$1
  shift
  awk -v label="$label" '
    /^ *transactions:/ { tps += substr($3, 2) }
    /^ *queries:/      { qps += substr($3, 2) }
    /ignored errors:/ { ign += $3 }
    /reconnects:/     { rec += $2 }
    /95th percentile:/ { if ($3 > p95) p95 = $3 }
    END { printf "%-40s tps=%-8.1f qps=%-8.1f p95=%sms ignored_errors=%d reconnects=%d\n", label, tps, qps, p95, ign, rec }' "$@"
}

# conf_ids: "n1=ID n2=ID n3=ID" (wsrep_cluster_conf_id: +1 for every view the member installed).
conf_ids() {
  local n out=()
  for n in n1 n2 n3; do out+=("$n=$(wsrep "$n" wsrep_cluster_conf_id)"); done
  printf '%s\n' "${out[*]}"
}

galera_run() {
  local n before after pids=() log_lines=() suspicions=0 views=0 c
  lab_exec n1 "$TK/start_multi_complete.sh" --only database --bootstrap --yes >/dev/null
  for n in n2 n3; do lab_exec "$n" "$TK/start_multi_complete.sh" --only database --join --yes >/dev/null; done
  wait_until 90 synced n1 3
  lab_exec n1 mariadb -e "CREATE DATABASE IF NOT EXISTS sbtest"
  lab_exec n1 "${SB[@]}" prepare >/dev/null
  wait_until 60 synced n3 3
  for n in n1 n2 n3; do log_lines+=("$(lab_exec "$n" sh -c 'wc -l < /var/log/mysql/error.log')"); done
  before="$(conf_ids)"
  say "Galera: sysbench on n1 n2 n3, $THREADS threads each, $SECONDS_GALERA s (views before: $before)"
  sample_load "$BATS_FILE_TMPDIR/load.galera" & LOAD_SAMPLER=$!
  for n in n1 n2 n3; do
    lab_exec "$n" "${SB[@]}" --threads="$THREADS" --time="$SECONDS_GALERA" --report-interval=0 run \
      > "$BATS_FILE_TMPDIR/sb.$n" 2>&1 & pids+=($!)
  done
  wait "${pids[@]}"
  kill "$LOAD_SAMPLER"; LOAD_SAMPLER=
  after="$(conf_ids)"
  # Every membership event a member logged during the load: a suspicion ("suspecting node") may clear
  # again; a new view ("view(view_id(PRIM") means an eviction.
  for c in 0 1 2; do
    n=n$(( c + 1 ))
    lab_exec "$n" tail -n +"$(( log_lines[c] + 1 ))" /var/log/mysql/error.log > "$BATS_FILE_TMPDIR/err.$n"
    suspicions=$(( suspicions + $(grep -c 'suspecting node' "$BATS_FILE_TMPDIR/err.$n" || true) ))
    views=$(( views + $(grep -c 'view(view_id(' "$BATS_FILE_TMPDIR/err.$n" || true) ))
  done
  sb_figures "Galera 3 nodes, $THREADS threads on each" "$BATS_FILE_TMPDIR"/sb.n[123]
  printf '  %s s; load average %s\n' "$SECONDS_GALERA" "$(load_summary "$BATS_FILE_TMPDIR/load.galera")"
  printf '  wsrep_cluster_conf_id before: %s, after: %s; views logged: %d, suspicions logged: %d\n' \
    "$before" "$after" "$views" "$suspicions"
  for n in n1 n2 n3; do printf '  %s: %s\n' "$n" "$(wsrep "$n" wsrep_cluster_size) members, $(wsrep "$n" wsrep_local_state_comment)"; done
  if [[ $before != "$after" ]] || (( views > 0 )); then
    printf 'FALSE EVICTION: the membership changed under load\n'
    grep -h 'suspecting node\|view(view_id(\|declaring inactive\|inactive' "$BATS_FILE_TMPDIR"/err.n[123] | head -40
  else
    printf '  no eviction\n'
  fi
}

plain_run() {
  local n
  # n1 alone, as a plain server: the same datadir, tables and buffer pool, replication switched off.
  for n in n3 n2 n1; do lab_exec "$n" sh -c 'pkill -x mariadbd; while pgrep -x mariadbd >/dev/null; do sleep 0.2; done'; done
  lab_exec n1 sh -c 'printf "[galera]\nwsrep_on=OFF\nwsrep_provider=none\n" > /etc/mysql/mariadb.conf.d/99-bench-plain.cnf'
  lab_exec n1 /etc/init.d/mariadb start >/dev/null
  [[ "$(lab_exec n1 mariadb -N -B -e 'SELECT @@wsrep_on')" == 0 ]]
  say "plain mariadbd on n1: sysbench, $(( THREADS * 3 )) threads, $SECONDS_PLAIN s"
  sample_load "$BATS_FILE_TMPDIR/load.plain" & LOAD_SAMPLER=$!
  lab_exec n1 "${SB[@]}" --threads="$(( THREADS * 3 ))" --time="$SECONDS_PLAIN" --report-interval=0 run \
    > "$BATS_FILE_TMPDIR/sb.plain" 2>&1
  kill "$LOAD_SAMPLER"; LOAD_SAMPLER=
  sb_figures "one plain mariadbd, $(( THREADS * 3 )) threads" "$BATS_FILE_TMPDIR/sb.plain"
  printf '  %s s; load average %s\n' "$SECONDS_PLAIN" "$(load_summary "$BATS_FILE_TMPDIR/load.plain")"
}

main() {
  local config="$BATS_FILE_TMPDIR/galera-3.yaml"
  # The Galera lab fixture without node4: three database nodes, the toolkit's default failure detection.
  grep -v '10.213.0.14' "$REPO/test/fixtures/lab/galera-4.yaml" > "$config"
  say "lab up (prefix $LAB_PREFIX)"
  lab_setup 3 >/dev/null 2>&1
  gal_prepare "$config" n1 n2 n3
  {
    printf 'sysbench oltp_read_write (4 tables x 10000 rows), %s\n' "$(sysbench --version)"
    printf 'evs options: %s\n' "$(lab_exec n1 sed -n 's/^GALERA_EVS_OPTIONS=//p' "$TK/lib/config.sh")"
    # A false eviction fails the bench after the baseline, so the run still gives all its figures.
    galera_run
    plain_run
  } | tee "$BATS_FILE_TMPDIR/result.txt"
  ! grep -q '^FALSE EVICTION' "$BATS_FILE_TMPDIR/result.txt"
}

main "$@"
