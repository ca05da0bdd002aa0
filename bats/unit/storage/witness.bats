#!/usr/bin/env bats
# Unit: the arbitrator as a GlusterFS vote (lib/gluster_witness.sh) through phase0 --add-node, with the
# storage stubs: an even brick count brings the witness into the pool with server quorum on and client
# quorum off; an odd one takes it out again and gives the bricks' majority the decision back.

setup_file() {
  load "${HPC_REPO_ROOT}/bats/unit/storage/stubs.bash"
  stubs_generate lab/faults-4-witness.yaml
}

setup() {
  load "${HPC_REPO_ROOT}/bats/unit/storage/stubs.bash"
  bats_load_library bats-support
  bats_load_library bats-assert
  stubs_setup
  P0="$TK/setup/phase0_storage_setup.sh"
  : > "$STUB_STATE/started"
  # svc::is_running glusterd reads /proc/PID/comm: point the pid file at a process named glusterd.
  cp /bin/sleep "$STUB_DIR/glusterd"
  "$STUB_DIR/glusterd" 30 3>&- &
  echo $! > "$ROOT_PREFIX/run/glusterd.pid"
  printf 'Brick a\nStatus: Connected\nTotal Number of entries: 0\n' > "$STUB_STATE/heal"
  echo 0 > "$STUB_STATE/ssh_rc"
  echo /usr/sbin/glusterd > "$STUB_STATE/ssh_out"
}

teardown() { kill "$(cat "$ROOT_PREFIX/run/glusterd.pid")" 2>/dev/null || true; }

@test "the second brick (even): the witness joins the pool, server quorum on, client quorum stays auto" {
  echo 10.213.0.11:/data/glusterfs/shared > "$STUB_STATE/volume"
  run "$P0" --add-node 10.213.0.12 --yes
  assert_success
  assert_output --partial "the arbitrator 10.213.0.15 joins the trusted pool as a vote without a brick"
  run called gluster
  assert_line "--mode=script peer probe 10.213.0.15"
  assert_line "--mode=script volume set shared_data cluster.server-quorum-type server"
  assert_line "--mode=script volume set shared_data cluster.quorum-type auto"
  # Its glusterd is started over SSH first (systemd where it runs).
  run called ssh
  assert_output --partial 'systemctl\ enable\ --now\ glusterd'
}

@test "the third brick (odd): client quorum auto, server quorum off, the witness leaves the pool" {
  printf '10.213.0.11:/data/glusterfs/shared\n10.213.0.12:/data/glusterfs/shared\n' > "$STUB_STATE/volume"
  printf '10.213.0.12\n10.213.0.15\n' > "$STUB_STATE/peers"
  run "$P0" --add-node 10.213.0.13 --yes
  assert_success
  assert_output --partial "the arbitrator 10.213.0.15 leaves the trusted pool"
  run called gluster
  assert_line "--mode=script volume set shared_data cluster.server-quorum-type none"
  assert_line "--mode=script volume set shared_data cluster.quorum-type auto"
  assert_line "--mode=script peer detach 10.213.0.15"
  # The quorum settings change before the detach, never a pool with server quorum and a vote short.
  run grep -n -e "quorum-type auto" -e "peer detach" <<< "$(called gluster)"
  assert_line --index 0 --partial "quorum-type auto"
}

@test "a witness without glusterd is named with the fix; the node is still added" {
  echo 10.213.0.11:/data/glusterfs/shared > "$STUB_STATE/volume"
  : > "$STUB_STATE/ssh_out"
  stub ssh 'case "$*" in *command*-v*glusterd*) exit 1 ;; esac; exit 0'
  run "$P0" --add-node 10.213.0.12 --yes
  assert_success
  assert_output --partial "the arbitrator 10.213.0.15 has no glusterd (fix: apt-get install glusterfs-server there, then rerun)"
  run called gluster
  refute_output --partial "peer probe 10.213.0.15"
  refute_output --partial "server-quorum-type server"
}
