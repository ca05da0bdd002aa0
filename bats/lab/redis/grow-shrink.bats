#!/usr/bin/env bats
# Redis Cluster (replicas: 0) grown 1 -> 2 -> 3 -> 4 nodes and shrunk again with the generated
# setup/phase2_redis_setup.sh on real redis-server instances: 5000 keys, none lost at any step,
# an interrupted rebalance completed by rerunning. Tests run in order and share one lab.
export LAB_PREFIX=rds-grow
load redis-helpers
bats_load_library bats-support
bats_load_library bats-assert

setup_file() {
  rds_setup 4 redis-cluster.yaml
}

teardown_file() {
  lab_teardown
}

n4_has_slots() {
  rds_cli n1 -h "$(lab_ip n1)" CLUSTER NODES | awk -v a="$(lab_ip n4):" 'index($2, a) == 1 && NF > 8 { f = 1 } END { exit !f }'
}

@test "bootstrap creates a one-node cluster owning all 16384 slots and takes 5000 keys" {
  run rds_phase n1 --bootstrap
  assert_success
  assert_output --partial "created a one-node Redis cluster"
  run rds_cli n1 -h "$(lab_ip n1)" CLUSTER INFO
  assert_output --partial "cluster_slots_assigned:16384"
  run rds_write n1 1 5000
  assert_output 5000
}

@test "the password is in no generated file and redis.conf only includes it" {
  run grep -rl "$RDS_PASSWORD" "$RDS_GEN/cluster"
  assert_failure
  run lab_exec n1 stat -c '%a %U:%G' /etc/redis/hpc-auth.conf
  assert_output "640 root:redis"
  run lab_exec n1 grep -c "$RDS_PASSWORD" /etc/redis/redis-hpc-6379.conf
  assert_output 0
}

@test "a second bootstrap on the member changes nothing and says so" {
  run rds_phase n1 --bootstrap
  assert_success
  assert_output --partial "already part of a Redis cluster"
  refute_output --partial "restarting"
}

@test "growing to 2 and 3 nodes loses no key and balances the slots" {
  run rds_phase n2 --join --peer "$(lab_ip n1)"
  assert_success
  assert_output --partial "all 16384 slots covered"
  assert_equal "$(rds_masters n1)" 2
  assert_equal "$(rds_count_ok n2 1 5000)" 5000
  # --add-node from a member runs the join on the new node over SSH.
  run rds_phase n1 --add-node "$(lab_ip n3)"
  assert_success
  assert_equal "$(rds_masters n1)" 3
  assert_equal "$(rds_count_ok n3 1 5000)" 5000
}

@test "a join killed in the middle of its rebalance is completed by running it again" {
  # Start the join of n4 detached, wait until slots start moving to it, then kill it and its redis-cli.
  # setsid in the background job: its pid is then its own process group, killed whole below.
  lab_exec n4 bash -c "setsid $RDS_TOOLKIT/setup/phase2_redis_setup.sh --join --peer $(lab_ip n1) </dev/null >/tmp/join.log 2>&1 & echo \$! > /tmp/join.pid"
  wait_until 180 n4_has_slots
  if lab_exec n4 bash -c 'kill -KILL -- -"$(cat /tmp/join.pid)"' 2>/dev/null; then
    echo "# join killed while its rebalance ran" >&3
  else
    echo "# the join finished before it could be killed; the rerun below is then a plain rerun" >&3
  fi
  run rds_cli n1 --cluster check "$(lab_ip n1):6379"
  echo "# state after the kill: $(grep -c 'open slot\|migrating\|importing' <<< "$output" || true) open-slot line(s)" >&3
  run rds_phase n4 --join --peer "$(lab_ip n1)"
  assert_success
  assert_output --partial "all 16384 slots covered"
  assert_equal "$(rds_masters n1)" 4
  run rds_cli n1 --cluster check "$(lab_ip n1):6379"
  assert_success
  refute_output --partial "[WARNING]"
  assert_equal "$(rds_count_ok n4 1 5000)" 5000
}

@test "removing a node drains its slots first: 0 keys lost, its Redis stopped" {
  run rds_phase n1 --remove-node "$(lab_ip n3)" --yes
  assert_success
  assert_equal "$(rds_masters n1)" 3
  assert_equal "$(rds_count_ok n1 1 5000)" 5000
  run rds_cli n1 -h "$(lab_ip n1)" CLUSTER NODES
  refute_output --partial "$(lab_ip n3):6379"
  run lab_port_open n1 "$(lab_ip n3)" 6379
  assert_failure
}

@test "the removed node can join again" {
  run rds_phase n3 --join --peer "$(lab_ip n2)"
  assert_success
  assert_equal "$(rds_masters n1)" 4
  assert_equal "$(rds_count_ok n3 1 5000)" 5000
}

@test "status states what the topology survives" {
  run rds_phase n2 --status
  assert_success
  assert_output --partial "4 master(s) serving 16384/16384 slots"
  assert_output --partial "losing a node takes its slots"
  run rds_phase n2 --status --json
  assert_success
  run jq -r .ok <<< "$output"
  assert_output true
}
