#!/usr/bin/env bats
# Smoke: `lab ssh-mesh` gives each node its own host keys and root key, every node trusts every
# other, sshd listens on the node address; the mesh survives crash/boot and grows with `add`.

load helpers

setup_file() {
  lab_setup 3
  lab ssh-mesh
}

teardown_file() {
  lab_teardown
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

@test "root on every node reaches every other node by name and address without a prompt" {
  local a b
  for a in 1 2 3; do
    for b in 1 2 3; do
      run lab_exec "n$a" ssh -o BatchMode=yes "node$b" hostname
      assert_success
      assert_output "node$b"
    done
  done
  run lab_exec n1 ssh -o BatchMode=yes 10.213.0.13 hostname
  assert_output node3
}

@test "sshd listens on the node address only, and each node has its own host key" {
  run lab_exec n2 ss -Hltn 'sport = :22'
  assert_output --partial "10.213.0.12:22"
  refute_output --partial "0.0.0.0:22"
  wait_until 5 lab_port_open client 10.213.0.12 22
  local k1 k2
  k1=$(lab_exec n1 cat /etc/ssh/ssh_host_ed25519_key.pub)
  k2=$(lab_exec n2 cat /etc/ssh/ssh_host_ed25519_key.pub)
  [[ $k1 != "$k2" ]]
  [[ ! -e /etc/ssh/ssh_host_ed25519_key.pub ]] || [[ $k1 != "$(cat /etc/ssh/ssh_host_ed25519_key.pub)" ]]
  run lab_exec n1 test -s /var/log/sshd.log
  assert_success
}

@test "after crash and boot the node's sshd is back with the same keys; an added node joins the mesh" {
  local before
  before=$(lab_exec n3 cat /etc/ssh/ssh_host_ed25519_key.pub)
  lab crash n3
  lab add n4
  lab boot n3
  run lab_exec n3 cat /etc/ssh/ssh_host_ed25519_key.pub
  assert_output "$before"
  run lab_exec n1 ssh -o BatchMode=yes node3 hostname
  assert_output node3
  run lab_exec n3 ssh -o BatchMode=yes node4 hostname
  assert_output node4
  run lab_exec n4 ssh -o BatchMode=yes node1 hostname
  assert_output node1
}
