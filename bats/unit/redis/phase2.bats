#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# setup/phase2_redis_setup.sh and lib/redis.sh with PATH stubs in a temp root: arguments, dry-run
# plans, secrets handling, CLUSTER NODES parsing and the "what it survives" line.

setup() {
  load redis_helpers
  redis_generate redis-cluster.yaml
  redis_setup
}

@test "--help prints the usage and every mode" {
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --help
  assert_success
  assert_line --index 0 --partial "Usage: phase2_redis_setup.sh"
  assert_output --partial "--remove-node IP"
  assert_output --partial "--witness"
}

@test "usage errors exit 2: no mode, two modes, unknown flag, an address that is not a node" {
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh"
  assert_failure 2
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --bootstrap --join
  assert_failure 2
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --bootstrap --frobnicate
  assert_failure 2
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --add-node 192.0.2.7
  assert_failure 2
  assert_output --partial "not a configured node"
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --remove-node
  assert_failure 2
}

@test "a missing secrets file stops before anything is written" {
  rm "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --bootstrap
  assert_failure 2
  assert_output --partial "secrets file"
  [ ! -e "$ROOT_PREFIX/etc/redis" ]
}

@test "--dry-run --bootstrap prints the plan, never the password, and changes nothing" {
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --bootstrap --dry-run
  assert_success
  assert_output --partial "[dryrun] would write $ROOT_PREFIX/etc/redis/hpc-auth.conf (mode 0640, owner root:redis)"
  assert_output --partial "(content holds secrets; not shown)"
  assert_output --partial "bind 10.213.0.11 127.0.0.1"
  assert_output --partial "cluster-announce-ip 10.213.0.11"
  assert_output --partial "include /etc/redis/hpc-auth.conf"
  assert_output --partial "start-stop-daemon --start"
  assert_output --partial "CLUSTER ADDSLOTSRANGE 0 16383"
  refute_output --partial "$RDS_PW"
  [ ! -e "$ROOT_PREFIX/etc/redis" ]
  run grep -c start-stop-daemon "$STUB_LOG"
  assert_output 0
}

@test "the generated files hold no password, and redis.conf only includes the auth file" {
  run grep -rl "requirepass" "$RDS_TOOLKIT"
  refute_output --partial "configs/redis.conf"
  run grep -c "include @AUTH_FILE@" "$RDS_TOOLKIT/configs/redis.conf"
  assert_output 1
}

@test "bootstrap joins instead when a peer already serves a Redis cluster" {
  stub redis-cli 'case "$*" in
  *"-h 10.213.0.12 -p 6379 PING"*) echo PONG ;;
  *"-h 10.213.0.12 -p 6379 CLUSTER INFO"*) printf "cluster_state:ok\r\ncluster_slots_assigned:16384\r\n" ;;
  *"-h 10.213.0.12 -p 6379 CLUSTER NODES"*)
    echo "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 10.213.0.12:6379@16379 myself,master - 0 0 1 connected 0-16383" ;;
  *) exit 1 ;;
esac'
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --bootstrap --dry-run
  assert_output --partial "already serves a Redis cluster: joining it instead of bootstrapping"
  assert_output --partial "--cluster add-node 10.213.0.11:6379 10.213.0.12:6379"
  refute_output --partial "ADDSLOTSRANGE"
}

@test "join refuses to move slots while a member is unreachable" {
  stub redis-cli 'case "$*" in
  *"-h 10.213.0.12 -p 6379 PING"*) echo PONG ;;
  *"-h 10.213.0.12 -p 6379 CLUSTER INFO"*) printf "cluster_state:ok\r\ncluster_slots_assigned:16384\r\n" ;;
  *"-h 10.213.0.12 -p 6379 CLUSTER NODES"*)
    echo "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 10.213.0.12:6379@16379 myself,master - 0 0 1 connected 0-8191"
    echo "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 10.213.0.13:6379@16379 master,fail - 0 0 2 disconnected 8192-16383" ;;
  *) exit 1 ;;
esac'
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --join --peer 10.213.0.12 --dry-run
  assert_failure 5
  assert_output --partial "[ERROR RedisMembers]"
  assert_output --partial "10.213.0.13:6379"
}

@test "join with no live peer fails the preflight (exit 5) and names the fix" {
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --join --dry-run
  assert_failure 5
  assert_output --partial "--bootstrap on the first node"
}

@test "--remove-node on the node itself is refused" {
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --remove-node 10.213.0.11 --dry-run
  assert_failure 2
  assert_output --partial "runs on a survivor"
}

@test "redis::nodes turns CLUSTER NODES into id addr flags master link slot-count" {
  stub redis-cli 'printf "%s\r\n" \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 10.213.0.11:6379@16379,node1 myself,master - 0 0 1 connected 0-5460 [5461->-bbbb]" \
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 10.213.0.12:6379@16379 master - 0 0 2 connected 5461-10922 16383" \
    "cccccccccccccccccccccccccccccccccccccccc 10.213.0.12:6380@16380 slave aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 0 0 1 connected"'
  run in_lib 'redis::nodes 10.213.0.11 6379'
  assert_line --index 0 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 10.213.0.11:6379 myself,master - connected 5461"
  assert_line --index 1 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 10.213.0.12:6379 master - connected 5463"
  assert_line --index 2 "cccccccccccccccccccccccccccccccccccccccc 10.213.0.12:6380 slave aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa connected 0"
  run in_lib 'redis::open_slots 10.213.0.11 6379'
  assert_success
}

@test "the status line says what the topology survives" {
  stub redis-cli 'case "$*" in
  *"CLUSTER INFO"*) printf "cluster_state:ok\r\n" ;;
  *"CLUSTER NODES"*) printf "%s\r\n" \
    "a000000000000000000000000000000000000000 10.213.0.11:6379@16379 myself,master - 0 0 1 connected 0-8191" \
    "b000000000000000000000000000000000000000 10.213.0.12:6379@16379 master - 0 0 2 connected 8192-16383" \
    "c000000000000000000000000000000000000000 10.213.0.11:6380@16380 slave b000000000000000000000000000000000000000 0 0 2 connected" \
    "d000000000000000000000000000000000000000 10.213.0.12:6380@16380 slave ${STUB_D_MASTER:-a000000000000000000000000000000000000000} 0 0 1 connected" ;;
  *) exit 1 ;;
esac'
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --status
  assert_success
  assert_output "redis cluster: ok, 2 master(s) serving 16384/16384 slots, 2 replica(s); survives the loss of any one node without losing a key"
  # Both replicas on node2's host serving... node1's replica on node1 itself protects nothing.
  STUB_D_MASTER=b000000000000000000000000000000000000000 run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --status --json
  run jq -r .summary <<< "$output"
  assert_output --partial "1 master(s) without a replica on another node"
}

@test "status without a running Redis fails and says so" {
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --status
  assert_failure 1
  assert_output --partial "not answering"
}

@test "the portal's connection description lists the nodes and holds no secret" {
  run jq -r '.mode, .port, (.nodes | map(.host) | join(",")), .password_secret, .cluster.replica_port' "$RDS_TOOLKIT/configs/redis_connection.json"
  assert_output $'cluster\n6379\n10.213.0.11,10.213.0.12,10.213.0.13,10.213.0.14\nREDIS_PASSWORD\nnull'
}

@test "sentinel: --dry-run bootstrap plans a master and a sentinel config (masked: it holds the password)" {
  redis_generate redis-sentinel.yaml
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --bootstrap --dry-run
  assert_success
  assert_output --partial "REPLICAOF NO ONE"
  assert_output --partial "[dryrun] would write $ROOT_PREFIX/etc/redis/sentinel-hpc.conf (mode 0640, owner redis:redis)"
  run grep -c "sentinel monitor @MASTER_NAME@ @MASTER_IP@ 6379 @QUORUM@" "$RDS_TOOLKIT/configs/sentinel.conf"
  assert_output 1
  refute_output --partial "cluster-enabled"
  refute_output --partial "$RDS_PW"
}

@test "sentinel: --witness is refused on a Redis Cluster config" {
  run "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" --witness --dry-run
  assert_failure 2
  assert_output --partial "for redis.type: sentinel"
}
