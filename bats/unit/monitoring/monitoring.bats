#!/usr/bin/env bats
# lib/monitoring.sh: the toolkit's textfile metrics (atomic, parsed from the daemons' real output
# formats through PATH stubs), the member list and the file_sd targets.

setup_file() {
  load ../lib/lib_helpers
  lib_setup_file
}

setup() {
  load ../lib/lib_helpers
  lib_setup
  export MONITORING_TEXTFILE_DIR=/var/lib/prometheus/node-exporter
}

lib() { in_lib "source \"\$HPC_LIB_DIR/monitoring.sh\"; $1"; }
prom() { cat "$ROOT_PREFIX/var/lib/prometheus/node-exporter/$1.prom"; }

@test "a VIP transition to MASTER counts a failover and marks this node MASTER" {
  lib 'monitoring::vip_transition MASTER; monitoring::vip_transition BACKUP; monitoring::vip_transition MASTER'
  assert_success
  run prom hpc_vip
  assert_line --regexp '^hpc_vip_master\{vip="[0-9.]+"\} 1$'
  assert_line 'hpc_vip_master_transitions_total 2'
  assert_line 'hpc_vip_state{state="MASTER"} 1'
  assert_line 'hpc_vip_state{state="BACKUP"} 0'
  # written atomically: no temp file is left beside it
  run ls -A "$ROOT_PREFIX/var/lib/prometheus/node-exporter"
  assert_output "hpc_vip.prom"
}

@test "the hooks never fail their caller, even when the directory cannot be written" {
  mkdir -p "$ROOT_PREFIX/var/lib/prometheus"
  : > "$ROOT_PREFIX/var/lib/prometheus/node-exporter"   # a file where the directory should be
  lib 'monitoring::vip_transition MASTER; monitoring::backup_result failed; echo still-here'
  assert_success
  assert_output --partial still-here
}

@test "a backup run's outcome (lib/backup_status.sh): backup writes last ok/success, monitoring adds failure time and size, no metric twice" {
  mkdir -p "$ROOT_PREFIX/var/lib/prometheus/node-exporter"
  in_lib 'source "$HPC_LIB_DIR/backup_status.sh"; BACKUP_TAKEN_BYTES=8192 backup::status_write ok 20261202_060000 3 4096; backup::status_write failed "" 0 0'
  assert_success
  run prom hpc_backup
  assert_line 'hpc_backup_last_ok 0'
  assert_line --regexp '^hpc_backup_last_success_timestamp_seconds [0-9]{10}$'
  run prom hpc_backup_outcome
  assert_line 'hpc_backup_last_size_bytes 8192'
  assert_line --regexp '^hpc_backup_last_failure_timestamp_seconds [0-9]{10}$'
  run bash -c "cat '$ROOT_PREFIX'/var/lib/prometheus/node-exporter/*.prom | grep -v '^#' | awk '{ print \$1 }' | sort | uniq -d"
  assert_output ""
}

@test "scontrol ping, squeue and sinfo become controller, job and node metrics" {
  stub scontrol 'printf "Slurmctld(primary) at node1 is DOWN\nSlurmctld(backup1) at node2 is UP\n"'
  stub squeue 'if [[ $* == *%T* ]]; then printf "RUNNING\nPENDING\nRUNNING\n"; else printf "1\n2\n3\n"; fi'
  stub sinfo 'printf "node1 idle\nnode2 alloc\nnode2 alloc\n"'
  lib 'monitoring::slurm_metrics'
  assert_success
  run prom hpc_slurm
  assert_line 'hpc_slurm_controller_up{controller="node1",role="primary"} 0'
  assert_line 'hpc_slurm_controller_up{controller="node2",role="backup"} 1'
  assert_line 'hpc_slurm_jobs{state="running"} 2'
  assert_line 'hpc_slurm_jobs{state="all"} 3'
  assert_line 'hpc_slurm_nodes{state="alloc"} 1'
}

@test "gluster volume status, heal info summary and peer status become brick, heal and peer metrics" {
  stub pidof 'exit 0'
  stub gluster 'case "$*" in
    *"volume status"*) printf "Status of volume: shared_data\nGluster process                             TCP Port  RDMA Port  Online  Pid\n------\nBrick node1:/data/glusterfs/shared          52913     0          Y       101\nBrick node2:/data/glusterfs/shared          N/A       N/A        N       N/A\nSelf-heal Daemon on localhost               N/A       N/A        Y       130\n" ;;
    *"heal"*) printf "Brick node1:/data/glusterfs/shared\nStatus: Connected\nTotal Number of entries: 7\nNumber of entries in heal pending: 7\n\nBrick node2:/data/glusterfs/shared\nStatus: Transport endpoint is not connected\nTotal Number of entries: -\n" ;;
    *"peer status"*) printf "Number of Peers: 2\n\nHostname: node2\nUuid: x\nState: Peer in Cluster (Disconnected)\n\nHostname: node3\nUuid: y\nState: Peer in Cluster (Connected)\n" ;;
  esac'
  lib 'STORAGE_TYPE=glusterfs; monitoring::gluster_metrics'
  assert_success
  run prom hpc_gluster
  assert_line --regexp '^hpc_gluster_brick_online\{volume="[^"]+",brick="node1:/data/glusterfs/shared",host="node1"\} 1$'
  assert_line --regexp '^hpc_gluster_brick_online\{volume="[^"]+",brick="node2:/data/glusterfs/shared",host="node2"\} 0$'
  assert_line --regexp '^hpc_gluster_heal_pending\{.*brick="node1:/data/glusterfs/shared",host="node1"\} 7$'
  assert_line --regexp '^hpc_gluster_heal_pending\{.*brick="node2:/data/glusterfs/shared",host="node2"\} 0$'
  assert_line 'hpc_gluster_peers_connected 1'
  assert_line 'hpc_gluster_peers_total 2'
}

@test "toolkit info carries the cluster id and the hash of the config, label values escaped" {
  mkdir -p "$ROOT_PREFIX/var/lib/hpc-cluster"
  echo '0f1e-"x' > "$ROOT_PREFIX/var/lib/hpc-cluster/cluster_id"
  lib 'STATE_DIR=/var/lib/hpc-cluster; monitoring::toolkit_metrics'
  assert_success
  run prom hpc_toolkit
  assert_line --regexp '^hpc_toolkit_info\{cluster="[^"]+",cluster_id="0f1e-\\"x",toolkit_version="[0-9.]+",config_sha256="[0-9a-f]{64}"\} 1$'
}

@test "members stay in priority order; the first prometheus_nodes run Prometheus; targets are labelled with the node" {
  mkdir -p "$ROOT_PREFIX/var/lib/hpc-cluster"
  lib 'printf "%s\n" "${NODE_IPS[2]}" "${NODE_IPS[0]}" > "$(monitoring::members_file)"; monitoring::members | tr "\n" " "; echo; MONITORING_PROMETHEUS_NODES=1 monitoring::prometheus_nodes; monitoring::targets_json 9100 $(monitoring::members) | jq -c "[.[] | .labels.node]"'
  assert_success
  assert_line --index 0 "10.0.0.11 10.0.0.13 "
  assert_line --index 1 "10.0.0.11"
  assert_line --index 2 '["node1","node3"]'
}

@test "dry-run writes no metrics" {
  lib 'DRY_RUN=1; monitoring::vip_transition MASTER'
  assert_success
  [[ ! -e $ROOT_PREFIX/var/lib/prometheus/node-exporter/hpc_vip.prom ]]
}
