# bats helpers for lab suites (real daemons in namespaced servers, see bats/lab/README.md).
#
# Usage in a .bats file (any folder below bats/lab/):
#
#   load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"   # in bats/lab/<area>/
#   bats_load_library bats-support
#   bats_load_library bats-assert
#
#   setup_file()    { lab_setup 3; }         # a fresh lab of 3 nodes, private to this file
#   teardown_file() { lab_teardown; }        # always runs, also after a failure
#
#   @test "redis answers on node2's address" {
#     lab_exec n2 sh -c 'redis-server --bind "$1" --daemonize yes ...' sh "$(lab_ip n2)"
#     wait_until 10 lab_port_open client "$(lab_ip n2)" 6379
#   }
#
# Functions:
#   lab_setup N [up options...]   down any leftover of this suite's lab, then `lab up N`
#   lab_teardown                  `lab down` (skipped with LAB_KEEP=1, to inspect a failed run)
#   lab CMD...                    the lab tool itself, on this suite's prefix (lab cut n2, lab crash n1...)
#   lab_exec nK CMD...            run CMD inside node nK (clean env; exit code and stdin passed)
#   lab_client CMD...             run CMD in the client namespace (SUBNET.200)
#   lab_push DIR                  copy DIR's contents to /opt/hpc-dashboard/cluster on every node
#   lab_ip nK | client            the address;  lab_hostname nK: the hostname
#   lab_port_open WHERE IP PORT   true if a TCP connect from WHERE (nK or client) to IP:PORT succeeds
#   wait_until TIMEOUT_S CMD...   poll CMD (every 0.2 s) until it succeeds; fail with its last output
#   pid_gone PID                  true if PID is gone or only a zombie (killed lab processes are
#                                 orphans: the host's PID 1 reaps them a moment later)
#
# The prefix is $LAB_PREFIX if set, else derived from the .bats file path (unique per suite), so suites
# never share or tear down each other's lab. Daemons started through lab_exec do not inherit bats' fd 3
# (the lab tool closes inherited descriptors), but redirect their output to a file: a daemon that keeps
# `run`'s stdout pipe open makes that `run` wait for it.

LAB_TOOL="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lab"

# lab_suite_prefix: a short prefix unique to the current .bats file, e.g. lab-core-3f9a
lab_suite_prefix() {
  local file=${BATS_TEST_FILENAME:?lab helpers need bats} name hash
  name="$(basename "$(dirname "$file")")-$(basename "$file" .bats)"
  name=$(printf '%s' "$name" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9' '-' | tr -s '-')
  name=${name#-}
  hash=$(printf '%s' "$file" | cksum | awk '{printf "%04x", $1 % 65536}')
  printf '%s-%s' "${name:0:24}" "$hash"
}

lab_prefix() { printf '%s' "${LAB_PREFIX:-$(lab_suite_prefix)}"; }

lab() { LAB_PREFIX=$(lab_prefix) "$LAB_TOOL" "$@"; }

lab_setup() {
  export LAB_PREFIX
  LAB_PREFIX=$(lab_prefix)
  "$LAB_TOOL" down >/dev/null 2>&1 || true  # leftovers of an interrupted earlier run
  "$LAB_TOOL" up "$@"
}

lab_teardown() {
  if [[ ${LAB_KEEP:-0} == 1 ]]; then
    printf '# LAB_KEEP=1: lab %s kept; remove it with: LAB_PREFIX=%s %s down\n' \
      "$(lab_prefix)" "$(lab_prefix)" "$LAB_TOOL" >&3
    return 0
  fi
  lab down
}

lab_exec() { lab exec "$@"; }
lab_client() { lab client "$@"; }
lab_push() { lab push "$@"; }

lab_ip() {
  local name=${1:?usage: lab_ip nK|client}
  if [[ $name == client ]]; then
    lab status --json | jq -r '.client.ip'
  else
    lab status --json | jq -er --arg n "$name" '.nodes[] | select(.name == $n) | .ip'
  fi
}

lab_hostname() {
  lab status --json | jq -er --arg n "${1:?usage: lab_hostname nK}" '.nodes[] | select(.name == $n) | .hostname'
}

lab_port_open() {
  local where=${1:?usage: lab_port_open nK|client IP PORT} ip=${2:?} port=${3:?}
  # shellcheck disable=SC2016  # expanded inside the namespace
  local probe='exec 3<>"/dev/tcp/$1/$2"'
  if [[ $where == client ]]; then
    lab client timeout 3 bash -c "$probe" bash "$ip" "$port" 2>/dev/null
  else
    lab exec "$where" timeout 3 bash -c "$probe" bash "$ip" "$port" 2>/dev/null
  fi
}

# wait_until TIMEOUT_S CMD... : poll with a deadline, never a fixed sleep
wait_until() {
  local timeout=${1:?usage: wait_until TIMEOUT_S CMD...} deadline out="" rc=0
  shift
  deadline=$((${EPOCHREALTIME/./} + ${timeout%.*} * 1000000))
  while :; do
    rc=0
    out=$("$@" 2>&1) || rc=$?
    ((rc == 0)) && return 0
    if ((${EPOCHREALTIME/./} >= deadline)); then
      printf 'wait_until: still failing after %ss (exit %s): %s\n%s\n' "$timeout" "$rc" "$*" "$out" >&2
      return 1
    fi
    sleep 0.2
  done
}

pid_gone() {
  [[ ! -e /proc/$1/stat ]] || [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]
}
