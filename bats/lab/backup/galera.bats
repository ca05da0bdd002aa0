#!/usr/bin/env bats
# Backup and restore on a real 3-node Galera cluster (built directly here, not by phase1, so this suite
# proves the backup scripts alone): the dump comes from one Synced member under wsrep_desync and records
# the cluster's uuid:seqno; a restore loaded through one member brings the rows back on every member.
bats_require_minimum_version 1.5.0

setup_file() {
  export LAB_PREFIX=bkp
  load backup_helpers
  lab_setup 3
  lab ssh-mesh >/dev/null
  toolkit_generate "$(toolkit_fixture lab/backup-3.yaml)" "$BATS_FILE_TMPDIR/gen"
  lab_push "$BATS_FILE_TMPDIR/gen/cluster"
  local k
  for k in 1 2 3; do bkp_galera_config "n$k" "10.213.0.1$k" "node$k"; done
  lab_exec n1 /etc/init.d/mariadb bootstrap >/dev/null 2>&1
  wait_until 60 bkp_galera_synced n1
  for k in 2 3; do
    lab_exec "n$k" /etc/init.d/mariadb start >/dev/null 2>&1 || true
    wait_until 120 bkp_galera_synced "n$k"
  done
  wait_until 30 bkp_galera_size 3
  lab_exec n1 mariadb -e "
CREATE DATABASE auth_portal;
USE auth_portal;
CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(64)) ENGINE=InnoDB;
INSERT INTO users SELECT seq, CONCAT('user', seq) FROM seq_1_to_20000;"
}

teardown_file() {
  export LAB_PREFIX=bkp
  load backup_helpers
  lab_teardown
}

setup() {
  export LAB_PREFIX=bkp
  load backup_helpers
  bats_load_library bats-support
  bats_load_library bats-assert
}

bkp_galera_config() {
  lab_exec "$1" bash -c "set -e
mkdir -p /var/log/mysql && chown mysql:adm /var/log/mysql
cat > /etc/mysql/mariadb.conf.d/99-lab.cnf <<CNF
[mysqld_safe]
skip-syslog
log-error = /var/log/mysql/error.log
[mysqld]
bind-address = $2
log-error = /var/log/mysql/error.log
innodb_buffer_pool_size = 32M
performance_schema = OFF
binlog_format = row
innodb_autoinc_lock_mode = 2
wsrep_on = ON
wsrep_provider = /usr/lib/galera/libgalera_smm.so
wsrep_cluster_name = lab_backup
wsrep_cluster_address = gcomm://10.213.0.11,10.213.0.12,10.213.0.13
wsrep_node_address = $2
wsrep_node_name = $3
wsrep_sst_method = rsync
wsrep_provider_options = gcache.size=64M
CNF"
}

bkp_galera_synced() {
  [[ "$(lab_exec "$1" mariadb -N -B -e "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | cut -f2)" == Synced ]]
}

bkp_galera_size() {
  [[ "$(lab_exec n1 mariadb -N -B -e "SHOW STATUS LIKE 'wsrep_cluster_size'" | cut -f2)" == "$1" ]]
}

# count_on nK: rows of auth_portal.users as nK sees them after catching up (wsrep_sync_wait).
count_on() {
  lab_exec "$1" mariadb -N -B -e 'SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM auth_portal.users'
}

@test "a backup on a Synced member records the Galera uuid:seqno and leaves the node resynced" {
  run lab_exec n2 "$TK/backup/backup.sh" --full
  assert_success
  local meta uuid
  meta="$(lab_exec n2 bash -c 'cat /data/system_backup/snapshots/$(ls /data/system_backup/snapshots | tail -n 1)/metadata.json')"
  uuid="$(lab_exec n1 mariadb -N -B -e "SHOW STATUS LIKE 'wsrep_cluster_state_uuid'" | cut -f2)"
  [ "$(jq -r .galera.uuid <<< "$meta")" = "$uuid" ]
  (( $(jq -r .galera.seqno <<< "$meta") > 0 ))
  run lab_exec n2 mariadb -N -B -e 'SELECT @@wsrep_desync'
  assert_output 0
  run jq -r '.active_nodes | length' <<< "$meta"
  assert_output 3
}

@test "rows deleted on one member come back on every member after a restore through another" {
  lab_exec n3 mariadb -e 'DELETE FROM auth_portal.users WHERE id > 5000; CREATE TABLE auth_portal.stray (id INT PRIMARY KEY) ENGINE=InnoDB'
  [ "$(count_on n1)" = 5000 ]
  run lab_exec n2 "$TK/backup/restore.sh" --latest --force --only-databases
  assert_success
  local k
  for k in 1 2 3; do
    [ "$(count_on "n$k")" = 20000 ]
    run lab_exec "n$k" mariadb -N -B -e "SET SESSION wsrep_sync_wait=1; SHOW TABLES FROM auth_portal"
    assert_output users
  done
  bkp_galera_size 3
}
