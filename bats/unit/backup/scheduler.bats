#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# backup_scheduler.sh --install/--remove/--status in a temp root.

setup_file() {
  load backup_helpers
  backup_generate
}

setup() {
  load backup_helpers
  backup_generate
  backup_setup
  CRON="$ROOT_PREFIX/etc/cron.d/hpc-cluster-backup"
}

@test "--install writes the cron file with the daily full (then prune) and the hourly incremental" {
  run "$BKP_TOOLKIT/backup/backup_scheduler.sh" --install
  assert_success
  [ -f "$CRON" ]
  [ "$(stat -c %a "$CRON")" = 644 ]
  run grep -v '^#' "$CRON"
  assert_line --partial "0 2 * * * root $BKP_TOOLKIT/backup/backup.sh --full >>/var/log/hpc-cluster/backup-cron.log 2>&1 && $BKP_TOOLKIT/backup/backup_scheduler.sh --prune"
  assert_line --partial "0 * * * * root $BKP_TOOLKIT/backup/backup.sh --incremental"
}

@test "--install is idempotent and --remove takes the schedule away" {
  "$BKP_TOOLKIT/backup/backup_scheduler.sh" --install 2>/dev/null
  run "$BKP_TOOLKIT/backup/backup_scheduler.sh" --install
  assert_success
  assert_output --partial "already up to date"
  run "$BKP_TOOLKIT/backup/backup_scheduler.sh" --remove
  assert_success
  [ ! -e "$CRON" ]
}

@test "--install --dry-run prints the cron file and writes nothing" {
  run "$BKP_TOOLKIT/backup/backup_scheduler.sh" --install --dry-run
  assert_success
  assert_output --partial "[dryrun] would write $CRON"
  assert_output --partial "backup.sh --incremental"
  [ ! -e "$CRON" ]
}

@test "--status reports the schedule and the last backup's outcome (also as JSON)" {
  "$BKP_TOOLKIT/backup/backup_scheduler.sh" --install 2>/dev/null
  "$BKP_TOOLKIT/backup/backup.sh" --only-configs 2>/dev/null
  run --separate-stderr "$BKP_TOOLKIT/backup/backup_scheduler.sh" --status
  assert_success
  assert_output --partial "schedule:          cron"
  assert_output --partial "usable snapshots:  1"
  assert_output --partial "last run:          ok"
  run --separate-stderr "$BKP_TOOLKIT/backup/backup_scheduler.sh" --status --json
  run jq -r '.schedule, .usable_snapshots, .last_run.result' <<< "$output"
  assert_output $'cron\n1\nok'
}

@test "a node_exporter textfile directory gets the backup metrics" {
  mkdir -p "$ROOT_PREFIX/var/lib/prometheus/node-exporter"
  "$BKP_TOOLKIT/backup/backup.sh" --only-configs 2>/dev/null
  run cat "$ROOT_PREFIX/var/lib/prometheus/node-exporter/hpc_backup.prom"
  assert_line 'hpc_backup_last_ok 1'
  assert_line --regexp '^hpc_backup_last_success_timestamp_seconds [0-9]{10}$'
}

@test "with systemd and no cron, --install writes timers with the calendar form of the schedules" {
  export HPC_INIT=systemd
  stub systemctl 'exit 0'
  # hide cron: PATH holds only the stubs and the basic tools
  mkdir -p "$BATS_TEST_TMPDIR/sbin"
  local t
  for t in bash env jq sed cat mkdir mktemp mv chmod cp rm date dirname basename flock tr head hostname printf grep stat touch; do
    ln -sf "$(command -v "$t")" "$BATS_TEST_TMPDIR/sbin/$t"
  done
  PATH="$BATS_TEST_TMPDIR/bin:$BATS_TEST_TMPDIR/sbin" run "$BKP_TOOLKIT/backup/backup_scheduler.sh" --install
  assert_success
  grep -qx 'OnCalendar=\*-\*-\* 02:00:00' "$ROOT_PREFIX/etc/systemd/system/hpc-cluster-backup-full.timer"
  grep -qx 'OnCalendar=\*-\*-\* \*:00:00' "$ROOT_PREFIX/etc/systemd/system/hpc-cluster-backup-incremental.timer"
  grep -q 'enable --now hpc-cluster-backup-full.timer' "$STUB_LOG"
}
