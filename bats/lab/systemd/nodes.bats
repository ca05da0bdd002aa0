#!/usr/bin/env bats
# systemd lab nodes (lab up N --init systemd): systemd is PID 1 of each node, units are per node,
# crash is a power loss and boot a fresh boot of systemd over the same disks; down leaves nothing.

load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"

setup_file() {
  lab_setup 3 --init systemd
}

teardown_file() {
  lab_teardown
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

booted() {  # nK : systemd says the node finished booting
  local state
  state=$(lab_exec "$1" systemctl is-system-running) || true
  [[ $state == running || $state == degraded ]]
}

# a unit of our own in nK's /etc: a TCP service on port 7000 answering with the hostname
install_echo_unit() {
  lab_exec "$1" sh -c 'cat >/etc/systemd/system/lab-echo.service <<EOF
[Unit]
Description=lab echo service
After=network.target
[Service]
ExecStart=/usr/bin/socat TCP-LISTEN:7000,reuseaddr,fork SYSTEM:hostname
[Install]
WantedBy=multi-user.target
EOF
systemctl daemon-reload'
}

@test "every node runs systemd as its PID 1 and has finished booting" {
  local k
  for k in 1 2 3; do
    run lab_exec "n$k" cat /proc/1/comm
    assert_output systemd
    booted "n$k"
    run lab_exec "n$k" hostname
    assert_output "node$k"
    run lab_exec "n$k" systemd-detect-virt --container
    assert_output container-other
  done
  run lab status --json
  assert_equal "$(jq -r .init <<<"$output")" systemd
}

@test "the host's enabled daemons do not start in a node; masked units touching the host stay off" {
  local unit
  for unit in mariadb redis-server keepalived munge slurmd postgresql; do
    run lab_exec n1 systemctl is-active "$unit"
    assert_output inactive
  done
  run lab_exec n1 systemctl is-enabled systemd-timesyncd
  assert_output masked
  run lab_exec n1 systemctl is-enabled mariadb
  assert_output disabled
  run lab_exec n1 systemctl is-active cron
  assert_output active
}

@test "exec keeps a clean environment, stdin and the exit code; journalctl works" {
  run lab_exec n2 sh -c 'echo "$HOME $USER ${container:-none}"'
  assert_output "/root root none"
  run lab_exec n2 sh -c 'cat; exit 7' <<<"hello"
  assert_equal "$status" 7
  assert_output hello
  lab_exec n2 systemd-cat -t lab-journal-test echo "lab journal works"
  wait_until 10 sh -c "LAB_PREFIX=$(lab_prefix) '$LAB_TOOL' exec n2 journalctl -t lab-journal-test --no-pager | grep -q 'lab journal works'"
}

@test "a unit started in one node runs only there: stopping it in n1 leaves n2's running" {
  local k
  for k in 1 2; do
    lab_exec "n$k" systemd-run --unit=lab-nap --quiet sleep 1000
    run lab_exec "n$k" systemctl is-active lab-nap
    assert_output active
  done
  lab_exec n1 systemctl stop lab-nap
  run lab_exec n1 systemctl is-active lab-nap
  refute_output active
  run lab_exec n2 systemctl is-active lab-nap
  assert_output active
  lab_exec n2 systemctl stop lab-nap
}

@test "a service unit answers on the node's address and is seen from other nodes and the client" {
  install_echo_unit n3
  lab_exec n3 systemctl start lab-echo
  wait_until 10 lab_port_open client 10.213.0.13 7000
  run lab_client timeout 4 socat -T2 - TCP:10.213.0.13:7000,connect-timeout=2
  assert_output node3
}

@test "crash: power loss kills systemd and every unit of the node at once; files remain" {
  local holder dir
  install_echo_unit n2
  lab_exec n2 systemctl enable --now lab-echo
  lab_exec n2 sh -c 'echo kept >/var/lib/lab-crash; echo kept >/data/lab-crash'
  holder=$(lab pid n2)
  lab crash n2
  run ip netns pids "$(lab_prefix)-n2"
  assert_output ""
  pid_gone "$holder"
  run lab status --json
  assert_equal "$(jq -r '.nodes[] | select(.name == "n2") | .state' <<<"$output")" crashed
  run lab_exec n2 true
  assert_failure
  assert_output --partial "not running"
  run lab_port_open client 10.213.0.12 7000
  assert_failure
  dir=$(lab status --json | jq -r .state_dir)/n2
  [[ $(cat "$dir/upper/var/lib/lab-crash") == kept ]]
  [[ $(cat "$dir/data/lab-crash") == kept ]]
}

@test "boot: systemd boots again over the same disks; enabled units start, nothing else does" {
  run lab status --json
  if [[ $(jq -r '.nodes[] | select(.name == "n2") | .state' <<<"$output") == running ]]; then
    install_echo_unit n2
    lab_exec n2 systemctl enable lab-echo
    lab_exec n2 sh -c 'echo kept >/var/lib/lab-crash'
    lab crash n2
  fi
  lab boot n2
  booted n2
  run lab_exec n2 cat /proc/1/comm
  assert_output systemd
  run lab_exec n2 cat /var/lib/lab-crash
  assert_output kept
  run lab_exec n2 systemctl is-active lab-echo
  assert_output active
  run lab_exec n2 systemctl is-active lab-nap
  refute_output active
  run lab_exec n2 ip -4 -o addr show dev eth0
  assert_output --partial "10.213.0.12/24"
  wait_until 10 lab_port_open n1 10.213.0.12 7000
  # a second power cycle works the same way
  lab crash n2
  lab boot n2
  booted n2
  wait_until 10 lab_port_open n1 10.213.0.12 7000
}

@test "ssh-mesh works on systemd nodes and survives a reboot" {
  lab ssh-mesh
  run lab_exec n1 ssh -o BatchMode=yes node3 hostname
  assert_output node3
  lab crash n3
  lab boot n3
  run lab_exec n1 ssh -o BatchMode=yes node3 cat /proc/1/comm
  assert_output systemd
}

@test "add: a fourth systemd node boots and joins the hosts files" {
  lab add n4
  booted n4
  run lab_exec n4 cat /proc/1/comm
  assert_output systemd
  run lab_exec n1 getent hosts node4
  assert_output --regexp '^10\.213\.0\.14 +node4$'
}

@test "the host stays untouched: /usr and / are read-only in a node, the host's units unchanged" {
  run lab_exec n1 touch /usr/lab-write-test
  assert_failure
  assert_output --partial "Read-only file system"
  run lab_exec n1 touch /lab-write-test
  assert_failure
  [[ -L /etc/systemd/system/multi-user.target.wants/cron.service ]]
  [[ ! -e /etc/systemd/system/lab-echo.service ]]
}

@test "down removes the processes, namespaces, mounts, cgroups and state of a systemd lab" {
  local p holders=() k
  p=$(lab_prefix)
  for k in 1 2 3 4; do holders+=("$(lab pid "n$k")"); done
  lab down
  run bash -c 'ip netns list | awk "{print \$1}" | grep -E "^$1-(sw|client|n[0-9]+)$"' bash "$p"
  assert_output ""
  run grep -F "/tmp/hpc-lab/$p" /proc/mounts
  assert_failure
  for k in "${holders[@]}"; do pid_gone "$k"; done
  run find /sys/fs/cgroup -maxdepth 3 -path "*/hpc-lab/$p"
  assert_output ""
  [[ ! -e /tmp/hpc-lab/$p ]]
  lab_setup 1 --init systemd  # teardown_file expects a lab; cheap with one node
}
