#!/usr/bin/env bats
# Unit: utils/health_check.sh with PATH stubs: critical vs non-critical, not_configured, drain, --quiet,
# the HTTP exchange (--serve-request) and what --http --daemon would do with and without systemd.

load "${HPC_REPO_ROOT}/bats/helpers/unit.bash"
load stubs

setup_file() {
  toolkit_generate "$(toolkit_fixture lab/discovery-lab3.yaml)" "$BATS_FILE_TMPDIR/tk"
  export TK="$BATS_FILE_TMPDIR/tk/cluster"
}

setup() {
  stubs_install
  unit_env
  HC="$TK/utils/health_check.sh"
}

check() {  # NAME FIELD: from the last JSON report in $output
  jq -r ".checks.$1.$2" <<< "$output"
}

@test "nothing set up on this node: services not_configured, disk and memory ok, healthy" {
  run "$HC" --json
  assert_success
  [[ "$(jq -r '[.status, .healthy, .drain, .node] | @tsv' <<< "$output")" == $'ok\ttrue\tfalse\t10.213.0.11' ]]
  for c in mariadb redis glusterfs slurmctld slurmdbd web; do
    assert_equal "$(check "$c" status)" not_configured
  done
  assert_equal "$(check memory message)" "memory 40% used"
  assert_equal "$(check mariadb critical)" true
  assert_equal "$(check slurmctld critical)" false
  run "$HC" --quiet
  assert_success
  assert_output ""
}

@test "a critical service set up here but down fails the node: exit 1, --quiet 1 with no output" {
  touch "$ROOT_PREFIX/var/lib/hpc-cluster/services/redis"
  run "$HC" --json
  assert_failure 1
  [[ "$(jq -r '[.status, .healthy, (.failed_critical | join(","))] | @tsv' <<< "$output")" == $'fail\tfalse\tredis' ]]
  assert_equal "$(check redis message)" "redis-server is not running"
  run "$HC" --quiet
  assert_failure 1
  assert_output ""
  run "$HC"
  assert_failure 1
  assert_output --partial "Node "
  assert_output --regexp "redis +fail +critical +redis-server is not running"
}

@test "Redis set up by phase 2 (its instance config) but stopped fails, with no marker file" {
  mkdir -p "$ROOT_PREFIX/etc/redis" && touch "$ROOT_PREFIX/etc/redis/redis-hpc-6379.conf"
  run "$HC" --json
  assert_failure 1
  assert_equal "$(check redis message)" "redis-server is not running"
}

@test "a non-critical check failing only degrades (slurmctld configured but down)" {
  mkdir -p "$ROOT_PREFIX/etc/slurm" && touch "$ROOT_PREFIX/etc/slurm/slurm.conf"
  run "$HC" --json
  assert_success
  [[ "$(jq -r '[.status, .healthy, .checks.slurmctld.status] | @tsv' <<< "$output")" == $'degraded\ttrue\tfail' ]]
}

@test "Galera: Synced ok, Donor warns, non-Primary fails, a silent mariadbd fails" {
  printf 'mariadbd\n' > "$STUB/running"
  printf 'wsrep_provider_name\tGalera\nwsrep_cluster_status\tPrimary\nwsrep_cluster_size\t3\nwsrep_local_state_comment\tSynced\n' > "$STUB/mariadb.out"
  run "$HC" --json
  [[ "$(check mariadb status)|$(check mariadb message)" == "ok|Galera Synced, cluster size 3" ]]
  sed -i 's/Synced/Donor\/Desynced/' "$STUB/mariadb.out"
  run "$HC" --json
  assert_success
  assert_equal "$(check mariadb status)" warn
  sed -i 's/Primary/non-Primary/' "$STUB/mariadb.out"
  run "$HC" --json
  assert_failure 1
  assert_equal "$(check mariadb message)" "read-only: Galera component is non-Primary, not Primary (reads answer from this node's last state, writes are refused until quorum returns)"
  rm "$STUB/mariadb.out"
  run "$HC" --json
  assert_equal "$(check mariadb message)" "mariadbd runs but does not answer queries"
}

@test "Redis: cluster_state ok passes; wrong password and a replica without its master fail" {
  printf 'redis-server\n' > "$STUB/running"
  printf 'role:master\n' > "$STUB/redis.info"
  printf 'cluster_state:ok\n' > "$STUB/redis.cluster"
  run "$HC" --json
  assert_equal "$(check redis status)" ok # (sentinel type in this fixture: the role is what counts)
  export REDIS_EXPECT_AUTH=other
  run "$HC" --json
  assert_failure 1
  assert_equal "$(check redis message)" "redis-server refused our password (secret REDIS_PASSWORD)"
  unset REDIS_EXPECT_AUTH
  printf 'role:slave\nmaster_link_status:down\n' > "$STUB/redis.info"
  run "$HC" --json
  assert_equal "$(check redis message)" "replica without a link to its master"
}

@test "Redis Cluster: cluster_state fail only warns (every node sees it alike; the VIP follows the database quorum)" {
  toolkit_generate "$(toolkit_fixture lab/faults-4-witness.yaml)" "$BATS_TEST_TMPDIR/tk"
  printf 'redis-server\n' > "$STUB/running"
  printf 'role:master\n' > "$STUB/redis.info"
  printf 'cluster_state:fail\n' > "$STUB/redis.cluster"
  run "$BATS_TEST_TMPDIR/tk/cluster/utils/health_check.sh" --json
  assert_equal "$(check redis status)" warn
  assert_equal "$(check redis message)" "Redis master, cluster_state not ok (a slot range has no reachable master)"
  printf 'cluster_state:ok\n' > "$STUB/redis.cluster"
  run "$BATS_TEST_TMPDIR/tk/cluster/utils/health_check.sh" --json
  assert_equal "$(check redis status)" ok
}

@test "GlusterFS: in fstab but not mounted fails; mounted passes" {
  echo "node1:/shared_data /mnt/gluster glusterfs defaults,_netdev 0 0" > "$ROOT_PREFIX/etc/fstab"
  run "$HC" --json
  assert_failure 1
  assert_equal "$(check glusterfs message)" "/mnt/gluster is not mounted"
  echo "node1:/shared_data /mnt/gluster fuse.glusterfs rw 0 0" > "$ROOT_PREFIX/proc/mounts"
  mkdir -p "$ROOT_PREFIX/mnt/gluster"
  run "$HC" --json
  assert_success
  assert_equal "$(check glusterfs status)" ok
}

@test "disk warns at the configured threshold and fails at 95 %; memory warns from /proc/meminfo" {
  echo 85 > "$STUB/df.pct"
  run "$HC" --json
  assert_success
  [[ "$(check disk status)" == warn ]]
  echo 96 > "$STUB/df.pct"
  printf 'MemTotal: 1000 kB\nMemAvailable: 50 kB\n' > "$ROOT_PREFIX/proc/meminfo"
  run "$HC" --json
  assert_success # neither is critical in this config
  [[ "$(check disk status)|$(check memory status)" == "fail|warn" ]]
}

@test "the drain file forces an unhealthy answer while everything passes" {
  touch "$ROOT_PREFIX/etc/hpc-cluster/drain"
  run "$HC" --json
  assert_failure 1
  [[ "$(jq -r '[.status, .healthy, .drain] | @tsv' <<< "$output")" == $'drain\tfalse\ttrue' ]]
  run "$HC" --quiet
  assert_failure 1
  assert_output ""
}

@test "--serve-request answers GET /health with 200 or 503 and a JSON body of the right length" {
  run bash -c 'printf "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" | "$1" --serve-request' _ "$HC"
  assert_success
  assert_line --index 0 $'HTTP/1.0 200 OK\r'
  local body len
  body="$(printf '%s\n' "$output" | sed '1,/^\r$/d')"
  len="$(printf '%s\n' "$output" | sed -n 's/^Content-Length: \([0-9]*\)\r$/\1/p')"
  assert_equal "$len" "$(printf '%s\n' "$body" | wc -c)"
  jq -e '.healthy == true' <<< "$body"
  touch "$ROOT_PREFIX/etc/hpc-cluster/drain"
  run bash -c 'printf "GET /health HTTP/1.0\r\n\r\n" | "$1" --serve-request' _ "$HC"
  assert_line --index 0 $'HTTP/1.0 503 Service Unavailable\r'
  run bash -c 'printf "GET /metrics HTTP/1.0\r\n\r\n" | "$1" --serve-request' _ "$HC"
  assert_line --index 0 $'HTTP/1.0 404 Not Found\r'
  run bash -c 'printf "POST /health HTTP/1.0\r\n\r\n" | "$1" --serve-request' _ "$HC"
  assert_line --index 0 $'HTTP/1.0 405 Method Not Allowed\r'
}

@test "--http --daemon --dry-run without systemd: socat bound to the node address, nothing started" {
  run "$HC" --http --daemon --dry-run
  assert_success
  assert_output --partial "[dryrun] would run: setsid socat -lf $ROOT_PREFIX/var/log/hpc-cluster/health-http.log TCP-LISTEN:8430,bind=10.213.0.11,reuseaddr,fork,max-children=64 EXEC:$TK/utils/health_check.sh\\ --serve-request"
  [[ ! -e $ROOT_PREFIX/run/hpc-health.pid ]]
}

@test "--http --daemon --dry-run with systemd: the socket and service units, then enable" {
  mkdir -p "$BATS_TEST_TMPDIR/bin" && printf '#!/bin/sh\necho "systemctl $*" >> "$STUB/calls"; exit 3\n' > "$BATS_TEST_TMPDIR/bin/systemctl"
  chmod +x "$BATS_TEST_TMPDIR/bin/systemctl"
  export HPC_INIT=systemd
  run "$HC" --http --daemon --dry-run
  assert_success
  assert_output --partial "[dryrun] would write $ROOT_PREFIX/etc/systemd/system/hpc-health.socket"
  assert_output --partial "    | ListenStream=10.213.0.11:8430"
  assert_output --partial "    | ExecStart=$TK/utils/health_check.sh --serve-request"
  assert_output --partial "[dryrun] would run: systemctl enable hpc-health.socket"
  [[ ! -e $ROOT_PREFIX/etc/systemd/system/hpc-health.socket ]]
}

@test "--http needs a configured node; --daemon alone is a usage error" {
  run "$HC" --daemon
  assert_failure 2
  export HPC_NODE_IP=10.9.9.9
  run "$HC" --http --status
  assert_failure 2
}
