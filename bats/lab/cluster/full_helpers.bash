# Helpers for the full-chain lab suites (bats/lab/cluster): toolkit on every node, secrets, and one
# probe per service, as an admin would check it by hand.
TK=/opt/hpc-dashboard/cluster

# full_prepare CONFIG NODES...: generate the toolkit from CONFIG, mesh ssh, push, write secrets and /data.
full_prepare() {
  toolkit_deploy "$@"
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

# rcli nK ARGS...: redis-cli on nK against its own node address (password through the environment).
rcli() {
  local n=$1
  shift
  lab_exec "$n" env REDISCLI_AUTH=redis-secret-3 redis-cli -h "$(lab_ip "$n")" "$@"
}

# redis_info nK FIELD: a CLUSTER INFO field on nK.
redis_info() {
  rcli "$1" cluster info 2>/dev/null | tr -d '\r' | awk -F: -v f="$2" '$1==f { print $2 }'
}

# vip_holders: the nodes that hold the VIP right now (one name a line).
vip_holders() {
  local n
  for n in n1 n2 n3; do
    if lab_exec "$n" ip -4 -o addr show dev eth0 2>/dev/null | grep -qF " 10.213.0.100/"; then echo "$n"; fi
  done
}

one_vip_holder() { [[ "$(vip_holders | wc -l)" == 1 ]]; }

# daemons nK: the PIDs of every service daemon on nK (a rerun that restarts something changes them).
daemons() {
  lab_exec "$1" sh -c 'for d in glusterd glusterfsd mariadbd redis-server munged slurmctld slurmd slurmdbd keepalived; do
      printf "%s %s\n" "$d" "$(pgrep -x "$d" | sort | tr "\n" " ")"; done'
}

# snapshot nK: content, mode and owner of the configuration and state a setup writes (not logs, not
# data files the daemons rewrite on their own, not Slurm's heartbeat).
# Runtime state the daemons write as things happen (keepalived's notify: vip_state and the VIP metrics;
# the metrics collectors) is not part of it: a rerun must change nothing, the cluster's life may.
snapshot() {
  lab_exec "$1" sh -c 'for d in /etc /var/lib/hpc-cluster /var/lib/glusterd /var/lib/mysql /var/lib/redis /var/spool/slurmctld /mnt/gluster/config; do
      [ -e "$d" ] || { echo "absent $d"; continue; }
      find "$d" -xdev \( -type f -o -type d -o -type l \) ! -name "*.log" ! -name "*.pid" ! -path "/var/lib/mysql/*" ! -path "/var/lib/glusterd/*" ! -path "/var/lib/redis/*" ! -path "/var/lib/hpc-cluster/metrics/*" ! -name vip_state -printf "%p %m %u %g\n" | sort
      find "$d" -xdev -type f ! -name "*.log" ! -name "*.pid" ! -path "/var/lib/mysql/*" ! -path "/var/lib/glusterd/*" ! -path "/var/lib/redis/*" ! -path "/var/lib/hpc-cluster/metrics/*" ! -name vip_state -exec sha256sum {} + | sort
    done; ls -A /var/lib/mysql /var/lib/glusterd /var/lib/redis 2>&1' 2>/dev/null
}
