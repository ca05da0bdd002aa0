#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# backup/backup_redis.sh and backup/restore_redis.sh with PATH stubs: arguments, refusals before
# anything changes (unhealthy cluster, damaged backup), dry-run plans.

setup() {
  load redis_helpers
  redis_generate redis-cluster.yaml
  redis_setup
}

@test "both scripts need their directory argument (exit 2)" {
  run "$RDS_TOOLKIT/backup/backup_redis.sh"
  assert_failure 2
  assert_output --partial "--dest DIR is required"
  run "$RDS_TOOLKIT/backup/restore_redis.sh"
  assert_failure 2
  assert_output --partial "--src DIR is required"
}

@test "backup refuses when no node answers, and when the cluster is not ok (exit 5)" {
  run "$RDS_TOOLKIT/backup/backup_redis.sh" --dest "$BATS_TEST_TMPDIR/out"
  assert_failure 5
  assert_output --partial "[ERROR RedisUp]"
  stub redis-cli 'case "$*" in *PING*) echo PONG ;; *"CLUSTER INFO"*) printf "cluster_state:fail\r\n" ;; *) exit 1 ;; esac'
  run "$RDS_TOOLKIT/backup/backup_redis.sh" --dest "$BATS_TEST_TMPDIR/out"
  assert_failure 5
  assert_output --partial "[ERROR RedisHealthy]"
  [ ! -e "$BATS_TEST_TMPDIR/out" ]
}

@test "backup --dry-run names every master it would save and writes nothing" {
  stub redis-cli 'case "$*" in
  *PING*) echo PONG ;;
  *"CLUSTER INFO"*) printf "cluster_state:ok\r\n" ;;
  *"CLUSTER NODES"*) printf "%s\r\n" \
    "a000000000000000000000000000000000000000 10.213.0.11:6379@16379 myself,master - 0 0 1 connected 0-8191" \
    "b000000000000000000000000000000000000000 10.213.0.12:6379@16379 master - 0 0 2 connected 8192-16383" \
    "c000000000000000000000000000000000000000 10.213.0.12:6380@16380 slave a000000000000000000000000000000000000000 0 0 1 connected" ;;
  *) exit 1 ;;
esac'
  run "$RDS_TOOLKIT/backup/backup_redis.sh" --dest "$BATS_TEST_TMPDIR/out" --dry-run
  assert_success
  assert_line "[dryrun] would BGSAVE 10.213.0.11:6379 and copy its RDB to $BATS_TEST_TMPDIR/out/10.213.0.11_6379.rdb"
  assert_line "[dryrun] would BGSAVE 10.213.0.12:6379 and copy its RDB to $BATS_TEST_TMPDIR/out/10.213.0.12_6379.rdb"
  refute_output --partial "6380"
  [ ! -e "$BATS_TEST_TMPDIR/out" ]
}

@test "restore refuses a backup without checksums or with a damaged file, before touching Redis" {
  mkdir -p "$BATS_TEST_TMPDIR/b"
  printf 'REDIS0010' > "$BATS_TEST_TMPDIR/b/10.213.0.11_6379.rdb"
  run "$RDS_TOOLKIT/backup/restore_redis.sh" --src "$BATS_TEST_TMPDIR/b" --yes
  assert_failure 5
  assert_output --partial "SHA256SUMS is missing"
  (cd "$BATS_TEST_TMPDIR/b" && sha256sum -- *.rdb > SHA256SUMS)
  printf 'x' >> "$BATS_TEST_TMPDIR/b/10.213.0.11_6379.rdb"
  run "$RDS_TOOLKIT/backup/restore_redis.sh" --src "$BATS_TEST_TMPDIR/b" --yes
  assert_failure 5
  assert_output --partial "does not match"
  run grep -c redis-cli "$STUB_LOG"
  assert_output 0
}

@test "restore without a healthy Redis says how to rebuild it first" {
  mkdir -p "$BATS_TEST_TMPDIR/b"
  printf 'REDIS0010' > "$BATS_TEST_TMPDIR/b/10.213.0.11_6379.rdb"
  (cd "$BATS_TEST_TMPDIR/b" && sha256sum -- *.rdb > SHA256SUMS)
  run "$RDS_TOOLKIT/backup/restore_redis.sh" --src "$BATS_TEST_TMPDIR/b" --yes
  assert_failure 5
  assert_output --partial "phase2_redis_setup.sh --bootstrap/--join first"
}

@test "restore refuses without confirmation when stdin is not a terminal" {
  mkdir -p "$BATS_TEST_TMPDIR/b"
  printf 'REDIS0010' > "$BATS_TEST_TMPDIR/b/10.213.0.11_6379.rdb"
  (cd "$BATS_TEST_TMPDIR/b" && sha256sum -- *.rdb > SHA256SUMS)
  stub redis-cli 'case "$*" in *PING*) echo PONG ;; *"CLUSTER INFO"*) printf "cluster_state:ok\r\n" ;; *) exit 1 ;; esac'
  run "$RDS_TOOLKIT/backup/restore_redis.sh" --src "$BATS_TEST_TMPDIR/b" < /dev/null
  assert_failure 6
  assert_output --partial "rerun with --yes"
}

@test "backup refuses a master address the cluster reports that is not a configured node (exit 5, no SSH)" {
  stub redis-cli 'case "$*" in
  *PING*) echo PONG ;;
  *"CLUSTER INFO"*) printf "cluster_state:ok\r\n" ;;
  *"CLUSTER NODES"*) printf "%s\r\n" \
    "a000000000000000000000000000000000000000 10.213.0.11:6379@16379 myself,master - 0 0 1 connected 0-8191" \
    "b000000000000000000000000000000000000000 10.213.0.200:6379@16379 master - 0 0 2 connected 8192-16383" ;;
  *) exit 1 ;;
esac'
  run "$RDS_TOOLKIT/backup/backup_redis.sh" --dest "$BATS_TEST_TMPDIR/out"
  assert_failure 5
  assert_output --partial "[ERROR RedisMember]"
  assert_output --partial "10.213.0.200:6379"
  run grep -c "BGSAVE\|^ssh" "$STUB_LOG"
  assert_output 0
}

@test "redis::member_addr accepts configured node ports only" {
  run in_lib 'redis::member_addr 10.213.0.11 "$REDIS_PORT"'
  assert_success
  run in_lib 'redis::member_addr 10.213.0.200 "$REDIS_PORT"'
  assert_failure
  run in_lib 'redis::member_addr 10.213.0.11 1'
  assert_failure
  run in_lib 'redis::member_addr "10.213.0.11 " "$REDIS_PORT"'
  assert_failure
}

@test "the restore loader has a password in a private config file, never an open port on its command line" {
  run grep -n 'redis-server --port\|--cluster-from-pass' "$RDS_TOOLKIT/backup/restore_redis.sh"
  assert_failure
  run grep -c 'requirepass\|--cluster-from-askpass\|chmod 0700' "$RDS_TOOLKIT/backup/restore_redis.sh"
  refute_output 0
}

@test "Sentinel backup refuses a master_host a replica reports that is not a configured node (exit 5)" {
  redis_generate redis-sentinel.yaml
  stub redis-cli 'case "$*" in
  *PING*) echo PONG ;;
  *"INFO replication"*) printf "role:slave\r\nmaster_host:10.213.0.200\r\n" ;;
  *) exit 1 ;;
esac'
  run "$RDS_TOOLKIT/backup/backup_redis.sh" --dest "$BATS_TEST_TMPDIR/out"
  assert_failure 5
  assert_output --partial "[ERROR RedisMember]"
  run grep -c "BGSAVE\|^ssh" "$STUB_LOG"
  assert_output 0
}
