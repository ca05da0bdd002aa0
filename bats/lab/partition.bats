#!/usr/bin/env bats
# lab partition / heal-all: the switch split into groups that only reach their own members.

load helpers

setup_file() {
  lab_setup 5
  local k
  for k in 1 2 3 4 5; do
    lab_exec "n$k" sh -c 'setsid socat TCP-LISTEN:7000,reuseaddr,fork SYSTEM:hostname </dev/null >/dev/null 2>&1 &'
  done
  for k in 1 2 3 4 5; do wait_until 5 lab_port_open "n$k" 127.0.0.1 7000; done
}

teardown_file() {
  lab_teardown
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

ask() {  # ask WHERE HOST : what the echo service on HOST:7000 answers, seen from WHERE (nK or client)
  local cmd=(timeout 4 socat -T2 - "TCP:$2:7000,connect-timeout=1")
  if [[ $1 == client ]]; then lab_client "${cmd[@]}" </dev/null; else lab_exec "$1" "${cmd[@]}" </dev/null; fi
}

# A port that just moved to another bridge can miss the first connect (the neighbour entry is
# still being learned): three tries before "does not reach".
reaches() {
  local _
  for _ in 1 2 3; do
    [[ $(ask "$1" "$2" 2>/dev/null) == "$2" ]] && return 0
    sleep 0.5
  done
  return 1
}

net_of() { lab status --json | jq -r --arg n "$1" 'if $n == "client" then .client.net else (.nodes[] | select(.name == $n) | .net) end'; }

@test "partition n1,n2 n3,n4,n5: each group reaches only its own members" {
  lab partition n1,n2 n3,n4,n5
  reaches n1 node2
  reaches n2 node1
  reaches n3 node5
  reaches n5 node4
  run ask n1 node3
  assert_failure
  run ask n4 node2
  assert_failure
  assert_equal "$(net_of n1)" part1
  assert_equal "$(net_of n5)" part2
}

@test "the client is with nobody unless a group names it" {
  run ask client node1
  assert_failure
  run ask client node4
  assert_failure
  assert_equal "$(net_of client)" ok
}

@test "a new partition replaces the old one; 'client' joins a group; unnamed nodes stay together" {
  lab partition n1,client n2,n3
  reaches client node1
  reaches n2 node3
  reaches n4 node5  # neither named: both still on the main switch
  run ask client node2
  assert_failure
  run ask n1 node4
  assert_failure
  assert_equal "$(net_of client)" part1
  assert_equal "$(net_of n4)" ok
  run ip -n "$(lab_prefix)-sw" -o link show type bridge
  assert_line --partial "br2:"
  refute_line --partial "br3:"
}

@test "partition refuses unknown nodes and members named twice" {
  run lab partition n1,n9 n2
  assert_failure
  assert_output --partial "n9 is not part of lab"
  run lab partition n1,n2 n2,n3
  assert_failure
  assert_output --partial "n2 is in more than one group"
  run lab partition
  assert_failure
  assert_output --partial "usage: lab partition"
}

@test "heal-all ends the partition and any cut: one switch again" {
  lab partition n1,n2,n3 n4,n5
  lab cut n5
  lab heal-all
  local k
  for k in 1 2 3 4 5; do
    wait_until 10 reaches client "node$k"
    assert_equal "$(net_of "n$k")" ok
  done
  wait_until 10 reaches n1 node5
  wait_until 10 reaches n5 node2
  run ip -n "$(lab_prefix)-sw" -o link show type bridge
  refute_output --partial "br1:"
}
