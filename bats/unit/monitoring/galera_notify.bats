#!/usr/bin/env bats
# utils/galera_notify.sh, MariaDB's wsrep_notify_cmd: every state change becomes textfile
# metrics (state, primary, a change counter kept in the file), written atomically, never failing MariaDB.

setup_file() {
  load "${HPC_REPO_ROOT}/bats/helpers/toolkit.bash"
  export GEN_TK="$BATS_FILE_TMPDIR/gen/cluster"
  toolkit_generate "$(toolkit_fixture lab/monitoring-3.yaml)" "$BATS_FILE_TMPDIR/gen"
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
  export ROOT_PREFIX="$BATS_TEST_TMPDIR/root" HPC_NODE_IP=10.213.0.11 NO_COLOR=1
  NOTIFY_DIR="$ROOT_PREFIX/var/lib/hpc-cluster/galera-notify"
  mkdir -p "$NOTIFY_DIR"
  NOTIFY="$GEN_TK/utils/galera_notify.sh"
  PROM="$NOTIFY_DIR/hpc_galera_notify.prom"
}

@test "galera.cnf names the notify script when monitoring is on; the script is executable" {
  run grep -x 'wsrep_notify_cmd=@TOOLKIT_DIR@/utils/galera_notify.sh' "$GEN_TK/configs/galera.cnf"
  assert_success
  [[ -x $NOTIFY ]]
}

@test "MariaDB's calls (Joiner, Joined, Synced with a view) set the state, the Primary flag and count the changes" {
  "$NOTIFY" --status Joiner --uuid 7f9e-1 --primary no --index 2 --members a,b,c
  "$NOTIFY" --status Joined
  "$NOTIFY" --status Synced --uuid 7f9e-1 --primary yes --index 2 --members a,b,c
  run cat "$PROM"
  assert_line 'hpc_galera_notify_state{state="Synced"} 1'
  assert_line 'hpc_galera_notify_state{state="Joiner"} 0'
  assert_line 'hpc_galera_notify_primary 1'
  assert_line 'hpc_galera_state_changes_total 3'
  assert_line --regexp '^hpc_galera_last_change_timestamp_seconds [0-9]{10}$'
  # a view change with the same state and component is no state change
  "$NOTIFY" --status Synced --uuid 7f9e-1 --primary yes --index 1 --members a,b
  run grep '^hpc_galera_state_changes_total' "$PROM"
  assert_output 'hpc_galera_state_changes_total 3'
  # written atomically: no temp file is left beside it
  run ls -A "$NOTIFY_DIR"
  assert_output hpc_galera_notify.prom
}

@test "--seed writes the state now without counting a change; a later change counts from there" {
  "$NOTIFY" --seed --status Synced --primary yes
  run grep '^hpc_galera_state_changes_total' "$PROM"
  assert_output 'hpc_galera_state_changes_total 0'
  "$NOTIFY" --status Donor
  run cat "$PROM"
  assert_line 'hpc_galera_notify_state{state="Donor"} 1'
  assert_line 'hpc_galera_notify_primary 1'
  assert_line 'hpc_galera_state_changes_total 1'
}

@test "it never fails MariaDB: no folder or odd arguments exit 0 and keep the last file" {
  ROOT_PREFIX="$BATS_TEST_TMPDIR/elsewhere" run "$NOTIFY" --status Synced
  assert_success
  [[ ! -e $BATS_TEST_TMPDIR/elsewhere/var/lib/hpc-cluster/galera-notify ]]
  "$NOTIFY" --status Synced --primary yes
  run "$NOTIFY" --status 'bad"value' --bogus
  assert_success
  run cat "$PROM"
  assert_line 'hpc_galera_notify_state{state="Synced"} 1'
  refute_output --partial 'bad'
}
