#!/usr/bin/env bats
# Smoke: glusterd runs inside nodes (started directly: Debian ships no init script), a replica-2
# volume spans two nodes, and a FUSE mount inside a node writes to both bricks.

load helpers

setup_file() {
  lab_setup 2
}

teardown_file() {
  lab_teardown
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

@test "glusterd in two nodes serves a replicated volume; a FUSE mount in n1 writes to n2's brick" {
  local k
  for k in 1 2; do
    lab_exec "n$k" sh -c 'mkdir -p /var/log/glusterfs /data/brick
      glusterd -p /run/glusterd.pid --log-file=/var/log/glusterfs/glusterd.log'
  done
  wait_until 20 lab_port_open client 10.213.0.12 24007
  wait_until 20 lab_exec n1 gluster --mode=script peer probe node2
  wait_until 20 bash -c '"$1" exec n2 gluster --mode=script peer status | grep -q "Peer in Cluster (Connected)"' \
    bash "$LAB_TOOL"
  run lab_exec n1 gluster --mode=script volume create lab replica 2 node1:/data/brick node2:/data/brick force
  assert_success
  run lab_exec n1 gluster --mode=script volume start lab
  assert_success
  lab_exec n1 mkdir -p /mnt/gluster
  wait_until 20 lab_exec n1 mount -t glusterfs node1:/lab /mnt/gluster
  run lab_exec n1 findmnt -n -o FSTYPE /mnt/gluster
  assert_output fuse.glusterfs
  lab_exec n1 sh -c 'echo replicated >/mnt/gluster/lab-file'
  wait_until 10 lab_exec n2 test -s /data/brick/lab-file
  run lab_exec n2 cat /data/brick/lab-file
  assert_output replicated
  run findmnt -n /mnt/gluster
  assert_failure  # the mount exists only inside n1
}
