# Helpers for the backup lab suite: one node with the real MariaDB and keepalived, the toolkit pushed.
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"

TK=/opt/hpc-dashboard/cluster

# bkp_prefix: this suite's lab prefix, exported for the helpers and the tests: $LAB_PREFIX when set,
# else the one bats/lab/helpers.bash derives from the .bats path (unique per suite and per checkout:
# the fixed default "bkp" these suites had let another worktree's run tear this lab down mid-test).
bkp_prefix() {
  export LAB_PREFIX
  LAB_PREFIX=$(lab_prefix)
}

# bkp_node_start: MariaDB (logging to a file, bound to the node address) and keepalived (init scripts,
# as the toolkit's svc::* would start them without systemd), a mounted GlusterFS volume, the secrets file.
bkp_node_start() {
  lab_exec n1 bash -c '
set -e
install -d -m 0700 /etc/hpc-cluster
printf "DB_AUTH_PASSWORD=lab-auth-pw\nREDIS_PASSWORD=lab-redis-pw\nBACKUP_HMAC_KEY=lab-hmac-key\n" > /etc/hpc-cluster/secrets.env
chmod 0600 /etc/hpc-cluster/secrets.env
mkdir -p /var/log/mysql && chown mysql:adm /var/log/mysql
cat > /etc/mysql/mariadb.conf.d/99-lab.cnf <<CNF
[mysqld_safe]
skip-syslog
log-error = /var/log/mysql/error.log
[mysqld]
bind-address = 10.213.0.11
log-error = /var/log/mysql/error.log
innodb_buffer_pool_size = 32M
performance_schema = OFF
CNF
cat > /etc/keepalived/keepalived.conf <<CNF
global_defs { router_id bkp_lab }
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 52
  priority 100
  advert_int 1
  virtual_ipaddress { 10.213.0.100/24 }
}
CNF
/etc/init.d/mariadb start >/var/log/mariadb-start.log 2>&1
/etc/init.d/keepalived start >/var/log/keepalived-start.log 2>&1
# a one-brick GlusterFS volume mounted at /mnt/gluster (glusterd has no init script in Debian)
mkdir -p /var/log/glusterfs /data/glusterfs/shared /mnt/gluster
glusterd -p /run/glusterd.pid --log-file=/var/log/glusterfs/glusterd.log
'
  wait_until 30 lab_exec n1 gluster --mode=script volume info
  lab_exec n1 bash -c 'set -e
gluster --mode=script volume create shared_data node1:/data/glusterfs/shared force >/dev/null
gluster --mode=script volume start shared_data >/dev/null
mount -t glusterfs node1:/shared_data /mnt/gluster
mkdir -p /mnt/gluster/home/alice /mnt/gluster/config
head -c 300000 /dev/urandom > /mnt/gluster/home/alice/results.bin
echo "shared notes" > /mnt/gluster/home/alice/notes.txt'
  wait_until 30 lab_exec n1 mariadb -e 'SELECT 1'
  wait_until 30 lab_exec n1 pgrep -x keepalived
}

# bkp_seed: two databases with rows, an application user.
bkp_seed() {
  lab_exec n1 mariadb -e "
CREATE DATABASE auth_portal;
USE auth_portal;
CREATE TABLE auth_portal.users (id INT PRIMARY KEY, name VARCHAR(64), pw CHAR(32)) ENGINE=InnoDB;
INSERT INTO auth_portal.users SELECT seq, CONCAT('user', seq), MD5(seq) FROM seq_1_to_200000;
CREATE DATABASE slurm_acct_db;
CREATE TABLE slurm_acct_db.jobs (id INT PRIMARY KEY AUTO_INCREMENT, state VARCHAR(16)) ENGINE=InnoDB;
INSERT INTO slurm_acct_db.jobs (state) SELECT 'COMPLETED' FROM seq_1_to_300;
CREATE USER auth_user@'10.213.0.%' IDENTIFIED BY 'lab-auth-pw';
GRANT ALL ON auth_portal.* TO auth_user@'10.213.0.%';"
}

# bkp_fingerprint: one hash of everything a restore must bring back exactly (user databases, accounts,
# the config trees, the shared volume's files) - equal hashes mean equal state.
bkp_fingerprint() {
  lab_exec n1 bash -c '
dbs=$(mariadb -N -B -e "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN (\"mysql\",\"information_schema\",\"performance_schema\",\"sys\") ORDER BY 1")
{
  echo "$dbs"
  [ -z "$dbs" ] || mariadb-dump --skip-dump-date --skip-comments --databases $dbs
  mariadb -N -B -e "SELECT user, host FROM mysql.user ORDER BY 1, 2"
  find /etc/mysql /etc/keepalived /etc/hpc-cluster /mnt/gluster -type f -print0 | sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-64'
}

bkp_keepalived_pid() {
  lab_exec n1 pgrep -o -x keepalived
}

bkp_latest() {
  lab_exec n1 bash -c 'ls /data/system_backup/snapshots | grep -v partial | tail -n 1'
}

# bkp_resign DIR: on n1, authenticate DIR/metadata.json again after a test edited it, with openssl as
# the reference HMAC-SHA256 and the lab's BACKUP_HMAC_KEY (an unsigned edit is refused, as it should be).
bkp_resign() {
  lab_exec n1 sh -c 'openssl dgst -sha256 -hmac lab-hmac-key -r "$1/metadata.json" | cut -c1-64 > "$1/metadata.hmac"' _ "$1"
}

bkp_count() {
  lab_exec n1 bash -c 'ls /data/system_backup/snapshots | wc -l'
}

# ---- the cluster built by start_multi_complete.sh (full_cluster.bats) ----------------------------------

# bkp_full_prepare CONFIG NODE...: toolkit generated from CONFIG, SSH mesh, toolkit and secrets on NODEs.
bkp_full_prepare() {
  LAB_SECRETS=$'DB_SLURM_PASSWORD=slurm-secret-1\nDB_AUTH_PASSWORD=auth-secret-2\nREDIS_PASSWORD=redis-secret-3\nBACKUP_HMAC_KEY=lab-hmac-key' \
    toolkit_deploy "$@"
}

# bkp_synced nK SIZE: nK is Synced in a Primary component of SIZE nodes.
bkp_synced() {
  local st
  st="$(lab_exec "$1" mariadb -N -B -e "SHOW GLOBAL STATUS WHERE Variable_name IN
    ('wsrep_cluster_status','wsrep_local_state_comment','wsrep_cluster_size')" 2>/dev/null | sort | awk '{ printf "%s ", $2 }')"
  [[ $st == "$2 Primary Synced " ]]
}

# bkp_rcli nK ARGS...: redis-cli on nK against its own address (password through the environment).
bkp_rcli() {
  local n=$1
  shift
  lab_exec "$n" env REDISCLI_AUTH=redis-secret-3 redis-cli -h "$(lab_ip "$n")" "$@"
}
