#!/usr/bin/env bats
# Lab: discovery, cluster status, /health and cluster_info against real sshd, mariadbd (Galera) and
# redis-server in 3 namespaced nodes. n1 runs a one-node Galera and the Redis master, n2 a Redis
# replica, n3 nothing but sshd; every node serves /health (socat).

load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"

TK=/opt/hpc-dashboard/cluster
T=3 # discovery.probe_timeout in the fixture

# start_galera nK IP: a one-node Galera cluster started directly (no systemd, no init script bootstrap).
start_galera() {
  lab_exec "$1" sh -c 'mkdir -p /var/log/mysql /run/mysqld && chown mysql:adm /var/log/mysql && chown mysql /run/mysqld
    setsid mariadbd --user=mysql --bind-address="$1" --wsrep-on=ON \
      --wsrep-provider=/usr/lib/galera/libgalera_smm.so --wsrep-cluster-address=gcomm:// \
      --wsrep-node-address="$1" --wsrep-cluster-name=lab_galera --binlog-format=row \
      --innodb-autoinc-lock-mode=2 --innodb-buffer-pool-size=32M --performance-schema=OFF \
      --wsrep-provider-options="gcache.size=16M" --log-error=/var/log/mysql/error.log \
      </dev/null >/var/log/mysql/dsc-start.log 2>&1 &' sh "$2"
}

galera_synced() {
  [[ "$(lab_exec "$1" mariadb -N -B -e "SHOW STATUS LIKE 'wsrep_local_state_comment'" | cut -f2)" == Synced ]]
}

# start_redis nK IP [MASTER_IP]: redis-server with the lab password, as a replica of MASTER_IP if given.
start_redis() {
  local node=$1 ip=$2 master=${3:-}
  lab_exec "$node" sh -c 'mkdir -p /var/lib/dsc-redis /var/lib/hpc-cluster/services
    touch /var/lib/hpc-cluster/services/redis
    set -- --bind "$1 127.0.0.1" --requirepass labpw --masterauth labpw --dir /var/lib/dsc-redis \
      --logfile /var/log/dsc-redis.log --pidfile /run/dsc-redis.pid --daemonize yes ${2:+--replicaof $2 6379}
    redis-server "$@"' sh "$ip" "$master"
}

health_code() {  # nK -> the HTTP status of its /health as the client sees it
  lab_client curl -s -o /dev/null -w '%{http_code}' -m 5 "http://$(lab_ip "$1"):8430/health" || true
}

health_is() {  # nK CODE
  [[ "$(health_code "$1")" == "$2" ]]
}

setup_file() {
  export LAB_PREFIX="${LAB_PREFIX:-dsc2}"
  lab_setup 3
  lab ssh-mesh
  toolkit_generate "$(toolkit_fixture lab/discovery-lab3.yaml)" "$BATS_FILE_TMPDIR/tk"
  lab_push "$BATS_FILE_TMPDIR/tk/cluster"
  local n
  for n in n1 n2 n3; do
    lab_exec "$n" sh -c 'install -d -m 0700 /etc/hpc-cluster
      printf "REDIS_PASSWORD=labpw\nDB_SLURM_PASSWORD=x\n" > /etc/hpc-cluster/secrets.env
      chmod 600 /etc/hpc-cluster/secrets.env'
  done
  start_galera n1 10.213.0.11
  start_redis n1 10.213.0.11
  start_redis n2 10.213.0.12 10.213.0.11
  wait_until 60 galera_synced n1
  # n1 and n2 belong to one cluster id, n3 to another (a node from an old cluster)
  lab_exec n1 sh -c 'mkdir -p /var/lib/hpc-cluster && echo 11111111-2222-3333-4444-555555555555 > /var/lib/hpc-cluster/cluster_id'
  lab_exec n2 sh -c 'mkdir -p /var/lib/hpc-cluster && echo 11111111-2222-3333-4444-555555555555 > /var/lib/hpc-cluster/cluster_id'
  lab_exec n3 sh -c 'mkdir -p /var/lib/hpc-cluster && echo 99999999-2222-3333-4444-555555555555 > /var/lib/hpc-cluster/cluster_id'
  for n in n1 n2 n3; do
    lab_exec "$n" "$TK/utils/health_check.sh" --http --daemon
  done
  # the replica on n2 is healthy once its master link is up
  for n in n1 n2 n3; do
    wait_until 30 health_is "$n" 200
  done
}

teardown_file() {
  lab_teardown
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

@test "discovery from n1 reports all three nodes active with what runs on each" {
  run lab_exec n1 "$TK/discovery/auto_discovery.sh" --json
  assert_success
  local r=$output
  [[ "$(jq -r '[.total_nodes, .active_nodes, .inactive_nodes, .unknown_nodes, .cluster_state] | @tsv' <<< "$r")" == $'3\t3\t0\t0\thealthy' ]]
  [[ "$(jq -r '.nodes | map(.status) | join(" ")' <<< "$r")" == "active active active" ]]
  [[ "$(jq -r '.nodes[0] | [.self, .galera.cluster_status, .galera.cluster_size, .galera.local_state, .services.mariadb] | @tsv' <<< "$r")" == $'true\tPrimary\t1\tSynced\ttrue' ]]
  jq -e '.nodes[0].galera.state_uuid | test("^[0-9a-f-]{36}$")' <<< "$r"
  jq -e '.nodes[0].galera.last_committed | type == "number"' <<< "$r"
  [[ "$(jq -r '.nodes[0].redis.role, .nodes[1].redis.role' <<< "$r")" == $'master\nslave' ]]
  [[ "$(jq -r '.nodes[2] | [.self, .services.redis, .services.mariadb, .services.ssh, (.redis == null), (.galera == null)] | @tsv' <<< "$r")" == $'false\tfalse\tfalse\ttrue\ttrue\ttrue' ]]
  [[ "$(jq -r '.nodes | map(.health_http) | join(" ")' <<< "$r")" == "200 200 200" ]]
  [[ "$(jq -r '.nodes | map(.hostname) | join(" ")' <<< "$r")" == "node1 node2 node3" ]]
  jq -e '.nodes | all(.load | type == "number")' <<< "$r"
  # the cluster id is this node's; a node with another id is visible, not merged
  [[ "$(jq -r '.cluster_id, (.cluster_ids | length)' <<< "$r")" == $'11111111-2222-3333-4444-555555555555\n2' ]]
  run lab_exec n1 "$TK/discovery/auto_discovery.sh"
  assert_success
  assert_output --partial "3 active, 0 inactive"
  assert_output --partial "different cluster ids"
}

@test "check_cluster_status: Galera's view on n1, discovery's view (same cluster id) on n2" {
  run lab_exec n1 "$TK/discovery/check_cluster_status.sh"
  assert_success
  assert_output standalone # a one-node Galera: n1 is alone in its Primary component
  run lab_exec n2 "$TK/discovery/check_cluster_status.sh" --json
  assert_success
  [[ "$(jq -r '[.status, .source] | @tsv' <<< "$output")" == $'cluster-2\tdiscovery' ]]
}

@test "a cut node is inactive with reason timeout and the run still ends within the probe timeout plus 1 s" {
  lab cut n3
  local start end r
  start=$EPOCHREALTIME
  r="$(lab_exec n1 "$TK/discovery/auto_discovery.sh" --json)"
  end=$EPOCHREALTIME
  lab heal n3
  local wall_ms=$(( (${end/./} - ${start/./}) / 1000 ))
  echo "# cut n3: report duration $(jq .duration_ms <<< "$r") ms, wall (incl. lab exec) $wall_ms ms, timeout ${T}s" >&3
  [[ "$(jq -r '.nodes[2] | [.status, .reason] | @tsv' <<< "$r")" == $'inactive\ttimeout' ]]
  [[ "$(jq -r '[.active_nodes, .inactive_nodes, .cluster_state] | @tsv' <<< "$r")" == $'2\t1\tdegraded' ]]
  (( $(jq .duration_ms <<< "$r") <= (T + 1) * 1000 ))
  (( wall_ms <= (T + 3) * 1000 )) # generous: lab exec and bash start-up on a loaded 2-core machine
}

@test "sshd frozen (TCP port 22 accepts, SSH never answers) and /health stopped: unknown, never inactive" {
  lab_exec n3 "$TK/utils/health_check.sh" --http --stop
  local pids
  pids="$(lab_exec n3 pidof sshd)"
  # SIGSTOP: the kernel still completes the TCP handshake (the listen backlog), sshd sends no banner
  # shellcheck disable=SC2086
  lab_exec n3 kill -STOP $pids
  local start end r
  start=$EPOCHREALTIME
  r="$(lab_exec n1 "$TK/discovery/auto_discovery.sh" --json)" || true
  end=$EPOCHREALTIME
  # shellcheck disable=SC2086
  lab_exec n3 kill -CONT $pids
  lab_exec n3 "$TK/utils/health_check.sh" --http --daemon
  local wall_ms=$(( (${end/./} - ${start/./}) / 1000 ))
  echo "# frozen sshd on n3: report duration $(jq .duration_ms <<< "$r") ms, wall $wall_ms ms, timeout ${T}s" >&3
  [[ "$(jq -r '.nodes[2] | [.status, .reason, (.health_http | tostring)] | @tsv' <<< "$r")" == $'unknown	timeout	null' ]]
  [[ "$(jq -r '[.active_nodes, .inactive_nodes, .unknown_nodes] | @tsv' <<< "$r")" == $'2	0	1' ]]
  (( $(jq .duration_ms <<< "$r") <= (T + 1) * 1000 ))
  wait_until 20 health_is n3 200
}

@test "sshd stopped -> refused; no key trust -> auth_failed, but /health answering keeps it unknown" {
  lab_exec n3 /etc/init.d/ssh stop
  run lab_exec n1 "$TK/discovery/auto_discovery.sh" --json
  lab_exec n3 /etc/init.d/ssh start
  [[ "$(jq -r '.nodes[2] | [.status, .reason, .health_http] | @tsv' <<< "$output")" == $'unknown\trefused\t200' ]]
  # and with /health stopped too, nothing answers: inactive
  lab_exec n3 mv /root/.ssh/authorized_keys /root/.ssh/authorized_keys.off
  lab_exec n3 "$TK/utils/health_check.sh" --http --stop
  wait_until 10 lab_port_open n1 10.213.0.13 22
  run lab_exec n1 "$TK/discovery/auto_discovery.sh" --json
  lab_exec n3 mv /root/.ssh/authorized_keys.off /root/.ssh/authorized_keys
  lab_exec n3 "$TK/utils/health_check.sh" --http --daemon
  [[ "$(jq -r '.nodes[2] | [.status, .reason] | @tsv' <<< "$output")" == $'inactive\tauth_failed' ]]
}

@test "/health answers 503 when a critical daemon is killed and 200 again after it restarts" {
  wait_until 10 health_is n1 200
  run lab_exec n1 "$TK/utils/health_check.sh" --quiet
  assert_success
  assert_output ""
  lab_exec n1 sh -c 'kill -9 "$(cat /run/dsc-redis.pid)"'
  wait_until 20 health_is n1 503
  run lab_client curl -s -m 5 http://10.213.0.11:8430/health
  [[ "$(jq -r '.failed_critical | join(",")' <<< "$output")" == redis ]]
  run lab_exec n1 "$TK/utils/health_check.sh" --quiet
  assert_failure 1
  assert_output ""
  start_redis n1 10.213.0.11
  wait_until 20 health_is n1 200
  run lab_exec n1 "$TK/utils/health_check.sh" --quiet
  assert_success
}

@test "the drain file forces 503 (and --quiet fails) until it is removed" {
  wait_until 10 health_is n2 200
  lab_exec n2 touch /etc/hpc-cluster/drain
  wait_until 10 health_is n2 503
  run lab_client curl -s -m 5 http://10.213.0.12:8430/health
  [[ "$(jq -r '[.status, .drain] | @tsv' <<< "$output")" == $'drain\ttrue' ]]
  run lab_exec n2 "$TK/utils/health_check.sh" --quiet
  assert_failure 1
  lab_exec n2 rm /etc/hpc-cluster/drain
  wait_until 10 health_is n2 200
}

@test "--http --daemon is idempotent, --stop stops it, and other paths get 404" {
  run lab_exec n2 "$TK/utils/health_check.sh" --http --daemon
  assert_success
  assert_output --partial "already served"
  run lab_client curl -s -o /dev/null -w '%{http_code}' -m 5 http://10.213.0.12:8430/other
  assert_output 404
  run lab_exec n2 "$TK/utils/health_check.sh" --http --stop
  assert_success
  run lab_exec n2 "$TK/utils/health_check.sh" --http --status
  assert_failure 1
  run lab_port_open client 10.213.0.12 8430
  assert_failure
  lab_exec n2 "$TK/utils/health_check.sh" --http --daemon
  wait_until 10 health_is n2 200
}

@test "cluster_info prints the plan's table with N/A for services not set up" {
  run lab_exec n2 "$TK/utils/cluster_info.sh"
  assert_success
  assert_output --partial "Cluster Name: lab-cluster"
  assert_output --partial "Cluster Size: 3-node (Triple Redundancy)"
  assert_output --partial "| node3      | 10.213.0.13     | Active   |"
  assert_output --partial "- MariaDB Galera: 1/3 nodes (Synced)"
  assert_output --partial "- Redis Sentinel: 2/3 nodes (master on node1)"
  assert_output --partial "- GlusterFS: N/A"
  assert_output --partial "- Slurm: N/A"
  assert_output --partial "Last Backup: N/A"
  run lab_exec n2 "$TK/utils/cluster_info.sh" --json
  assert_success
  [[ "$(jq -r '[.size, .services.galera.up, .services.redis.up, (.services.glusterfs == null)] | @tsv' <<< "$output")" == $'3\t1\t2\ttrue' ]]
}
