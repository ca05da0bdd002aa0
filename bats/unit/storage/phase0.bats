#!/usr/bin/env bats
# Unit: setup/phase0_storage_setup.sh with PATH stubs (gluster, findmnt, mount, ssh) and a temp ROOT_PREFIX.

setup_file() {
  load "${HPC_REPO_ROOT}/bats/unit/storage/stubs.bash"
  stubs_generate lab/storage-lab4.yaml
}

setup() {
  load "${HPC_REPO_ROOT}/bats/unit/storage/stubs.bash"
  bats_load_library bats-support
  bats_load_library bats-assert
  stubs_setup
  P0="$TK/setup/phase0_storage_setup.sh"
}

@test "--help prints the usage and exits 0" {
  run "$P0" --help
  assert_success
  assert_line --partial "Usage: phase0_storage_setup.sh"
}

@test "usage errors exit 2: no action, --join without --peer, a node that is not configured" {
  run "$P0"
  assert_failure 2
  run "$P0" --join
  assert_failure 2
  assert_output --partial "--join needs --peer"
  run "$P0" --add-node 10.9.9.9
  assert_failure 2
  assert_output --partial "not in cluster_config.yaml"
  run "$P0" --bootstrap --join --peer 10.213.0.12
  assert_failure 2
}

@test "bootstrap --dry-run prints the plan and changes nothing" {
  run "$P0" --bootstrap --dry-run
  assert_success
  assert_output --partial "[dryrun] would run: glusterd -p /run/glusterd.pid"
  assert_output --partial "[dryrun] would run: gluster --mode=script volume create shared_data 10.213.0.11:/data/glusterfs/shared force"
  assert_output --partial "would write $ROOT_PREFIX/etc/fstab"
  assert_output --partial "localhost:/shared_data /mnt/gluster glusterfs defaults,_netdev 0 0"
  run called gluster
  refute_output --partial "volume create"
  [[ ! -e $ROOT_PREFIX/etc/fstab && ! -e $ROOT_PREFIX/mnt/gluster && ! -e $ROOT_PREFIX/data ]]
}

@test "bootstrap creates the volume, mounts it, keeps other fstab lines and writes layout and cluster id" {
  printf '# static\nUUID=abc / ext4 defaults 0 1\nold:/x /mnt/gluster nfs defaults 0 0\n' > "$ROOT_PREFIX/etc/fstab"
  stub mount 'touch "$STUB_STATE/mounted"'
  run "$P0" --bootstrap --yes
  assert_success
  run called gluster
  assert_line "--mode=script volume create shared_data 10.213.0.11:/data/glusterfs/shared force"
  assert_line "--mode=script volume start shared_data"
  assert_line "--mode=script volume set shared_data network.ping-timeout 10"
  # Only members' clients: the pool is this node alone.
  assert_line "--mode=script volume set shared_data auth.allow 10.213.0.11"
  run called mount
  assert_output "-t glusterfs localhost:/shared_data $ROOT_PREFIX/mnt/gluster"
  run cat "$ROOT_PREFIX/etc/fstab"
  assert_output "# static
UUID=abc / ext4 defaults 0 1
localhost:/shared_data /mnt/gluster glusterfs defaults,_netdev 0 0"
  run cat "$ROOT_PREFIX/var/lib/hpc-cluster/cluster_id" "$ROOT_PREFIX/mnt/gluster/config/cluster_id"
  assert_output "11111111-2222-3333-4444-555555555555
11111111-2222-3333-4444-555555555555"
  for d in frontend_builds slurm/state slurm/logs slurm/spool slurm/config uploads; do
    [[ -d $ROOT_PREFIX/mnt/gluster/$d ]]
  done
  [[ "$(stat -c %a "$ROOT_PREFIX/mnt/gluster/config")" == 700 ]]
  for d in configs/cluster databases/mariadb databases/redis state/slurm state/glusterfs snapshots; do
    [[ -d $ROOT_PREFIX/data/system_backup/$d ]]
  done
}

@test "a rerun of bootstrap on the member changes nothing" {
  stub mount 'touch "$STUB_STATE/mounted"'
  run "$P0" --bootstrap --yes
  assert_success
  : > "$STUB_LOG"
  mkdir -p "$ROOT_PREFIX/var/lib/glusterd/vols/shared_data"
  run "$P0" --bootstrap --yes
  assert_success
  run called gluster
  refute_output --partial "volume create"
  refute_output --partial "volume start"
  run called mount
  assert_output ""
}

@test "bootstrap keeps an existing cluster id and copies it to the shared storage" {
  mkdir -p "$ROOT_PREFIX/var/lib/hpc-cluster"
  echo aaaaaaaa-0000-0000-0000-000000000001 > "$ROOT_PREFIX/var/lib/hpc-cluster/cluster_id"
  stub mount 'touch "$STUB_STATE/mounted"'
  run "$P0" --bootstrap --yes
  assert_success
  run cat "$ROOT_PREFIX/mnt/gluster/config/cluster_id"
  assert_output aaaaaaaa-0000-0000-0000-000000000001
}

@test "a node whose cluster id differs from the shared storage's is refused (exit 6)" {
  mkdir -p "$ROOT_PREFIX/var/lib/hpc-cluster" "$ROOT_PREFIX/mnt/gluster/config"
  echo aaaaaaaa-0000-0000-0000-000000000001 > "$ROOT_PREFIX/var/lib/hpc-cluster/cluster_id"
  echo bbbbbbbb-0000-0000-0000-000000000002 > "$ROOT_PREFIX/mnt/gluster/config/cluster_id"
  stub mount 'touch "$STUB_STATE/mounted"'
  run "$P0" --bootstrap --yes
  assert_failure 6
  assert_output --partial "refusing to mix two clusters"
}

@test "bootstrap is refused when a reachable peer already serves the volume" {
  echo "Volume Name: shared_data" > "$STUB_STATE/ssh_out"
  echo 0 > "$STUB_STATE/ssh_rc"
  run "$P0" --bootstrap --yes
  assert_failure 6
  assert_output --partial "must join it, not bootstrap a second one (fix: phase0_storage_setup.sh --join --peer 10.213.0.12)"
  run called gluster
  refute_output --partial "volume create"
}

@test "a brick directory left by an earlier volume is refused with the fix" {
  mkdir -p "$ROOT_PREFIX/data/glusterfs/shared/.glusterfs"
  run "$P0" --bootstrap --yes
  assert_failure 6
  assert_output --partial "[ERROR BrickInUse]"
}

@test "a missing /dev/fuse fails the preflight (exit 5)" {
  rm -f "$ROOT_PREFIX/dev/fuse"
  run "$P0" --bootstrap --yes
  assert_failure 5
  assert_output --partial "[ERROR Fuse]"
}

@test "add-node probes the peer, grows the replica by one and waits for the heal" {
  echo 10.213.0.11:/data/glusterfs/shared > "$STUB_STATE/volume"
  : > "$STUB_STATE/started"
  mkdir -p "$ROOT_PREFIX/run" && echo $$ > "$ROOT_PREFIX/run/glusterd.pid"
  stub pid-is-glusterd 'exit 0'
  # svc::is_running glusterd reads /proc/PID/comm: point the pid file at a process named glusterd.
  cp /bin/sleep "$STUB_DIR/glusterd"
  "$STUB_DIR/glusterd" 30 3>&- &
  echo $! > "$ROOT_PREFIX/run/glusterd.pid"
  printf 'Brick a\nStatus: Connected\nTotal Number of entries: 0\nBrick b\nStatus: Connected\nTotal Number of entries: 0\n' > "$STUB_STATE/heal"
  echo 0 > "$STUB_STATE/ssh_rc"
  : > "$STUB_STATE/ssh_out"
  run "$P0" --add-node 10.213.0.12 --yes
  kill "$(cat "$ROOT_PREFIX/run/glusterd.pid")" 2>/dev/null || true
  assert_success
  assert_output --partial "WARNING: replica 2 without an arbiter"
  assert_output --partial "heal complete"
  run called gluster
  assert_line "--mode=script peer probe 10.213.0.12"
  assert_line "--mode=script volume add-brick shared_data replica 2 10.213.0.12:/data/glusterfs/shared force"
  assert_line "--mode=script volume heal shared_data full"
  # The new member is allowed once it is in the pool, before its brick joins the volume.
  assert_line "--mode=script volume set shared_data auth.allow 10.213.0.11,10.213.0.12"
  run grep -e "auth.allow 10.213.0.11,10.213.0.12" -e "add-brick" <<< "$(called gluster)"
  assert_line --index 0 --partial auth.allow
}

@test "remove-node without --yes and without a terminal is refused before any change" {
  printf '10.213.0.11:/data/glusterfs/shared\n10.213.0.12:/data/glusterfs/shared\n' > "$STUB_STATE/volume"
  cp /bin/sleep "$STUB_DIR/glusterd"
  "$STUB_DIR/glusterd" 30 3>&- &
  echo $! > "$ROOT_PREFIX/run/glusterd.pid"
  run "$P0" --remove-node 10.213.0.12 < /dev/null
  kill "$(cat "$ROOT_PREFIX/run/glusterd.pid")" 2>/dev/null || true
  assert_failure 6
  run called gluster
  refute_output --partial "remove-brick"
}

@test "remove-node refuses to remove the volume's only brick" {
  echo 10.213.0.12:/data/glusterfs/shared > "$STUB_STATE/volume"
  cp /bin/sleep "$STUB_DIR/glusterd"
  "$STUB_DIR/glusterd" 30 3>&- &
  echo $! > "$ROOT_PREFIX/run/glusterd.pid"
  run "$P0" --remove-node 10.213.0.12 --yes
  kill "$(cat "$ROOT_PREFIX/run/glusterd.pid")" 2>/dev/null || true
  assert_failure 6
  assert_output --partial "only brick"
}

@test "status --json reports a node without glusterd as unhealthy (exit 1)" {
  run "$P0" --status --json
  assert_failure 1
  run jq -r '"\(.glusterd) \(.mounted) \(.healthy) \(.heal_pending)"' <<< "$output"
  assert_output "false false false null"
}
