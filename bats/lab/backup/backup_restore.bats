#!/usr/bin/env bats
# One-command backup and restore proven against real daemons in a one-node lab (MariaDB, keepalived,
# a GlusterFS volume, config files): restore brings everything back; a damaged snapshot is refused
# before anything stops; a failing database step rolls back to exactly the state before; --dry-run
# changes nothing; an incremental of unchanged data costs almost no bytes; the cron file really runs.
# galera.bats adds a 3-node Galera + Redis Cluster; full_cluster.bats the whole cluster built by
# start_multi_complete.sh (with a queued Slurm job).
bats_require_minimum_version 1.5.0

setup_file() {
  load backup_helpers
  bkp_prefix
  lab_setup 1
  toolkit_generate "$(toolkit_fixture lab/backup-1.yaml)" "$BATS_FILE_TMPDIR/gen"
  lab_push "$BATS_FILE_TMPDIR/gen/cluster"
  bkp_node_start
  bkp_seed
}

teardown_file() {
  load backup_helpers
  bkp_prefix
  lab_teardown
}

setup() {
  load backup_helpers
  bkp_prefix
  bats_load_library bats-support
  bats_load_library bats-assert
}

@test "backup, then delete rows, drop a table, change configs and shared files: restore --latest --force brings all back" {
  local before after ka_before ka_after
  before="$(bkp_fingerprint)"
  run lab_exec n1 "$TK/backup/backup.sh" --full
  assert_success
  assert_output --partial "mariadb: ok"
  ka_before="$(bkp_keepalived_pid)"
  # The secrets file stays: a restore authenticates the snapshot with its BACKUP_HMAC_KEY, so on a
  # rebuilt server the secrets file is written first (DISASTER_RECOVERY.md).
  lab_exec n1 bash -c '
mariadb -e "DELETE FROM auth_portal.users WHERE id > 100; DROP TABLE slurm_acct_db.jobs; CREATE DATABASE stray; DROP USER auth_user@\"10.213.0.%\""
echo "bind-address = 0.0.0.0" >> /etc/mysql/mariadb.conf.d/99-lab.cnf
rm /mnt/gluster/home/alice/results.bin
echo overwritten > /mnt/gluster/home/alice/notes.txt'
  [ "$(bkp_fingerprint)" != "$before" ]
  run lab_exec n1 "$TK/backup/restore.sh" --latest --force
  assert_success
  assert_output --partial "stopping keepalived"
  assert_output --partial "starting keepalived"
  after="$(bkp_fingerprint)"
  [ "$after" = "$before" ]
  run lab_exec n1 mariadb -N -e 'SELECT COUNT(*), SUM(id) FROM auth_portal.users; SELECT COUNT(*) FROM slurm_acct_db.jobs'
  assert_output $'200000\t20000100000\n300'
  # keepalived was stopped for the restore and runs again (a new process)
  ka_after="$(bkp_keepalived_pid)"
  [ -n "$ka_after" ] && [ "$ka_after" != "$ka_before" ]
  run lab_exec n1 stat -c %a /etc/hpc-cluster/secrets.env
  assert_output 600
  run lab_exec n1 cat /mnt/gluster/home/alice/notes.txt
  assert_output "shared notes"
  # through the volume: the brick holds the restored file too
  run lab_exec n1 cmp /mnt/gluster/home/alice/results.bin /data/glusterfs/shared/home/alice/results.bin
  assert_success
  run lab_exec n1 bash -c 'ls /var/log/restore_*.log'
  assert_success
}

@test "an incremental backup of unchanged data adds almost no bytes" {
  run --separate-stderr lab_exec n1 "$TK/backup/backup.sh" --full --json
  assert_success
  local full inc
  full="$(jq .backup_size <<< "$output")"
  run --separate-stderr lab_exec n1 "$TK/backup/backup.sh" --incremental --json
  assert_success
  inc="$(jq .new_bytes <<< "$output")"
  [ "$(jq -r .linked_to <<< "$output")" != null ]
  echo "full $full bytes, unchanged incremental $inc new bytes" >&3
  (( full > 1000000 ))
  (( inc * 100 <= full )) # no file content at all in fact; under 1 %
  # and on disk: the incremental takes only its metadata.json and directory entries (under 10 %)
  run lab_exec n1 bash -c 'cd /data/system_backup/snapshots && du -sb $(ls | tail -n 2) | tail -n 1 | cut -f1'
  echo "unchanged incremental on disk: $output bytes" >&3
  (( output * 10 <= full ))
}

@test "a damaged snapshot file is refused before anything is stopped or changed" {
  lab_exec n1 "$TK/backup/backup.sh" 2>/dev/null
  local id ka before count
  id="$(bkp_latest)"
  lab_exec n1 mariadb -e 'INSERT INTO auth_portal.users VALUES (900001, "after-backup", MD5(1))'
  before="$(bkp_fingerprint)"
  ka="$(bkp_keepalived_pid)"
  count="$(bkp_count)"
  # one flipped byte in the dump
  lab_exec n1 bash -c "f=/data/system_backup/snapshots/$id/databases/mariadb/mariadb_all.sql.zst
cp --preserve=all \$f /tmp/good.gz
printf 'X' | dd of=\$f bs=1 seek=100 conv=notrunc status=none"
  run lab_exec n1 "$TK/backup/restore.sh" --latest --force
  assert_failure 6
  assert_output --partial "databases/mariadb/mariadb_all.sql.zst: FAILED"
  assert_output --partial "Nothing was stopped or changed"
  [ "$(bkp_keepalived_pid)" = "$ka" ]
  [ "$(bkp_fingerprint)" = "$before" ]
  [ "$(bkp_count)" = "$count" ] # not even a pre-restore snapshot
  lab_exec n1 bash -c "cp --preserve=all /tmp/good.gz /data/system_backup/snapshots/$id/databases/mariadb/mariadb_all.sql.zst"
}

@test "a restore whose database step fails rolls back to exactly the state before" {
  lab_exec n1 "$TK/backup/backup.sh" 2>/dev/null
  local id before ka
  id="$(bkp_latest)"
  # A snapshot that verifies (checksum updated, metadata.json signed again as a backup with that
  # content would be) but whose SQL breaks after the first database was already dropped and half reloaded.
  lab_exec n1 bash -c "set -e
d=/data/system_backup/snapshots/$id
f=\$d/databases/mariadb/mariadb_all.sql.zst
zstd -q -dc \$f | awk '{print} /^UNLOCK TABLES;/ && !done {print \"THIS IS NOT SQL;\"; done=1}' | zstd -q > /tmp/bad.gz
rm -f \$f && cp /tmp/bad.gz \$f
sum=\$(sha256sum < \$f | cut -c1-64)
jq --arg s \$sum '.files[\"databases/mariadb/mariadb_all.sql.zst\"] = \$s' \$d/metadata.json > /tmp/m.json
cat /tmp/m.json > \$d/metadata.json"
  bkp_resign "/data/system_backup/snapshots/$id"
  lab_exec n1 bash -c 'mariadb -e "INSERT INTO auth_portal.users VALUES (900002, \"after-backup-2\", MD5(2)); CREATE DATABASE made_later"
echo "# changed after the backup" >> /etc/keepalived/keepalived.conf
echo "written after the backup" > /mnt/gluster/home/alice/later.txt'
  before="$(bkp_fingerprint)"
  ka="$(bkp_keepalived_pid)"
  run lab_exec n1 "$TK/backup/restore.sh" --id "$id" --force
  assert_failure 1
  assert_output --partial "THIS IS NOT SQL"
  assert_output --partial "rolled back to the state before"
  [ "$(bkp_fingerprint)" = "$before" ]
  run lab_exec n1 mariadb -N -e 'SELECT name FROM auth_portal.users WHERE id = 900002'
  assert_output after-backup-2
  run lab_exec n1 cat /mnt/gluster/home/alice/later.txt
  assert_output "written after the backup"
  wait_until 30 lab_exec n1 pgrep -x keepalived
  [ "$(bkp_keepalived_pid)" != "$ka" ] # stopped for the restore, started again by the rollback
}

@test "restore --dry-run verifies, prints the plan and changes nothing" {
  local before ka count
  lab_exec n1 mariadb -e 'DELETE FROM auth_portal.users WHERE id < 10'
  before="$(bkp_fingerprint)"
  ka="$(bkp_keepalived_pid)"
  count="$(bkp_count)"
  run lab_exec n1 "$TK/backup/restore.sh" --latest --dry-run
  assert_success
  assert_output --partial "all checksums match"
  assert_output --partial "[dryrun] would stop keepalived"
  assert_output --partial "[dryrun] would load"
  [ "$(bkp_fingerprint)" = "$before" ]
  [ "$(bkp_keepalived_pid)" = "$ka" ]
  [ "$(bkp_count)" = "$count" ]
  run lab_exec n1 "$TK/backup/backup.sh" --dry-run
  assert_success
  [ "$(bkp_count)" = "$count" ]
}

@test "restore.sh --test loads the latest snapshot's dump into a scratch server, touching nothing live" {
  local before
  # (the newest snapshot so far is the one test 4 broke on purpose: --test --latest would fail on it)
  lab_exec n1 "$TK/backup/backup.sh" 2>/dev/null
  before="$(bkp_fingerprint)"
  run --separate-stderr lab_exec n1 "$TK/backup/restore.sh" --test --latest
  assert_success
  assert_line --regexp '^auth_portal\.users [0-9]+$'
  assert_line 'slurm_acct_db.jobs 300'
  [ "$(bkp_fingerprint)" = "$before" ]
  run lab_exec n1 pgrep -c -x mariadbd
  assert_output 1 # the scratch server is gone
  run lab_exec n1 bash -c 'ls -d /tmp/hpc-mariadb-test.* 2>/dev/null'
  assert_output ""
}

@test "the installed cron file runs backup.sh under Debian's cron and records the outcome" {
  run lab_exec n1 "$TK/backup/backup_scheduler.sh" --install
  assert_success
  local count
  count="$(bkp_count)"
  # the installed lines exactly, with the schedule made "every minute" so the test need not wait for 02:00
  lab_exec n1 sed -i 's/^0 2 \* \* \* root/* * * * * root/; s/^0 \* \* \* \* root/#&/' /etc/cron.d/hpc-cluster-backup
  lab_exec n1 bash -c '/etc/init.d/cron start >/var/log/cron-start.log 2>&1'
  wait_until 150 bash -c "[ \"\$(LAB_PREFIX=$LAB_PREFIX $LAB_TOOL exec n1 bash -c 'ls /data/system_backup/snapshots | wc -l')\" -gt $count ]"
  wait_until 60 lab_exec n1 grep -q 'retention' /var/log/hpc-cluster/backup-cron.log
  lab_exec n1 bash -c '/etc/init.d/cron stop >>/var/log/cron-start.log 2>&1'
  run lab_exec n1 "$TK/backup/backup_scheduler.sh" --status --json
  assert_success
  run jq -r '.schedule, .last_run.result' <<< "$output"
  assert_output $'cron\nok'
  run lab_exec n1 grep -c 'snapshot .* done' /var/log/hpc-cluster/backup-cron.log
  (( output >= 1 ))
}
