#!/usr/bin/env bats
# Unit tests for the VIP membership changes of setup/phase4_keepalived_setup.sh (--add-node,
# --remove-node, --refresh), the cluster-wide `vip` check of utils/health_check.sh (exactly one holder,
# never critical, never in keepalived's track script) and the VIP lines of utils/cluster_info.sh.
# PATH stubs stand in for ssh and ip; the real thing is in bats/lab/vip/members.bats.

setup() {
  load "${HPC_REPO_ROOT}/bats/unit/vip/vip_helpers.bash"
  # Four configured nodes, as after the admin added node4 to cluster_config.yaml.
  vip_generate_variant four '/hostname: node3/a\    - { ip: 10.213.0.14, hostname: node4, priority: 97 }'
  vip_unit_setup
  PHASE4="$VIP_TK/setup/phase4_keepalived_setup.sh"
  CONF="$ROOT_PREFIX/etc/keepalived/keepalived.conf"
  REMOVED="$ROOT_PREFIX/var/lib/hpc-cluster/keepalived_removed_peers"
  # Peers answer every SSH call; PEERS_WITH_VIP lists the peers whose eth0 carries the VIP.
  # shellcheck disable=SC2016 # expanded when the stub runs
  stub ssh 'for a in "$@"; do [[ $a == *@* ]] && ip=${a#*@}; done
    [[ " ${PEERS_DOWN:-} " == *" $ip "* ]] && exit 255
    case "$*" in *"addr show"*)
      printf "2: eth0    inet %s/24 scope global eth0\n" "$ip"
      [[ " ${PEERS_WITH_VIP:-} " == *" $ip "* ]] && printf "2: eth0    inet 10.213.0.100/24 scope global secondary eth0\n"
    esac
    exit 0'
}

# unicast_peers: the peers in this node's keepalived.conf, space separated.
unicast_peers() {
  sed -n '/unicast_peer {/,/}/p' "$CONF" | grep -oE '10\.213\.0\.[0-9]+' | paste -sd' '
}

# ssh_calls PATTERN: how many recorded ssh calls match PATTERN (grep -E).
ssh_calls() {
  grep -E "^ssh .*$1" "$STUB_LOG" | wc -l
}

@test "--refresh renders every configured peer; a rerun changes nothing" {
  run "$PHASE4" --refresh
  assert_success
  assert_output --partial "wrote $CONF"
  assert_equal "$(unicast_peers)" "10.213.0.12 10.213.0.13 10.213.0.14"
  run "$PHASE4" --refresh
  assert_success
  assert_output --partial "is up to date"
  assert_equal "$(ssh_calls .)" 0
}

@test "--refresh --exclude IP leaves IP out and remembers it; --include IP brings it back" {
  run "$PHASE4" --refresh --exclude 10.213.0.14
  assert_success
  assert_equal "$(unicast_peers)" "10.213.0.12 10.213.0.13"
  assert_equal "$(cat "$REMOVED")" 10.213.0.14
  # A plain refresh (e.g. after the toolkit was pushed again) keeps it out.
  run "$PHASE4" --refresh
  assert_equal "$(unicast_peers)" "10.213.0.12 10.213.0.13"
  run "$PHASE4" --refresh --include 10.213.0.14
  assert_success
  assert_equal "$(unicast_peers)" "10.213.0.12 10.213.0.13 10.213.0.14"
  run grep -c . "$REMOVED"
  assert_output 0
}

@test "--add-node IP: this node re-renders with IP, every other member is asked to --refresh --include IP" {
  # node4 was removed once; adding it back must clear that.
  mkdir -p "$(dirname "$REMOVED")" && printf '10.213.0.14\n' > "$REMOVED"
  run "$PHASE4" --add-node 10.213.0.14
  assert_success
  assert_output --partial "every reachable member now sends VRRP adverts to 10.213.0.14"
  assert_equal "$(unicast_peers)" "10.213.0.12 10.213.0.13 10.213.0.14"
  for ip in 10.213.0.12 10.213.0.13 10.213.0.14; do
    assert_equal "$(ssh_calls "root@$ip .*phase4_keepalived_setup.sh --refresh --include 10.213.0.14$")" 1
  done
  assert_equal "$(ssh_calls "root@10.213.0.11")" 0
}

@test "--add-node with a member unreachable: the others are refreshed, the command to run there is printed, exit 1" {
  PEERS_DOWN=10.213.0.13 run "$PHASE4" --add-node 10.213.0.14
  assert_failure 1
  assert_output --partial "could not update 10.213.0.13 (down?); run there when it is back: setup/phase4_keepalived_setup.sh --refresh --include 10.213.0.14"
  assert_equal "$(unicast_peers)" "10.213.0.12 10.213.0.13 10.213.0.14"
  assert_equal "$(ssh_calls "root@10.213.0.12 .*--refresh --include 10.213.0.14$")" 1
}

@test "--remove-node IP: keepalived is stopped there first, then every survivor drops it" {
  run "$PHASE4" --remove-node 10.213.0.14
  assert_success
  assert_output --partial "10.213.0.14 is no longer a VRRP peer"
  assert_equal "$(unicast_peers)" "10.213.0.12 10.213.0.13"
  assert_equal "$(cat "$REMOVED")" 10.213.0.14
  assert_equal "$(ssh_calls "root@10.213.0.14 .*phase4_keepalived_setup.sh --leave$")" 1
  assert_equal "$(ssh_calls "root@10.213.0.14 .*--refresh")" 0
  for ip in 10.213.0.12 10.213.0.13; do
    assert_equal "$(ssh_calls "root@$ip .*--refresh --exclude 10.213.0.14$")" 1
  done
  # The stop comes before any survivor drops it (a holder releases the VIP cleanly first).
  run grep -nE '^ssh ' "$STUB_LOG"
  assert_line --index 0 --partial "root@10.213.0.14"
}

@test "--remove-node of an unreachable node still drops it everywhere; on the node itself it is refused" {
  PEERS_DOWN=10.213.0.14 run "$PHASE4" --remove-node 10.213.0.14
  assert_success
  assert_output --partial "could not stop keepalived on 10.213.0.14"
  assert_equal "$(unicast_peers)" "10.213.0.12 10.213.0.13"
  run "$PHASE4" --remove-node 10.213.0.11
  assert_failure 2
  assert_output --partial "run --remove-node on a surviving node"
}

@test "--add-node / --remove-node --dry-run write nothing here and pass --dry-run on" {
  run "$PHASE4" --remove-node 10.213.0.14 --dry-run
  assert_success
  [[ ! -e $CONF && ! -e $REMOVED ]]
  assert_equal "$(ssh_calls "--leave --dry-run$")" 1
  assert_equal "$(ssh_calls "--refresh --exclude 10.213.0.14 --dry-run$")" 2
  run "$PHASE4" --add-node 10.213.0.14 --dry-run
  assert_success
  [[ ! -e $CONF && ! -e $REMOVED ]]
  assert_equal "$(ssh_calls "--refresh --include 10.213.0.14 --dry-run$")" 3
}

# --- health_check.sh: the vip check --------------------------------------------------------------

vip_check() {  # FIELD of the vip check in the last --json output
  jq -r ".checks.vip.$1" <<< "$output"
}

keepalived_set_up() {
  mkdir -p "$ROOT_PREFIX/etc/keepalived"
  : > "$CONF"
  export HEALTH_VIP_CACHE=0   # each run asks again (the cache has its own test)
}

@test "health vip: not_configured where keepalived was never set up, and then no peer is asked" {
  stub pidof 'case "$*" in *keepalived*) exit 1;; esac; exit 0'
  run "$VIP_TK/utils/health_check.sh" --json
  assert_success
  assert_equal "$(vip_check status)" not_configured
  assert_equal "$(ssh_calls .)" 0
}

@test "health vip: ok with exactly one holder, named; never critical" {
  keepalived_set_up
  PEERS_WITH_VIP=10.213.0.13 run "$VIP_TK/utils/health_check.sh" --json
  assert_success
  assert_equal "$(vip_check status)" ok
  assert_equal "$(vip_check critical)" false
  assert_equal "$(vip_check message)" "VIP 10.213.0.100 held by node3 (10.213.0.13)"
  assert_equal "$(jq -r .healthy <<< "$output")" true
  # Every peer asked once, in parallel.
  assert_equal "$(ssh_calls "addr show dev eth0")" 3
}

@test "health vip: two holders fail with both named; none fails; the node stays healthy (not critical)" {
  keepalived_set_up
  VIP_HELD=1 PEERS_WITH_VIP=10.213.0.12 run "$VIP_TK/utils/health_check.sh" --json
  assert_success
  assert_equal "$(vip_check status)" fail
  assert_equal "$(vip_check message)" "VIP 10.213.0.100 held by 2 nodes: node1 (10.213.0.11), node2 (10.213.0.12)"
  assert_equal "$(jq -r '[.status, .healthy] | @tsv' <<< "$output")" $'degraded\ttrue'
  run "$VIP_TK/utils/health_check.sh" --json
  assert_success
  assert_equal "$(vip_check status)" fail
  assert_equal "$(vip_check message)" "no node holds the VIP 10.213.0.100"
  run "$VIP_TK/utils/health_check.sh"
  assert_output --regexp "vip +fail +no node holds the VIP 10.213.0.100"
}

@test "health vip: a peer that cannot be asked is unknown (warn), never counted as not holding" {
  keepalived_set_up
  VIP_HELD=1 PEERS_DOWN=10.213.0.14 run "$VIP_TK/utils/health_check.sh" --json
  assert_equal "$(vip_check status)" warn
  assert_equal "$(vip_check message)" "VIP 10.213.0.100 held by node1 (10.213.0.11); could not ask 10.213.0.14"
  PEERS_DOWN=10.213.0.14 run "$VIP_TK/utils/health_check.sh" --json
  assert_equal "$(vip_check status)" warn
  assert_equal "$(vip_check message)" "no reachable node holds the VIP 10.213.0.100; could not ask 10.213.0.14"
}

@test "health vip: a peer that hangs is cut off at the health timeout" {
  keepalived_set_up
  # shellcheck disable=SC2016
  stub ssh 'for a in "$@"; do [[ $a == *@* ]] && ip=${a#*@}; done
    [[ $ip == 10.213.0.12 ]] && exec sleep 30
    exit 0'
  local start=$EPOCHREALTIME
  VIP_HELD=1 HEALTH_TIMEOUT=1 run "$VIP_TK/utils/health_check.sh" --json
  assert_equal "$(vip_check status)" warn
  assert_equal "$(vip_check message)" "VIP 10.213.0.100 held by node1 (10.213.0.11); could not ask 10.213.0.12"
  # Generous bound (shared CI cores): the point is "not 30 s".
  (( ${EPOCHREALTIME/./} - ${start/./} < 15000000 ))
}

@test "health vip: the answer is reused for HEALTH_VIP_CACHE seconds (GET /health may be polled often)" {
  keepalived_set_up
  export HEALTH_VIP_CACHE=30
  VIP_HELD=1 run "$VIP_TK/utils/health_check.sh" --json
  assert_equal "$(vip_check status)" ok
  PEERS_WITH_VIP=10.213.0.12 run "$VIP_TK/utils/health_check.sh" --json
  assert_equal "$(vip_check status)" ok
  assert_equal "$(ssh_calls "addr show dev eth0")" 3
  HEALTH_VIP_CACHE=0 PEERS_WITH_VIP=10.213.0.12 run "$VIP_TK/utils/health_check.sh" --json
  assert_equal "$(vip_check message)" "VIP 10.213.0.100 held by node2 (10.213.0.12)"
}

@test "the vip check never takes part in --quiet or in keepalived's track script" {
  keepalived_set_up
  run "$VIP_TK/utils/health_check.sh" --quiet
  assert_success
  run "$VIP_TK/utils/check_all_services.sh" --json
  assert_success
  refute_output --partial '"name":"vip"'
  assert_equal "$(ssh_calls .)" 0
}

# --- cluster_info.sh: who holds the VIP ----------------------------------------------------------

# report HOLDS1 HOLDS2 HOLDS3 [STATUS3]: a minimal discovery report with holds_vip per node.
report() {
  jq -n --argjson a "$1" --argjson b "$2" --argjson c "$3" --arg s3 "${4:-active}" '
    def node(i; h; s): {ip: "10.213.0.1\(i)", hostname: "node\(i)", self: (i == 1), status: s,
      reason: (if s == "active" then null else "timeout" end), load: 0.1, uptime: "1 day", holds_vip: h};
    [node(1; $a; "active"), node(2; $b; "active"), node(3; $c; $s3)] as $n
    | {total_nodes: 3, active_nodes: ([$n[] | select(.status == "active")] | length), inactive_nodes: 0,
       unknown_nodes: 0, cluster_state: "healthy", cluster_id: null,
       vip_owner: ([$n[] | select(.holds_vip and .status == "active") | .ip][0] // null), nodes: $n}' \
    > "$BATS_TEST_TMPDIR/report.json"
}

@test "cluster_info: one holder is named, with no warning line" {
  report false true false
  run "$VIP_TK/utils/cluster_info.sh" --from "$BATS_TEST_TMPDIR/report.json"
  assert_success
  assert_output --partial "VIP: 10.213.0.100 (owned by node2)"
  refute_output --partial "!!!"
}

@test "cluster_info: no holder and two holders end with a loud line naming them" {
  report false false false
  run "$VIP_TK/utils/cluster_info.sh" --from "$BATS_TEST_TMPDIR/report.json"
  assert_success
  assert_output --partial "VIP: 10.213.0.100 (not held by any active node)"
  assert_line --index -1 --partial "!!! VIP 10.213.0.100 IS NOT HELD BY ANY NODE"
  report true false true
  run "$VIP_TK/utils/cluster_info.sh" --from "$BATS_TEST_TMPDIR/report.json"
  assert_output --partial "VIP: 10.213.0.100 (held by 2 nodes)"
  assert_line --index -1 --partial "!!! SPLIT BRAIN: VIP 10.213.0.100 is held by 2 nodes: node1 (10.213.0.11), node3 (10.213.0.13)"
  run "$VIP_TK/utils/cluster_info.sh" --json --from "$BATS_TEST_TMPDIR/report.json"
  assert_equal "$(jq -r '[.vip_holders[].hostname] | join(",")' <<< "$output")" node1,node3
}

@test "cluster_info: a node that could not be asked is named in the warning" {
  report false false null inactive
  run "$VIP_TK/utils/cluster_info.sh" --from "$BATS_TEST_TMPDIR/report.json"
  assert_line --index -1 --partial "IS NOT HELD BY ANY NODE: clients cannot reach the portal at its address (could not ask node3)"
}

# --- check_all_services.sh: the last resort when every member is unfit ---------------------------

# unfit_here STATE: MariaDB set up but down here (critical), keepalived's last state STATE,
# and peers answering unfit, "fit" when listed in PEERS_FIT, nothing when listed in PEERS_DOWN.
unfit_here() {
  stub pidof 'case "$*" in *mariadbd*|*mysqld*) exit 1;; esac; exit 0'
  mkdir -p "$ROOT_PREFIX/var/lib/hpc-cluster/services"
  touch "$ROOT_PREFIX/var/lib/hpc-cluster/services/mariadb"
  printf '%s\n' "$1" > "$ROOT_PREFIX/var/lib/hpc-cluster/vip_state"
  # shellcheck disable=SC2016 # expanded when the stub runs
  stub ssh 'for a in "$@"; do [[ $a == *@* ]] && ip=${a#*@}; done
    [[ " ${PEERS_DOWN:-} " == *" $ip "* ]] && exit 255
    [[ " ${PEERS_FIT:-} " == *" $ip "* ]] && { echo "{\"fit\":true,\"summary\":\"fit to hold the VIP\"}"; exit 0; }
    echo "{\"fit\":false,\"summary\":\"unfit to hold the VIP; critical failed: mariadb\",\"critical_failed\":[\"mariadb\"]}"'
}

CHECK() { "$VIP_TK/utils/check_all_services.sh" "$@"; }

@test "the verdict is a JSON record peers read by field; a peer's text answer is unknown, never unfit" {
  unfit_here FAULT
  run CHECK --keepalived
  run jq -r '[.fit, .summary, (.critical_failed | join(","))] | @tsv' "$ROOT_PREFIX/var/lib/hpc-cluster/vip_check_last"
  assert_output "$(printf 'false\tunfit to hold the VIP; critical failed: mariadb\tmariadb')"
  # an answer that is not a verdict record (an older toolkit's text) cannot count as unfit
  # shellcheck disable=SC2016 # expanded when the stub runs
  stub ssh 'echo "unfit to hold the VIP; critical failed: mariadb"'
  rm -f "$(FLAG)" "$ROOT_PREFIX/var/lib/hpc-cluster/vip_last_resort_peers"
  run CHECK --keepalived
  assert_failure 1
  [[ ! -e "$(FLAG)" ]]
}
FLAG() { printf '%s' "$ROOT_PREFIX/var/lib/hpc-cluster/vip_last_resort"; }

@test "last resort: the top-priority node in FAULT passes when every other member answers unfit" {
  unfit_here FAULT
  run CHECK --keepalived
  assert_success
  assert_output ""
  [[ -e "$(FLAG)" ]]
  assert_equal "$(ssh_calls "vip_check_last")" 3
  run grep -c "holding the VIP as the last resort" "$ROOT_PREFIX/var/log/hpc-cluster/check_all_services.log"
  assert_output 1
  # The report stays this node's own verdict; only keepalived's exit code is the last resort's.
  run CHECK --json
  assert_failure 1
  assert_equal "$(jq -r '[.fit, .last_resort] | @tsv' <<< "$output")" $'false\ttrue'
  # Peers are asked at most every 5 s (keepalived runs the check every second).
  run CHECK --keepalived
  assert_success
  assert_equal "$(ssh_calls "vip_check_last")" 3
}

@test "last resort: not while any member is fit or cannot be asked (a partition), and given up when one is fit again" {
  unfit_here FAULT
  PEERS_FIT=10.213.0.13 run CHECK --keepalived
  assert_failure 1
  [[ ! -e "$(FLAG)" ]]
  rm -f "$ROOT_PREFIX/var/lib/hpc-cluster/vip_last_resort_peers"
  PEERS_DOWN=10.213.0.12 run CHECK --keepalived
  assert_failure 1
  rm -f "$ROOT_PREFIX/var/lib/hpc-cluster/vip_last_resort_peers"
  run CHECK --keepalived
  assert_success
  [[ -e "$(FLAG)" ]]
  # Holding it as the last resort (MASTER now), a member becomes fit: give it up.
  printf 'MASTER\n' > "$ROOT_PREFIX/var/lib/hpc-cluster/vip_state"
  rm -f "$ROOT_PREFIX/var/lib/hpc-cluster/vip_last_resort_peers"
  PEERS_FIT=10.213.0.12 run CHECK --keepalived
  assert_failure 1
  [[ ! -e "$(FLAG)" ]]
  run grep -c "no longer the last resort" "$ROOT_PREFIX/var/log/hpc-cluster/check_all_services.log"
  assert_output 1
}

@test "last resort: a normal failover (holder not yet FAULT), a lower-priority node and a drain never ask anyone" {
  unfit_here MASTER
  run CHECK --keepalived
  assert_failure 1
  unfit_here FAULT
  HPC_NODE_IP=10.213.0.12 run CHECK --keepalived
  assert_failure 1
  touch "$ROOT_PREFIX/etc/hpc-cluster/drain"
  run CHECK --keepalived
  assert_failure 1
  assert_equal "$(ssh_calls .)" 0
}

@test "last resort: the top priority is among the members left (a removed node does not count)" {
  unfit_here FAULT
  mkdir -p "$ROOT_PREFIX/var/lib/hpc-cluster"
  printf '10.213.0.11\n' > "$REMOVED"
  HPC_NODE_IP=10.213.0.12 run CHECK --keepalived
  assert_success
  assert_equal "$(ssh_calls "vip_check_last")" 2
  assert_equal "$(ssh_calls "root@10.213.0.11")" 0
}
