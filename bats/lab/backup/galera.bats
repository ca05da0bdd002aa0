#!/usr/bin/env bats
# Backup and restore on a real 3-node Galera cluster and a 3-master Redis Cluster (built directly here,
# not by phase1/phase2, so this suite proves the backup scripts alone): the dump comes from one Synced
# member under wsrep_desync and records the cluster's uuid:seqno; a restore loaded through one member
# brings the rows back on every member, and the keys of every master come back after FLUSHALL.
bats_require_minimum_version 1.5.0

setup_file() {
  load backup_helpers
  bkp_prefix
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
  for k in 1 2 3; do bkp_redis_start "n$k" "10.213.0.1$k"; done
  lab_exec n1 redis-cli -a lab-redis-pw --no-auth-warning --cluster create 10.213.0.11:6379 10.213.0.12:6379 \
    10.213.0.13:6379 --cluster-replicas 0 --cluster-yes >/dev/null
  for k in 1 2 3; do wait_until 60 bkp_redis_ok "n$k"; done
  # 3000 keys spread over the three masters (SET is idempotent: seed again until all are there, in
  # case a redirect met a node still learning the slot map)
  for _ in 1 2 3; do
    lab_exec n1 bash -c 'for i in $(seq 1 3000); do printf "SET key:%s value-%s\n" $i $i; done \
      | redis-cli -c -a lab-redis-pw --no-auth-warning -h 10.213.0.11 >/dev/null'
    [[ "$(redis_keys)" == 3000 ]] && break
  done
  [[ "$(redis_keys)" == 3000 ]]
  lab_exec n1 mariadb -e "
CREATE DATABASE auth_portal;
USE auth_portal;
CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(64)) ENGINE=InnoDB;
INSERT INTO users SELECT seq, CONCAT('user', seq) FROM seq_1_to_20000;"
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

bkp_redis_start() {
  lab_exec "$1" bash -c "set -e
install -d -m 0700 /etc/hpc-cluster
printf 'DB_AUTH_PASSWORD=lab-auth-pw\nREDIS_PASSWORD=lab-redis-pw\nBACKUP_HMAC_KEY=lab-hmac-key\n' > /etc/hpc-cluster/secrets.env
chmod 0600 /etc/hpc-cluster/secrets.env
mkdir -p /var/log/redis /var/lib/redis/lab
cat > /etc/redis/lab.conf <<CNF
port 6379
bind $2 127.0.0.1
requirepass lab-redis-pw
masterauth lab-redis-pw
cluster-enabled yes
cluster-config-file /var/lib/redis/lab/nodes.conf
cluster-node-timeout 5000
cluster-announce-ip $2
dir /var/lib/redis/lab
appendonly no
daemonize yes
logfile /var/log/redis/lab.log
CNF
redis-server /etc/redis/lab.conf"
  wait_until 20 lab_exec "$1" redis-cli -a lab-redis-pw --no-auth-warning ping
}

# bkp_redis_ok nK: nK says the Redis cluster is ok.
bkp_redis_ok() {
  lab_exec "$1" redis-cli -a lab-redis-pw --no-auth-warning cluster info | grep -q 'cluster_state:ok'
}

# redis_keys: the keys of all masters together.
redis_keys() {
  local k total=0 n
  for k in 1 2 3; do
    n="$(lab_exec "n$k" redis-cli -a lab-redis-pw --no-auth-warning -h "10.213.0.1$k" dbsize)"
    total=$(( total + n ))
  done
  printf '%s\n' "$total"
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
  run jq -r '.services.redis.status' <<< "$meta"
  assert_output ok
}

@test "rows deleted on one member and FLUSHALL on every master: restore through one member brings all back" {
  lab_exec n3 mariadb -e 'DELETE FROM auth_portal.users WHERE id > 5000; CREATE TABLE auth_portal.stray (id INT PRIMARY KEY) ENGINE=InnoDB'
  [ "$(count_on n1)" = 5000 ]
  local k
  for k in 1 2 3; do lab_exec "n$k" redis-cli -a lab-redis-pw --no-auth-warning -h "10.213.0.1$k" flushall >/dev/null; done
  run redis_keys
  assert_output 0
  run lab_exec n2 "$TK/backup/restore.sh" --latest --force --only-databases
  assert_success
  run redis_keys
  assert_output 3000
  run lab_exec n1 redis-cli -c -a lab-redis-pw --no-auth-warning -h 10.213.0.11 get key:2345
  assert_output value-2345
  for k in 1 2 3; do
    [ "$(count_on "n$k")" = 20000 ]
    run lab_exec "n$k" mariadb -N -B -e "SET SESSION wsrep_sync_wait=1; SHOW TABLES FROM auth_portal"
    assert_output users
  done
  bkp_galera_size 3
}
