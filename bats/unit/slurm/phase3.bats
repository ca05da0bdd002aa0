#!/usr/bin/env bats
# Unit: setup/phase3_slurm_setup.sh, lib/slurm.sh and backup/{backup,restore}_slurm.sh with PATH stubs
# and a temp ROOT_PREFIX.

setup_file() {
  load "${HPC_REPO_ROOT}/bats/unit/storage/stubs.bash"
  stubs_generate lab/storage-slurm3.yaml
}

setup() {
  load "${HPC_REPO_ROOT}/bats/unit/storage/stubs.bash"
  bats_load_library bats-support
  bats_load_library bats-assert
  stubs_setup
  P3="$TK/setup/phase3_slurm_setup.sh"
  for n in munge unmunge slurmdbd squeue; do stub "$n" 'exit 0'; done
  mkdir -p "$ROOT_PREFIX/mnt/gluster/slurm/config" "$ROOT_PREFIX/etc/init.d"
  # Init scripts that record their calls ("status" says stopped).
  for n in munge slurmctld slurmd slurmdbd; do
    printf '#!/bin/sh
echo "init.d/%s $*" >> "$STUB_LOG"
[ "$1" = status ] && exit 3
exit 0
' "$n" > "$ROOT_PREFIX/etc/init.d/$n"
    chmod +x "$ROOT_PREFIX/etc/init.d/$n"
  done
}

# in_lib CODE: run CODE in a shell that sourced the toolkit's library, lib/gluster.sh and lib/slurm.sh.
in_lib() {
  bash -c 'source "$1/lib/common.sh"; source "$1/lib/gluster.sh"; source "$1/lib/slurm.sh"; eval "$2"' _ "$TK" "$1"
}

@test "usage errors exit 2" {
  run "$P3"
  assert_failure 2
  run "$P3" --join
  assert_failure 2
  run "$P3" --remove-node 10.1.1.1
  assert_failure 2
}

@test "slurmctld is refused when the shared storage is not mounted (exit 5)" {
  run "$P3" --bootstrap --yes
  assert_failure 5
  assert_output --partial "[ERROR SharedStorage]"
  run called slurmctld
  assert_output ""
}

@test "slurmctld is refused when StateSaveLocation is not on the shared mount (exit 5)" {
  touch "$STUB_STATE/mounted" "$STUB_STATE/state_local"
  run "$P3" --bootstrap --yes
  assert_failure 5
  assert_output --partial "[ERROR StateSaveLocation]"
}

@test "slurm.conf lists every member as a controller, highest priority first, whatever the join order" {
  printf '10.213.0.13 4\n10.213.0.11 2\n10.213.0.12 8\n' > "$ROOT_PREFIX/mnt/gluster/slurm/config/members"
  run in_lib 'slurm::render_conf'
  assert_success
  assert_line "SlurmctldHost=node1(10.213.0.11)"
  run grep -E '^(SlurmctldHost|NodeName|AccountingStorage|StateSaveLocation|SlurmctldTimeout|ClusterName)' <<< "$output"
  assert_output "ClusterName=labslurm
SlurmctldHost=node1(10.213.0.11)
SlurmctldHost=node2(10.213.0.12)
SlurmctldHost=node3(10.213.0.13)
StateSaveLocation=/mnt/gluster/slurm/state
SlurmctldTimeout=10
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=node1
AccountingStorageBackupHost=node2
AccountingStoragePort=6819
NodeName=node1 NodeAddr=10.213.0.11 CPUs=2 State=UNKNOWN
NodeName=node2 NodeAddr=10.213.0.12 CPUs=8 State=UNKNOWN
NodeName=node3 NodeAddr=10.213.0.13 CPUs=4 State=UNKNOWN"
}

@test "members_with adds in priority order and members_without removes" {
  printf '10.213.0.13 4\n10.213.0.11 2\n' > "$ROOT_PREFIX/mnt/gluster/slurm/config/members"
  run in_lib 'slurm::members_with 10.213.0.12 6'
  assert_output "10.213.0.11 2
10.213.0.12 6
10.213.0.13 4"
  run in_lib 'slurm::members_without 10.213.0.11'
  assert_output "10.213.0.13 4"
  run in_lib 'slurm::dbd_hosts'
  assert_output "10.213.0.11
10.213.0.13"
}

@test "slurm::ping parses scontrol ping into role, host and state" {
  stub scontrol 'printf "Slurmctld(primary) at node1 is DOWN\nSlurmctld(backup1) at node2 is UP\n*****\n"'
  run in_lib 'slurm::ping; slurm::controller_up && echo up'
  assert_output "primary node1 DOWN
backup1 node2 UP
up"
}

@test "a daemon still running after its stop's grace is killed, so the restart goes on" {
  # slurmdbd ignores the stop: pgrep finds it until the SIGKILL
  stub pgrep '[ -e "$STUB_STATE/killed" ] && exit 1; echo 4242'
  stub pkill 'touch "$STUB_STATE/killed"'
  SLURM_STOP_GRACE_S=1 run in_lib 'source "$HPC_LIB_DIR/slurm_node.sh"; slurm::stop_daemon slurmdbd'
  assert_success
  assert_output --partial "slurmdbd is still running 1s after its stop: killing it (SIGKILL)"
  run called pkill
  assert_output "-KILL -x slurmdbd"
}

@test "a daemon that exits after its stop is never killed" {
  stub pgrep 'exit 1'
  stub pkill
  run in_lib 'source "$HPC_LIB_DIR/slurm_node.sh"; slurm::stop_daemon slurmdbd'
  assert_success
  run called pkill
  assert_output ""
}

@test "bootstrap --dry-run creates no key, writes no file and starts nothing" {
  touch "$STUB_STATE/mounted"
  run "$P3" --bootstrap --dry-run
  assert_success
  assert_output --partial "[dryrun] would create $ROOT_PREFIX/mnt/gluster/config/munge.key"
  assert_output --partial "would write $ROOT_PREFIX/mnt/gluster/slurm/config/members"
  [[ ! -e $ROOT_PREFIX/mnt/gluster/config/munge.key && ! -e $ROOT_PREFIX/mnt/gluster/slurm/config/members ]]
  [[ ! -e $ROOT_PREFIX/etc/slurm/slurm.conf ]]
  run called init.d/slurmctld
  assert_output ""
}

@test "bootstrap refuses when Slurm already has other members (exit 6)" {
  touch "$STUB_STATE/mounted"
  mkdir -p "$ROOT_PREFIX/mnt/gluster/config" "$ROOT_PREFIX/etc/munge"
  head -c 1024 /dev/urandom > "$ROOT_PREFIX/mnt/gluster/config/munge.key"
  cp "$ROOT_PREFIX/mnt/gluster/config/munge.key" "$ROOT_PREFIX/etc/munge/munge.key"
  printf '10.213.0.12 2\n' > "$ROOT_PREFIX/mnt/gluster/slurm/config/members"
  run "$P3" --bootstrap --yes
  assert_failure 6
  assert_output --partial "must join them (fix: --join --peer 10.213.0.12)"
}

@test "join refuses when the shared storage has no munge key yet (exit 5)" {
  touch "$STUB_STATE/mounted"
  run "$P3" --join --peer 10.213.0.12 --yes
  assert_failure 5
  assert_output --partial "no munge key"
}

@test "restore_slurm refuses a damaged backup before stopping anything (exit 6)" {
  local b="$BATS_TEST_TMPDIR/bk"
  mkdir -p "$b/state" "$b/config"
  echo jobs > "$b/state/job_state"
  echo conf > "$b/config/slurm.conf"
  (cd "$b" && sha256sum state/job_state config/slurm.conf > checksums.sha256)
  echo tampered >> "$b/state/job_state"
  run "$TK/backup/restore_slurm.sh" --src "$b" --yes
  assert_failure 6
  assert_output --partial "damaged"
  run called ssh
  assert_output ""
  run "$TK/backup/restore_slurm.sh" --src "$BATS_TEST_TMPDIR" --yes
  assert_failure 6
  assert_output --partial "is not a Slurm backup"
}

@test "backup_slurm copies state and shared config with checksums that verify" {
  touch "$STUB_STATE/mounted"
  mkdir -p "$ROOT_PREFIX/mnt/gluster/slurm/state/hash.1" "$ROOT_PREFIX/mnt/gluster/config"
  echo jobs > "$ROOT_PREFIX/mnt/gluster/slurm/state/job_state"
  echo nodes > "$ROOT_PREFIX/mnt/gluster/slurm/state/hash.1/node_state"
  echo 'ClusterName=labslurm' > "$ROOT_PREFIX/mnt/gluster/slurm/config/slurm.conf"
  printf '10.213.0.11 2\n' > "$ROOT_PREFIX/mnt/gluster/slurm/config/members"
  echo key > "$ROOT_PREFIX/mnt/gluster/config/munge.key"
  run "$TK/backup/backup_slurm.sh" --dest "$BATS_TEST_TMPDIR/bk" --json
  assert_success
  run jq -r '"\(.cluster) \(.state_files) \(.members[0])"' <<< "$(grep '^{' <<< "$output")"
  assert_output "labslurm 2 10.213.0.11"
  run bash -c 'cd "$1" && sha256sum --check --strict --quiet checksums.sha256 && grep -c . checksums.sha256' _ "$BATS_TEST_TMPDIR/bk"
  assert_success
  assert_output 5
  [[ "$(stat -c %a "$BATS_TEST_TMPDIR/bk")" == 700 ]]
}

@test "backup_slurm refuses when the shared storage is not mounted (exit 5)" {
  run "$TK/backup/backup_slurm.sh" --dest "$BATS_TEST_TMPDIR/bk"
  assert_failure 5
  [[ ! -e $BATS_TEST_TMPDIR/bk ]]
}

# same_size_same_second: a Slurm state tree, backed up into bk/, then job_state rewritten with the
# same size and mtime as the backup's copy (what slurmctld does to a job cancelled within a second).
same_size_same_second() {
  touch "$STUB_STATE/mounted"
  ST="$ROOT_PREFIX/mnt/gluster/slurm/state"
  mkdir -p "$ST" "$ROOT_PREFIX/mnt/gluster/config" "$ROOT_PREFIX/etc/munge"
  echo 'JobState=PENDING__' > "$ST/job_state"
  echo 'ClusterName=labslurm' > "$ROOT_PREFIX/mnt/gluster/slurm/config/slurm.conf"
  printf '10.213.0.11 2\n' > "$ROOT_PREFIX/mnt/gluster/slurm/config/members"
  echo key > "$ROOT_PREFIX/mnt/gluster/config/munge.key"
  "$TK/backup/backup_slurm.sh" --dest "$BATS_TEST_TMPDIR/bk" >/dev/null
  echo 'JobState=CANCELLED' > "$ST/job_state"
  touch -r "$BATS_TEST_TMPDIR/bk/state/job_state" "$ST/job_state"
}

@test "backup_slurm into a reused DEST copies a state file rewritten with the same size and second" {
  same_size_same_second
  run "$TK/backup/backup_slurm.sh" --dest "$BATS_TEST_TMPDIR/bk"
  assert_success
  assert_equal "$(cat "$BATS_TEST_TMPDIR/bk/state/job_state")" 'JobState=CANCELLED'
}

@test "restore_slurm puts back a state file rewritten with the same size and second, and checks every member sees it" {
  same_size_same_second
  stub scontrol 'echo "Slurmctld(primary) at node1 is UP"'
  run "$TK/backup/restore_slurm.sh" --src "$BATS_TEST_TMPDIR/bk" --yes
  assert_success
  assert_output --partial "every member sees the restored state"
  assert_equal "$(cat "$ST/job_state")" 'JobState=PENDING__'
}
