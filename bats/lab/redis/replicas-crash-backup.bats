#!/usr/bin/env bats
# Redis Cluster with replicas: 1 on 3 lab nodes: every master has a replica on another node, a
# backup -> FLUSHALL -> restore brings every key back, a whole node crashing under a writer loses no
# acknowledged key and the service continues, and the node comes back as it was. Tests run in order
# and share one lab.
export LAB_PREFIX=rds-repl
load redis-helpers
bats_load_library bats-support
bats_load_library bats-assert

setup_file() {
  rds_setup 3 redis-replicas.yaml
}

teardown_file() {
  [[ -f $BATS_FILE_TMPDIR/writer.stop ]] || touch "$BATS_FILE_TMPDIR/writer.stop" 2>/dev/null || true
  lab_teardown
}

# replica_hosts_ok: every master serving slots has a replica on another host.
replica_hosts_ok() {
  rds_cli n1 -h "$(lab_ip n1)" CLUSTER NODES | awk '
    { split($2, a, ":"); host[$1] = a[1] }
    $3 ~ /master/ && $3 !~ /fail/ && NF > 8 { m[$1] = 1 }
    $3 ~ /slave/ && $3 !~ /fail/ { r[NR] = $1 " " $4 }
    END {
      for (i in r) { split(r[i], x, " "); if (host[x[1]] != host[x[2]]) ok[x[2]] = 1 }
      n = 0; for (id in m) { n++; if (!(id in ok)) exit 1 }
      exit n == 0
    }'
}

# status_survives NODE: the phase's status on NODE says the topology survives the loss of any one node.
status_survives() {
  rds_phase "$1" --status 2>&1 | grep -q "survives the loss of any one node"
}

# failover_done: the cluster serves every slot again and node1's replica instance is a master.
failover_done() {
  rds_cli n1 -h "$(lab_ip n1)" CLUSTER INFO | grep -q "cluster_state:ok" &&
    rds_cli n1 -h "$(lab_ip n1)" -p 6380 ROLE | head -n 1 | grep -q master
}

@test "bootstrap and two joins with replicas: 1 give each master a replica on another node" {
  run rds_phase n1 --bootstrap
  assert_success
  run rds_phase n2 --join --peer "$(lab_ip n1)"
  assert_success
  run rds_phase n3 --join --peer "$(lab_ip n1)"
  assert_success
  assert_output --partial "replicas placed"
  assert_equal "$(rds_masters n1)" 3
  wait_until 60 replica_hosts_ok
  run rds_phase n1 --status
  assert_output --partial "survives the loss of any one node"
}

@test "backup -> FLUSHALL -> restore brings every key back" {
  assert_equal "$(rds_write n1 1 2000)" 2000
  run lab_exec n1 "$RDS_TOOLKIT/backup/backup_redis.sh" --dest /data/system_backup/databases/redis/t1 --json
  assert_success
  run jq -r .masters <<< "$(tail -n 1 <<< "$output")"
  assert_output 3
  run lab_exec n1 sh -c 'cd /data/system_backup/databases/redis/t1 && sha256sum -c --quiet SHA256SUMS && ls *.rdb | wc -l'
  assert_output 3
  rds_cli n1 --cluster call "$(lab_ip n1):6379" FLUSHALL >/dev/null
  assert_equal "$(rds_count_ok n1 1 2000)" 0
  run lab_exec n1 "$RDS_TOOLKIT/backup/restore_redis.sh" --src /data/system_backup/databases/redis/t1 --yes
  assert_success
  assert_output --partial "2000 keys put back"
  assert_equal "$(rds_count_ok n2 1 2000)" 2000
}

@test "restore refuses a damaged backup and changes nothing" {
  lab_exec n1 sh -c 'cp -a /data/system_backup/databases/redis/t1 /tmp/bad && f=$(ls /tmp/bad/*.rdb | head -n 1) && printf x >> "$f"'
  run lab_exec n1 "$RDS_TOOLKIT/backup/restore_redis.sh" --src /tmp/bad --yes
  assert_failure 5
  assert_output --partial "checksum"
}

@test "a whole node crashing under a writer: service continues, no acknowledged key lost" {
  local log=$BATS_FILE_TMPDIR/writer.log stop=$BATS_FILE_TMPDIR/writer.stop
  rm -f "$stop"
  # The writer runs in the client namespace: SET then WAIT 1 (a key counts as acknowledged when a
  # replica has it) through node1, following MOVED redirects.
  lab_client env REDISCLI_AUTH="$RDS_PASSWORD" setsid bash -c '
    i=0
    while [[ ! -e $2 ]]; do
      i=$((i + 1))
      out=$(printf "SET w:%d v%d\nWAIT 1 300\n" "$i" "$i" | timeout 5 redis-cli --no-auth-warning -c -h "$3" 2>&1 \
        | grep -v "^-> Redirected" | tr "\n" " ")
      printf "%s %d %s\n" "$EPOCHREALTIME" "$i" "$out" >> "$1"
    done' writer "$log" "$stop" "$(lab_ip n1)" >/dev/null 2>&1 3>&- &
  wait_until 60 bash -c '[[ $(grep -c " OK " "$0" 2>/dev/null) -ge 50 ]]' "$log"
  local crash_at=$EPOCHREALTIME
  lab crash n2
  # The failover: node1's replica instance takes node2's slots.
  wait_until 90 failover_done
  local n_before
  n_before=$(wc -l < "$log")
  wait_until 60 bash -c '(( $(wc -l < "$0") > $1 + 30 ))' "$log" "$n_before"
  touch "$stop"
  sleep 1
  # Largest gap between two successful writes around the crash (reported, not asserted: shared CPU).
  local gap
  gap=$(awk -v c="$crash_at" '$3 == "OK" { if (last != "" && $1 > c - 1 && $1 - last > g) g = $1 - last; last = $1 } END { printf "%.1f", g }' "$log")
  echo "# writes resumed after at most ${gap}s without a successful write around the crash" >&3
  run awk -v c="$crash_at" '$3 == "OK" && $1 > c + 0 { n++ } END { print n + 0 }' "$log"
  (( output > 0 ))
  # Every acknowledged key (OK and WAIT >= 1) reads back.
  awk '$3 == "OK" && $4 >= 1 { print $2 }' "$log" > "$BATS_FILE_TMPDIR/acked"
  local acked lost
  acked=$(wc -l < "$BATS_FILE_TMPDIR/acked")
  lost=$(lab_client env REDISCLI_AUTH="$RDS_PASSWORD" bash -c '
    while read -r i; do printf "GET w:%d\n" "$i"; done < "$1" | redis-cli --no-auth-warning -c -h "$2" \
      | grep -v "^-> Redirected" | paste -d" " - "$1" | awk "\$1 != \"v\" \$2 { n++ } END { print n + 0 }"' \
      check "$BATS_FILE_TMPDIR/acked" "$(lab_ip n1)")
  echo "# $acked acknowledged writes, $lost lost" >&3
  (( acked > 0 ))
  assert_equal "$lost" 0
  assert_equal "$(rds_count_ok n1 1 2000)" 2000
}

@test "the crashed node boots, rejoins and takes its master role back" {
  lab boot n2
  run rds_phase n2 --join --peer "$(lab_ip n1)"
  assert_success
  run rds_cli n2 -h "$(lab_ip n2)" ROLE
  assert_line --index 0 master
  wait_until 90 replica_hosts_ok
  # n3 sees the new replica a gossip round after n1 does: wait for its own view.
  wait_until 30 status_survives n3
  run rds_phase n3 --status
  assert_output --partial "3 master(s) serving 16384/16384 slots"
  assert_output --partial "survives the loss of any one node"
  assert_equal "$(rds_count_ok n2 1 2000)" 2000
}
