# Helpers for the Galera lab suite: a generated toolkit on every node, secrets, SQL inside a node.
TK=/opt/hpc-dashboard/cluster

# gal_prepare CONFIG NODES...: generate the toolkit from CONFIG, push it, write secrets and /data.
gal_prepare() {
  # A quote in a password: the toolkit must carry it through SQL and config files intact.
  LAB_SECRETS=$'DB_SLURM_PASSWORD=slurm-secret-1\nDB_AUTH_PASSWORD=auth-se\'cret\nREDIS_PASSWORD=redis-secret' toolkit_deploy "$@"
}

# sql nK SQL: run SQL as root on nK, reads synchronised with the cluster (wsrep_sync_wait=1).
sql() {
  local n=$1
  shift
  lab_exec "$n" mariadb -N -B -e "SET SESSION wsrep_sync_wait=1; $*"
}

# wsrep nK NAME: a wsrep status value on nK.
wsrep() {
  lab_exec "$1" mariadb -N -B -e "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null | awk '{ print $2 }'
}

# synced nK SIZE: nK is Synced in a Primary component of SIZE nodes.
synced() {
  [[ "$(wsrep "$1" wsrep_cluster_status)" == Primary && "$(wsrep "$1" wsrep_local_state_comment)" == Synced \
     && "$(wsrep "$1" wsrep_cluster_size)" == "$2" ]]
}

non_primary() {
  [[ "$(wsrep "$1" wsrep_cluster_status)" == non-Primary ]]
}

# snapshot nK: a fingerprint of /etc, the datadir and the state dir (content, mode, owner of every file).
snapshot() {
  lab_exec "$1" sh -c 'for d in /etc /var/lib/mysql /var/lib/hpc-cluster; do
      [ -e "$d" ] || { echo "absent $d"; continue; }
      find "$d" -xdev \( -type f -o -type d -o -type l \) -printf "%p %m %u %g %s\n" | sort
      find "$d" -xdev -type f -exec sha256sum {} + | sort
    done' 2>/dev/null
}
