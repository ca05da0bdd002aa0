#!/usr/bin/env bats
# The lab itself: isolation, addressing, faults (cut, crash, boot), push, add. One 3-node lab per file.

load helpers

setup_file() {
  lab_setup 3
}

teardown_file() {
  lab_teardown
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

# start_echo nK : a TCP service on port 7000 of nK answering with the node's hostname
start_echo() {
  lab_exec "$1" sh -c 'setsid socat TCP-LISTEN:7000,reuseaddr,fork SYSTEM:hostname </dev/null >/dev/null 2>&1 &'
  wait_until 5 lab_port_open "$1" 127.0.0.1 7000
}

ask() {  # ask WHERE IP : what the echo service on IP:7000 answers, seen from WHERE (nK or client)
  local cmd=(timeout 4 socat -T2 - "TCP:$2:7000,connect-timeout=2")
  if [[ $1 == client ]]; then lab_client "${cmd[@]}" </dev/null; else lab_exec "$1" "${cmd[@]}" </dev/null; fi
}

@test "each node has its own address and hostname, the client has .200" {
  local k
  for k in 1 2 3; do
    run lab_exec "n$k" hostname
    assert_success
    assert_output "node$k"
    run lab_exec "n$k" ip -4 -o addr show dev eth0
    assert_success
    assert_output --partial "inet 10.213.0.1$k/24"
  done
  run lab_client ip -4 -o addr show dev eth0
  assert_output --partial "inet 10.213.0.200/24"
  run lab_client hostname
  assert_output client
}

@test "/etc/hosts on every node and on the client names every node and the client" {
  local where
  for where in n1 n2 n3 client; do
    if [[ $where == client ]]; then run lab_client getent hosts node3; else run lab_exec "$where" getent hosts node3; fi
    assert_success
    assert_output --regexp '^10\.213\.0\.13 +node3$'
  done
  run lab_exec n2 getent hosts client
  assert_output --regexp '^10\.213\.0\.200 +client$'
}

@test "the root namespace has no address in the lab subnet" {
  run ip -4 -o addr show
  assert_success
  refute_output --partial "10.213.0."
}

@test "a file written to /etc on n1 is invisible on n2 and on the host" {
  local marker
  marker="lab-isolation-$$-$RANDOM"
  run lab_exec n1 sh -c "echo here >/etc/$marker && cat /etc/$marker"
  assert_success
  assert_output here
  run lab_exec n2 test -e "/etc/$marker"
  assert_failure
  [[ ! -e /etc/$marker ]]
}

@test "every node has private /var /root /opt /srv /home /mnt /usr/local /data /run /tmp; the rest is read-only" {
  local d
  for d in /var/lib /root /opt /srv /home /mnt /usr/local /data /run /tmp; do
    lab_exec n1 sh -c "echo n1 >$d/lab-private"
    run lab_exec n2 test -e "$d/lab-private"
    assert_failure
    [[ ! -e $d/lab-private ]]
  done
  run lab_exec n1 touch /usr/lab-should-fail
  assert_failure
  assert_output --partial "Read-only file system"
  run lab_exec n1 mkdir /lab-should-fail  # the rest of / is the host's: read-only in nodes
  assert_failure
  assert_output --partial "Read-only file system"
  [[ ! -e /lab-should-fail ]]
}

@test "each node is its own PID namespace with the holder as PID 1" {
  run lab_exec n1 ps -e -o pid=,args=
  assert_success
  assert_line --regexp '^ +1 bash .*/lab __init node '
  refute_output --partial "process_api"
  run lab pid n1
  assert_success
  assert_output --regexp '^[0-9]+$'
  [[ $(tr '\0' ' ' <"/proc/$output/cmdline") == *"__init node "* ]]
}

@test "exec gives a clean environment and passes stdin and the exit code" {
  run env FOO=bar "$LAB_TOOL" exec n1 env
  assert_success
  assert_line "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  assert_line "HOME=/root"
  assert_line "USER=root"  # mysqld_safe needs it: it tests `-w /` or USER=root, and / is read-only
  refute_output --partial "FOO="
  run bash -c 'printf "in-stdin\n" | "$1" exec n2 cat' bash "$LAB_TOOL"
  assert_output in-stdin
  run lab_exec n1 sh -c 'exit 7'
  assert_equal "$status" 7
}

@test "sh opens a login shell inside the node" {
  run bash -c 'printf "hostname\necho \$HOME\n" | "$1" sh n2' bash "$LAB_TOOL"
  assert_success
  assert_line node2
  assert_line /root
}

@test "nodes reach each other by hostname and the client reaches every node" {
  start_echo n2
  start_echo n3
  run ask n1 node2
  assert_output node2
  run ask n2 node3
  assert_output node3
  run ask client 10.213.0.13
  assert_output node3
}

@test "cut: TCP to the node times out (link stays up); heal restores it" {
  start_echo n3
  lab cut n3
  run lab status --json
  assert_equal "$(jq -r '.nodes[] | select(.name == "n3") | .net' <<<"$output")" cut
  run lab_exec n3 cat /sys/class/net/eth0/carrier
  assert_output 1
  run ask client 10.213.0.13
  assert_failure
  assert_output --partial "timed out"
  run ask n1 10.213.0.13
  assert_failure
  lab heal n3
  wait_until 10 ask client 10.213.0.13
  # n1's ARP entry for node3 failed during the cut: like on a real LAN it answers "No route to host"
  # for a few seconds after the heal
  wait_until 15 ask n1 node3
  run ask n1 node3
  assert_output node3
}

@test "cut --link: the node loses carrier; heal restores it" {
  start_echo n3
  lab cut n3 --link
  run lab_exec n3 cat /sys/class/net/eth0/carrier
  assert_output 0
  run lab status --json
  assert_equal "$(jq -r '.nodes[] | select(.name == "n3") | .net' <<<"$output")" link-down
  run ask client 10.213.0.13
  assert_failure
  lab heal n3
  wait_until 10 ask client 10.213.0.13
  run lab_exec n3 cat /sys/class/net/eth0/carrier
  assert_output 1
}

@test "crash: every process of the node dies at once, its address vanishes, its files remain" {
  local holder
  start_echo n2
  lab_exec n2 sh -c 'echo kept >/var/lib/lab-crash; echo kept >/data/lab-crash'
  lab_exec n2 ip addr add 10.213.0.150/24 dev eth0
  lab_exec n2 sh -c 'setsid sleep 1000 </dev/null >/dev/null 2>&1 &'
  holder=$(lab pid n2)
  [[ -n $(ip netns pids "$(lab_prefix)-n2") ]]
  lab crash n2
  run ip netns pids "$(lab_prefix)-n2"
  assert_output ""
  pid_gone "$holder"
  run lab status --json
  assert_equal "$(jq -r '.nodes[] | select(.name == "n2") | .state' <<<"$output")" crashed
  run lab_exec n2 true
  assert_failure
  assert_output --partial "not running"
  run ask client 10.213.0.12
  assert_failure
  run ask client 10.213.0.150
  assert_failure
  local dir
  dir=$(lab status --json | jq -r .state_dir)/n2
  [[ $(cat "$dir/upper/var/lib/lab-crash") == kept ]]
  [[ $(cat "$dir/data/lab-crash") == kept ]]
}

@test "boot: the crashed node is back with the same disks, a fresh /run and only its own address" {
  run lab status --json
  if [[ $(jq -r '.nodes[] | select(.name == "n2") | .state' <<<"$output") == running ]]; then
    lab_exec n2 sh -c 'echo kept >/var/lib/lab-crash'
    lab crash n2
  fi
  lab_exec n1 true
  lab boot n2
  run lab_exec n2 cat /var/lib/lab-crash
  assert_output kept
  run lab_exec n2 ls /run/lab-nothing-here
  assert_failure
  run lab_exec n2 pgrep -f 'sleep 1000'
  assert_failure
  run lab_exec n2 ip -4 -o addr show dev eth0
  assert_output --partial "10.213.0.12/24"
  refute_output --partial "10.213.0.150"
  run lab_exec n2 stat -c '%U' /run/mysqld /run/redis /run/munge /run/slurm
  assert_output $'mysql\nredis\nmunge\nslurm'
  start_echo n2
  run ask n1 node2
  assert_output node2
}

@test "status --json lists every node with hostname, address, namespace and holder PID" {
  run lab status --json
  assert_success
  assert_equal "$(jq -r '[.nodes[].name] | join(" ")' <<<"$output")" "n1 n2 n3"
  assert_equal "$(jq -r '[.nodes[].hostname] | join(" ")' <<<"$output")" "node1 node2 node3"
  assert_equal "$(jq -r '[.nodes[].ip] | join(" ")' <<<"$output")" "10.213.0.11 10.213.0.12 10.213.0.13"
  assert_equal "$(jq -r '.client.ip' <<<"$output")" "10.213.0.200"
  assert_equal "$(jq -r '.nodes[0].netns' <<<"$output")" "$(lab_prefix)-n1"
  assert_equal "$(jq -r '.nodes[0].pid' <<<"$output")" "$(lab pid n1)"
  run lab status
  assert_success
  assert_line --regexp '^n1 +node1 +10\.213\.0\.11 +running +ok +[0-9]+$'
}

@test "push copies a directory to /opt/hpc-dashboard/cluster on every node, keeping modes" {
  local src="$BATS_TEST_TMPDIR/toolkit"
  mkdir -p "$src/scripts" "$src/lib"
  printf '#!/bin/sh\necho pushed-ok\n' >"$src/scripts/hello.sh"
  chmod 0750 "$src/scripts/hello.sh"
  printf 'x=1\n' >"$src/lib/common.sh"
  chmod 0640 "$src/lib/common.sh"
  lab_push "$src"
  local k
  for k in 1 2 3; do
    run lab_exec "n$k" /opt/hpc-dashboard/cluster/scripts/hello.sh
    assert_output pushed-ok
    run lab_exec "n$k" stat -c '%a %U' /opt/hpc-dashboard/cluster/scripts/hello.sh /opt/hpc-dashboard/cluster/lib/common.sh
    assert_output $'750 root\n640 root'
  done
  rm "$src/lib/common.sh"
  lab_push "$src"
  run lab_exec n1 test -e /opt/hpc-dashboard/cluster/lib/common.sh
  assert_failure
}

@test "lab helpers: lab_ip and lab_hostname read the lab's mapping" {
  run lab_ip n2
  assert_output 10.213.0.12
  run lab_ip client
  assert_output 10.213.0.200
  run lab_hostname n3
  assert_output node3
}

@test "add: a fourth node joins; every node and the client resolve it" {
  lab add n4
  run lab_exec n4 hostname
  assert_output node4
  run lab_exec n1 getent hosts node4
  assert_output --regexp '^10\.213\.0\.14 +node4$'
  run lab_client getent hosts node4
  assert_output --regexp '^10\.213\.0\.14 +node4$'
  start_echo n4
  run ask n3 node4
  assert_output node4
  run lab add n4
  assert_failure
  assert_output --partial "already exists"
}

@test "commands on an unknown node fail with a clear message" {
  run lab exec n9 true
  assert_failure
  assert_output --partial "node n9 is not part of lab"
  run lab exec x1 true
  assert_failure
  assert_output --partial "invalid node name"
}
