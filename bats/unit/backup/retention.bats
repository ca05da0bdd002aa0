#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# backup_scheduler.sh --prune on synthetic snapshot sets (plan 6.3: daily 7, weekly 4, monthly 12).

setup_file() {
  load backup_helpers
  backup_generate
}

setup() {
  load backup_helpers
  backup_generate
  backup_setup
  NOW="$(date -d '2026-03-15 12:00:00' +%s)" # a Sunday
}

# make_daily N: N daily snapshots at 02:00, the newest on 2026-03-15.
make_daily() {
  local i id base dirs=() s
  s="$(snaps)"
  base="$(date -d '2026-03-15 02:00:00' +%s)"
  for (( i=0; i<$1; i++ )); do
    printf -v id '%(%Y%m%d_%H%M%S)T' "$(( base - i * 86400 ))"
    dirs+=("$s/$id")
  done
  mkdir -p "${dirs[@]}"
  for id in "${dirs[@]}"; do
    printf '{\n  "backup_id": "%s",\n  "completed": true\n}\n' "${id##*/}" > "$id/metadata.json"
  done
}

EXPECTED_400="20250401_020000
20250501_020000
20250601_020000
20250701_020000
20250801_020000
20250901_020000
20251001_020000
20251101_020000
20251201_020000
20260101_020000
20260201_020000
20260222_020000
20260301_020000
20260308_020000
20260309_020000
20260310_020000
20260311_020000
20260312_020000
20260313_020000
20260314_020000
20260315_020000"

@test "400 daily snapshots: --prune --dry-run lists exactly the 21 kept and deletes nothing" {
  make_daily 400
  run "$BKP_TOOLKIT/backup/backup_scheduler.sh" --prune --dry-run --now "$NOW"
  assert_success
  [ "$(grep -c '^\[dryrun\] would delete' <<< "$output")" -eq 379 ]
  run bash -c "grep '^\[dryrun\] keep' <<< \"\$1\" | awk '{print \$3}'" _ "$output"
  assert_output "$EXPECTED_400"
  [ "$(ls "$(snaps)" | wc -l)" -eq 400 ]
}

@test "400 daily snapshots: --prune keeps exactly every day of the last week, the Sundays of 4 weeks and the 1st of 12 months" {
  make_daily 400
  run "$BKP_TOOLKIT/backup/backup_scheduler.sh" --prune --now "$NOW"
  assert_success
  assert_output --partial "21 kept, 379 deleted"
  run ls "$(snaps)"
  assert_output "$EXPECTED_400"
  # pruning again changes nothing
  run "$BKP_TOOLKIT/backup/backup_scheduler.sh" --prune --now "$NOW"
  assert_output --partial "21 kept, 0 deleted"
}

@test "the newest snapshot is kept however old it is, and unfinished ones are removed" {
  mkdir -p "$(snaps)/20200101_020000" "$(snaps)/20200102_020000" "$(snaps)/20260315_010000.partial"
  echo '{"completed": true}' > "$(snaps)/20200101_020000/metadata.json"
  echo '{"completed": true}' > "$(snaps)/20200102_020000/metadata.json"
  run "$BKP_TOOLKIT/backup/backup_scheduler.sh" --prune --now "$NOW"
  assert_success
  run ls "$(snaps)"
  assert_output 20200102_020000
}

@test "a snapshot whose metadata never completed is not counted as a restore point" {
  make_daily 3
  mkdir -p "$(snaps)/20260315_030000"
  echo '{"backup_id": "20260315_030000"}' > "$(snaps)/20260315_030000/metadata.json"
  run "$BKP_TOOLKIT/backup/backup_scheduler.sh" --prune --dry-run --now "$NOW"
  refute_output --partial 20260315_030000
}

# with_retention_days N: a private copy of the toolkit whose config has backup.retention_days: N.
with_retention_days() {
  cp -a "$BKP_TOOLKIT" "$BATS_TEST_TMPDIR/toolkit"
  BKP_TOOLKIT="$BATS_TEST_TMPDIR/toolkit"
  sed -i "s/^BACKUP_RETENTION_DAYS=.*/BACKUP_RETENTION_DAYS='$1'/" "$BKP_TOOLKIT/lib/config.sh"
  grep -qx "BACKUP_RETENTION_DAYS='$1'" "$BKP_TOOLKIT/lib/config.sh"
}

@test "backup.retention_days caps the policy: the monthly and weekly snapshots older than the cap go too" {
  make_daily 400
  with_retention_days 30
  run "$BKP_TOOLKIT/backup/backup_scheduler.sh" --prune --dry-run --now "$NOW"
  assert_success
  assert_output --partial "would delete $(snaps)/20260201_020000 (retention_days)"
  assert_output --partial "cap 30d"
  run "$BKP_TOOLKIT/backup/backup_scheduler.sh" --prune --now "$NOW"
  assert_success
  assert_output --partial "10 kept, 390 deleted"
  # the last week, and the Sundays and 1st of the month that are younger than 30 days
  run ls "$(snaps)"
  assert_output "$(grep -E '^2026(0222|0301|03(0[89]|1[0-5]))_' <<< "$EXPECTED_400")"
}

@test "backup.retention_days never deletes the newest snapshot, however old" {
  mkdir -p "$(snaps)/20250101_020000" "$(snaps)/20250102_020000"
  echo '{"completed": true}' > "$(snaps)/20250101_020000/metadata.json"
  echo '{"completed": true}' > "$(snaps)/20250102_020000/metadata.json"
  with_retention_days 1
  run "$BKP_TOOLKIT/backup/backup_scheduler.sh" --prune --dry-run --now "$NOW"
  assert_success
  assert_output --partial "[dryrun] keep 20250102_020000 (newest)"
  assert_output --partial "would delete $(snaps)/20250101_020000 (retention_days)"
}

@test "without backup.retention_days the policy alone decides (the 400-day series keeps its 12 months)" {
  grep -qx "BACKUP_RETENTION_DAYS=''" "$BKP_TOOLKIT/lib/config.sh"
  make_daily 400
  run "$BKP_TOOLKIT/backup/backup_scheduler.sh" --prune --dry-run --now "$NOW"
  assert_success
  refute_output --partial retention_days
  refute_output --partial "cap "
}
