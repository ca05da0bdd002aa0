#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# backup.sh in a temp root with PATH stubs: layout, checksums, hard-link incrementals, failure paths.

setup_file() {
  load backup_helpers
  backup_generate
}

setup() {
  load backup_helpers
  backup_generate
  backup_setup
}

@test "a full backup writes the plan's layout with a checksum for every file and completed last" {
  run "$BKP_TOOLKIT/backup/backup.sh" --full
  assert_success
  local id dir
  id="$(ls "$(snaps)")"
  [[ $id =~ ^[0-9]{8}_[0-9]{6}$ ]]
  dir="$(snaps)/$id"
  [ -f "$dir/configs/etc/mysql/conf.d/60-galera.cnf" ]
  [ -f "$dir/configs/toolkit/cluster_config.yaml" ]
  [ -f "$dir/databases/mariadb/mariadb_all.sql.zst" ]
  [ -f "$dir/databases/mariadb/mariadb_users.sql.gz" ]
  [ ! -e "$dir/databases/mariadb/.sha256sums" ] # the script's checksum hint is used, not kept
  run jq -r '.completed, .backup_type, .hostname, .services.mariadb.status, .services.slurm.status, .services.redis' "$dir/metadata.json"
  assert_output $'true\nfull\nnode1\nok\nskipped\n{\n  "status": "skipped",\n  "reason": "no backup script in this toolkit"\n}'
  # every regular file except metadata.json and metadata.hmac is listed, and the sums check out
  local n
  n="$(cd "$dir" && find . -type f ! -name metadata.json ! -name metadata.hmac | wc -l)"
  [ "$(jq '.files | length' "$dir/metadata.json")" -eq "$n" ]
  (cd "$dir" && jq -r '.files | to_entries[] | "\(.value)  \(.key)"' metadata.json | sha256sum -c --quiet)
  [ "$(stat -c %a "$(snaps)")" = 700 ]
  run jq -r .result "$ROOT_PREFIX/var/lib/hpc-cluster/backup_status.json"
  assert_output ok
}

@test "an incremental backup of unchanged data hard-links every file and adds almost no bytes" {
  "$BKP_TOOLKIT/backup/backup.sh" --full 2>/dev/null
  sleep 1
  "$BKP_TOOLKIT/backup/backup.sh" --incremental 2>/dev/null
  local a b
  a="$(ls "$(snaps)" | head -n 1)"
  b="$(ls "$(snaps)" | tail -n 1)"
  [ "$a" != "$b" ]
  [ "$(stat -c %i "$(snaps)/$a/configs/etc/redis/big.bin")" = "$(stat -c %i "$(snaps)/$b/configs/etc/redis/big.bin")" ]
  [ "$(stat -c %i "$(snaps)/$a/databases/mariadb/mariadb_all.sql.zst")" = "$(stat -c %i "$(snaps)/$b/databases/mariadb/mariadb_all.sql.zst")" ]
  run jq -r '.new_bytes, .linked_to' "$(snaps)/$b/metadata.json"
  assert_output "0
$a"
  # and the incremental verifies on its own
  (cd "$(snaps)/$b" && jq -r '.files | to_entries[] | "\(.value)  \(.key)"' metadata.json | sha256sum -c --quiet)
}

@test "an incremental backup stores a changed file anew and links the rest" {
  "$BKP_TOOLKIT/backup/backup.sh" --full 2>/dev/null
  sleep 1
  echo 'maxmemory 1gb' >> "$ROOT_PREFIX/etc/redis/redis.conf"
  STUB_DUMP_TEXT=changed "$BKP_TOOLKIT/backup/backup.sh" 2>/dev/null
  local a b
  a="$(ls "$(snaps)" | head -n 1)"
  b="$(ls "$(snaps)" | tail -n 1)"
  [ "$(stat -c %i "$(snaps)/$a/configs/etc/redis/redis.conf")" != "$(stat -c %i "$(snaps)/$b/configs/etc/redis/redis.conf")" ]
  [ "$(stat -c %i "$(snaps)/$a/databases/mariadb/mariadb_all.sql.zst")" != "$(stat -c %i "$(snaps)/$b/databases/mariadb/mariadb_all.sql.zst")" ]
  [ "$(stat -c %i "$(snaps)/$a/configs/etc/redis/big.bin")" = "$(stat -c %i "$(snaps)/$b/configs/etc/redis/big.bin")" ]
  grep -q maxmemory "$(snaps)/$b/configs/etc/redis/redis.conf"
  run ! grep -q maxmemory "$(snaps)/$a/configs/etc/redis/redis.conf"
}

@test "an incremental never links a changed file that kept its size and mtime" {
  "$BKP_TOOLKIT/backup/backup.sh" --full 2>/dev/null
  sleep 1
  local f="$ROOT_PREFIX/etc/redis/redis.conf"
  touch -r "$f" "$BATS_TEST_TMPDIR/ref"
  printf 'port 6380\n' > "$f" # same size
  touch -r "$BATS_TEST_TMPDIR/ref" "$f"
  "$BKP_TOOLKIT/backup/backup.sh" 2>/dev/null
  grep -q 6380 "$(snaps)/$(ls "$(snaps)" | tail -n 1)/configs/etc/redis/redis.conf"
}

@test "--full copies everything afresh (no hard links to the previous snapshot)" {
  "$BKP_TOOLKIT/backup/backup.sh" --full 2>/dev/null
  sleep 1
  "$BKP_TOOLKIT/backup/backup.sh" --full 2>/dev/null
  local a b
  a="$(ls "$(snaps)" | head -n 1)"
  b="$(ls "$(snaps)" | tail -n 1)"
  [ "$(stat -c %i "$(snaps)/$a/configs/etc/redis/big.bin")" != "$(stat -c %i "$(snaps)/$b/configs/etc/redis/big.bin")" ]
}

@test "--only-configs backs up config trees only and records which items it holds" {
  run "$BKP_TOOLKIT/backup/backup.sh" --only-configs
  assert_success
  local dir
  dir="$(snaps)/$(ls "$(snaps)")"
  [ -d "$dir/configs" ]
  [ ! -d "$dir/databases" ]
  run jq -c .items "$dir/metadata.json"
  assert_output '["configs"]'
  run ! grep -q mariadb-dump "$STUB_LOG"
}

@test "--dry-run prints the plan and creates nothing" {
  run "$BKP_TOOLKIT/backup/backup.sh" --dry-run
  assert_success
  assert_output --partial "[dryrun] would create snapshot"
  assert_output --partial "backup_mariadb.sh --dest"
  assert_output --partial "would skip slurm"
  [ ! -e "$ROOT_PREFIX/data/system_backup" ]
  run ! grep -q mariadb-dump "$STUB_LOG"
}

@test "a failing database dump leaves no usable or partial snapshot and records the failure" {
  stub mariadb-dump 'exit 2'
  run "$BKP_TOOLKIT/backup/backup.sh"
  assert_failure
  assert_output --partial "mariadb backup failed"
  [ -z "$(ls -A "$(snaps)")" ]
  run jq -r .result "$ROOT_PREFIX/var/lib/hpc-cluster/backup_status.json"
  assert_output failed
}

@test "an anonymous ''@'' row the server never loaded: the accounts dump fails naming the fix" {
  stub mariadb-dump 'if [[ $* == *--system=users* ]]; then echo "mariadb-dump: Couldn'"'"'t execute '"'"'SHOW CREATE USER '"''"'@'"''"''"'"'" >&2; exit 2; fi; echo "CREATE DATABASE app;"'
  stub mariadb 'case "$*" in
  *"SELECT 1"*) echo 1 ;;
  *"@@wsrep_on"*) echo 0 ;;
  *global_priv*) echo 1 ;;
  *schemata*) echo app ;;
  *VERSION*) echo 10.11.19-MariaDB ;;
  *) cat >/dev/null ;;
esac'
  run "$BKP_TOOLKIT/backup/backup.sh" --only-databases
  assert_failure
  assert_output --partial "[ERROR MariaDBUsers]"
  assert_output --partial "DELETE FROM mysql.global_priv WHERE user = '' AND host = ''"
  [ -z "$(ls -A "$(snaps)")" ]
}

@test "MariaDB down: the backup refuses with a preflight error naming the fix" {
  stub mariadb 'exit 1'
  run "$BKP_TOOLKIT/backup/backup.sh" --only-databases
  assert_failure
  assert_output --partial "[ERROR MariaDB]"
}

@test "a Galera node that is not Synced refuses to be the backup source" {
  stub mariadb 'case "$*" in
  *"SELECT 1"*) echo 1 ;;
  *"@@wsrep_on"*) echo 1 ;;
  *wsrep_local_state_comment*) printf "wsrep_local_state_comment\tDonor/Desynced\n" ;;
  *wsrep_cluster_status*) printf "wsrep_cluster_status\tPrimary\n" ;;
esac'
  run "$BKP_TOOLKIT/backup/backup.sh" --only-databases
  assert_failure
  assert_output --partial "[ERROR GaleraSynced]"
  run ! grep -q mariadb-dump "$STUB_LOG"
}

@test "on Galera the dump runs desynced, records uuid:seqno and resyncs" {
  stub mariadb 'case "$*" in
  *"SELECT 1"*) echo 1 ;;
  *"@@wsrep_on"*) echo 1 ;;
  *wsrep_local_state_comment*) printf "wsrep_local_state_comment\tSynced\n" ;;
  *wsrep_cluster_status*) printf "wsrep_cluster_status\tPrimary\n" ;;
  *wsrep_cluster_state_uuid*) printf "wsrep_cluster_state_uuid\t11111111-2222-3333-4444-555555555555\n" ;;
  *wsrep_last_committed*) printf "wsrep_last_committed\t42\n" ;;
  *schemata*) echo app ;;
  *VERSION*) echo 10.11.19-MariaDB ;;
esac'
  run "$BKP_TOOLKIT/backup/backup.sh" --only-databases
  assert_success
  run jq -r '.galera.uuid, .galera.seqno' "$(snaps)/$(ls "$(snaps)")/metadata.json"
  assert_output $'11111111-2222-3333-4444-555555555555\n42'
  run grep -n 'wsrep_desync' "$STUB_LOG"
  assert_line --index 0 --partial 'wsrep_desync=ON'
  assert_line --index 1 --partial 'wsrep_desync=OFF'
}

@test "a second backup while one holds the lock exits 4" {
  mkdir -p -m 0700 "$ROOT_PREFIX/run/hpc-cluster"
  exec {fd}>"$ROOT_PREFIX/run/hpc-cluster/hpc-cluster-backup.lock"
  flock -n "$fd"
  run "$BKP_TOOLKIT/backup/backup.sh"
  exec {fd}>&-
  assert_failure 4
}

@test "an interrupted backup's .partial directory is never usable and is removed by the next run" {
  mkdir -p "$(snaps)/20260101_020000.partial/configs"
  echo '{"completed": true}' > "$(snaps)/20260101_020000.partial/metadata.json"
  run "$BKP_TOOLKIT/backup/restore.sh" --list --json
  assert_success
  run jq -r '.[0].usable' <<< "$output"
  assert_output false
  run "$BKP_TOOLKIT/backup/backup.sh" --only-configs
  assert_success
  [ ! -e "$(snaps)/20260101_020000.partial" ]
}

@test "--json prints the snapshot's metadata without the file list" {
  run --separate-stderr "$BKP_TOOLKIT/backup/backup.sh" --only-configs --json
  assert_success
  run jq -r '.completed, has("files"), .backup_type' <<< "$output"
  assert_output $'true\nfalse\nincremental'
}

@test "contract: a service script's files land in its folder and its --json output in metadata.json" {
  fake_service backup redis 'for a; do [[ $prev == --dest ]] && d=$a; prev=$a; done
echo rdb > "$d/10.213.0.11_6379.rdb"; echo "{\"masters\": 1}"'
  run "$BKP_TOOLKIT/backup/backup.sh" --only-databases
  assert_success
  local dir
  dir="$(snaps)/$(ls "$(snaps)")"
  [ -f "$dir/databases/redis/10.213.0.11_6379.rdb" ]
  run jq -c .services.redis "$dir/metadata.json"
  assert_output '{"status":"ok","masters":1}'
  grep -q "backup_redis --dest $dir.partial/databases/redis --json" "$STUB_LOG"
}

@test "contract: a service script that exits 3 (not built) is skipped and recorded" {
  fake_service backup slurm 'exit 3'
  run "$BKP_TOOLKIT/backup/backup.sh" --only-state
  assert_success
  local dir
  dir="$(snaps)/$(ls "$(snaps)")"
  [ ! -e "$dir/state/slurm" ]
  run jq -r .services.slurm.reason "$dir/metadata.json"
  assert_output --partial "exit 3"
}

@test "contract: a service script that fails discards the whole snapshot" {
  fake_service backup slurm 'exit 5'
  run "$BKP_TOOLKIT/backup/backup.sh"
  assert_failure
  assert_output --partial "slurm backup failed (exit 5)"
  [ -z "$(ls -A "$(snaps)")" ]
}

@test "unknown flags are usage errors (exit 2)" {
  run "$BKP_TOOLKIT/backup/backup.sh" --bogus
  assert_failure 2
  run "$BKP_TOOLKIT/backup/backup.sh" --only-configs --only-state
  assert_failure 2
}

@test "shared_storage refuses to back up an unmounted shared volume" {
  stub findmnt 'exit 1'
  run "$BKP_TOOLKIT/backup/backup.sh" --only-state
  assert_failure 5
  assert_output --partial "[ERROR SharedStorage]"
}
