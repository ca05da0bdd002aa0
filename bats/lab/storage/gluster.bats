#!/usr/bin/env bats
# Lab: GlusterFS shared storage with real glusterd on 4 namespaced nodes - bootstrap n1, join n2 and n3,
# grow to 4 bricks with a complete heal, shrink back to 3, refuse a second bootstrap.
# Runs in about a minute on an idle 2-core machine.

LAB_PREFIX=gls
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"
bats_load_library bats-support
bats_load_library bats-assert

T=/opt/hpc-dashboard/cluster/setup/phase0_storage_setup.sh

setup_file() {
  export LAB_PREFIX
  lab_setup 4 >/dev/null
  lab ssh-mesh >/dev/null
  toolkit_generate "$(toolkit_fixture lab/storage-lab4.yaml)" "$BATS_FILE_TMPDIR/gen"
  lab_push "$BATS_FILE_TMPDIR/gen/cluster" >/dev/null
}

teardown_file() {
  lab_teardown >/dev/null 2>&1 || true
}

bricks_on() {  # NODE: the bricks of the volume as NODE sees them
  lab_exec "$1" gluster --mode=script volume info shared_data | sed -n 's/^Brick[0-9]*: //p'
}

@test "bootstrap on n1 creates and mounts the volume, the shared layout, the cluster id and fstab entry" {
  run lab_exec n1 "$T" --bootstrap --yes
  assert_success
  run lab_exec n1 findmnt -n -o FSTYPE /mnt/gluster
  assert_output fuse.glusterfs
  run lab_exec n1 sh -c 'cd /mnt/gluster && ls -d frontend_builds slurm/state slurm/logs slurm/spool uploads config && stat -c %a config'
  assert_success
  assert_line 700
  run lab_exec n1 sh -c 'cmp /mnt/gluster/config/cluster_id /var/lib/hpc-cluster/cluster_id && cat /var/lib/hpc-cluster/cluster_id'
  assert_success
  assert_output --regexp '^[0-9a-f-]{36}$'
  run lab_exec n1 grep -c '^localhost:/shared_data /mnt/gluster glusterfs ' /etc/fstab
  assert_output 1
  run lab_exec n1 ls /data/system_backup/configs /data/system_backup/databases /data/system_backup/state /data/system_backup/snapshots
  assert_success
}

@test "n2 and n3 join through a live member; a file written on n1 is identical on n3" {
  lab_exec n1 sh -c 'head -c 300000 /dev/urandom > /mnt/gluster/uploads/blob && mkdir -p /mnt/gluster/uploads/d && echo hello > /mnt/gluster/uploads/d/f'
  run lab_exec n2 "$T" --join --peer "$(lab_ip n1)" --yes
  assert_success
  assert_output --partial "heal complete"
  run lab_exec n3 "$T" --join --peer "$(lab_ip n2)" --yes
  assert_success
  run bricks_on n1
  assert_equal "${#lines[@]}" 3
  local a b
  a="$(lab_exec n1 sha256sum /mnt/gluster/uploads/blob)"
  b="$(lab_exec n3 sha256sum /mnt/gluster/uploads/blob)"
  assert_equal "$b" "$a"
  run lab_exec n3 cat /mnt/gluster/uploads/d/f
  assert_output hello
  run lab_exec n3 cat /var/lib/hpc-cluster/cluster_id
  assert_output "$(lab_exec n1 cat /var/lib/hpc-cluster/cluster_id)"
}

@test "rerunning bootstrap and join on members changes nothing" {
  run lab_exec n1 "$T" --bootstrap --yes
  assert_success
  refute_output --partial "creating volume"
  run lab_exec n3 "$T" --join --peer "$(lab_ip n1)" --yes
  assert_success
  assert_output --partial "nothing to add"
  run lab_exec n3 grep -c ' /mnt/gluster ' /etc/fstab
  assert_output 1
  run bricks_on n2
  assert_equal "${#lines[@]}" 3
}

@test "status reports a healthy replica 3 volume (text and json)" {
  run lab_exec n2 "$T" --status --json
  assert_success
  run jq -r '"\(.bricks) \(.replica) \(.peers_connected) \(.mounted) \(.heal_pending) \(.healthy)"' <<< "$output"
  assert_output "3 3 2 true 0 true"
}

@test "n4 joins: 4 bricks and nothing left to heal" {
  lab_exec n1 sh -c 'for i in $(seq 1 50); do echo "$i" > /mnt/gluster/uploads/n$i; done'
  run lab_exec n4 "$T" --join --peer "$(lab_ip n3)" --yes
  assert_success
  assert_output --partial "heal complete: 0 entries pending"
  run bricks_on n1
  assert_equal "${#lines[@]}" 4
  assert_line "$(lab_ip n4):/data/glusterfs/shared"
  run lab_exec n1 sh -c 'gluster --mode=script volume heal shared_data info summary | grep "^Total Number of entries:" | sort -u'
  assert_output "Total Number of entries: 0"
  run lab_exec n4 cat /data/glusterfs/shared/uploads/n50
  assert_output 50
}

@test "removing n4 from a survivor leaves 3 bricks and detaches the peer" {
  run lab_exec n1 "$T" --remove-node "$(lab_ip n4)" --yes
  assert_success
  run bricks_on n2
  assert_equal "${#lines[@]}" 3
  refute_line --partial "$(lab_ip n4)"
  run lab_exec n2 gluster --mode=script pool list
  refute_output --partial "$(lab_ip n4)"
  run lab_exec n1 "$T" --remove-node "$(lab_ip n4)" --yes
  assert_success
  assert_output --partial "has no brick"
}

@test "remove-node without --yes and without a terminal is refused" {
  run lab_exec n1 "$T" --remove-node "$(lab_ip n3)" < /dev/null
  assert_failure 6
  run bricks_on n1
  assert_equal "${#lines[@]}" 3
}

@test "bootstrap on a node beside the live volume is refused" {
  run lab_exec n4 sh -c 'umount /mnt/gluster; rm -rf /var/lib/glusterd/vols/shared_data; '"$T"' --bootstrap --yes'
  assert_failure 6
  assert_output --partial "must join it, not bootstrap a second one"
}
