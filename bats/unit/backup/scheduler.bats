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
  assert_line --partial "0 2 * * * root $BKP_TOOLKIT/backup/backup.sh --full --scheduled >>/var/log/hpc-cluster/backup-cron.log 2>&1 && $BKP_TOOLKIT/backup/backup_scheduler.sh --prune"
  assert_line --partial "0 * * * * root $BKP_TOOLKIT/backup/backup.sh --incremental --scheduled"
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

# three_members SELF_IP: a private toolkit copy whose config has three members (node1 .11 priority 100,
# node2 .12, node3 .13), replication off (the decision is under test, not the copies), run as SELF_IP.
# The ssh stub answers as the members listed in $BATS_TEST_TMPDIR/up ("IP schedule" or "IP none").
three_members() {
  if [[ $BKP_TOOLKIT != "$BATS_TEST_TMPDIR"/* ]]; then
    cp -a "$BKP_TOOLKIT" "$BATS_TEST_TMPDIR/toolkit"
    BKP_TOOLKIT="$BATS_TEST_TMPDIR/toolkit"
  fi
  sed -i "s/^NODE_IPS=.*/NODE_IPS=('10.213.0.11' '10.213.0.12' '10.213.0.13')/
    s/^NODE_HOSTNAMES=.*/NODE_HOSTNAMES=('node1' 'node2' 'node3')/
    s/^NODE_PRIORITIES=.*/NODE_PRIORITIES=('100' '99' '98')/
    s/^NODE_COUNT=.*/NODE_COUNT='3'/
    s/^BACKUP_REPLICATE=.*/BACKUP_REPLICATE='false'/" "$BKP_TOOLKIT/lib/config.sh"
  export HPC_NODE_IP=$1
  : > "$BATS_TEST_TMPDIR/up"
  stub ssh 'for a in "$@"; do [[ $a == *@* ]] && ip=${a#*@}; done
case "$(awk -v ip="$ip" '"'"'$1 == ip { print $2 }'"'"' "$BATS_TEST_TMPDIR/up")" in
  schedule) exit 0 ;;
  none) exit 1 ;;
  *) exit 255 ;;
esac'
}

@test "scheduled: a lower-priority member leaves the snapshot to the highest-priority one that is up" {
  three_members 10.213.0.13
  printf '10.213.0.11 schedule\n10.213.0.12 schedule\n' > "$BATS_TEST_TMPDIR/up"
  run "$BKP_TOOLKIT/backup/backup.sh" --full --scheduled
  assert_success
  assert_output --partial "node1 (10.213.0.11) is up and takes the cluster's snapshot"
  [ -z "$(ls "$(snaps)" 2>/dev/null)" ]
  grep -q '^ssh .*root@10.213.0.11.*hpc-cluster-backup' "$STUB_LOG"
  run ! grep -q '^ssh .*root@10.213.0.12' "$STUB_LOG" # the first one up decides
  run --separate-stderr "$BKP_TOOLKIT/backup/backup_scheduler.sh" --status --json
  run jq -c .scheduled_taker <<< "$output"
  assert_output '{"ip":"10.213.0.11","hostname":"node1","this_node":false}'
}

@test "scheduled: with the first member down (or without the schedule) the next one takes the snapshot" {
  three_members 10.213.0.13
  printf '10.213.0.12 none\n' > "$BATS_TEST_TMPDIR/up" # node1 does not answer; node2 has no schedule
  run "$BKP_TOOLKIT/backup/backup.sh" --full --scheduled
  assert_success
  assert_output --partial "this node is the highest-priority member up with the schedule"
  [ "$(ls "$(snaps)" | wc -l)" = 1 ]
  printf '10.213.0.12 schedule\n' > "$BATS_TEST_TMPDIR/up"
  run "$BKP_TOOLKIT/backup/backup.sh" --incremental --scheduled
  assert_output --partial "node2 (10.213.0.12) is up and takes the cluster's snapshot"
  [ "$(ls "$(snaps)" | wc -l)" = 1 ]
}

@test "scheduled: the highest-priority member takes it without asking anyone; by hand every node does" {
  three_members 10.213.0.11
  printf '10.213.0.12 schedule\n10.213.0.13 schedule\n' > "$BATS_TEST_TMPDIR/up"
  run "$BKP_TOOLKIT/backup/backup.sh" --full --scheduled
  assert_success
  run ! grep -q '^ssh .*hpc-cluster-backup' "$STUB_LOG" # nobody asked about their schedule
  [ "$(ls "$(snaps)" | wc -l)" = 1 ]
  three_members 10.213.0.12
  printf '10.213.0.11 schedule\n' > "$BATS_TEST_TMPDIR/up"
  run "$BKP_TOOLKIT/backup/backup.sh" --only-configs
  assert_success
  [ "$(ls "$(snaps)" | wc -l)" = 2 ]
  run --separate-stderr "$BKP_TOOLKIT/backup/backup_scheduler.sh" --status
  assert_output --partial "scheduled by:      node1 (10.213.0.11)"
}
