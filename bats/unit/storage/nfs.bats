#!/usr/bin/env bats
# Unit: setup/phase0_storage_setup.sh with storage.type nfs - mount the configured export, no GlusterFS.

setup_file() {
  load "${HPC_REPO_ROOT}/bats/unit/storage/stubs.bash"
  stubs_generate lab/storage-nfs.yaml
}

setup() {
  load "${HPC_REPO_ROOT}/bats/unit/storage/stubs.bash"
  bats_load_library bats-support
  bats_load_library bats-assert
  stubs_setup
  P0="$TK/setup/phase0_storage_setup.sh"
  export STUB_FSTYPE=nfs4
}

@test "without mount.nfs the preflight fails and names the package (exit 5)" {
  run env PATH="$STUB_DIR:/usr/bin:/bin" "$P0" --bootstrap --yes
  if command -v mount.nfs >/dev/null 2>&1; then skip "mount.nfs is installed on this host"; fi
  assert_failure 5
  assert_output --partial "nfs-common"
}

@test "bootstrap mounts the export, writes an nfs fstab line and never touches GlusterFS" {
  stub mount.nfs 'exit 0'
  stub mount 'touch "$STUB_STATE/mounted"'
  run "$P0" --bootstrap --yes
  assert_success
  run called mount
  assert_output "-t nfs 10.213.0.200:/export/hpc $ROOT_PREFIX/mnt/gluster"
  run cat "$ROOT_PREFIX/etc/fstab"
  assert_output "10.213.0.200:/export/hpc /mnt/gluster nfs defaults,_netdev 0 0"
  run called gluster
  assert_output ""
  run called glusterd
  assert_output ""
  [[ -d $ROOT_PREFIX/mnt/gluster/slurm/state && -f $ROOT_PREFIX/mnt/gluster/config/cluster_id ]]
}

@test "status --json for nfs reports the mount" {
  touch "$STUB_STATE/mounted"
  run "$P0" --status --json
  assert_success
  run jq -r '"\(.type) \(.export) \(.mounted) \(.healthy)"' <<< "$output"
  assert_output "nfs 10.213.0.200:/export/hpc true true"
}
