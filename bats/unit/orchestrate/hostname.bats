#!/usr/bin/env bats
# Unit tests for lib/preflight_hostname.sh: the Hostname and NodeNames preflight checks and
# start_multi_complete.sh --set-hostname (PATH stubs for hostname/hostnamectl/getent, temp root).

load "${HPC_REPO_ROOT}/bats/helpers/toolkit.bash"

setup_file() {
  toolkit_generate "$(toolkit_fixture lab/galera-3.yaml)" "$BATS_FILE_TMPDIR/tk"
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
  TK="$BATS_FILE_TMPDIR/tk/cluster"
  export ROOT_PREFIX="$BATS_TEST_TMPDIR/root" HPC_NODE_IP=10.213.0.12 NO_COLOR=1
  export STUB_LOG="$BATS_TEST_TMPDIR/calls" STUB_HOSTNAME=n2
  mkdir -p "$ROOT_PREFIX/etc" "$ROOT_PREFIX/var/lib/hpc-cluster" "$ROOT_PREFIX/var/log" "$ROOT_PREFIX/run/lock"
  printf '127.0.0.1 localhost\n10.213.0.11 node1\n10.213.0.12 node2\n10.213.0.13 node3\n' > "$ROOT_PREFIX/etc/hosts"
  printf 'n2\n' > "$ROOT_PREFIX/etc/hostname"
  : > "$STUB_LOG"
  mkdir -p "$BATS_TEST_TMPDIR/bin"
  # hostname: prints STUB_HOSTNAME (a fake FQDN part is cut off by the check); with an argument records it.
  cat > "$BATS_TEST_TMPDIR/bin/hostname" <<'EOF'
#!/bin/bash
if (( $# )); then echo "hostname $*" >> "$STUB_LOG"; else echo "$STUB_HOSTNAME.example.org"; fi
EOF
  cat > "$BATS_TEST_TMPDIR/bin/hostnamectl" <<'EOF'
#!/bin/bash
echo "hostnamectl $*" >> "$STUB_LOG"
EOF
  # getent ahostsv4 NAME: answers from the temp root's /etc/hosts.
  cat > "$BATS_TEST_TMPDIR/bin/getent" <<'EOF'
#!/bin/bash
awk -v n="$2" '$1 !~ /^#/ { for (i = 2; i <= NF; i++) if ($i == n) { print $1 "  STREAM " n; f = 1; exit } } END { exit !f }' "$ROOT_PREFIX/etc/hosts"
EOF
  chmod +x "$BATS_TEST_TMPDIR/bin/"*
  export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
}

# check BASH...: run BASH with the toolkit libraries loaded, as node2 (10.213.0.12).
check() {
  run bash -c 'set -Eeuo pipefail; source "$1/lib/common.sh"; source "$1/lib/orchestrate.sh"
    source "$1/lib/preflight_hostname.sh"; '"$1" _ "$TK"
}

@test "Hostname passes when the short hostname is the configured one" {
  export STUB_HOSTNAME=node2
  check 'orch::preflight Hostname'
  assert_success
  assert_output --partial "preflight checks passed"
}

@test "Hostname fails with exit 5 and the /etc/hostname fix without systemd, changing nothing" {
  check 'orch::preflight Hostname'
  assert_failure 5
  assert_output --partial "[ERROR Hostname]: this host is called 'n2' but cluster_config.yaml names 10.213.0.12 'node2'"
  assert_output --partial "(fix: echo node2 > /etc/hostname && hostname node2, or rerun with --set-hostname)"
  [ ! -s "$STUB_LOG" ]
  [ "$(cat "$ROOT_PREFIX/etc/hostname")" = n2 ]
}

@test "Hostname names hostnamectl as the fix under systemd" {
  mkdir -p "$ROOT_PREFIX/run/systemd/system"
  check 'orch::preflight Hostname'
  assert_failure 5
  assert_output --partial "(fix: hostnamectl set-hostname node2, or rerun with --set-hostname)"
}

@test "--set-hostname without systemd: hostname NAME and /etc/hostname, logged, only after every check passed" {
  check 'SET_HOSTNAME=1; preflight::Fail() { PF_MSG=no; return 1; }; orch::preflight Hostname Fail'
  assert_failure 5
  [ ! -s "$STUB_LOG" ]
  check 'SET_HOSTNAME=1; orch::preflight Hostname; hostname::apply'
  assert_success
  assert_output --partial "hostname changed from 'n2' to 'node2' (--set-hostname"
  [ "$(cat "$STUB_LOG")" = "hostname node2" ]
  [ "$(cat "$ROOT_PREFIX/etc/hostname")" = node2 ]
}

@test "--set-hostname with systemd uses hostnamectl" {
  mkdir -p "$ROOT_PREFIX/run/systemd/system"
  check 'SET_HOSTNAME=1; orch::preflight Hostname; hostname::apply'
  assert_success
  [ "$(cat "$STUB_LOG")" = "hostnamectl set-hostname node2" ]
}

@test "--set-hostname under --dry-run prints the change and makes none" {
  check 'SET_HOSTNAME=1 DRY_RUN=1; orch::preflight Hostname; hostname::apply'
  assert_success
  assert_output --partial "[dryrun] would write $ROOT_PREFIX/etc/hostname: node2"
  assert_output --partial "[dryrun] would run: hostname node2"
  [ ! -s "$STUB_LOG" ]
  [ "$(cat "$ROOT_PREFIX/etc/hostname")" = n2 ]
}

@test "NodeNames fails on names that do not resolve; --set-hostname adds one managed /etc/hosts block, idempotently" {
  printf '127.0.0.1 localhost\n10.213.0.11 a\n10.213.0.12 n2\n' > "$ROOT_PREFIX/etc/hosts"
  check 'orch::preflight NodeNames'
  assert_failure 5
  assert_output --partial "[ERROR NodeNames]: node names that do not resolve: 10.213.0.11 node1, 10.213.0.12 node2, 10.213.0.13 node3"
  check 'SET_HOSTNAME=1; orch::preflight NodeNames; hostname::apply'
  assert_success
  run cat "$ROOT_PREFIX/etc/hosts"
  assert_output "127.0.0.1 localhost
10.213.0.11 a
10.213.0.12 n2
# BEGIN hpc-cluster nodes (start_multi_complete.sh --set-hostname)
10.213.0.11 node1
10.213.0.12 node2
10.213.0.13 node3
# END hpc-cluster nodes"
  check 'SET_HOSTNAME=1; orch::preflight NodeNames; hostname::apply'
  assert_success
  [ "$(grep -c "hpc-cluster nodes\|node1" "$ROOT_PREFIX/etc/hosts")" = 3 ]
}

@test "NodeNames refuses a name that resolves to another address, even with --set-hostname" {
  printf '10.213.0.11 node1\n10.213.0.99 node2\n10.213.0.13 node3\n' > "$ROOT_PREFIX/etc/hosts"
  check 'SET_HOSTNAME=1; orch::preflight NodeNames'
  assert_failure 5
  assert_output --partial "[ERROR NodeNames]: node2 resolves to 10.213.0.99, not 10.213.0.12"
}

@test "start_multi_complete.sh stops in preflight (exit 5) on a wrong hostname before the mode phase" {
  run "$TK/start_multi_complete.sh" --bootstrap --yes --ignore-preflight-errors=Secrets,DataDir,Ports,Packages
  assert_failure 5
  assert_output --partial "[ERROR Hostname]"
  refute_output --partial "[mode]"
  [ ! -s "$STUB_LOG" ]
}

@test "start_multi_complete.sh --set-hostname --dry-run --phase preflight shows the fix" {
  run "$TK/start_multi_complete.sh" --set-hostname --dry-run --phase preflight --ignore-preflight-errors=Secrets,DataDir,Ports,Packages
  assert_success
  assert_output --partial "[dryrun] would run: hostname node2"
  run "$TK/start_multi_complete.sh" --help
  assert_output --partial "--set-hostname"
}
