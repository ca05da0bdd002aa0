#!/usr/bin/env bats
# "One command" across every service, on 3 namespaced nodes with the real daemons: GlusterFS replica 3,
# MariaDB Galera, Redis Cluster (3 masters), Slurm (every member a controller), keepalived VIP.
# start_multi_complete.sh runs storage -> database -> redis -> slurm -> vip (the registry's order); no --only anywhere.
# The tests build on each other as an admin would: bootstrap n1, --join n2, dry run on the fresh n3,
# n3 in auto mode, check every service on every node, rerun on a member.

load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"
load full_helpers

export LAB_PREFIX="${LAB_PREFIX:-full}"

setup_file() {
  lab_setup 3 >/dev/null 2>&1
  full_prepare "$(toolkit_fixture lab/full-3.yaml)" n1 n2 n3
}

teardown_file() {
  lab_teardown >/dev/null 2>&1 || true
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

@test "--bootstrap on n1 (no --only) brings up storage, database, redis, slurm and the VIP in order" {
  run lab_exec n1 "$TK/start_multi_complete.sh" --bootstrap --yes
  assert_success
  # every service ran, in dependency order, none skipped as "not built"
  local order
  order="$(grep -o '^==> \[services/[a-z]*\] [a-z]*: done' <<< "$output" | sed 's/.*\] //; s/: done//' | tr '\n' ' ')"
  assert_equal "$order" "storage database redis slurm web vip monitoring "
  refute_output --partial "not built yet"
  assert_output --partial "standalone: bootstrap done on node1"
  synced n1 1
  # one cluster id, the same on the node and on the shared volume
  local id
  id="$(lab_exec n1 cat /var/lib/hpc-cluster/cluster_id)"
  [[ $id =~ ^[0-9a-f-]{36}$ ]]
  assert_equal "$(lab_exec n1 cat /mnt/gluster/config/cluster_id)" "$id"
  wait_until 30 one_vip_holder
  assert_equal "$(vip_holders)" n1
}

@test "--join on n2 joins every service through n1" {
  run lab_exec n2 "$TK/start_multi_complete.sh" --join --yes
  assert_success
  refute_output --partial "not built yet"
  assert_output --partial "cluster-2: join done on node2"
  synced n2 2
  assert_equal "$(lab_exec n2 cat /var/lib/hpc-cluster/cluster_id)" "$(lab_exec n1 cat /var/lib/hpc-cluster/cluster_id)"
}

@test "--dry-run on the fresh n3 changes nothing, on n3 or on the members" {
  local before after members_before members_after
  before="$(snapshot n3)$(daemons n3)"
  members_before="$(lab_exec n1 gluster --mode=script volume info shared_data; lab_exec n1 cat /etc/slurm/slurm.conf; rcli n1 cluster nodes | awk '{ print $1, $2, $3 }' | sort; wsrep n1 wsrep_cluster_size)"
  run lab_exec n3 "$TK/start_multi_complete.sh" --join --yes --dry-run
  assert_success
  assert_output --partial "[dryrun] would"
  refute_output --partial "slurm-secret-1"
  refute_output --partial "redis-secret-3"
  after="$(snapshot n3)$(daemons n3)"
  [[ $before == "$after" ]] || { diff <(echo "$before") <(echo "$after") >&3 || true; false; }
  members_after="$(lab_exec n1 gluster --mode=script volume info shared_data; lab_exec n1 cat /etc/slurm/slurm.conf; rcli n1 cluster nodes | awk '{ print $1, $2, $3 }' | sort; wsrep n1 wsrep_cluster_size)"
  [[ $members_before == "$members_after" ]] || { diff <(echo "$members_before") <(echo "$members_after") >&3 || true; false; }
}

@test "n3 without a mode flag decides join from live evidence and completes cluster-3" {
  run lab_exec n3 "$TK/start_multi_complete.sh" --yes
  assert_success
  assert_output --partial "auto mode: join"
  assert_output --partial "cluster-3: join done on node3"
  refute_output --partial "not built yet"
}

@test "GlusterFS: replica 3 on every node, a file written on n1 is identical on n3" {
  local n
  for n in n1 n2 n3; do
    run lab_exec "$n" gluster --mode=script volume info shared_data
    assert_output --partial "Number of Bricks: 1 x 3 = 3"
    assert_output --partial "Status: Started"
    lab_exec "$n" mountpoint -q /mnt/gluster
  done
  lab_exec n1 sh -c 'head -c 65536 /dev/urandom > /mnt/gluster/chain-probe && sync'
  local sum
  # shellcheck disable=SC2034 # read by the eval below
  sum="$(lab_exec n1 sha256sum /mnt/gluster/chain-probe | cut -d' ' -f1)"
  wait_until 30 eval '[[ "$(lab_exec n3 sha256sum /mnt/gluster/chain-probe 2>/dev/null | cut -d" " -f1)" == "$sum" ]]'
}

@test "Galera: size 3, Synced and Primary on every node; a row written on n3 is read on n1" {
  synced n1 3
  synced n2 3
  synced n3 3
  lab_exec n3 mariadb -e "CREATE TABLE IF NOT EXISTS auth_portal.chain (id INT PRIMARY KEY); REPLACE INTO auth_portal.chain VALUES (3)"
  run lab_exec n1 mariadb -N -B -e "SET SESSION wsrep_sync_wait=1; SELECT id FROM auth_portal.chain"
  assert_output 3
}

@test "Redis: cluster_state ok with 3 masters seen from every node" {
  local n
  for n in n1 n2 n3; do
    assert_equal "$(redis_info "$n" cluster_state)" ok
    assert_equal "$(redis_info "$n" cluster_size)" 3
    assert_equal "$(redis_info "$n" cluster_slots_ok)" 16384
  done
  run rcli n1 -c set chain-key chain-value
  run rcli n3 -c get chain-key
  assert_output chain-value
}

@test "Slurm: scontrol ping shows the primary and two backups UP on every node" {
  local n
  for n in n1 n2 n3; do
    run lab_exec "$n" scontrol ping
    assert_line "Slurmctld(primary) at node1 is UP"
    assert_line "Slurmctld(backup1) at node2 is UP"
    assert_line "Slurmctld(backup2) at node3 is UP"
  done
  wait_until 30 eval '[[ "$(lab_exec n1 sinfo -h -o %D -t idle)" == 3 ]]'
}

@test "VIP: exactly one node holds it and it answers TCP from the client" {
  wait_until 30 one_vip_holder
  local holder
  holder="$(vip_holders)"
  run lab_client env MYSQL_PWD=auth-secret-2 mariadb -h 10.213.0.100 -u auth_user -N -B -e "SELECT @@hostname" auth_portal
  assert_success
  assert_output "$(lab_hostname "$holder")"
}

# info_complete nK: cluster_info.sh on nK shows every service on all 3 nodes (discovery reports a node
# it could not read in time as unknown, so a loaded machine gets a few tries).
info_complete() {
  local info want holder
  holder="$(vip_holders)"
  [[ -n $holder ]] || { echo "no node holds the VIP"; return 1; }
  # a 15 s probe deadline (the config's is 5): on a loaded machine a peer's probe can take longer
  info="$(lab_exec "$1" "$TK/utils/cluster_info.sh" --timeout 15 2>&1)" || { printf '%s\n' "$info"; return 1; }
  for want in "VIP: 10.213.0.100 (owned by $(lab_hostname "$holder"))" "GlusterFS: 3/3 nodes (Healthy)" \
      "MariaDB Galera: 3/3 nodes (Synced)" "Redis Cluster: 3/3 nodes (OK)" "Slurm: Primary on node1 (2 backups ready)"; do
    [[ $info == *"$want"* ]] || { printf 'missing: %s\n%s\n' "$want" "$info"; return 1; }
  done
}

@test "check_cluster_status.sh says cluster-3 and cluster_info.sh shows every service" {
  run lab_exec n2 "$TK/discovery/check_cluster_status.sh"
  assert_output cluster-3
  wait_until 60 info_complete n3
}

@test "rerunning --join on a member changes nothing: same files, same daemons" {
  local before after
  before="$(snapshot n2)$(daemons n2)$(lab_exec n1 cat /etc/slurm/slurm.conf)"
  run lab_exec n2 "$TK/start_multi_complete.sh" --join --yes
  assert_success
  assert_output --partial "cluster-3"
  after="$(snapshot n2)$(daemons n2)$(lab_exec n1 cat /etc/slurm/slurm.conf)"
  [[ $before == "$after" ]] || { diff <(echo "$before") <(echo "$after") >&3 || true; false; }
}

@test "--standalone on n3 while the others run the cluster refuses (exit 6) and changes nothing" {
  local before
  before="$(daemons n3)"
  run lab_exec n3 "$TK/start_multi_complete.sh" --standalone --yes
  assert_equal "$status" 6
  assert_output --partial "--standalone refused"
  assert_equal "$(daemons n3)" "$before"
  synced n3 3
}

# health_answers IP: GET /health on IP:8430 answers the client (200 healthy or 503 not)
health_answers() {
  local code
  code="$(lab_client curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$1:8430/health")" || true
  [[ $code == 200 || $code == 503 ]]
}

@test "/health answers on every node after the bootstrap and the joins" {
  local n
  for n in n1 n2 n3; do
    wait_until 20 health_answers "$(lab_ip "$n")"
  done
  run lab_client curl -s --max-time 5 "http://$(lab_ip n2):8430/health"
  assert_output --partial '"hostname":"node2"'
}

# (LAB_INIT=systemd) the toolkit's daemons are systemd units, checked as an admin would
@test "systemd nodes: every toolkit daemon is an active unit; the ones a reboot needs are enabled" {
  [[ "$(lab status --json | jq -r .init)" == systemd ]] || skip "bash-init lab (run with LAB_INIT=systemd)"
  local n unit
  for n in n1 n2 n3; do
    for unit in glusterd mnt-gluster.mount mariadb redis-server@hpc-6379 munge slurmd keepalived hpc-health.socket; do
      run lab_exec "$n" systemctl is-active "$unit"
      assert_output active
    done
    for unit in glusterd keepalived hpc-health.socket; do
      run lab_exec "$n" systemctl is-enabled "$unit"
      assert_output enabled
    done
    lab_exec "$n" journalctl -u mariadb --no-pager -n 5 | grep -q .
  done
  run lab_exec n1 systemctl is-active slurmdbd
  assert_output active
}

# back_in_cluster nK: nK is Synced in the 3-node Primary, its Redis node serves its slots, the shared
# volume is mounted and /health answers
back_in_cluster() {
  synced "$1" 3 && [[ "$(redis_info "$1" cluster_state)" == ok ]] \
    && lab_exec "$1" mountpoint -q /mnt/gluster && health_answers "$(lab_ip "$1")"
}

@test "systemd nodes: power loss + boot of n3 -> back in Galera, Redis, the mount and /health within 120 s, no command" {
  [[ "$(lab status --json | jq -r .init)" == systemd ]] || skip "bash-init lab (run with LAB_INIT=systemd)"
  run lab_exec n3 systemctl is-enabled hpc-cluster-heal.service
  assert_output enabled
  lab_exec n1 mariadb -e "CREATE TABLE IF NOT EXISTS auth_portal.heal (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"
  lab crash n3
  lab_exec n1 mariadb -e "INSERT INTO auth_portal.heal (v) VALUES (1), (2), (3)"  # a gap for IST
  local t0=$SECONDS
  lab boot n3
  wait_until 120 back_in_cluster n3
  printf '# n3 back in every service %ss after boot\n' "$((SECONDS - t0))" >&3
  run lab_exec n3 mariadb -N -B -e "SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM auth_portal.heal"
  assert_output 3
  # the daemons' own enabled units can put n3 back before self_heal.sh's run has checked every service
  wait_until 120 lab_exec n3 grep -q "back in the cluster" /var/log/hpc-cluster/self_heal.log
}

@test "systemd nodes: power loss of all three + boot -> Primary again with no committed row lost, no command" {
  [[ "$(lab status --json | jq -r .init)" == systemd ]] || skip "bash-init lab (run with LAB_INIT=systemd)"
  local i acked=0 t0 n
  for ((i = 0; i < 50; i++)); do
    lab_exec n$((i % 3 + 1)) mariadb -e "INSERT INTO auth_portal.heal (v) VALUES ($i)" && acked=$((acked + 1))
  done
  acked=$((acked + 3))
  lab crash n1
  lab crash n2
  lab crash n3
  t0=$SECONDS
  lab boot n1
  lab boot n2
  lab boot n3
  for n in n1 n2 n3; do wait_until 240 synced "$n" 3; done
  printf '# whole cluster Primary again %ss after the boots\n' "$((SECONDS - t0))" >&3
  run lab_exec n2 mariadb -N -B -e "SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM auth_portal.heal"
  assert_output "$acked"
  run lab_exec n1 cat /var/log/hpc-cluster/galera_recovery.log
  assert_success
}
