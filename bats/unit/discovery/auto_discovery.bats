#!/usr/bin/env bats
# Unit: discovery/auto_discovery.sh, check_cluster_status.sh and cluster_info.sh with PATH stubs (no
# network): every way a probe can end, the report's shape, the local facts and the status rules.

load "${HPC_REPO_ROOT}/bats/helpers/unit.bash"
load stubs

setup_file() {
  toolkit_generate "$(toolkit_fixture lab/discovery-lab3.yaml)" "$BATS_FILE_TMPDIR/tk"
  export TK="$BATS_FILE_TMPDIR/tk/cluster"
}

setup() {
  stubs_install
  unit_env
  self_json_fixture 10.213.0.12 c-1
  self_json_fixture 10.213.0.13 c-1
  echo ok > "$STUB/ssh.10.213.0.12"
  echo ok > "$STUB/ssh.10.213.0.13"
}

# shellcheck disable=SC2120 # a test may add arguments
discover() {  # run discovery with a 1 s deadline and keep the JSON in $output
  run netns_run "$TK/discovery/auto_discovery.sh" --json --timeout 1 "$@"
}

node() {  # INDEX FIELDS(jq): the fields of node INDEX as tab-separated text
  jq -r ".nodes[$1] | [$2] | @tsv" <<< "$output"
}

@test "every node answering: all active, this node probed locally, peers over ssh with the marker" {
  echo c-1 > "$ROOT_PREFIX/var/lib/hpc-cluster/cluster_id"
  echo 200 > "$STUB/http.10.213.0.12"
  discover
  assert_success
  [[ "$(jq -r '[.total_nodes, .active_nodes, .inactive_nodes, .unknown_nodes, .cluster_state, .cluster_id] | @tsv' <<< "$output")" == $'3\t3\t0\t0\thealthy\tc-1' ]]
  [[ "$(node 0 '.ip, .self, .status, .load, .uptime, .cluster_id')" == $'10.213.0.11\ttrue\tactive\t0.42\t5 days\tc-1' ]]
  [[ "$(node 1 '.hostname, .reported_hostname, .self, .status, .health_http, .galera.local_state')" == $'node2\tpeer-10.213.0.12\tfalse\tactive\t200\tSynced' ]]
  [[ "$(node 2 '.health_http')" == "" ]]
  # the plan's keys are all there
  jq -e '.nodes | all(has("ip", "hostname", "status", "services", "load", "uptime"))' <<< "$output"
  jq -e 'has("vip_owner") and has("cluster_state") and has("inactive_nodes")' <<< "$output"
  run grep -c "^ssh .*root@10.213.0.1[23] -- printf" "$STUB/calls"
  assert_output 2
  run grep -c "ConnectTimeout=1 " "$STUB/calls"
  assert_output 2
}

@test "a peer that does not answer is inactive with reason timeout, and the run keeps to the deadline" {
  echo timeout > "$STUB/ssh.10.213.0.13"
  local start=$SECONDS
  discover
  assert_success
  (( SECONDS - start <= 3 ))
  [[ "$(node 2 '.status, .reason, .error')" == $'inactive\ttimeout\tno answer within 1s' ]]
  [[ "$(jq -r '[.active_nodes, .inactive_nodes, .cluster_state] | @tsv' <<< "$output")" == $'2\t1\tdegraded' ]]
  (( $(jq .duration_ms <<< "$output") < 2000 ))
}

@test "ssh failures map to refused, no_route and auth_failed (all inactive)" {
  echo refused > "$STUB/ssh.10.213.0.12"
  echo auth > "$STUB/ssh.10.213.0.13"
  discover
  [[ "$(node 1 '.status, .reason')" == $'inactive\trefused' ]]
  [[ "$(node 2 '.status, .reason')" == $'inactive\tauth_failed' ]]
  assert_equal "$(node 2 .error)" "root@10.213.0.13: Permission denied (publickey,password)."
  echo noroute > "$STUB/ssh.10.213.0.12"
  discover
  [[ "$(node 1 '.status, .reason, (.services | length), .galera')" == $'inactive\tno_route\t0\t' ]]
}

@test "a node whose ssh fails but whose /health answers is unknown, never inactive" {
  echo refused > "$STUB/ssh.10.213.0.12"
  echo 503 > "$STUB/http.10.213.0.12"
  discover
  [[ "$(node 1 '.status, .reason, .health_http')" == $'unknown\trefused\t503' ]]
  assert_equal "$(jq .unknown_nodes <<< "$output")" 1
  [[ "$(node 1 .error)" == *"/health endpoint answered HTTP 503" ]]
}

@test "malformed answers are unknown with reason malformed, and never crash the run" {
  echo malformed > "$STUB/ssh.10.213.0.12"
  echo '{"hostname": "x"}' > "$STUB/self.10.213.0.13.json" # JSON, but not a node's facts
  discover
  assert_success
  [[ "$(node 1 '.status, .reason')" == $'unknown\tmalformed' ]]
  [[ "$(node 2 '.status, .reason')" == $'unknown\tmalformed' ]]
  echo closed > "$STUB/ssh.10.213.0.13"
  discover
  [[ "$(node 2 '.status, .reason')" == $'unknown\tmalformed' ]]
}

@test "reached but the probe hangs: unknown with reason timeout; toolkit missing: unknown, says so" {
  echo hang > "$STUB/ssh.10.213.0.12"
  echo missing > "$STUB/ssh.10.213.0.13"
  discover
  [[ "$(node 1 '.status, .reason')" == $'unknown\ttimeout' ]]
  [[ "$(node 1 .error)" == "reached over SSH but the probe did not answer within 1s" ]]
  [[ "$(node 2 '.status, .reason')" == $'unknown\tmalformed' ]]
  [[ "$(node 2 .error)" == "toolkit not found at"*"(exit 127)" ]]
}

@test "all down, seen from a host that is not a node: every node inactive, cluster down, exit 0" {
  unset HPC_NODE_IP
  export HPC_LOCAL_IPS=10.9.9.9
  echo timeout > "$STUB/ssh.10.213.0.11"
  echo refused > "$STUB/ssh.10.213.0.12"
  echo noroute > "$STUB/ssh.10.213.0.13"
  discover
  assert_success
  [[ "$(jq -r '[.active_nodes, .inactive_nodes, .cluster_state, .cluster_id, .vip_owner] | @tsv' <<< "$output")" == $'0\t3\tdown\t\t' ]]
  jq -e '.nodes | all(.self == false)' <<< "$output"
}

@test "vip owner and cluster ids come from the active nodes; different ids are listed" {
  self_json_fixture 10.213.0.12 c-1 true
  self_json_fixture 10.213.0.13 c-OTHER
  discover
  [[ "$(jq -r '[.vip_owner, .cluster_id, (.cluster_ids | join(","))] | @tsv' <<< "$output")" == $'10.213.0.12\tc-1\tc-1,c-OTHER' ]]
  run netns_run "$TK/discovery/auto_discovery.sh" --timeout 1
  assert_success
  assert_output --partial "VIP 10.213.0.100: owned by 10.213.0.12"
  assert_output --partial "different cluster ids: c-1, c-OTHER"
  assert_output --regexp "10\.213\.0\.11\* +node1 +active"
}

@test "--self-json: partial services - Galera and Redis read through their local clients, others null" {
  printf 'mariadbd\nredis-server\nsshd\n' > "$STUB/running"
  printf 'wsrep_cluster_status\tPrimary\nwsrep_cluster_size\t3\nwsrep_local_state_comment\tSynced\nwsrep_cluster_state_uuid\tabc-123\nwsrep_last_committed\t42\nwsrep_ready\tON\nwsrep_provider_name\tGalera\n' > "$STUB/mariadb.out"
  printf 'role:master\nconnected_slaves:0\n' > "$STUB/redis.info"
  export REDIS_EXPECT_AUTH=unitpw
  export HPC_LOCAL_IPS="10.213.0.11 10.213.0.100"
  run "$TK/discovery/auto_discovery.sh" --self-json --timeout 1
  assert_success
  [[ "$(jq -r '[.galera.cluster_status, .galera.cluster_size, .galera.local_state, .galera.state_uuid, .galera.last_committed, .galera.ready] | @tsv' <<< "$output")" == $'Primary\t3\tSynced\tabc-123\t42\ttrue' ]]
  [[ "$(jq -r '[.redis.role, .redis.cluster_state, .services.redis, .services.mariadb, .services.glusterfs, .services.ssh, .holds_vip] | @tsv' <<< "$output")" == $'master\t\ttrue\ttrue\tfalse\ttrue\ttrue' ]]
  jq -e '.glusterfs == null and .slurm == null and .web == null and .cluster_id == null' <<< "$output"
  # the password went through REDISCLI_AUTH, never the command line
  run grep -c "redis-cli .*auth=set" "$STUB/calls"
  assert_output 1
  refute grep -q unitpw "$STUB/calls"
}

@test "--self-json: redis auth failure and a silent mariadbd are reported, not fatal" {
  printf 'mariadbd\nredis-server\nglusterd\nslurmctld\n' > "$STUB/running"
  printf 'role:master\n' > "$STUB/redis.info"
  export REDIS_EXPECT_AUTH=other
  printf 'Number of Peers: 2\n\nHostname: a\nState: Peer in Cluster (Connected)\n\nHostname: b\nState: Peer in Cluster (Disconnected)\n' > "$STUB/gluster.peer"
  printf 'Volume Name: shared_data\nStatus: Started\n' > "$STUB/gluster.volume"
  printf 'Slurmctld(primary) at node1 is DOWN\nSlurmctld(backup) at node2 is UP\n' > "$STUB/scontrol.out"
  run "$TK/discovery/auto_discovery.sh" --self-json --timeout 1
  assert_success
  [[ "$(jq -r '[.redis.role, .redis.error, .services.mariadb, .galera.error] | @tsv' <<< "$output")" == $'\tauthentication failed\tfalse\tmariadbd runs but does not answer' ]]
  [[ "$(jq -r '[.glusterfs.peers, .glusterfs.peers_connected, .glusterfs.volume_started, .glusterfs.mounted] | @tsv' <<< "$output")" == $'2\t1\ttrue\tfalse' ]]
  [[ "$(jq -r '[.slurm.ping, .slurm.primary, (.slurm.controllers | length), .slurm.slurmctld] | @tsv' <<< "$output")" == $'UP\tnode2\t2\ttrue' ]]
}

@test "MariaDB without Galera: mariadb runs, galera is null" {
  printf 'mariadbd\n' > "$STUB/running"
  printf 'wsrep_provider_name\t\nwsrep_cluster_status\tDisconnected\n' > "$STUB/mariadb.out"
  run "$TK/discovery/auto_discovery.sh" --self-json --timeout 1
  [[ "$(jq -r '[.services.mariadb, .galera] | @tsv' <<< "$output")" == $'true\t' ]]
}

@test "usage errors exit 2" {
  run "$TK/discovery/auto_discovery.sh" --timeout x
  assert_failure 2
  run "$TK/discovery/auto_discovery.sh" --bogus
  assert_failure 2
  run "$TK/discovery/auto_discovery.sh" --help
  assert_success
  assert_output --partial "Usage: auto_discovery.sh"
}

@test "check_cluster_status: Galera Primary gives cluster-<wsrep_cluster_size>" {
  printf 'mariadbd\n' > "$STUB/running"
  printf 'wsrep_cluster_status\tPrimary\nwsrep_cluster_size\t3\nwsrep_provider_name\tGalera\n' > "$STUB/mariadb.out"
  run netns_run "$TK/discovery/check_cluster_status.sh"
  assert_success
  assert_output cluster-3
  run netns_run "$TK/discovery/check_cluster_status.sh" --json
  [[ "$(jq -r '[.status, .mode, .size, .source, .configured_nodes] | @tsv' <<< "$output")" == $'cluster-3\tcluster\t3\tgalera\t3' ]]
}

@test "check_cluster_status: without Galera, active nodes with this node's cluster id; alone = standalone" {
  echo c-1 > "$ROOT_PREFIX/var/lib/hpc-cluster/cluster_id"
  self_json_fixture 10.213.0.13 c-OTHER
  run netns_run "$TK/discovery/check_cluster_status.sh" --timeout 1
  assert_success
  assert_output cluster-2
  echo refused > "$STUB/ssh.10.213.0.12"
  run netns_run "$TK/discovery/check_cluster_status.sh" --timeout 1
  assert_output standalone
}

@test "cluster_info: the plan's table from a saved report, N/A where nothing runs" {
  echo c-1 > "$ROOT_PREFIX/var/lib/hpc-cluster/cluster_id"
  self_json_fixture 10.213.0.12 c-1 true
  echo auth > "$STUB/ssh.10.213.0.13"
  netns_run "$TK/discovery/auto_discovery.sh" --json --timeout 1 > "$BATS_TEST_TMPDIR/report.json"
  echo "2025-10-26 02:00:00" > "$ROOT_PREFIX/var/lib/hpc-cluster/last_backup"
  run "$TK/utils/cluster_info.sh" --from "$BATS_TEST_TMPDIR/report.json"
  assert_success
  assert_output --partial "Cluster Size: 2-node (Dual Redundancy) - 2 of 3 configured nodes active"
  assert_output --partial "VIP: 10.213.0.100 (owned by node2)"
  assert_output --partial "| node3      | 10.213.0.13     | Inactive | -      |"
  assert_output --partial "- MariaDB Galera: 1/3 nodes (Synced)"
  assert_output --partial "- GlusterFS: N/A"
  assert_output --partial "- Web Services: N/A"
  assert_output --partial "Last Backup: 2025-10-26 02:00:00"
  assert_output --partial "Note: node3 (10.213.0.13) is inactive"
  run "$TK/utils/cluster_info.sh" --json --from "$BATS_TEST_TMPDIR/report.json"
  [[ "$(jq -r '[.size, .configured, .vip_owner_hostname, .services.galera.up, (.services.slurm == null)] | @tsv' <<< "$output")" == $'2\t3\tnode2\t1\ttrue' ]]
}

# ---------------------------------------------------------------------------------------------------
# The shared deadline: every probe gets only the time left, the collector stops waiting at the
# deadline, and a node whose TCP port 22 accepted the connection is never reported down.

@test "deadline: ssh hangs after the TCP connect -> unknown (timeout) by the deadline, the hung ssh is killed" {
  echo silent > "$STUB/ssh.10.213.0.12"
  echo timeout > "$STUB/ssh.10.213.0.13"
  local start=$EPOCHREALTIME
  run netns_run "$TK/discovery/auto_discovery.sh" --json --timeout 2
  local wall_ms=$(( (${EPOCHREALTIME/./} - ${start/./}) / 1000 ))
  assert_success
  [[ "$(node 1 '.status, .reason')" == $'unknown\ttimeout' ]]
  assert_equal "$(node 1 .error)" "TCP port 22 accepted the connection but SSH did not complete within 2s"
  # the silent address: its connect never completed, so it is the only one reported down
  [[ "$(node 2 '.status, .reason, .error')" == $'inactive\ttimeout\tno answer within 2s' ]]
  [[ "$(jq -r '[.active_nodes, .inactive_nodes, .unknown_nodes] | @tsv' <<< "$output")" == $'1\t1\t1' ]]
  # the collector stopped at the deadline (generous margins: a loaded 2-core machine)
  local d
  d=$(jq .duration_ms <<< "$output")
  echo "# duration_ms $d, wall $wall_ms ms (deadline 2000 ms)" >&3
  (( d >= 1900 && d <= 3000 ))
  (( wall_ms <= 5000 ))
  # the hung ssh did not outlive the run, and no ssh was started for the address that never connected
  [[ -s $STUB/ssh-pid.10.213.0.12 ]]
  run kill -0 "$(cat "$STUB/ssh-pid.10.213.0.12")"
  assert_failure
  run grep -c "root@10.213.0.13" "$STUB/calls"
  assert_output 0
}

@test "deadline: ssh's own timeout after the TCP connect (banner exchange) is unknown, not inactive" {
  echo banner > "$STUB/ssh.10.213.0.12"
  discover
  assert_success
  [[ "$(node 1 '.status, .reason, .error')" == $'unknown\ttimeout\tConnection timed out during banner exchange' ]]
}

@test "deadline: refused and no route come from the TCP connect itself, without starting ssh" {
  echo refused > "$STUB/ssh.10.213.0.12"
  echo noroute > "$STUB/ssh.10.213.0.13"
  : > "$STUB/calls"
  discover
  [[ "$(node 1 '.status, .reason, .error')" == $'inactive\trefused\tconnect to 10.213.0.12 port 22: Connection refused' ]]
  [[ "$(node 2 '.status, .reason, .error')" == $'inactive\tno_route\tconnect to 10.213.0.13 port 22: No route to host' ]]
  run grep -c "^ssh " "$STUB/calls"
  assert_output 0
}

@test "deadline: 24 nodes (17 silent, 3 hung after connect, 3 answering) end together at one deadline" {
  local cfg=$BATS_TEST_TMPDIR/c24.yaml i ip
  sed -e '/^  nodes:/,/^  vip:/{/^    - /d}' "$(toolkit_fixture lab/discovery-lab3.yaml)" > "$cfg.base"
  {
    sed -n '1,/^  nodes:/p' "$cfg.base"
    for (( i = 1; i <= 24; i++ )); do
      printf '    - { ip: 10.213.0.%d, hostname: node%d, priority: %d }\n' $((10 + i)) "$i" $((200 - i))
    done
    sed -n '/^  vip:/,$p' "$cfg.base"
  } > "$cfg"
  toolkit_generate "$cfg" "$BATS_TEST_TMPDIR/tk24"
  for (( i = 2; i <= 24; i++ )); do
    ip=10.213.0.$((10 + i))
    if (( i <= 4 )); then echo ok > "$STUB/ssh.$ip"; self_json_fixture "$ip" c-1
    elif (( i <= 7 )); then echo silent > "$STUB/ssh.$ip"
    else echo timeout > "$STUB/ssh.$ip"
    fi
  done
  run netns_run "$BATS_TEST_TMPDIR/tk24/cluster/discovery/auto_discovery.sh" --json --timeout 2
  assert_success
  [[ "$(jq -r '[.total_nodes, .active_nodes, .unknown_nodes, .inactive_nodes] | @tsv' <<< "$output")" == $'24\t4\t3\t17' ]]
  [[ "$(jq -r '[.nodes[4:7][] | .status + "/" + .reason] | unique | join(" ")' <<< "$output")" == "unknown/timeout" ]]
  [[ "$(jq -r '[.nodes[7:][] | .status + "/" + .reason] | unique | join(" ")' <<< "$output")" == "inactive/timeout" ]]
  local d
  d=$(jq .duration_ms <<< "$output")
  echo "# 24 nodes: duration_ms $d (deadline 2000 ms)" >&3
  (( d <= 3000 ))
  # ssh started only where the TCP connect succeeded (3 answering + 3 hung)
  run grep -c "^ssh " "$STUB/calls"
  assert_output 6
}

@test "deadline: Ctrl-C before the deadline takes the probes along (no fork left in connect, no hung ssh)" {
  echo silent > "$STUB/ssh.10.213.0.12"
  echo timeout > "$STUB/ssh.10.213.0.13"
  # Ctrl-C: SIGINT to the whole process group (the collector also traps it and kills its probes, for
  # shells where `&` without job control leaves them ignoring SIGINT). perl undoes the SIGINT ignore
  # that bats' own `&` puts on this test's background job.
  setsid perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die' "$BATS_TEST_TMPDIR/netns-run" \
    "$TK/discovery/auto_discovery.sh" --json --timeout 20 > /dev/null 2>&1 3>&- &
  local group=$!
  poll() { local i; for (( i = 0; i < 100; i++ )); do "$@" && return 0; sleep 0.05; done; return 1; }
  poll test -s "$STUB/ssh-pid.10.213.0.12"
  kill -INT -- "-$group"
  gone() { ! pgrep -f "$TK/discovery/auto_discovery.sh --json --timeout 20" > /dev/null && ! kill -0 "$(cat "$STUB/ssh-pid.10.213.0.12")" 2>/dev/null; }
  poll gone # within 5 s, far before the 20 s deadline
  wait "$group" || true
}

@test "every node reports its toolkit; a peer with another version or config is listed and warned about" {
  local mine
  mine="$(sha256sum "$TK/lib/config.sh" | cut -d' ' -f1)"
  jq -c --arg h "$mine" '. + {toolkit: {version: "0.1.0", config_hash: $h}}' "$STUB/self.10.213.0.12.json" > "$STUB/x" && mv "$STUB/x" "$STUB/self.10.213.0.12.json"
  jq -c '. + {toolkit: {version: "0.0.9", config_hash: "0123abcd"}}' "$STUB/self.10.213.0.13.json" > "$STUB/x" && mv "$STUB/x" "$STUB/self.10.213.0.13.json"
  discover
  assert_success
  [[ "$(jq -r '[.toolkit.version, .toolkit.config_hash, .nodes[0].toolkit.config_hash] | @tsv' <<< "$output")" == "0.1.0	$mine	$mine" ]]
  [[ "$(jq -c '.toolkit_mismatch' <<< "$output")" == '[{"ip":"10.213.0.13","hostname":"node3","version":"0.0.9","config_hash":"0123abcd"}]' ]]
  [[ "$(jq -c '.toolkit_unknown' <<< "$output")" == '[]' ]]
  run netns_run "$TK/discovery/auto_discovery.sh" --timeout 1
  assert_output --partial "WARNING: node3 (10.213.0.13) runs hpc-cluster-kit 0.0.9 with config hash 0123abcd, this node 0.1.0 with $mine"
}

@test "--self-json: the services and objects are the registry's, with the toolkit's version and config hash" {
  run "$TK/discovery/auto_discovery.sh" --self-json --timeout 1
  assert_success
  [[ "$(jq -r '.services | keys_unsorted | join(" ")' <<< "$output")" == "ssh glusterfs mariadb redis slurm web" ]]
  jq -e 'has("galera") and has("redis") and has("glusterfs") and has("slurm") and has("web")' <<< "$output"
  [[ "$(jq -r .toolkit.config_hash <<< "$output")" == "$(sha256sum "$TK/lib/config.sh" | cut -d' ' -f1)" ]]
  # a node that did not answer carries the same keys, null
  echo timeout > "$STUB/ssh.10.213.0.13"
  discover
  jq -e '.nodes[2] | has("galera") and .galera == null and .toolkit == null' <<< "$output"
}
