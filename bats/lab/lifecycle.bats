#!/usr/bin/env bats
# Lab lifecycle: up/down leave nothing behind, several labs coexist, bad input is refused, doctor.
# Each test uses its own prefixes (derived from this file's), all removed in teardown_file.

load helpers

setup_file() {
  export LC_BASE
  LC_BASE=$(lab_suite_prefix)
}

teardown_file() {
  local p
  for p in a b c d; do "$LAB_TOOL" --prefix "$LC_BASE-$p" down >/dev/null 2>&1 || true; done
  if [[ -d $BATS_FILE_TMPDIR/ovl/merged ]]; then
    LAB_STATE_ROOT="$BATS_FILE_TMPDIR/ovl/merged" "$LAB_TOOL" --prefix "$LC_BASE-e" down >/dev/null 2>&1 || true
    umount -l "$BATS_FILE_TMPDIR/ovl/merged" 2>/dev/null || true
  fi
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

lab_p() { "$LAB_TOOL" --prefix "$1" "${@:2}"; }

# nothing of lab PREFIX is left: namespaces, processes, mounts, state
assert_lab_gone() {
  local p=$1
  run bash -c 'ip netns list | awk "{print \$1}" | grep -E "^$1-(sw|client|n[0-9]+)$"' bash "$p"
  assert_output ""
  run grep -F "/tmp/hpc-lab/$p" /proc/mounts
  assert_failure
  run pgrep -f "__init .* /tmp/hpc-lab/$p/"
  assert_failure
  [[ ! -e /tmp/hpc-lab/$p ]]
}

@test "up 3 then down leaves no namespaces, mounts, processes or state of the lab" {
  local p="$LC_BASE-a" holders=() k ns
  lab_p "$p" up 3
  for k in 1 2 3; do holders+=("$(lab_p "$p" pid "n$k")"); done
  run ip netns list
  for ns in sw client n1 n2 n3; do assert_line --regexp "^$p-$ns( |$)"; done
  local nap="sleep 3$RANDOM"
  lab_p "$p" exec n1 sh -c "setsid $nap </dev/null >/dev/null 2>&1 &"
  run pgrep -f "^$nap\$"
  assert_success
  run lab_p "$p" down
  assert_success
  assert_output --partial "down: lab removed"
  assert_lab_gone "$p"
  for k in "${holders[@]}"; do pid_gone "$k"; done
  run pgrep -f "^$nap\$"
  assert_failure  # the node's processes died with it
}

@test "down is idempotent: a second down, or a down of a lab that never existed, succeeds" {
  local p="$LC_BASE-a"
  lab_p "$p" up 1
  lab_p "$p" down
  run lab_p "$p" down
  assert_success
  assert_output --partial "nothing to remove"
  run lab_p "$LC_BASE-d" down
  assert_success
}

@test "down cleans up after an interrupted up" {
  local p="$LC_BASE-b"
  lab_p "$p" up 2 &
  local up=$!
  # interrupt as soon as the first namespace exists (mid-way through up)
  wait_until 10 bash -c 'ip netns list | grep -q "^$1-"' bash "$p"
  kill -KILL "$up" 2>/dev/null || true
  wait "$up" 2>/dev/null || true
  run lab_p "$p" down
  assert_success
  assert_lab_gone "$p"
}

@test "down still finds the holders when the state files are gone" {
  local p="$LC_BASE-b" holder
  lab_p "$p" up 2
  holder=$(lab_p "$p" pid n2)
  rm -f "/tmp/hpc-lab/$p/lab.env" "/tmp/hpc-lab/$p/n1/pid" "/tmp/hpc-lab/$p/n2/pid"
  ip netns delete "$p-n2"  # even a node whose namespace name is gone
  run lab_p "$p" down
  assert_success
  assert_lab_gone "$p"
  pid_gone "$holder"
}

@test "two labs share the subnet independently; down of one leaves the other running" {
  local a="$LC_BASE-a" b="$LC_BASE-b"
  lab_p "$a" up 2
  lab_p "$b" up 2
  lab_p "$a" exec n1 sh -c 'echo lab-a >/etc/which-lab'
  run lab_p "$b" exec n1 cat /etc/which-lab
  assert_failure
  lab_p "$b" exec n2 sh -c 'setsid socat TCP-LISTEN:7000,reuseaddr,fork SYSTEM:"cat /etc/hostname" </dev/null >/dev/null 2>&1 &'
  lab_p "$b" exec n2 sh -c 'echo lab-b-node2 >/etc/hostname'
  # the same address 10.213.0.12 answers differently in each lab: there is no bridge between them
  wait_until 5 lab_p "$b" client socat -T2 - TCP:10.213.0.12:7000,connect-timeout=2
  run lab_p "$b" client socat -T2 - TCP:10.213.0.12:7000,connect-timeout=2
  assert_output lab-b-node2
  run lab_p "$a" client timeout 4 socat -T2 - TCP:10.213.0.12:7000,connect-timeout=2
  assert_failure
  lab_p "$a" down
  assert_lab_gone "$a"
  run lab_p "$b" exec n1 hostname
  assert_success
  assert_output node1
  run lab_p "$b" client socat -T2 - TCP:10.213.0.12:7000,connect-timeout=2
  assert_output lab-b-node2
  lab_p "$b" down
}

@test "LAB_HOSTNAMES, LAB_IP_OFFSET and --subnet change the mapping" {
  local p="$LC_BASE-c"
  LAB_HOSTNAMES="alpha beta" LAB_IP_OFFSET=20 lab_p "$p" up 3 --subnet 10.213.7
  run lab_p "$p" status --json
  assert_equal "$(jq -r '[.nodes[] | .hostname + "=" + .ip] | join(" ")' <<<"$output")" \
    "alpha=10.213.7.21 beta=10.213.7.22 node3=10.213.7.23"
  assert_equal "$(jq -r .client.ip <<<"$output")" 10.213.7.200
  run lab_p "$p" exec n2 hostname
  assert_output beta
  run lab_p "$p" exec n3 getent hosts alpha
  assert_output --regexp '^10\.213\.7\.21 +alpha$'
  lab_p "$p" add n4  # the names are fixed at up: n4 gets the default
  run lab_p "$p" exec n1 getent hosts node4
  assert_output --regexp '^10\.213\.7\.24 +node4$'
  lab_p "$p" down
}

@test "LAB_EXTRA_DIRS gives every node a private overlay of another top-level directory" {
  local p="$LC_BASE-c" dir="/hpc-lab-extra-$LC_BASE"
  [[ -e $dir ]] || { mkdir "$dir"; touch "$dir/.created-by-lab-test"; }
  LAB_EXTRA_DIRS="$dir" lab_p "$p" up 2
  lab_p "$p" exec n1 sh -c "echo private >$dir/file"
  run lab_p "$p" exec n2 test -e "$dir/file"
  assert_failure
  [[ ! -e $dir/file ]]
  lab_p "$p" down
  if [[ -e $dir/.created-by-lab-test ]]; then rm "$dir/.created-by-lab-test"; rmdir "$dir"; fi
  run env LAB_EXTRA_DIRS=/etc/x "$LAB_TOOL" --prefix "$p" up 1
  assert_failure
  assert_output --partial "LAB_EXTRA_DIRS"
}

@test "up refuses an existing lab and bad arguments" {
  local p="$LC_BASE-c"
  lab_p "$p" up 1
  run lab_p "$p" up 1
  assert_failure
  assert_output --partial "already exists"
  lab_p "$p" down
  run lab_p "$p" up 0
  assert_failure
  assert_output --partial "node count"
  run lab_p "$p" up 2 --subnet 10.213.300
  assert_failure
  assert_output --partial "--subnet"
  run "$LAB_TOOL" --prefix 'Bad_Prefix' status
  assert_failure
  assert_output --partial "invalid prefix"
  run env LAB_IP_OFFSET=195 "$LAB_TOOL" --prefix "$p" up 5
  assert_failure
  assert_lab_gone "$p"
}

@test "LAB_PREFIX selects the lab like --prefix" {
  local p="$LC_BASE-d"
  LAB_PREFIX=$p "$LAB_TOOL" up 1
  run lab_p "$p" exec n1 hostname
  assert_output node1
  run env LAB_PREFIX="$p" "$LAB_TOOL" status
  assert_output --partial "lab $p:"
  LAB_PREFIX=$p "$LAB_TOOL" down
  assert_lab_gone "$p"
}

@test "node disks go to a tmpfs when the state root is on overlayfs (as in a Docker CI)" {
  local ovl="$BATS_FILE_TMPDIR/ovl" p="$LC_BASE-e"
  mkdir -p "$ovl/lower" "$ovl/upper" "$ovl/work" "$ovl/merged"
  mount -t overlay lab-test-ovl -o "lowerdir=$ovl/lower,upperdir=$ovl/upper,workdir=$ovl/work" "$ovl/merged"
  LAB_STATE_ROOT="$ovl/merged" lab_p "$p" up 2
  run findmnt -n -o FSTYPE "$ovl/merged/$p"
  assert_output tmpfs
  LAB_STATE_ROOT="$ovl/merged" lab_p "$p" exec n1 sh -c 'echo on-tmpfs >/etc/lab-ovl'
  run env LAB_STATE_ROOT="$ovl/merged" "$LAB_TOOL" --prefix "$p" exec n2 test -e /etc/lab-ovl
  assert_failure
  LAB_STATE_ROOT="$ovl/merged" lab_p "$p" down
  run findmnt -n "$ovl/merged/$p"
  assert_failure
  [[ ! -e $ovl/merged/$p ]]
  umount "$ovl/merged"
}

@test "doctor finds everything on this machine and reports a missing root precisely" {
  run "$LAB_TOOL" doctor
  assert_success
  assert_output --partial "everything the lab needs is present"
  run runuser -u nobody -- "$LAB_TOOL" doctor
  assert_failure
  assert_output --partial "[MISSING] root"
}

@test "doctor names the Debian package of a missing binary" {
  local list="$BATS_TEST_TMPDIR/deps.list" tool="$BATS_TEST_TMPDIR/lab"
  cp "$LAB_TOOL" "$tool"
  printf 'iproute2 ip\nno-such-package /usr/sbin/no-such-daemon\n' >"$list"
  run "$tool" doctor
  assert_failure
  assert_output --partial "[MISSING] /usr/sbin/no-such-daemon (Debian package no-such-package"
  refute_output --partial "[MISSING] ip "
}

@test "--help prints the usage with every command" {
  run "$LAB_TOOL" --help
  assert_success
  local c
  for c in "up N" "add nK" "exec nK" "sh nK" "client CMD" "status" "pid nK" "ssh-mesh" "push DIR" \
    "cut nK" "heal nK" "crash nK" "boot nK" "down" "doctor"; do
    assert_output --partial "$c"
  done
}

@test "deps.sh --check agrees that every lab package is installed" {
  run "$BATS_TEST_DIRNAME/deps.sh" --check
  assert_success
  assert_output --partial "nothing to do"
}
