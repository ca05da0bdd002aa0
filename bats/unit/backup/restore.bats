#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# restore.sh in a temp root with PATH stubs: list, verify before stopping, dry-run, identity, rollback.

setup_file() {
  load backup_helpers
  backup_generate
}

setup() {
  load backup_helpers
  backup_generate
  backup_setup
}

take() {
  "$BKP_TOOLKIT/backup/backup.sh" "$@" 2>/dev/null
  ls "$(snaps)" | grep -v partial | tail -n 1
}

@test "--list shows usable snapshots and marks unfinished ones unusable" {
  local id
  id="$(take --only-configs)"
  mkdir -p "$(snaps)/20200101_000000"
  run "$BKP_TOOLKIT/backup/restore.sh" --list
  assert_success
  assert_output --partial "20200101_000000   (incomplete or interrupted: not usable)"
  assert_line --partial "$id"
  run "$BKP_TOOLKIT/backup/restore.sh" --list --json
  run jq -r '.[] | "\(.backup_id) \(.usable)"' <<< "$output"
  assert_output "20200101_000000 false
$id true"
}

@test "restoring configs puts changed and deleted files back and keeps a pre-restore snapshot" {
  local id
  id="$(take --only-configs)"
  echo 'bind-address=0.0.0.0' > "$ROOT_PREFIX/etc/mysql/conf.d/60-galera.cnf"
  rm "$ROOT_PREFIX/etc/redis/big.bin"
  echo new > "$ROOT_PREFIX/etc/redis/added.conf"
  sleep 1
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --force
  assert_success
  grep -q 'bind-address=10.213.0.11' "$ROOT_PREFIX/etc/mysql/conf.d/60-galera.cnf"
  [ -f "$ROOT_PREFIX/etc/redis/big.bin" ]
  [ ! -e "$ROOT_PREFIX/etc/redis/added.conf" ]
  # the pre-restore snapshot holds the state we replaced
  local pre
  pre="$(ls "$(snaps)" | tail -n 1)"
  [ "$pre" != "$id" ]
  run jq -r .backup_type "$(snaps)/$pre/metadata.json"
  assert_output pre-restore
  grep -q 'bind-address=0.0.0.0' "$(snaps)/$pre/configs/etc/mysql/conf.d/60-galera.cnf"
  ls "$ROOT_PREFIX"/var/log/restore_*.log
}

@test "--latest after a restore picks the newest regular snapshot, not the pre-restore one" {
  local id
  id="$(take --only-configs)"
  sleep 1
  "$BKP_TOOLKIT/backup/restore.sh" --latest --force 2>/dev/null
  [ "$(ls "$(snaps)" | wc -l)" -eq 2 ]
  sleep 1
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --dry-run
  assert_success
  assert_output --partial "snapshot $id"
}

@test "a corrupted snapshot file is refused before anything is stopped or changed" {
  fake_init keepalived
  local id
  id="$(take --only-configs)"
  echo 'changed after backup' > "$ROOT_PREFIX/etc/redis/redis.conf"
  chmod u+w "$(snaps)/$id/configs/etc/redis/redis.conf"
  echo tampered >> "$(snaps)/$id/configs/etc/redis/redis.conf"
  : > "$STUB_LOG"
  run "$BKP_TOOLKIT/backup/restore.sh" --id "$id" --force
  assert_failure 6
  assert_output --partial "configs/etc/redis/redis.conf: FAILED"
  assert_output --partial "is damaged"
  assert_output --partial "Nothing was stopped or changed"
  run ! grep -q 'init keepalived stop' "$STUB_LOG"
  grep -q 'changed after backup' "$ROOT_PREFIX/etc/redis/redis.conf"
  [ "$(ls "$(snaps)" | wc -l)" -eq 1 ] # no pre-restore snapshot either
}

@test "a snapshot with a missing file is refused" {
  local id
  id="$(take --only-configs)"
  rm "$(snaps)/$id/configs/etc/redis/big.bin"
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --force
  assert_failure 6
  assert_output --partial "big.bin"
}

@test "an incomplete snapshot cannot be restored by id" {
  mkdir -p "$(snaps)/20200101_000000/configs"
  run "$BKP_TOOLKIT/backup/restore.sh" --id 20200101_000000 --force
  assert_failure 6
  assert_output --partial "incomplete"
}

@test "--dry-run verifies and prints what would be stopped, replaced and started, changing nothing" {
  fake_init keepalived
  take >/dev/null
  echo 'changed after backup' > "$ROOT_PREFIX/etc/redis/redis.conf"
  local before
  before="$(find "$ROOT_PREFIX" \( -path "$ROOT_PREFIX/var/log" -o -path "$ROOT_PREFIX/run/hpc-cluster" \) -prune -o -type f -printf '%P %s %T@\n' | sort | sha256sum)"
  : > "$STUB_LOG"
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --dry-run
  assert_success
  assert_output --partial "all checksums match"
  assert_output --partial "[dryrun] would stop keepalived"
  assert_output --partial "rsync -a --numeric-ids --ignore-times --delete"
  assert_output --partial "[dryrun] would load"
  assert_output --partial "[dryrun] would start keepalived"
  [ "$before" = "$(find "$ROOT_PREFIX" \( -path "$ROOT_PREFIX/var/log" -o -path "$ROOT_PREFIX/run/hpc-cluster" \) -prune -o -type f -printf '%P %s %T@\n' | sort | sha256sum)" ]
  run ! grep -q 'init keepalived' "$STUB_LOG"
  run ! grep -q 'binary-mode' "$STUB_LOG"
}

@test "running services are stopped before and started after the restore" {
  fake_init keepalived
  take >/dev/null
  sleep 1
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --force
  assert_success
  run grep 'init keepalived' "$STUB_LOG"
  assert_output $'init keepalived stop\ninit keepalived start'
  grep -q -- '--binary-mode' "$STUB_LOG"
}

@test "a failing database step rolls back the configs to the pre-restore state and restarts services" {
  fake_init keepalived
  take >/dev/null
  echo 'changed after backup' > "$ROOT_PREFIX/etc/redis/redis.conf"
  sleep 1
  # the first load fails (the restore), the second succeeds (the rollback)
  stub mariadb 'case "$*" in
  *"SELECT 1"*) echo 1 ;;
  *"@@wsrep_on"*) echo 0 ;;
  *schemata*) echo app ;;
  *VERSION*) echo 10.11.19-MariaDB ;;
  *binary-mode*) cat >/dev/null; if [[ ! -e $BATS_TEST_TMPDIR/failed ]]; then touch "$BATS_TEST_TMPDIR/failed"; exit 1; fi ;;
esac'
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --force
  assert_failure 1
  assert_output --partial "rolled back to the state before"
  grep -q 'changed after backup' "$ROOT_PREFIX/etc/redis/redis.conf"
  run grep 'init keepalived' "$STUB_LOG"
  assert_output $'init keepalived stop\ninit keepalived start'
}

@test "a snapshot of another cluster is refused unless --allow-other-cluster; the node keeps its id" {
  echo aaaaaaaa-0000-0000-0000-000000000001 > "$ROOT_PREFIX/var/lib/hpc-cluster/cluster_id"
  take --only-configs >/dev/null
  echo bbbbbbbb-0000-0000-0000-000000000002 > "$ROOT_PREFIX/var/lib/hpc-cluster/cluster_id"
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --force
  assert_failure 6
  assert_output --partial "belongs to cluster aaaaaaaa"
  sleep 1
  # Starting the services is not what this test is about: a private toolkit whose
  # start_multi_complete.sh only records its call, so the restore's outcome is the flag's.
  cp -a "$BKP_TOOLKIT" "$BATS_TEST_TMPDIR/toolkit"
  BKP_TOOLKIT="$BATS_TEST_TMPDIR/toolkit"
  printf '#!/usr/bin/env bash\necho "start_multi_complete.sh $*" >> "$STUB_LOG"\n' > "$BKP_TOOLKIT/start_multi_complete.sh"
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --force --allow-other-cluster
  assert_success
  assert_output --partial "restoring data of cluster aaaaaaaa-0000-0000-0000-000000000001 into cluster bbbbbbbb-0000-0000-0000-000000000002 (--allow-other-cluster)"
  [ "$(cat "$ROOT_PREFIX/var/lib/hpc-cluster/cluster_id")" = bbbbbbbb-0000-0000-0000-000000000002 ]
}

@test "a restore of state never replaces this node's cluster id" {
  echo aaaaaaaa-0000-0000-0000-000000000001 > "$ROOT_PREFIX/var/lib/hpc-cluster/cluster_id"
  echo fact-a > "$ROOT_PREFIX/var/lib/hpc-cluster/some_fact"
  take --only-state >/dev/null
  rm "$ROOT_PREFIX/var/lib/hpc-cluster/cluster_id"
  echo fact-b > "$ROOT_PREFIX/var/lib/hpc-cluster/some_fact"
  sleep 1
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --only-state --force
  assert_success
  [ "$(cat "$ROOT_PREFIX/var/lib/hpc-cluster/some_fact")" = fact-a ]
  [ ! -e "$ROOT_PREFIX/var/lib/hpc-cluster/cluster_id" ]
}

@test "a MariaDB major version change is refused unless --ignore-versions" {
  local id
  id="$(take --only-databases)"
  jq '.software_versions.mariadb = "1:10.6.16-0+deb12u1"' "$(snaps)/$id/metadata.json" > "$BATS_TEST_TMPDIR/m"
  cat "$BATS_TEST_TMPDIR/m" > "$(snaps)/$id/metadata.json"
  resign "$(snaps)/$id"
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --force
  assert_failure 6
  assert_output --partial "--ignore-versions"
}

@test "contract: restore calls restore_<svc>.sh --src with the service's folder" {
  fake_service backup redis 'for a; do [[ $prev == --dest ]] && d=$a; prev=$a; done; echo rdb > "$d/x.rdb"'
  fake_service restore redis 'exit 0'
  take --only-databases >/dev/null
  sleep 1
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --force
  assert_success
  grep -q "restore_redis --src $(snaps)/[0-9_]*/databases/redis --yes" "$STUB_LOG"
}

@test "contract: data of a service without a restore script is refused before anything changes" {
  fake_service backup redis 'for a; do [[ $prev == --dest ]] && d=$a; prev=$a; done; echo rdb > "$d/x.rdb"'
  take --only-databases >/dev/null
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --force
  assert_failure 6
  assert_output --partial "restore_redis.sh"
  assert_output --partial "--skip-service redis"
  [ "$(ls "$(snaps)" | wc -l)" -eq 1 ]
  sleep 1
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --force --skip-service redis
  assert_success
  assert_output --partial "redis: skipped (--skip-service)"
}

@test "without a terminal and without --force the restore refuses to proceed (exit 6)" {
  take --only-configs >/dev/null
  run "$BKP_TOOLKIT/backup/restore.sh" --latest < /dev/null
  assert_failure 6
  assert_output --partial "All current data will be deleted"
}

@test "shared storage files (opt-in) are backed up without the Slurm state and cluster id, and restored" {
  # the unit fixture has shared_storage in its backup_items; findmnt says the volume is mounted
  stub findmnt 'echo fuse.glusterfs'
  local mp="$ROOT_PREFIX/mnt/gluster"
  mkdir -p "$mp/config" "$mp/slurm/state" "$mp/home"
  echo keep-me > "$mp/home/data.txt"
  echo aaaaaaaa-0000-0000-0000-000000000001 > "$mp/config/cluster_id"
  echo job > "$mp/slurm/state/job_state"
  local id
  id="$(take --only-state)"
  [ -f "$(snaps)/$id/state/shared/home/data.txt" ]
  [ ! -e "$(snaps)/$id/state/shared/config/cluster_id" ]
  [ ! -e "$(snaps)/$id/state/shared/slurm/state/job_state" ]
  rm "$mp/home/data.txt"
  echo stray > "$mp/home/new.txt"
  echo other-job > "$mp/slurm/state/job_state"
  sleep 1
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --only-state --force
  assert_success
  [ "$(cat "$mp/home/data.txt")" = keep-me ]
  [ ! -e "$mp/home/new.txt" ]
  [ "$(cat "$mp/slurm/state/job_state")" = other-job ] # Slurm's own restore script owns that
  [ -f "$mp/config/cluster_id" ]
}

@test "shared storage files are not restored into an unmounted mount point" {
  stub findmnt 'echo fuse.glusterfs'
  mkdir -p "$ROOT_PREFIX/mnt/gluster/home"
  echo x > "$ROOT_PREFIX/mnt/gluster/home/f"
  take --only-state >/dev/null
  stub findmnt 'exit 1'
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --force
  assert_failure 5
  assert_output --partial "is not mounted here"
}

@test "the accounts are restored safe for Galera: no CURRENT_USER(), no install-time PROXY grants (each left a broken ''@'' row)" {
  fake_init keepalived
  stub mariadb-dump 'if [[ $* == *--system=users* ]]; then
  printf "%s\n" "CREATE USER IF NOT EXISTS \`u\`@\`%\`;" "GRANT PROXY ON \`\`@\`%\` TO \`root\`@\`localhost\` WITH GRANT OPTION;" \
    "GRANT PROXY ON \`\`@\`%\` TO \`mysql\`@\`localhost\` WITH GRANT OPTION;" "GRANT PROXY ON \`\`@\`%\` TO \`app\`@\`%\`;" "GRANT USAGE ON *.* TO \`u\`@\`%\`;" \
    "CREATE ROLE IF NOT EXISTS mariadb_dump_import_role;" "GRANT mariadb_dump_import_role TO CURRENT_USER();"
else echo "CREATE DATABASE app;"; fi'
  take >/dev/null
  sleep 1
  stub mariadb 'case "$*" in
  *"SELECT 1"*) echo 1 ;;
  *"@@wsrep_on"*) echo 0 ;;
  *schemata*) echo app ;;
  *VERSION*) echo 10.11.19-MariaDB ;;
  *CURRENT_USER*) echo root@localhost ;;
  *binary-mode*) cat >> "$BATS_TEST_TMPDIR/loaded.sql" ;;
  *) cat >/dev/null ;;
esac'
  run "$BKP_TOOLKIT/backup/restore.sh" --latest --force
  assert_success
  run cat "$BATS_TEST_TMPDIR/loaded.sql"
  assert_line 'CREATE USER IF NOT EXISTS `u`@`%`;'
  assert_line 'GRANT USAGE ON *.* TO `u`@`%`;'
  assert_line 'GRANT PROXY ON ``@`%` TO `app`@`%`;' # an admin's own proxy grant stays
  refute_output --partial 'GRANT PROXY ON ``@`%` TO `root`@`localhost`'
  refute_output --partial 'GRANT PROXY ON ``@`%` TO `mysql`@`localhost`'
  refute_output --partial 'CURRENT_USER()'
  # replayed on a Galera applier, CURRENT_USER() would be ''@'' (and GRANT would create that account)
  assert_line 'GRANT mariadb_dump_import_role TO `root`@`localhost`;'
}
