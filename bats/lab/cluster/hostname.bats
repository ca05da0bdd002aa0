#!/usr/bin/env bats
# Servers whose hostnames are not the ones in cluster_config.yaml (lab nodes called a, b, c; the config
# says node1..node3): preflight refuses (exit 5) before changing anything and says how to fix it;
# --set-hostname fixes the name (and /etc/hosts) and the whole bootstrap then passes, slurmdbd included.

load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"
load full_helpers

setup_file() {
  LAB_HOSTNAMES="a b c" lab_setup 3 >/dev/null 2>&1
  full_prepare "$(toolkit_fixture lab/full-3.yaml)" n1 n2 n3
}

teardown_file() {
  lab_teardown >/dev/null 2>&1 || true
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

@test "preflight refuses a host named 'a' that the config calls node1: exit 5, the fix, nothing changed" {
  local before
  before="$(lab_exec n1 sh -c 'cat /etc/hostname /etc/hosts; ls -A /var/lib/mysql /var/lib/glusterd 2>&1; ls /var/lib/hpc-cluster 2>&1; true')"
  run lab_exec n1 "$TK/start_multi_complete.sh" --bootstrap --yes
  assert_failure 5
  assert_output --partial "[ERROR Hostname]: this host is called 'a' but cluster_config.yaml names 10.213.0.11 'node1'"
  assert_output --partial "(fix: echo node1 > /etc/hostname && hostname node1, or rerun with --set-hostname)"
  assert_output --partial "[ERROR NodeNames]: node names that do not resolve: 10.213.0.11 node1, 10.213.0.12 node2, 10.213.0.13 node3"
  refute_output --partial "[services"
  assert_equal "$(lab_exec n1 hostname)" a
  assert_equal "$(lab_exec n1 sh -c 'cat /etc/hostname /etc/hosts; ls -A /var/lib/mysql /var/lib/glusterd 2>&1; ls /var/lib/hpc-cluster 2>&1; true')" "$before"
  run lab_exec n1 pgrep -x 'mariadbd|glusterd|redis-server|slurmctld|slurmdbd|keepalived'
  assert_failure
}

@test "--set-hostname names the host node1 (logged) and the bootstrap passes, slurmdbd included" {
  run lab_exec n1 "$TK/start_multi_complete.sh" --bootstrap --yes --set-hostname
  assert_success
  assert_output --partial "hostname changed from 'a' to 'node1' (--set-hostname"
  assert_output --partial "standalone: bootstrap done on node1"
  assert_equal "$(lab_exec n1 hostname)" node1
  assert_equal "$(lab_exec n1 cat /etc/hostname)" node1
  lab_exec n1 grep -F "hostname changed from 'a' to 'node1'" /var/log/cluster_setup.log
  lab_exec n1 getent hosts node2
  synced n1 1
  lab_exec n1 pgrep -x slurmdbd
  run lab_exec n1 scontrol ping
  assert_output --partial "node1 is UP"
  wait_until 30 one_vip_holder
}

@test "the renamed node passes preflight again: --set-hostname changes nothing more" {
  run lab_exec n1 "$TK/start_multi_complete.sh" --bootstrap --yes --set-hostname --phase preflight
  assert_success
  assert_output --partial "preflight checks passed"
  refute_output --partial "hostname changed"
  refute_output --partial "added to /etc/hosts"
}
