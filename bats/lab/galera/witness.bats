#!/usr/bin/env bats
# Four Galera nodes and a witness (n5 runs only garbd): 5 votes, so losing two nodes at once keeps a
# Primary component that takes writes; a node left alone answers reads and refuses writes at once; when
# the member count turns odd, garbd stops. A PyMySQL writer on n1 records every acknowledged INSERT, and
# every one of them must be on every node afterwards (the set checker).

load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"
load galera_helpers

export LAB_PREFIX="${LAB_PREFIX:-galw}"

setup_file() {
  lab_setup 5 >/dev/null 2>&1
  gal_prepare "$(toolkit_fixture lab/galera-4-witness.yaml)" n1 n2 n3 n4
}

teardown_file() {
  lab_teardown >/dev/null 2>&1 || true
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

# writer_start nK: a PyMySQL client on nK inserting ids 1, 2, ... into auth_portal.acked through the
# local server, one every 20 ms; each id is appended to /tmp/acked only once its COMMIT returned.
# Failures are counted, never retried with the same id. Stops when /tmp/acked.stop exists.
writer_start() {
  lab_exec "$1" rm -f /tmp/acked /tmp/acked.stop /tmp/acked.log
  # shellcheck disable=SC2016 # runs on the node
  lab_exec "$1" sh -c 'setsid /usr/bin/python3 -c "
import os, time, pymysql
i = 0
acked = open(\"/tmp/acked\", \"a\", buffering=1)
conn = None
while not os.path.exists(\"/tmp/acked.stop\"):
    i += 1
    try:
        if conn is None:
            conn = pymysql.connect(unix_socket=\"/run/mysqld/mysqld.sock\", user=\"root\", database=\"auth_portal\", autocommit=True, read_timeout=10, write_timeout=10)
        conn.cursor().execute(\"INSERT INTO acked VALUES (%s)\", (i,))
        acked.write(\"%d\n\" % i)
    except Exception as e:
        print(\"failed\", i, type(e).__name__, e.args[:1], flush=True)
        conn = None
        time.sleep(0.1)
    time.sleep(0.02)
" > /tmp/acked.log 2>&1 < /dev/null &'
}

writer_stop() {
  lab_exec "$1" touch /tmp/acked.stop
  sleep 1
}

# all_acked_on nK WRITER_NODE: every id acknowledged to the writer on ACKED_NODE is in nK's table.
all_acked_on() {
  local missing
  missing="$(comm -23 <(lab_exec "$2" sort -u /tmp/acked) <(sql "$1" "SELECT id FROM auth_portal.acked" | sort -u))"
  [[ -z $missing ]] || { echo "acknowledged but missing on $1: $(head -5 <<< "$missing" | tr '\n' ' ')"; return 1; }
}

# why_not nK: what nK's Galera saw (view changes, quorum) and the witness's garbd, for a failed wait.
why_not() {
  echo "# $1: $(wsrep "$1" wsrep_cluster_status) size $(wsrep "$1" wsrep_cluster_size)" >&3
  lab_exec "$1" grep -E 'view\(view_id|suspect|inactive|Quorum|component|partitioned' /var/log/mysql/error.log | tail -n 40 | sed 's/^/#   /' >&3
  lab_exec n5 tail -n 20 /var/log/garbd.log | sed 's/^/#   garbd: /' >&3
  return 1
}

acked_count() {
  lab_exec "$1" sh -c 'wc -l < /tmp/acked'
}

@test "bootstrap n1, join n2..n4: garbd runs on the witness, 5 votes" {
  local n
  run lab_exec n1 "$TK/start_multi_complete.sh" --only database --yes
  assert_success
  for n in n2 n3 n4; do
    run lab_exec "$n" "$TK/start_multi_complete.sh" --only database --yes
    assert_success
  done
  wait_until 60 lab_exec n5 pgrep -x garbd
  wait_until 60 synced n1 5
  run lab_exec n5 pgrep -x mariadbd
  assert_failure
  lab_exec n1 mariadb -e "CREATE TABLE IF NOT EXISTS auth_portal.acked (id INT PRIMARY KEY)"
}

@test "power loss of n3 and n4 at once: n1 and n2 stay Primary with the witness; no acknowledged write is lost" {
  local before
  writer_start n1
  wait_until 30 eval '(( $(acked_count n1) >= 50 ))'
  lab crash n3 >/dev/null
  lab crash n4 >/dev/null
  wait_until 60 synced n1 3 || why_not n1
  wait_until 60 synced n2 3 || why_not n2
  # the writer goes on after the eviction
  # shellcheck disable=SC2034 # read by the eval below
  before="$(acked_count n1)"
  wait_until 30 eval '(( $(acked_count n1) >= before + 50 ))'
  writer_stop n1
  all_acked_on n1 n1
  all_acked_on n2 n1
  echo "# acknowledged $(acked_count n1); failed attempts: $(lab_exec n1 grep -c ^failed /tmp/acked.log || true)" >&3
}

@test "n3 and n4 boot and rejoin: every acknowledged write is on them" {
  local n
  lab boot n3 >/dev/null
  lab boot n4 >/dev/null
  for n in n3 n4; do
    run lab_exec "$n" "$TK/start_multi_complete.sh" --only database --yes
    assert_success
  done
  wait_until 90 synced n3 5
  wait_until 90 synced n4 5
  all_acked_on n3 n1
  all_acked_on n4 n1
}

@test "n1 alone (partition): it answers reads, refuses writes at once, /health says read-only; writes resume on heal" {
  lab partition n1 n2,n3,n4,n5
  wait_until 60 non_primary n1 || why_not n1
  wait_until 60 synced n2 4 || why_not n2
  # stale reads of the portal's database are served
  run lab_exec n1 mariadb -N -B -e "SELECT COUNT(*) > 0 FROM auth_portal.acked"
  assert_success
  assert_output 1
  # a write is an error at once, never a hang
  run lab_exec n1 timeout 10 mariadb -e "INSERT INTO auth_portal.acked VALUES (-1)"
  assert_failure
  refute [ "$status" -eq 124 ]
  run lab_exec n1 "$TK/utils/health_check.sh"
  assert_output --partial read-only
  lab heal-all
  wait_until 90 synced n1 5
  run lab_exec n1 mariadb -e "INSERT INTO auth_portal.acked VALUES (-1)"
  assert_success
}

@test "node_remove n4: 3 members are odd, garbd stops; the 3 keep writing" {
  run lab_exec n1 "$TK/utils/node_remove.sh" --service database 10.213.0.14 --yes
  assert_success
  wait_until 60 eval '! lab_exec n5 pgrep -x garbd'
  wait_until 60 synced n1 3
  run lab_exec n2 mariadb -e "INSERT INTO auth_portal.acked VALUES (-2)"
  assert_success
}
