#!/usr/bin/env bats
# Unit tests for lib/orchestrate.sh and lib/galera.sh: the auto-mode decision rules, preflight output,
# config rendering, and the argument handling of the orchestration scripts (no daemons, temp root).

load "${HPC_REPO_ROOT}/bats/helpers/unit.bash"

setup_file() {
  toolkit_generate "$(toolkit_fixture lab/galera-3.yaml)" "$BATS_FILE_TMPDIR/tk"
}

setup() {
  TK="$BATS_FILE_TMPDIR/tk/cluster"
  export ROOT_PREFIX="$BATS_TEST_TMPDIR/root" HPC_NODE_IP=10.213.0.12 NO_COLOR=1
  export STUB_LOG="$BATS_TEST_TMPDIR/calls"
  mkdir -p "$ROOT_PREFIX/var/lib/hpc-cluster" "$ROOT_PREFIX/run/lock"
}

# lib_run BASH...: run BASH with the toolkit libraries loaded, as node2.
lib_run() {
  run bash -c 'set -Eeuo pipefail; source "$1/lib/common.sh"; source "$1/lib/orchestrate.sh"
    node::require_self; '"$1" _ "$TK"
}

# ev IP REACH [REASON] [RUNNING] [CLUSTER_STATUS] [CLUSTER_ID]: one evidence record (JSON), unset = null.
ev() {
  jq -cn --arg ip "$1" --arg reach "$2" --arg reason "${3:-}" --arg running "${4:-}" --arg status "${5:-}" --arg cid "${6:-}" \
    'def n: if . == "" then null else . end;
     {ip: $ip, reach: $reach, reason: ($reason | n), running: (if $running == "" then null else $running == "true" end),
      cluster_status: ($status | n), cluster_size: null, local_state: null, cluster_id: ($cid | n), last_committed: null, toolkit: null}'
}

# decide EVIDENCE [LOCAL_CLUSTER_ID] [LOCAL_PRIMARY]: the auto-mode decision on node2.
decide() {
  run bash -c 'source "$1/lib/common.sh"; source "$1/lib/orchestrate.sh"; node::require_self
    LOCAL_CLUSTER_ID=$3 LOCAL_PRIMARY=$4 orch::decide "$2"' _ "$TK" "$1" "${2:-}" "${3:-0}"
}

@test "decide: a peer reporting a live Primary means join through it" {
  decide "$(ev 10.213.0.11 answered '' true Primary abc; ev 10.213.0.13 unknown timeout)"
  assert_output --regexp '^join\|10.213.0.11\|'
}

@test "decide: a node already Synced in a Primary component is a member (rerun changes nothing)" {
  decide '' '' 1
  assert_output --regexp '^member\|10.213.0.12\|'
}

@test "decide: a timeout is not proof that a peer is down - refuse and name the override" {
  decide "$(ev 10.213.0.11 answered '' false; ev 10.213.0.13 unknown timeout)"
  assert_output --partial "refuse||cannot tell whether 10.213.0.13 (timeout) is down"
  assert_output --partial "--bootstrap"
}

@test "decide: no route (what a partitioned node sees) is unknown too" {
  decide "$(ev 10.213.0.11 unknown no_route; ev 10.213.0.13 unknown no_route)"
  assert_output --regexp '^refuse\|\|cannot tell'
}

@test "decide: a node that was a member never bootstraps again on its own" {
  decide "$(ev 10.213.0.11 down refused false; ev 10.213.0.13 down refused false)" 'cid-1'
  assert_output --partial "refuse||this node was a member of cluster cid-1"
  assert_output --partial "galera_auto_recover.sh"
}

@test "decide: peers that were members but run no Primary mean a cluster outage - refuse, point to recovery" {
  decide "$(ev 10.213.0.11 answered '' false '' cid-1; ev 10.213.0.13 down refused false)"
  assert_output --partial "10.213.0.11 was a member"
  assert_output --regexp '^refuse'
}

@test "decide: a reachable fresh node of higher priority bootstraps first, not us" {
  decide "$(ev 10.213.0.11 answered '' false; ev 10.213.0.13 answered '' false)"
  assert_output --partial "refuse||10.213.0.11 has a higher priority"
}

@test "decide: bootstrap when every peer answered never-member or refused the connection" {
  decide "$(ev 10.213.0.11 down refused false; ev 10.213.0.13 answered '' false)"
  assert_output --regexp '^bootstrap\|\|'
}

@test "decide: a Primary peer of another cluster id is refused with an explanation" {
  decide "$(ev 10.213.0.11 answered '' true Primary cid-other)" 'cid-mine'
  assert_output --partial "refuse|10.213.0.11|cluster id mismatch: this node belongs to cid-mine but 10.213.0.11 runs cluster cid-other"
}

@test "ssh errors are classified; only a refused connection can become positive evidence" {
  lib_run 'for e in "connect to host x port 22: Connection timed out" "Connection refused" "No route to host" "Permission denied (publickey)" "weird"; do orch::classify_ssh_error "$e"; done'
  assert_output $'timeout\nrefused\nno_route\nauth_failed\nmalformed'
}

@test "preflight prints [ERROR Name]: ... (fix: ...) and exits 5; --ignore-preflight-errors turns it into a warning" {
  lib_run 'preflight::Fake() { PF_MSG="port 4567 is taken" PF_FIX="stop it"; return 1; }; orch::preflight Fake'
  assert_equal "$status" 5
  assert_output --partial "[ERROR Fake]: port 4567 is taken (fix: stop it)"
  assert_output --partial "--ignore-preflight-errors=NAME"
  lib_run 'preflight::Fake() { PF_MSG="port 4567 is taken"; return 1; }; PREFLIGHT_IGNORE=Other,Fake orch::preflight Fake'
  assert_success
  assert_output --partial "[WARNING Fake]: port 4567 is taken (ignored)"
}

@test "preflight Secrets names every missing secret and a file others can read" {
  mkdir -p "$ROOT_PREFIX/etc/hpc-cluster"
  printf 'DB_SLURM_PASSWORD=x\n' > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  chmod 0644 "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  lib_run 'orch::preflight Secrets'
  assert_equal "$status" 5
  assert_output --partial "is readable by others (fix: chmod 600"
  chmod 0600 "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  lib_run 'orch::preflight Secrets'
  assert_output --partial "secrets missing from"
  assert_output --partial "DB_AUTH_PASSWORD REDIS_PASSWORD"
}

@test "orch::packages lists the Debian packages of the services; --install-packages --dry-run prints the apt-get line, installs nothing" {
  lib_run 'orch::select_services ""; orch::packages all'
  assert_success
  assert_output "jq openssh-client curl rsync zstd glusterfs-server glusterfs-client mariadb-server galera-4 redis-server redis-tools slurmctld slurmd slurmdbd munge keepalived prometheus-node-exporter prometheus-alertmanager prometheus prometheus-mysqld-exporter prometheus-redis-exporter"
  # redis-cli "not installed": only its package is missing
  lib_run 'command() { if [[ $1 == -v && $2 == redis-cli ]]; then return 1; fi; builtin command "$@"; }
    orch::select_services ""; DRY_RUN=1 orch::install_packages; orch::preflight Packages'
  assert_equal "$status" 5
  assert_output --partial "missing: redis-tools"
  assert_output --partial "[dryrun] would run: env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-tools"
  assert_output --partial "[ERROR Packages]: required packages missing: redis-tools (fix: apt-get install redis-tools (or rerun with --install-packages))"
}

@test "--only keeps dependency order and rejects unknown services" {
  lib_run 'orch::select_services vip,database,storage; echo "${ORCH_SERVICES[*]}"'
  assert_output "storage database vip"
  lib_run 'orch::select_services database,nosuch'
  assert_equal "$status" 2
  assert_output --partial "unknown service 'nosuch'"
}

@test "galera.cnf lists every member, the node's own address, and never a bootstrap flag" {
  lib_run 'galera::render_cnf'
  assert_success
  assert_output --partial 'wsrep_cluster_address="gcomm://10.213.0.11:4567,10.213.0.12:4567,10.213.0.13:4567"'
  assert_output --partial "wsrep_node_address=10.213.0.12"
  assert_output --partial "wsrep_node_name=node2"
  assert_output --partial "innodb_buffer_pool_size=32M"
  assert_output --partial "gcache.size=64M"
  assert_output --partial "skip-syslog"
  assert_output --partial "log-error=/var/log/mysql/error.log"
  run grep -v '^#' <<< "$output"
  refute_output --regexp 'new-cluster|gcomm://"'
}

@test "a removed node disappears from the cluster address" {
  printf '10.213.0.13\n' > "$ROOT_PREFIX/var/lib/hpc-cluster/galera_excluded"
  lib_run 'galera::cluster_address'
  assert_output "10.213.0.11:4567,10.213.0.12:4567"
}

@test "sql_quote escapes quotes and backslashes, so a password cannot end the string" {
  lib_run "galera::sql_quote \"a'b\\\\c\""
  assert_output "'a\\'b\\\\c'"
}

@test "recover_position reads grastate.dat after a clean shutdown" {
  mkdir -p "$ROOT_PREFIX/var/lib/mysql"
  printf '# GALERA saved state\nversion: 2.1\nuuid:    1b2c3d4e-0000-1111-2222-333344445555\nseqno:   42\nsafe_to_bootstrap: 1\n' > "$ROOT_PREFIX/var/lib/mysql/grastate.dat"
  lib_run 'galera::recover_position; galera::grastate safe_to_bootstrap'
  assert_output $'1b2c3d4e-0000-1111-2222-333344445555:42\n1'
}

@test "cluster_id::set records the id and, at bootstrap, when and where it was created" {
  lib_run 'cluster_id::set 11111111-2222-3333-4444-555555555555 bootstrap; cluster_id::get'
  assert_success
  assert_output --partial "11111111-2222-3333-4444-555555555555"
  run cat "$ROOT_PREFIX/var/lib/hpc-cluster/bootstrapped_at"
  assert_output --partial "node2"
}

@test "start_multi_complete.sh lists its phases and rejects contradicting modes" {
  run "$TK/start_multi_complete.sh" --list-phases
  assert_output $'preflight\nmode\ndiscovery\nconfigure\nservices\nhealth\ninfo\nbackup'
  run "$TK/start_multi_complete.sh" --bootstrap --join
  assert_equal "$status" 2
  run "$TK/start_multi_complete.sh" --phase nosuch
  assert_equal "$status" 2
}

@test "phase1 refuses an address that is not in the config, and needs a mode" {
  run "$TK/setup/phase1_database_setup.sh" --add-node 10.9.9.9
  assert_equal "$status" 2
  assert_output --partial "is not a configured node"
  run "$TK/setup/phase1_database_setup.sh"
  assert_equal "$status" 2
}

@test "node_add/node_remove know the service names and refuse to act on this node itself" {
  run "$TK/utils/node_add.sh" --service nosuch 10.213.0.13
  assert_equal "$status" 2
  run "$TK/utils/node_remove.sh" --service mariadb 10.213.0.12
  assert_equal "$status" 2
  assert_output --partial "run node_remove.sh on a survivor"
}

@test "galera_auto_recover.sh --help explains the rule" {
  run "$TK/utils/galera_auto_recover.sh" --help
  assert_success
  assert_output --partial "--force-with-missing"
  assert_output --partial "highest seqno, then the highest configured priority"
}

# stub_bin NAME EXIT [STDERR]: a PATH stub (bats/helpers/unit.bash) that records its arguments in
# $BATS_TEST_TMPDIR/calls, prints STDERR and exits EXIT.
stub_bin() {
  stub "$1" "${3:+echo $(printf '%q' "$3") >&2
}exit $2"
}

# tk_with_discovery JSON|none: a private copy of the toolkit whose discovery prints JSON (or is absent).
tk_with_discovery() {
  cp -a "$TK" "$BATS_TEST_TMPDIR/tk"
  TK="$BATS_TEST_TMPDIR/tk"
  if [[ $1 == none ]]; then rm -f "$TK/discovery/auto_discovery.sh"; return 0; fi
  printf '#!/bin/sh\necho "$*" >> "%s/discovery-args"\ncat <<'"'"'JSON'"'"'\n%s\nJSON\n' "$BATS_TEST_TMPDIR" "$1" > "$TK/discovery/auto_discovery.sh"
}

# A discovery report: node1 Primary member, node3 as given by $1 (a JSON node object's tail).
discovery_report() {
  printf '{"total_nodes":3,"nodes":[
    {"ip":"10.213.0.11","hostname":"node1","self":false,"status":"active","reason":null,"services":{"mariadb":true},
     "galera":{"cluster_status":"Primary","cluster_size":2,"local_state":"Synced","last_committed":7},"cluster_id":"c1"},
    {"ip":"10.213.0.12","hostname":"node2","self":true,"status":"active","reason":null,"services":{"mariadb":false},"galera":null,"cluster_id":null},
    {"ip":"10.213.0.13","hostname":"node3","self":false,%s}]}' "$1"
}

@test "phase1 --bootstrap --dry-run prints galera.cnf and the bootstrap command, writes nothing, never shows a secret" {
  # no real probe leaves this machine: discovery reports both peers unreachable
  tk_with_discovery '{"nodes":[{"ip":"10.213.0.11","self":false,"status":"inactive","reason":"timeout"},{"ip":"10.213.0.13","self":false,"status":"inactive","reason":"timeout"}]}'
  stub_bin ssh 255 "ssh: connect to host x port 22: Connection timed out"
  stub_bin mariadb 1
  stub_bin mariadb-admin 1
  stub_bin systemctl 1
  mkdir -p "$ROOT_PREFIX/etc/hpc-cluster" "$ROOT_PREFIX/etc/init.d"
  printf '#!/bin/sh\necho "init $*" >> "%s/calls"\n' "$BATS_TEST_TMPDIR" > "$ROOT_PREFIX/etc/init.d/mariadb"
  chmod +x "$ROOT_PREFIX/etc/init.d/mariadb"
  printf 'DB_SLURM_PASSWORD=s3cret-slurm\nDB_AUTH_PASSWORD=s3cret-auth\nREDIS_PASSWORD=r\n' > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  chmod 0600 "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  before="$(find "$ROOT_PREFIX" \( -path "$ROOT_PREFIX/var/log" -o -path "$ROOT_PREFIX/run" \) -prune -o -print | sort)"
  PATH="$BATS_TEST_TMPDIR/bin:$PATH" HPC_INIT=sysv HPC_SECRETS_ANY_OWNER=1 run "$TK/setup/phase1_database_setup.sh" --bootstrap --dry-run
  assert_success
  assert_output --partial "[dryrun] would write $ROOT_PREFIX/etc/mysql/mariadb.conf.d/60-galera.cnf (mode 0644)"
  assert_output --partial '    | wsrep_node_address=10.213.0.12'
  assert_output --partial "[dryrun] would run: $ROOT_PREFIX/etc/init.d/mariadb bootstrap"
  refute_output --partial "s3cret"
  after="$(find "$ROOT_PREFIX" \( -path "$ROOT_PREFIX/var/log" -o -path "$ROOT_PREFIX/run" \) -prune -o -print | sort)"
  assert_equal "$after" "$before"
  run grep -c "^init" "$BATS_TEST_TMPDIR/calls"
  assert_output 0
}

@test "evidence from discovery JSON: active answers; a timeout, no route or auth failure is unknown, never down" {
  local r
  for r in '"status":"inactive","reason":"timeout"' '"status":"inactive","reason":"no_route"' \
           '"status":"inactive","reason":"auth_failed"' '"status":"unknown","reason":"malformed"'; do
    lib_run 'orch::evidence_from_discovery "$(cat)"' <<< "$(discovery_report "$r")"
    assert_line --index 0 '{"ip":"10.213.0.11","reach":"answered","reason":null,"running":true,"cluster_status":"Primary","cluster_size":2,"local_state":"Synced","cluster_id":"c1","last_committed":7,"toolkit":null}'
    assert_line --index 1 --regexp '^\{"ip":"10\.213\.0\.13","reach":"unknown","reason":"(timeout|no_route|auth_failed|malformed)",'
  done
  # a node missing from the report is unknown too
  lib_run 'orch::evidence_from_discovery "$(cat)"' <<< '{"nodes":[]}'
  lib_run 'orch::evidence_from_discovery "$(cat)" | jq -r "[.ip, .reach, .reason] | join(\" \")"' <<< '{"nodes":[]}'
  assert_output $'10.213.0.11 unknown absent\n10.213.0.13 unknown absent'
}

@test "evidence from discovery JSON: refused ssh is down only when the Galera port is refused too" {
  local report
  report="$(discovery_report '"status":"inactive","reason":"refused"')"
  lib_run 'orch::tcp_refused() { return 0; }; orch::evidence_from_discovery "$(cat)" | jq -c "[.ip, .reach, .reason, .running]"' <<< "$report"
  assert_line --index 1 '["10.213.0.13","down","refused",false]'
  lib_run 'orch::tcp_refused() { return 1; }; orch::evidence_from_discovery "$(cat)" | jq -c "[.ip, .reach, .reason, .running]"' <<< "$report"
  assert_line --index 1 '["10.213.0.13","unknown","refused",null]'
  # a fresh node that answered: not running, no cluster id -> never a member
  lib_run 'orch::evidence_from_discovery "$(cat)"' <<< "$(discovery_report '"status":"active","reason":null,"services":{"mariadb":false},"galera":null,"cluster_id":null')"
  lib_run 'orch::evidence_from_discovery "$(cat)" | jq -c "[.ip, .reach, .running, .cluster_id]"' <<< "$(discovery_report '"status":"active","reason":null,"services":{"mariadb":false},"galera":null,"cluster_id":null')"
  assert_line --index 1 '["10.213.0.13","answered",false,null]'
}

@test "phase1 --bootstrap asks discovery (one run, a generous deadline) and refuses beside a Primary peer" {
  tk_with_discovery "$(discovery_report '"status":"inactive","reason":"timeout"')"
  mkdir -p "$BATS_TEST_TMPDIR/bin"
  stub_bin ssh 255 "ssh: connect to host x port 22: Connection timed out"
  stub_bin mariadb 1
  stub_bin mariadb-admin 1
  PATH="$BATS_TEST_TMPDIR/bin:$PATH" HPC_INIT=sysv run "$TK/setup/phase1_database_setup.sh" --bootstrap --yes
  assert_equal "$status" 6
  assert_output --partial "refusing to bootstrap: 10.213.0.11 already runs a Primary component"
  run cat "$BATS_TEST_TMPDIR/discovery-args"
  assert_output "--json --timeout 6"
  refute grep -q "^ssh " "$BATS_TEST_TMPDIR/calls"   # no ssh of our own: discovery did the asking
}

@test "phase1 --bootstrap refuses when a peer already runs a Primary component (SSH fallback without discovery)" {
  tk_with_discovery none
  mkdir -p "$BATS_TEST_TMPDIR/bin"
  cat > "$BATS_TEST_TMPDIR/bin/ssh" <<'STUB'
#!/bin/sh
case "$*" in
  *10.213.0.11*) echo '{"ip":"10.213.0.11","running":true,"cluster_status":"Primary","cluster_size":2,"local_state":"Synced","cluster_id":"c1","grastate_seqno":-1}' ;;
  *) echo "ssh: connect to host x port 22: No route to host" >&2; exit 255 ;;
esac
STUB
  chmod +x "$BATS_TEST_TMPDIR/bin/ssh"
  stub_bin mariadb 1
  stub_bin mariadb-admin 1
  PATH="$BATS_TEST_TMPDIR/bin:$PATH" HPC_INIT=sysv run "$TK/setup/phase1_database_setup.sh" --bootstrap --yes
  assert_equal "$status" 6
  assert_output --partial "refusing to bootstrap: 10.213.0.11 already runs a Primary component"
  assert_output --partial "--join --peer 10.213.0.11"
}

@test "the SSH fallback's record carries the same fields as discovery's: last_committed, not grastate's seqno" {
  tk_with_discovery none
  mkdir -p "$BATS_TEST_TMPDIR/bin"
  cat > "$BATS_TEST_TMPDIR/bin/ssh" <<'STUB'
#!/bin/sh
case "$*" in
  *10.213.0.11*) echo '{"ip":"10.213.0.11","running":true,"cluster_status":"Primary","cluster_size":2,"local_state":"Synced","cluster_id":"c1","last_committed":9,"grastate_seqno":-1,"toolkit":{"version":"0.1.0","config_hash":"h1"}}' ;;
  *) echo "ssh: connect to host x port 22: No route to host" >&2; exit 255 ;;
esac
STUB
  chmod +x "$BATS_TEST_TMPDIR/bin/ssh"
  PATH="$BATS_TEST_TMPDIR/bin:$PATH" lib_run 'orch::evidence_ssh | jq -c "[.ip, .reach, .reason, .last_committed, .toolkit.config_hash]"'
  assert_line --index 0 '["10.213.0.11","answered",null,9,"h1"]'
  assert_line --index 1 '["10.213.0.13","unknown","no_route",null,null]'
}

@test "evidence readers go by field name: get, primary_peer (a preferred peer first), summary" {
  local ev3
  export ev3
  ev3="$(ev 10.213.0.11 answered '' true Primary c1; ev 10.213.0.13 answered '' true Primary c1)"
  lib_run 'evidence::get "$(cat)" 10.213.0.13 cluster_id; orch::primary_peer "$ev3"; orch::primary_peer "$ev3" 10.213.0.13; orch::primary_peer "$ev3" 10.213.0.99' <<< "$ev3"
  assert_output $'c1\n10.213.0.11\n10.213.0.13\n10.213.0.11'
  lib_run 'evidence::summary "$(cat)"' <<< "$(ev 10.213.0.11 answered '' true Primary; ev 10.213.0.13 unknown timeout)"
  assert_output "10.213.0.11 answered (Primary), 10.213.0.13 unknown (timeout)"
}

# report_with_toolkit VERSION HASH: node1 a Primary member running that toolkit.
report_with_toolkit() {
  printf '{"total_nodes":3,"nodes":[
    {"ip":"10.213.0.11","hostname":"node1","self":false,"status":"active","reason":null,"services":{"mariadb":true},
     "galera":{"cluster_status":"Primary","cluster_size":2,"local_state":"Synced","last_committed":7},"cluster_id":"c1",
     "toolkit":{"version":"%s","config_hash":"%s"}},
    {"ip":"10.213.0.12","hostname":"node2","self":true,"status":"active","reason":null,"services":{"mariadb":false},"galera":null,"cluster_id":null},
    {"ip":"10.213.0.13","hostname":"node3","self":false,"status":"inactive","reason":"timeout"}]}' "$1" "$2"
}

@test "a join through a peer running another config is refused (exit 6) naming both hashes and the fix" {
  local mine
  mine="$(sha256sum "$TK/lib/config.sh" | cut -d' ' -f1)"
  tk_with_discovery "$(report_with_toolkit 0.1.0 0123abcd)"
  stub_bin mariadb 1
  stub_bin mariadb-admin 1
  PATH="$BATS_TEST_TMPDIR/bin:$PATH" run "$TK/start_multi_complete.sh" --join --yes --phase discovery
  assert_equal "$status" 6
  assert_output --partial "refusing to join: 10.213.0.11 runs hpc-cluster-kit 0.1.0 with config hash 0123abcd, this node runs 0.1.0 with config hash $mine"
  assert_output --partial "copy the same dist-scripts/cluster/ to"
  # another version, same config: refused too
  PATH="$BATS_TEST_TMPDIR/bin:$PATH" run "$TK/start_multi_complete.sh" --phase discovery --yes
  assert_equal "$status" 6
  assert_output --partial "refusing to join: 10.213.0.11 runs hpc-cluster-kit 0.1.0 with config hash 0123abcd"
}

@test "a join through a peer running the same toolkit and config goes ahead" {
  local mine orig=$TK
  mine="$(sha256sum "$TK/lib/config.sh" | cut -d' ' -f1)"
  tk_with_discovery "$(report_with_toolkit 0.1.0 "$mine")"
  # the copy has the same lib/config.sh, so the same hash
  stub_bin mariadb 1
  stub_bin mariadb-admin 1
  PATH="$BATS_TEST_TMPDIR/bin:$PATH" run "$TK/start_multi_complete.sh" --join --yes --phase discovery
  assert_success
  refute_output --partial "refusing"
  rm -rf "$BATS_TEST_TMPDIR/tk"
  TK=$orig
  tk_with_discovery "$(report_with_toolkit 0.0.9 "$mine")"
  PATH="$BATS_TEST_TMPDIR/bin:$PATH" run "$TK/start_multi_complete.sh" --join --yes --phase discovery
  assert_equal "$status" 6
  assert_output --partial "runs hpc-cluster-kit 0.0.9"
}

@test "node_add/node_remove take the registry's names and the old ones; an unknown one lists them" {
  run "$TK/utils/node_remove.sh" --service nosuch 10.213.0.13
  assert_equal "$status" 2
  assert_output --partial "unknown service 'nosuch' (services: storage,database,redis,slurm,web,vip"
  for s in database mariadb galera redis cache slurm scheduler vip keepalived storage glusterfs; do
    run "$TK/utils/node_remove.sh" --service "$s" 10.213.0.12
    assert_equal "$status" 2
    assert_output --partial "run node_remove.sh on a survivor"
  done
}

@test "start_multi_complete.sh --list-services prints the registry; --only takes old names" {
  run "$TK/start_multi_complete.sh" --list-services
  assert_success
  assert_line --index 0 --regexp '^storage +setup/phase0_storage_setup.sh '
  assert_output --partial "(old names: cache, redis_rdb, phase2_redis_setup, phase2_redis)"
  lib_run 'orch::select_services cache,scheduler,mariadb; echo "${ORCH_SERVICES[*]}"'
  assert_output "database redis slurm"
}
