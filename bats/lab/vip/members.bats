#!/usr/bin/env bats
# The VIP's membership with real keepalived: 3 nodes, then node4 added as a VRRP peer (--add-node on a
# member: every node's unicast_peer list updated; node4 joins and can take the VIP once the others'
# keepalived are gone), then removed again (--remove-node on a survivor). Also health_check.sh's
# cluster-wide `vip` check and cluster_info.sh's VIP line, with one holder and with a stale second one.

setup_file() {
  export HPC_REPO_ROOT="${HPC_REPO_ROOT:-$(cd "$BATS_TEST_DIRNAME/../../.." && pwd)}"
  export LAB_PREFIX="${LAB_PREFIX:-vip2}"
  load "$HPC_REPO_ROOT/bats/lab/helpers.bash"
  load "$HPC_REPO_ROOT/bats/helpers/toolkit.bash"
  load "vip_helpers.bash"
  local fixture="$HPC_REPO_ROOT/test/fixtures/lab/vip-members4.yaml"
  export TK4="$BATS_FILE_TMPDIR/tk4" TK3="$BATS_FILE_TMPDIR/tk3"
  # The toolkit before the admin added node4 to the config, and after.
  mkdir -p "$TK3"
  sed '/hostname: node4/d' "$fixture" > "$TK3/config.yaml"
  vip_generate "$TK3/config.yaml" "$TK3"
  vip_generate "$fixture" "$TK4"
  lab_setup 3 >/dev/null 2>&1
  lab ssh-mesh >/dev/null 2>&1
  lab_push "$TK3/cluster" >/dev/null 2>&1
  local n
  for n in n1 n2 n3; do members_node_prepare "$n"; done
  lab_exec n1 /opt/hpc-dashboard/cluster/setup/phase4_keepalived_setup.sh --bootstrap
  lab_exec n2 /opt/hpc-dashboard/cluster/setup/phase4_keepalived_setup.sh --join
  lab_exec n3 /opt/hpc-dashboard/cluster/setup/phase4_keepalived_setup.sh --join
}

teardown_file() {
  load "$HPC_REPO_ROOT/bats/lab/helpers.bash"
  lab_teardown >/dev/null 2>&1 || true
}

setup() {
  load "$HPC_REPO_ROOT/bats/lab/helpers.bash"
  load "$HPC_REPO_ROOT/bats/helpers/toolkit.bash"
  load "vip_helpers.bash"
  bats_load_library bats-support
  bats_load_library bats-assert
}

# members_node_prepare nK: the secrets file and the "who am I" service on port 7000 (no MariaDB: it is
# tracked but never set up here, so it does not count).
members_node_prepare() {
  # shellcheck disable=SC2016 # expanded inside the node
  lab_exec "$1" sh -c 'mkdir -p -m 0700 /etc/hpc-cluster && umask 077 &&
    printf "REDIS_PASSWORD=labredis\n" > /etc/hpc-cluster/secrets.env &&
    setsid socat TCP-LISTEN:7000,fork,reuseaddr SYSTEM:hostname </dev/null >/var/log/whoami.log 2>&1 &'
}

# holders N...: the nodes among N... whose eth0 carries the VIP, space separated.
holders() {
  local n out=()
  for n in "$@"; do
    if vip_holds "$n" 2>/dev/null; then out+=("$n"); fi
  done
  printf '%s\n' "${out[*]}"
}

one_holder_among() { local h; h="$(holders "$@")"; [[ -n $h && $h != *" "* ]]; }

# peers_of nK: the unicast_peer list of nK's keepalived.conf, space separated.
peers_of() {
  lab_exec "$1" sed -n '/unicast_peer {/,/}/p' /etc/keepalived/keepalived.conf | grep -oE '10\.213\.0\.[0-9]+' | paste -sd' '
}

# Each test leaves every node fit, even when it failed half-way (the next one starts from there).
teardown() {
  local n
  for n in n1 n2 n3; do
    lab_exec "$n" rm -f /etc/hpc-cluster/drain /var/lib/hpc-cluster/services/mariadb 2>/dev/null || true
  done
}

phase4() {
  local n=$1
  shift
  lab_exec "$n" /opt/hpc-dashboard/cluster/setup/phase4_keepalived_setup.sh "$@"
}

@test "health_check.sh's vip check is ok with one holder; a second (stale) holder fails it and cluster_info ends with SPLIT BRAIN" {
  wait_until 20 one_holder_among n1 n2 n3
  owner="$(holders n1 n2 n3)"
  local t0=$EPOCHREALTIME
  run lab_exec n2 env HEALTH_VIP_CACHE=0 /opt/hpc-dashboard/cluster/utils/health_check.sh --json
  printf '# health_check.sh --json on node2 (vip check asks 2 peers): %s s\n' \
    "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')" >&3
  assert_success
  assert_equal "$(jq -r .checks.vip.status <<< "$output")" ok
  assert_equal "$(jq -r .checks.vip.message <<< "$output")" "VIP 10.213.0.100 held by node${owner#n} (10.213.0.$(( 10 + ${owner#n} )))"
  run lab_exec n3 /opt/hpc-dashboard/cluster/utils/cluster_info.sh
  assert_success
  assert_output --partial "VIP: 10.213.0.100 (owned by node${owner#n})"
  refute_output --partial "!!!"
  # What a SIGKILLed keepalived leaves behind: the address on a node that no longer runs VRRP for it.
  other=n3
  [[ $owner != n3 ]] || other=n2
  lab_exec "$other" ip addr add 10.213.0.100/24 dev eth0
  run lab_exec n1 env HEALTH_VIP_CACHE=0 /opt/hpc-dashboard/cluster/utils/health_check.sh --json
  lab_exec "$other" ip addr del 10.213.0.100/24 dev eth0
  assert_success   # never critical: the node itself stays healthy
  assert_equal "$(jq -r .checks.vip.status <<< "$output")" fail
  assert_output --partial "held by 2 nodes"
  lab_exec "$other" ip addr add 10.213.0.100/24 dev eth0
  run lab_exec n1 /opt/hpc-dashboard/cluster/utils/cluster_info.sh
  lab_exec "$other" ip addr del 10.213.0.100/24 dev eth0
  assert_success
  assert_line --index -1 --partial "!!! SPLIT BRAIN: VIP 10.213.0.100 is held by 2 nodes"
  # The stale address never reached keepalived's track script: the owner is still MASTER.
  assert_equal "$(holders n1 n2 n3)" "$owner"
  run lab_exec "$owner" cat /var/lib/hpc-cluster/vip_state
  assert_output MASTER
}

@test "every node drained at once: no node holds the VIP (health and cluster_info say so loudly); the first back takes it" {
  wait_until 20 one_holder_among n1 n2 n3
  # A drain is the admin's will: even the last resort (next test) does not override it.
  for n in n1 n2 n3; do lab_exec "$n" touch /etc/hpc-cluster/drain; done
  wait_until 20 eval '[[ -z "$(holders n1 n2 n3)" ]]'
  for n in n1 n2 n3; do wait_until 10 eval '[[ "$(lab_exec "$n" cat /var/lib/hpc-cluster/vip_state)" == FAULT ]]'; done
  run lab_exec n1 env HEALTH_VIP_CACHE=0 /opt/hpc-dashboard/cluster/utils/health_check.sh --json
  assert_equal "$(jq -r .checks.vip.message <<< "$output")" "no node holds the VIP 10.213.0.100"
  run lab_exec n1 /opt/hpc-dashboard/cluster/utils/cluster_info.sh
  assert_line --index -1 --partial "!!! VIP 10.213.0.100 IS NOT HELD BY ANY NODE"
  # node3 (the lowest priority) recovers first: it takes the VIP; the others stay out when they recover.
  lab_exec n3 rm -f /etc/hpc-cluster/drain
  wait_until 15 vip_answered_by node3
  lab_exec n1 rm -f /etc/hpc-cluster/drain
  lab_exec n2 rm -f /etc/hpc-cluster/drain
  wait_until 15 eval '[[ "$(lab_exec n1 cat /var/lib/hpc-cluster/vip_state)" == BACKUP ]]'
  assert_equal "$(holders n1 n2 n3)" n3
}

@test "a critical service down on every node: node1 (top priority) holds the VIP as the last resort until another node is fit" {
  wait_until 20 one_holder_among n1 n2 n3
  # MariaDB marked as set up but not running: a critical failure on every node at once.
  local t0=$EPOCHREALTIME t1
  for n in n1 n2 n3; do lab_exec "$n" sh -c 'mkdir -p /var/lib/hpc-cluster/services && touch /var/lib/hpc-cluster/services/mariadb'; done
  for n in n2 n3; do wait_until 15 eval '[[ "$(lab_exec "$n" cat /var/lib/hpc-cluster/vip_state)" == FAULT ]]'; done
  # (node1 may hold the VIP for a moment before its own check has failed twice: wait for the real thing.)
  wait_until 30 lab_exec n1 grep -q "holding the VIP as the last resort" /var/log/hpc-cluster/check_all_services.log
  wait_until 15 vip_answered_by node1
  t1=$EPOCHREALTIME
  printf '# all unfit -> node1 answers as the last resort: %s s after the failures\n' \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" >&3
  assert_equal "$(holders n1 n2 n3)" n1
  run lab_exec n1 grep -c "holding the VIP as the last resort" /var/log/hpc-cluster/check_all_services.log
  assert_output 1
  run lab_exec n1 /opt/hpc-dashboard/cluster/utils/check_all_services.sh --json
  assert_failure 1
  assert_equal "$(jq -r '[.fit, .last_resort] | @tsv' <<< "$output")" $'false\ttrue'
  vip_stays node1 3
  # node2 recovers: node1 gives the VIP up and node2 takes it.
  t0=$EPOCHREALTIME
  lab_exec n2 rm -f /var/lib/hpc-cluster/services/mariadb
  wait_until 30 vip_answered_by node2
  t1=$EPOCHREALTIME
  printf '# node2 fit again -> node2 answers: %s s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" >&3
  wait_until 15 eval '[[ "$(lab_exec n1 cat /var/lib/hpc-cluster/vip_state)" == FAULT ]]'
  run lab_exec n1 grep -c "no longer the last resort" /var/log/hpc-cluster/check_all_services.log
  assert_output 1
  for n in n1 n3; do lab_exec "$n" rm -f /var/lib/hpc-cluster/services/mariadb; done
  wait_until 15 eval '[[ "$(lab_exec n1 cat /var/lib/hpc-cluster/vip_state)" == BACKUP ]]'
  vip_stays node2 2
}

@test "--add-node: node4 becomes a unicast peer on every node, joins as BACKUP, and takes the VIP when the others' keepalived are gone" {
  lab add n4 >/dev/null
  lab ssh-mesh >/dev/null 2>&1
  # The admin added node4 to cluster_config.yaml, regenerated and pushed the toolkit everywhere.
  lab_push "$TK4/cluster" >/dev/null 2>&1
  members_node_prepare n4
  assert_equal "$(peers_of n1)" "10.213.0.12 10.213.0.13"
  run phase4 n2 --add-node 10.213.0.14
  assert_success
  assert_output --partial "every reachable member now sends VRRP adverts to 10.213.0.14"
  assert_equal "$(peers_of n1)" "10.213.0.12 10.213.0.13 10.213.0.14"
  assert_equal "$(peers_of n2)" "10.213.0.11 10.213.0.13 10.213.0.14"
  assert_equal "$(peers_of n3)" "10.213.0.11 10.213.0.12 10.213.0.14"
  run lab_exec n1 grep -c "Reloading" /var/log/hpc-cluster/keepalived.log
  assert_success
  run phase4 n4 --join
  assert_success
  assert_equal "$(peers_of n4)" "10.213.0.11 10.213.0.12 10.213.0.13"
  wait_until 15 eval '[[ "$(lab_exec n4 cat /var/lib/hpc-cluster/vip_state)" == BACKUP ]]'
  wait_until 10 one_holder_among n1 n2 n3 n4
  [[ "$(holders n1 n2 n3 n4)" != n4 ]]   # nopreempt: the joiner does not take it
  # keepalived stopped on the three others (SIGTERM: each releases cleanly): node4 answers on the VIP.
  for n in n1 n2 n3; do lab_exec "$n" pkill -x keepalived || true; done
  wait_until 15 vip_answered_by node4
  assert_equal "$(holders n1 n2 n3 n4)" n4
  for n in n1 n2 n3; do phase4 "$n" --join >/dev/null 2>&1; done
  wait_until 15 eval '[[ "$(lab_exec n1 cat /var/lib/hpc-cluster/vip_state)" == BACKUP ]]'
  vip_stays node4 2
}

@test "--remove-node on a survivor: node4's keepalived stops (the VIP moves at once) and every survivor drops it" {
  run phase4 n1 --remove-node 10.213.0.14
  assert_success
  assert_output --partial "10.213.0.14 is no longer a VRRP peer"
  assert_equal "$(peers_of n1)" "10.213.0.12 10.213.0.13"
  assert_equal "$(peers_of n2)" "10.213.0.11 10.213.0.13"
  assert_equal "$(peers_of n3)" "10.213.0.11 10.213.0.12"
  run phase4 n4 --status
  assert_output --partial "keepalived: stopped"
  wait_until 15 one_holder_among n1 n2 n3 n4
  [[ "$(holders n1 n2 n3 n4)" != n4 ]]
  wait_until 10 vip_answered_not_by node4
  run phase4 n2 --status --cluster --json
  assert_success
  assert_output --partial '"exactly_one":true'
  # A rerun of the survivors' phase (or a refresh after a toolkit push) keeps node4 out.
  run phase4 n3 --refresh
  assert_success
  assert_equal "$(peers_of n3)" "10.213.0.11 10.213.0.12"
}
