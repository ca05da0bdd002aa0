#!/usr/bin/env bats
# Two Galera nodes and a witness: n3 is not a cluster node, only the configured arbitrator host, where the
# orchestration starts garbd. Cutting either database node leaves the other Primary (2 of 3 votes).

load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"
load galera_helpers

export LAB_PREFIX="${LAB_PREFIX:-fullarb}"

setup_file() {
  lab_setup 3 >/dev/null 2>&1
  gal_prepare "$(toolkit_fixture lab/galera-2-arbitrator.yaml)" n1 n2
}

teardown_file() {
  lab_teardown >/dev/null 2>&1 || true
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

primary_size() {  # NODE SIZE: NODE is Synced in a Primary component of SIZE members (garbd counts)
  synced "$1" "$2"
}

@test "bootstrap n1 and join n2: garbd runs on the witness and counts as the third member" {
  run lab_exec n1 "$TK/start_multi_complete.sh" --only database --yes
  assert_success
  assert_output --partial "auto mode: bootstrap"
  run lab_exec n2 "$TK/start_multi_complete.sh" --only database --yes
  assert_success
  assert_output --partial "auto mode: join"
  wait_until 60 lab_exec n3 pgrep -x garbd
  wait_until 60 primary_size n1 3
  wait_until 60 primary_size n2 3
  # the witness runs no database
  run lab_exec n3 pgrep -x mariadbd
  assert_failure
}

@test "cut n2: n1 stays Primary with the witness and keeps accepting writes; heal: n2 rejoins" {
  lab cut n2
  wait_until 60 non_primary n2
  wait_until 60 primary_size n1 2
  lab_exec n1 mariadb -e "CREATE TABLE IF NOT EXISTS auth_portal.arb (id INT PRIMARY KEY); REPLACE INTO auth_portal.arb VALUES (1)"
  lab heal n2
  wait_until 90 primary_size n2 3
  run sql n2 "SELECT id FROM auth_portal.arb"
  assert_output 1
}

@test "cut n1: n2 stays Primary with the witness; heal: n1 rejoins" {
  lab cut n1
  wait_until 60 non_primary n1
  wait_until 60 primary_size n2 2
  lab_exec n2 mariadb -e "REPLACE INTO auth_portal.arb VALUES (2)"
  lab heal n1
  wait_until 90 primary_size n1 3
  run sql n1 "SELECT COUNT(*) FROM auth_portal.arb"
  assert_output 2
}
