#!/usr/bin/env bats
# Unit tests for the VIP: keepalived.conf rendering (checked by keepalived --config-test itself),
# the health verdict of check_all_services.sh, the notify script, and the phase script's dry run and
# usage errors. Real daemons are in bats/lab/vip.

setup() {
  load "${HPC_REPO_ROOT}/bats/unit/vip/vip_helpers.bash"
  vip_generate_variant base
  vip_unit_setup
}

render() {
  in_lib "keepalived::render $*"
}

# config_test FILE: keepalived's own check, run with the real binary (not the stub).
config_test() {
  PATH="${PATH#"$BATS_TEST_TMPDIR/bin:"}" keepalived --config-test --use-file "$1"
}

@test "node1's keepalived.conf: BACKUP + nopreempt, its priority, unicast to the two peers, weight-0 check" {
  run render 10.213.0.11
  assert_success
  assert_output --partial "router_id node1"
  assert_output --partial "    state BACKUP"
  assert_output --partial "    nopreempt"
  assert_output --partial "    priority 100"
  assert_output --partial "vrrp_version 3"
  assert_output --partial "    advert_int 0.1"
  assert_output --partial "    unicast_src_ip 10.213.0.11"
  assert_output --partial $'    unicast_peer {\n        10.213.0.12\n        10.213.0.13\n    }'
  assert_output --partial "weight 0"
  assert_output --partial "vrrp_garp_master_refresh"
  assert_output --partial "10.213.0.100/24 dev eth0"
  assert_output --partial "script \"$VIP_TK/utils/check_all_services.sh --keepalived\""
  refute_output --partial "authentication"
  refute_output --regexp "@[A-Z_]+@"
}

@test "every node's rendered config passes keepalived --config-test" {
  local ip
  for ip in 10.213.0.11 10.213.0.12 10.213.0.13; do
    render "$ip" > "$BATS_TEST_TMPDIR/k.conf"
    run config_test "$BATS_TEST_TMPDIR/k.conf"
    assert_success
  done
}

@test "node3 gets its own priority and source address, and the other two as peers" {
  run render 10.213.0.13
  assert_output --partial "priority 98"
  assert_output --partial "unicast_src_ip 10.213.0.13"
  assert_output --partial $'        10.213.0.11\n        10.213.0.12\n    }'
}

@test "a removed peer is left out of unicast_peer" {
  run render 10.213.0.11 10.213.0.13
  assert_output --partial $'    unicast_peer {\n        10.213.0.12\n    }'
  refute_output --partial "10.213.0.13"
}

@test "a one-node cluster has no unicast block (an empty one makes keepalived fall back to multicast) and passes --config-test" {
  vip_generate_variant single '/hostname: node2/d' '/hostname: node3/d'
  render 10.213.0.11 > "$BATS_TEST_TMPDIR/k.conf"
  run cat "$BATS_TEST_TMPDIR/k.conf"
  refute_output --partial unicast
  run config_test "$BATS_TEST_TMPDIR/k.conf"
  assert_success
}

@test "VRRPv2 with a password of at most 8 characters gets an authentication block that passes --config-test" {
  vip_generate_variant v2 's/advert_int: 0.1/advert_int: 1\n    vrrp_version: 2\n    auth_password: ${VRRP_PASSWORD}/'
  render 10.213.0.11 > "$BATS_TEST_TMPDIR/k.conf"
  run cat "$BATS_TEST_TMPDIR/k.conf"
  assert_output --partial "vrrp_version 2"
  assert_output --partial "auth_pass abc12345"
  run config_test "$BATS_TEST_TMPDIR/k.conf"
  assert_success
}

@test "a VRRPv2 password over 8 characters is refused, without printing it" {
  vip_generate_variant v2 's/advert_int: 0.1/advert_int: 1\n    vrrp_version: 2\n    auth_password: ${VRRP_PASSWORD}/'
  printf 'REDIS_PASSWORD=r\nVRRP_PASSWORD=abc123456\n' > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  run render 10.213.0.11
  assert_failure 2
  assert_output --partial "must be 1-8 characters"
  refute_output --partial abc123456
}

@test "a VRRPv2 password keepalived would misread ('#' starts a comment) is refused" {
  vip_generate_variant v2 's/advert_int: 0.1/advert_int: 1\n    vrrp_version: 2\n    auth_password: ${VRRP_PASSWORD}/'
  printf 'REDIS_PASSWORD=r\nVRRP_PASSWORD=ab#c\n' > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  run render 10.213.0.11
  assert_failure 2
  assert_output --partial "misread"
}

@test "a Galera donor still serves: a critical warning does not make the node unfit" {
  stub mariadb 'printf "wsrep_provider_name\tGalera\nwsrep_cluster_status\tPrimary\nwsrep_local_state_comment\tDonor/Desynced\n"'
  run "$VIP_TK/utils/check_all_services.sh"
  assert_success
}

@test "MariaDB never set up on this node (no marker, not running) does not count" {
  stub pidof 'exit 1'
  run "$VIP_TK/utils/check_all_services.sh"
  assert_success
  mkdir -p "$ROOT_PREFIX/var/lib/hpc-cluster/services"
  touch "$ROOT_PREFIX/var/lib/hpc-cluster/services/mariadb"
  run "$VIP_TK/utils/check_all_services.sh"
  assert_failure 1
  assert_output --partial "critical failed: mariadb"
}

@test "the health check passes on a healthy node" {
  run "$VIP_TK/utils/check_all_services.sh"
  assert_success
  assert_output --partial "fit to hold the VIP"
  assert_line --partial "ok   mariadb"
}

@test "a critical failure (MariaDB down) makes the node unfit at once" {
  stub mariadb 'echo "ERROR 2002 (HY000): Cannot connect" >&2; exit 1'
  run "$VIP_TK/utils/check_all_services.sh"
  assert_failure 1
  assert_output --partial "critical failed: mariadb"
}

@test "a Galera node outside the Primary component is unfit" {
  stub mariadb 'printf "wsrep_provider_name\tGalera\nwsrep_cluster_status\tnon-Primary\n"'
  run "$VIP_TK/utils/check_all_services.sh"
  assert_failure 1
  assert_output --partial "not Primary"
}

@test "one non-critical failure is tolerated; two (vip.noncritical_failures_to_move) make the node unfit" {
  stub curl 'case "$*" in *4430*) exit 7;; esac; exit 0'
  run "$VIP_TK/utils/check_all_services.sh"
  assert_success
  assert_output --partial "non-critical failed: 1"
  stub curl 'exit 7'
  run "$VIP_TK/utils/check_all_services.sh"
  assert_failure 1
  assert_output --partial "non-critical failed: 2"
}

@test "the drain file and a switchover release make the node unfit" {
  mkdir -p "$ROOT_PREFIX/etc/hpc-cluster" "$ROOT_PREFIX/var/lib/hpc-cluster"
  touch "$ROOT_PREFIX/etc/hpc-cluster/drain"
  run "$VIP_TK/utils/check_all_services.sh"
  assert_failure 1
  assert_output --partial "critical failed: drain"
  rm "$ROOT_PREFIX/etc/hpc-cluster/drain"
  touch "$ROOT_PREFIX/var/lib/hpc-cluster/vip_release"
  run "$VIP_TK/utils/check_all_services.sh"
  assert_failure 1
  assert_output --partial "critical failed: release"
}

@test "--json reports the verdict and every check" {
  stub curl 'case "$*" in *5010*) exit 7;; esac; exit 0'
  run "$VIP_TK/utils/check_all_services.sh" --json
  assert_success
  run jq -r '[.fit, (.noncritical_failed | join(",")), (.checks | length)] | @tsv' <<< "$output"
  assert_output $'true\tweb:dashboard\t3'
}

@test "--keepalived prints nothing and logs only when the verdict changes" {
  run "$VIP_TK/utils/check_all_services.sh" --keepalived
  assert_success
  assert_output ""
  run "$VIP_TK/utils/check_all_services.sh" --keepalived
  stub mariadb 'exit 1'
  run "$VIP_TK/utils/check_all_services.sh" --keepalived
  assert_failure 1
  run grep -c "hold the VIP" "$ROOT_PREFIX/var/log/hpc-cluster/check_all_services.log"
  assert_output 2
}

@test "the notify script records the transition with a timestamp and the state; running it twice is fine" {
  run "$VIP_TK/utils/vip_notify.sh" INSTANCE VI_HPC MASTER 100
  assert_success
  run "$VIP_TK/utils/vip_notify.sh" INSTANCE VI_HPC MASTER 100
  assert_success
  run cat "$ROOT_PREFIX/var/log/hpc-cluster/vip_transitions.log"
  assert_line --index 0 --regexp '^20[0-9-]+T[0-9:.]+[+-][0-9]{4} node1 10\.213\.0\.11 MASTER priority=100 vip=10\.213\.0\.100$'
  assert_equal "${#lines[@]}" 2
  assert_equal "$(cat "$ROOT_PREFIX/var/lib/hpc-cluster/vip_state")" MASTER
}

@test "the notify script refuses an unknown state" {
  run "$VIP_TK/utils/vip_notify.sh" INSTANCE VI_HPC CONFUSED 100
  assert_failure 2
}

@test "on MASTER, a backup slurmctld here is asked to take over; the primary is left alone" {
  stub pgrep 'exit 0'
  mkdir -p "$ROOT_PREFIX/etc/slurm"
  printf 'SlurmctldHost=node2(10.213.0.12)\nSlurmctldHost=node1(10.213.0.11)\n' > "$ROOT_PREFIX/etc/slurm/slurm.conf"
  run "$VIP_TK/utils/vip_notify.sh" INSTANCE VI_HPC MASTER 100
  assert_success
  run grep "scontrol takeover" "$STUB_LOG"
  assert_output "scontrol takeover 1"
  : > "$STUB_LOG"
  printf 'SlurmctldHost=node1(10.213.0.11)\nSlurmctldHost=node2(10.213.0.12)\n' > "$ROOT_PREFIX/etc/slurm/slurm.conf"
  run "$VIP_TK/utils/vip_notify.sh" INSTANCE VI_HPC MASTER 100
  run grep -c scontrol "$STUB_LOG"
  assert_output 0
  run "$VIP_TK/utils/vip_notify.sh" INSTANCE VI_HPC BACKUP 100
  run grep -c scontrol "$STUB_LOG"
  assert_output 0
}

@test "--dry-run --bootstrap prints the config and the start command and changes nothing" {
  run "$VIP_TK/setup/phase4_keepalived_setup.sh" --bootstrap --dry-run
  assert_success
  assert_output --partial "[dryrun] would write $ROOT_PREFIX/etc/keepalived/keepalived.conf"
  assert_output --partial "    |     priority 100"
  assert_output --partial "[dryrun] would run: setsid keepalived --dont-fork --log-console --log-detail --no-syslog"
  [[ ! -e $ROOT_PREFIX/etc/keepalived/keepalived.conf ]]
  run grep -c "^keepalived --config-test" "$STUB_LOG"
  assert_output 0
}

@test "on MASTER, a backup never takes over while a controller ahead of it answers (a takeover stops it)" {
  stub pgrep 'exit 0'
  stub scontrol 'case "$1" in ping) printf "Slurmctld(primary) at node1 is UP\nSlurmctld(backup1) at node2 is UP\n";; esac'
  mkdir -p "$ROOT_PREFIX/etc/slurm"
  printf 'SlurmctldHost=node2(10.213.0.12)\nSlurmctldHost=node1(10.213.0.11)\n' > "$ROOT_PREFIX/etc/slurm/slurm.conf"
  run "$VIP_TK/utils/vip_notify.sh" INSTANCE VI_HPC MASTER 100
  assert_success
  run grep -c "scontrol takeover" "$STUB_LOG"
  assert_output 0
  stub scontrol 'case "$1" in ping) printf "Slurmctld(primary) at node2 is DOWN\nSlurmctld(backup1) at node1 is UP\n";; esac'
  run "$VIP_TK/utils/vip_notify.sh" INSTANCE VI_HPC MASTER 100
  run grep "scontrol takeover" "$STUB_LOG"
  assert_output "scontrol takeover 1"
}

@test "the phase script needs an action, knows its flags, and refuses to add a node the config lacks" {
  run "$VIP_TK/setup/phase4_keepalived_setup.sh"
  assert_failure 2
  run "$VIP_TK/setup/phase4_keepalived_setup.sh" --bootstrap --join
  assert_failure 2
  run "$VIP_TK/setup/phase4_keepalived_setup.sh" --frobnicate
  assert_failure 2
  run "$VIP_TK/setup/phase4_keepalived_setup.sh" --add-node 10.213.0.99
  assert_failure 2
  assert_output --partial "not in cluster_config.yaml"
}

@test "preflight fails (exit 5) when the node's address is not on the configured interface" {
  stub ip 'case "$*" in *"link show"*) echo "2: eth0: <UP>";; *"addr show"*) echo "2: eth0    inet 10.9.9.9/24";; esac'
  run "$VIP_TK/setup/phase4_keepalived_setup.sh" --join
  assert_failure 5
  assert_output --partial "[ERROR Address-10.213.0.11]"
}

@test "--status --json on a node where keepalived is down but the VIP is still on the interface says STALE" {
  VIP_HELD=1 run "$VIP_TK/setup/phase4_keepalived_setup.sh" --status --json
  assert_success
  assert_output '{"service":"keepalived","running":false,"state":"STALE","vip":"10.213.0.100","vip_here":true}'
}

@test "--status --cluster exits 1 when no node can be shown to hold the VIP" {
  run "$VIP_TK/setup/phase4_keepalived_setup.sh" --status --cluster --json
  assert_failure 1
  assert_output '{"vip":"10.213.0.100","holders":[],"unknown":["10.213.0.12","10.213.0.13"],"exactly_one":false}'
}

@test "switchover refuses an unknown target and a one-node cluster" {
  run "$VIP_TK/utils/vip_switchover.sh" --to 10.213.0.99 --yes
  assert_failure 2
  vip_generate_variant single '/hostname: node2/d' '/hostname: node3/d'
  run "$VIP_TK/utils/vip_switchover.sh" --yes
  assert_failure 6
}

@test "switchover refuses (exit 5) unless exactly one node holds the VIP" {
  run "$VIP_TK/utils/vip_switchover.sh" --yes
  assert_failure 5
  assert_output --partial "held by 0 nodes"
}

@test "a check that outlives its own timeout makes the node unfit within keepalived's 5 s, not never" {
  # A FUSE stat whose bricks vanished can outlive its SIGKILL: here timeout(1) bounds nothing and the
  # database check hangs for 20 s.
  stub timeout 'if [ "$1" = -k ]; then shift 2; fi; shift; exec "$@"'
  stub mariadb 'sleep 20'
  local t0=$SECONDS
  run "$VIP_TK/utils/check_all_services.sh"
  assert_failure 1
  assert_output --partial "critical failed: mariadb"
  (( SECONDS - t0 < 5 ))
}
