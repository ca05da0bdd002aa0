#!/usr/bin/env bats
# configs/monitoring/galera_notify.bash (installed by phase5 as /usr/local/lib/hpc-cluster/galera_notify.sh), MariaDB's wsrep_notify_cmd: every state change becomes textfile
# metrics (state, primary, a change counter kept in the file), written atomically, never failing MariaDB.

setup_file() {
  load "${HPC_REPO_ROOT}/bats/helpers/toolkit.bash"
  export GEN_TK="$BATS_FILE_TMPDIR/gen/cluster"
  toolkit_generate "$(toolkit_fixture lab/monitoring-3.yaml)" "$BATS_FILE_TMPDIR/gen"
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
  # installed as phase5 does it: the state folder filled in
  NOTIFY_DIR="$BATS_TEST_TMPDIR/state/galera-notify"
  mkdir -p "$NOTIFY_DIR"
  NOTIFY="$BATS_TEST_TMPDIR/galera_notify.sh"
  sed "s#@STATE_DIR@#$BATS_TEST_TMPDIR/state#g" "$GEN_TK/configs/monitoring/galera_notify.bash" > "$NOTIFY"
  chmod 0755 "$NOTIFY"
  PROM="$NOTIFY_DIR/hpc_galera_notify.prom"
}

@test "galera.cnf names the installed notify script when monitoring is on; phase5 installs it (dry run)" {
  run grep -x 'wsrep_notify_cmd=/usr/local/lib/hpc-cluster/galera_notify.sh' "$GEN_TK/configs/galera.cnf"
  assert_success
  grep -q '@STATE_DIR@/galera-notify' "$GEN_TK/configs/monitoring/galera_notify.bash"
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
  rmdir "$NOTIFY_DIR"
  run "$NOTIFY" --status Synced
  assert_success
  [[ ! -e $NOTIFY_DIR ]]
  mkdir "$NOTIFY_DIR"
  "$NOTIFY" --status Synced --primary yes
  run "$NOTIFY" --status 'bad"value' --bogus
  assert_success
  run cat "$PROM"
  assert_line 'hpc_galera_notify_state{state="Synced"} 1'
  refute_output --partial 'bad'
}
