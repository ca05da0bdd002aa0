#!/usr/bin/env bats
# utils/ssh_trust.sh on 2 lab nodes whose root trust was taken away again (sshd runs, no authorized keys,
# nothing pinned): --check names the failing member and the exact fix (exit 5); after the one manual step
# (n1's key on n2, what ssh-copy-id does) --setup on n1 gives both members each other's keys and pinned host
# keys; a rerun changes nothing; a member answering with another host key is refused.

load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"

TK=/opt/hpc-dashboard/cluster

setup_file() {
  lab_setup 2 >/dev/null 2>&1
  toolkit_generate "$(toolkit_fixture lab/security-2.yaml)" "$BATS_FILE_TMPDIR/tk"
  lab ssh-mesh >/dev/null 2>&1
  lab_push "$BATS_FILE_TMPDIR/tk/cluster" >/dev/null 2>&1
  local n
  for n in n1 n2; do
    lab exec "$n" sh -c ': > /root/.ssh/authorized_keys; : > /root/.ssh/known_hosts; mkdir -p -m 0700 /etc/hpc-cluster; rm -f /etc/hpc-cluster/known_hosts'
  done
}

teardown_file() {
  lab_teardown >/dev/null 2>&1 || true
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

@test "--check without trust: exit 5, the member, why, and the exact fix" {
  run lab_exec n2 "$TK/utils/ssh_trust.sh" --check
  assert_failure 5
  assert_output --partial "10.213.0.11 (node1): root's key of this node is not accepted by 10.213.0.11"
  assert_output --partial "fix: ssh-copy-id -i /root/.ssh/id_ed25519.pub root@10.213.0.11"
}

@test "--setup refuses (exit 5) while n1 cannot log in to n2, and says how to start" {
  run lab_exec n1 "$TK/utils/ssh_trust.sh" --setup --yes
  assert_failure 5
  assert_output --partial "once per member: ssh-copy-id root@IP"
}

@test "after n1's key is on n2 (ssh-copy-id): --check --json on n1 says ok; --setup --dry-run changes nothing" {
  lab_exec n1 cat /root/.ssh/id_ed25519.pub | lab_exec n2 sh -c 'cat >> /root/.ssh/authorized_keys'
  run lab_exec n1 "$TK/utils/ssh_trust.sh" --check --json
  assert_success
  [[ "$(jq -r '.[0].ip + " " + (.[0].ok | tostring)' <<< "$output")" == "10.213.0.12 true" ]]
  local before
  before="$(lab_exec n2 sh -c 'cat /root/.ssh/authorized_keys /etc/hpc-cluster/known_hosts 2>&1')"
  run lab_exec n1 "$TK/utils/ssh_trust.sh" --setup --dry-run --yes
  assert_success
  assert_output --partial "DRY-RUN: would write /root/.ssh/authorized_keys"
  assert_equal "$(lab_exec n2 sh -c 'cat /root/.ssh/authorized_keys /etc/hpc-cluster/known_hosts 2>&1')" "$before"
  run lab_exec n2 "$TK/utils/ssh_trust.sh" --check
  assert_failure 5
}

@test "--setup on n1: n2 logs in to n1 with n1's real host key pinned; a rerun changes nothing" {
  run lab_exec n1 "$TK/utils/ssh_trust.sh" --setup --yes
  assert_success
  assert_output --partial "every member logs in to every other one as root, host keys pinned"
  run lab_exec n2 "$TK/utils/ssh_trust.sh" --check
  assert_success
  assert_output --partial "10.213.0.11 (node1): ok"
  local key
  key="$(lab_exec n1 awk '{ print $2 }' /etc/ssh/ssh_host_ed25519_key.pub)"
  lab_exec n2 grep -qF "10.213.0.11 ssh-ed25519 $key" /etc/hpc-cluster/known_hosts
  run lab_exec n1 "$TK/utils/ssh_trust.sh" --setup --yes
  assert_success
  refute_output --partial " changed"
  assert_output --partial "/root/.ssh/authorized_keys unchanged"
}

@test "a member that answers with another host key is refused, with the way to check it" {
  lab_exec n2 sh -c 'ssh-keygen -q -t ed25519 -N "" -f /tmp/other && k=$(awk "{ print \$2 }" /tmp/other.pub) &&
    sed -i "s|^10.213.0.11 ssh-ed25519 .*|10.213.0.11 ssh-ed25519 $k|" /etc/hpc-cluster/known_hosts'
  run lab_exec n2 "$TK/utils/ssh_trust.sh" --check
  assert_failure 5
  assert_output --partial "10.213.0.11 answers with another host key than the one pinned for it"
  assert_output --partial "ssh-keygen -R 10.213.0.11 -f /etc/hpc-cluster/known_hosts"
}
