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
  assert_equal "$order" "storage database redis slurm vip monitoring "
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
  local info want
  info="$(lab_exec "$1" "$TK/utils/cluster_info.sh" 2>&1)" || { printf '%s\n' "$info"; return 1; }
  for want in "VIP: 10.213.0.100 (owned by $(lab_hostname "$(vip_holders)"))" "GlusterFS: 3/3 nodes (Healthy)" \
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
