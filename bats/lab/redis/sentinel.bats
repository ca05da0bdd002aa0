#!/usr/bin/env bats
# Redis Sentinel on 2 lab nodes plus a witness sentinel on the arbitrator host (n3): master +
# replica with persistence, three sentinels, and a whole-node crash of the master failed over with
# no acknowledged key lost. Tests run in order and share one lab.
export LAB_PREFIX=rds-sent
load redis-helpers
bats_load_library bats-support
bats_load_library bats-assert

setup_file() {
  rds_setup 3 redis-sentinel.yaml
}

teardown_file() {
  lab_teardown
}

# sentinel_master nK: the master address the sentinel on nK reports.
sentinel_master() {
  rds_cli "$1" -h "$(lab_ip "$1")" -p 26379 SENTINEL GET-MASTER-ADDR-BY-NAME rds-sentinel-redis | head -n 1
}

@test "bootstrap, join and the witness give a master, a synced replica and three sentinels" {
  run rds_phase n1 --bootstrap
  assert_success
  assert_output --partial "this node is the Redis master"
  run rds_phase n2 --join
  assert_success
  run rds_phase n3 --witness
  assert_success
  run rds_cli n2 -h "$(lab_ip n2)" INFO replication
  assert_output --partial "master_link_status:up"
  run rds_phase n1 --status
  assert_output --partial "3 sentinel(s)"
  assert_output --partial "survives the loss of any one node"
}

@test "a rerun on the master and on the replica changes nothing" {
  run rds_phase n1 --bootstrap
  assert_success
  assert_output --partial "already monitors"
  run rds_phase n2 --join
  assert_success
  assert_output --partial "already monitors"
}

@test "Sentinel backup -> FLUSHALL -> restore brings every key back (through the password-protected loader)" {
  assert_equal "$(rds_write n1 1 300)" 300
  run lab_exec n2 "$RDS_TOOLKIT/backup/backup_redis.sh" --dest /data/system_backup/databases/redis/s1 --json
  assert_success
  run jq -r .masters <<< "$(tail -n 1 <<< "$output")"
  assert_output 1
  rds_cli n1 -h "$(lab_ip n1)" FLUSHALL >/dev/null
  assert_equal "$(rds_count_ok n1 1 300)" 0
  run lab_exec n2 "$RDS_TOOLKIT/backup/restore_redis.sh" --src /data/system_backup/databases/redis/s1 --yes
  assert_success
  assert_output --partial "300 keys put back into $(lab_ip n1)"
  assert_equal "$(rds_count_ok n1 1 300)" 300
}

sentinels_know_replica() {
  local n
  for n in n2 n3; do
    rds_cli "$n" -h "$(lab_ip "$n")" -p 26379 SENTINEL MASTER rds-sentinel-redis | grep -A1 '^num-slaves$' | tail -n 1 | grep -q '^[1-9]' || return 1
  done
}

# n2_promoted: the sentinels made node2 the master and it says so itself.
n2_promoted() {
  [[ $(sentinel_master n2) == "$(lab_ip n2)" ]] &&
    [[ $(rds_cli n2 -h "$(lab_ip n2)" ROLE | head -n 1) == master ]]
}

@test "the master node crashes: the replica is promoted and keeps every synced key" {
  lab_exec n1 bash -c "$RDS_AUTH"'for i in $(seq 1 1000); do echo "SET key:$i val$i"; done | redis-cli --no-auth-warning -h 10.213.0.11 >/dev/null
    redis-cli --no-auth-warning -h 10.213.0.11 WAIT 1 5000'
  # Precondition: the sentinels that survive know the replica (else no failover is possible).
  wait_until 60 sentinels_know_replica
  local t0=$SECONDS
  lab crash n1
  wait_until 120 n2_promoted
  echo "# failover to node2 observed after about $(( SECONDS - t0 ))s" >&3
  assert_equal "$(lab_exec n2 bash -c "$RDS_AUTH"'for i in $(seq 1 1000); do echo "GET key:$i"; done | redis-cli --no-auth-warning -h 10.213.0.12 | grep -c ^val')" 1000
}
