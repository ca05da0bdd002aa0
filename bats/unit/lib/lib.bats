#!/usr/bin/env bats
# The hand-written bash library (templates/lib), exercised through a generated toolkit.

setup_file() {
  load lib_helpers
  lib_setup_file
}

setup() {
  load lib_helpers
  lib_setup
}

@test "config.sh holds the config as quoted variables and arrays" {
  in_lib 'printf "%s|%s|%s\n" "$CLUSTER_NAME" "${NODE_IPS[*]}" "${#NODE_HOSTNAMES[@]}"'
  assert_success
  assert_output "test-cluster|10.0.0.11 10.0.0.12 10.0.0.13|3"
}

@test "log lines go to stderr as ==> [phase] message and to the log file with a timestamp" {
  in_lib 'log::phase storage; log::info "hello"; echo data'
  assert_success
  assert_line --index 0 "==> [storage] hello"
  assert_line --index 1 "data"
  run cat "$HPC_LOG_FILE"
  assert_output --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T.* \[\.unit-test-[0-9]+\] \[storage\] INFO hello$'
}

@test "die exits with the given code and the message last" {
  in_lib 'die "it broke" 5'
  assert_failure 5
  assert_output --partial "ERROR: it broke"
}

@test "the ERR trap names the failing phase and the log file" {
  in_lib 'log::phase database; false'
  assert_failure 1
  assert_output --partial "failed (exit 1)"
  assert_output --partial "phase 'database' failed; see the full log at $HPC_LOG_FILE"
}

@test "the ERR trap names the file and line of the failing command, in the script or in a library" {
  # line 4 of the test script (after the shebang, set and source lines) fails in the script itself
  in_lib 'false'
  assert_failure 1
  assert_output --partial "failed (exit 1) at utils/.unit-test-$BATS_TEST_NUMBER.sh:4: false"
  # a failing command inside a library function is reported at the library's file:line
  printf '# shellcheck shell=bash\nunit::fails() {\n  local x=1\n  (( x == 2 ))\n}\n' > "$TK/lib/unit_fails.sh"
  in_lib 'source "$HPC_LIB_DIR/unit_fails.sh"
unit::fails'
  rm -f "$TK/lib/unit_fails.sh"
  assert_failure 1
  assert_output --partial "failed (exit 1) at lib/unit_fails.sh:4: (( x == 2 ))"
}

@test "a failed run rolls back the files it replaced and what it started; a successful one keeps them" {
  printf 'old\n' > "$ROOT_PREFIX/etc/a.conf"
  in_lib 'undo() { echo "undo ran" >&2; }
run::write_file "$ROOT_PREFIX/etc/a.conf" <<< new; run::write_file "$ROOT_PREFIX/etc/b.conf" <<< x
run::on_rollback undo
die "boom"'
  assert_failure 1
  assert_output --partial "undo ran"
  assert_output --partial "rolled back $ROOT_PREFIX/etc/a.conf"
  run cat "$ROOT_PREFIX/etc/a.conf"
  assert_output "old"
  [ ! -e "$ROOT_PREFIX/etc/b.conf" ]
  # an EXIT trap that cleans up first and then calls lib::on_exit still rolls back after die
  in_lib 'trap "true; lib::on_exit" EXIT; run::write_file "$ROOT_PREFIX/etc/a.conf" <<< new; die boom'
  run cat "$ROOT_PREFIX/etc/a.conf"
  assert_output "old"
  in_lib 'undo() { echo "undo ran" >&2; }
run::write_file "$ROOT_PREFIX/etc/a.conf" <<< new; run::on_rollback undo'
  assert_success
  refute_output --partial "undo ran"
  run cat "$ROOT_PREFIX/etc/a.conf"
  assert_output "new"
  run find "$ROOT_PREFIX/etc" -name '.*hpc-*'
  assert_output ""
}

@test "run::cmd prints instead of running under --dry-run" {
  stub touchme
  DRY_RUN=1 in_lib 'run::cmd touchme "a b" c'
  assert_success
  assert_output "[dryrun] would run: touchme a\\ b c"
  run cat "$STUB_LOG"
  assert_output ""
}

@test "run::cmd runs the command and logs it" {
  stub touchme
  in_lib 'run::cmd touchme x'
  assert_success
  run cat "$STUB_LOG"
  assert_output "touchme x"
  run grep -c 'CMD touchme x' "$HPC_LOG_FILE"
  assert_output "1"
}

@test "run::write_file writes atomically with mode, and leaves identical content alone" {
  in_lib 'run::write_file "$ROOT_PREFIX/etc/x.conf" 0640 < <(printf "a=1\n"); echo "changed=$RUN_CHANGED"; run::write_file "$ROOT_PREFIX/etc/x.conf" 0640 < <(printf "a=1\n"); echo "changed=$RUN_CHANGED"'
  assert_success
  assert_line "changed=1"
  assert_line "changed=0"
  run stat -c %a "$ROOT_PREFIX/etc/x.conf"
  assert_output "640"
  run find "$ROOT_PREFIX/etc" -name '.*hpc-*'
  assert_output ""
}

@test "run::write_file under --dry-run prints the content and writes nothing" {
  DRY_RUN=1 in_lib 'printf "line1\nline2\n" | run::write_file "$ROOT_PREFIX/etc/y.conf" 0644'
  assert_success
  assert_line "[dryrun] would write $ROOT_PREFIX/etc/y.conf (mode 0644)"
  assert_line "    | line1"
  [ ! -e "$ROOT_PREFIX/etc/y.conf" ]
}

@test "run::write_file masks secret content under --dry-run" {
  DRY_RUN=1 SECRET_CONTENT=1 in_lib 'printf "password=hunter2\n" | run::write_file "$ROOT_PREFIX/etc/s.cnf" 0600'
  assert_success
  refute_output --partial hunter2
  assert_output --partial "content holds secrets; not shown"
}

@test "run::rollback_files restores replaced files and removes new ones" {
  printf 'old\n' > "$ROOT_PREFIX/etc/a.conf"
  # Written from pipelines (subshells) on purpose: rollback must still know about them.
  in_lib 'printf "new\n" | run::write_file "$ROOT_PREFIX/etc/a.conf"; printf "x\n" | run::write_file "$ROOT_PREFIX/etc/b.conf"; run::rollback_files'
  assert_success
  run cat "$ROOT_PREFIX/etc/a.conf"
  assert_output "old"
  [ ! -e "$ROOT_PREFIX/etc/b.conf" ]
  run find "$ROOT_PREFIX/etc" -name '.*hpc-*'
  assert_output ""
}

@test "a second run is refused at once while the first holds the lock (exit 4)" {
  in_lib 'lock::acquire demo; sleep 3' &
  local first=$!
  for _ in $(seq 50); do [[ -s $ROOT_PREFIX/run/hpc-cluster/hpc-cluster-demo.lock ]] && break; sleep 0.1; done
  in_lib 'lock::acquire demo; echo got-it'
  assert_failure 4
  assert_output --partial "another 'demo' run is in progress"
  refute_output --partial got-it
  kill "$first" 2>/dev/null || true
  wait "$first" 2>/dev/null || true
}

@test "a run killed with kill -9 whose leftovers hold the lock: the next run waits for them, then goes on" {
  # the killed run's `timeout sleep` is a process group of its own: it outlives a group kill and keeps
  # the inherited lock descriptor until it ends
  in_lib 'lock::acquire demo; timeout 8 sleep 4 >/dev/null 2>&1 & sleep 30' &
  local first=$!
  for _ in $(seq 50); do [[ -s $ROOT_PREFIX/run/hpc-cluster/hpc-cluster-demo.lock ]] && pgrep -f "^sleep 4$" >/dev/null && break; sleep 0.1; done
  pkill -KILL -f "unit-test-$BATS_TEST_NUMBER.sh"; pkill -KILL -f "^sleep 30$"
  wait "$first" 2>/dev/null || true
  in_lib 'lock::acquire demo; echo got-it'
  assert_success
  assert_output --partial "is gone (killed?); processes it left still hold it: "
  assert_output --partial "(sleep 4)"
  assert_line got-it
}

@test "leftovers of a killed run that outlast HPC_LOCK_ORPHAN_WAIT: exit 4 naming them" {
  in_lib 'lock::acquire demo; timeout 20 sleep 10 >/dev/null 2>&1 & sleep 30' &
  local first=$!
  for _ in $(seq 50); do [[ -s $ROOT_PREFIX/run/hpc-cluster/hpc-cluster-demo.lock ]] && pgrep -f "^sleep 10$" >/dev/null && break; sleep 0.1; done
  pkill -KILL -f "^sleep 30$"
  kill -KILL "$first" 2>/dev/null || true
  wait "$first" 2>/dev/null || true
  HPC_LOCK_ORPHAN_WAIT=1 in_lib 'lock::acquire demo; echo got-it'
  assert_failure 4
  assert_output --partial "still held by processes of the killed 'demo' run"
  assert_output --partial "(sleep 10)"
  refute_output --partial got-it
  pkill -KILL -f "^sleep 10$" || true
}

@test "secrets are read from a root-only file, taken literally, never evaluated" {
  mkdir -p "$ROOT_PREFIX/etc/hpc-cluster"
  printf 'REDIS_PASSWORD=p$(touch %s/pwned)w\n# comment\n\nDB_X=a=b\n' "$BATS_TEST_TMPDIR" > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  chmod 600 "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  in_lib 'printf "%s|%s\n" "$(secrets::get REDIS_PASSWORD)" "$(secrets::get DB_X)"'
  assert_success
  assert_output "p\$(touch $BATS_TEST_TMPDIR/pwned)w|a=b"
  [ ! -e "$BATS_TEST_TMPDIR/pwned" ]
}

@test "a secrets file readable by others is refused" {
  mkdir -p "$ROOT_PREFIX/etc/hpc-cluster"
  printf 'REDIS_PASSWORD=x\n' > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  chmod 644 "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  in_lib 'secrets::get REDIS_PASSWORD'
  assert_failure 2
  assert_output --partial "readable by others (mode 644; fix: chmod 600"
  refute_output --partial "REDIS_PASSWORD=x"
}

@test "a malformed secrets line is reported by its number, never its text" {
  mkdir -p "$ROOT_PREFIX/etc/hpc-cluster"
  printf 'REDIS_PASSWORD=x\n# comment\nhunter2-pasted-alone\n' > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  chmod 600 "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  in_lib 'secrets::get REDIS_PASSWORD'
  assert_failure 2
  assert_output --partial "line 3 is not NAME=value"
  refute_output --partial hunter2
}

@test "a missing secret is named, with the file" {
  mkdir -p "$ROOT_PREFIX/etc/hpc-cluster"
  : > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  chmod 600 "$ROOT_PREFIX/etc/hpc-cluster/secrets.env"
  in_lib 'secrets::require REDIS_PASSWORD DB_SLURM_PASSWORD'
  assert_failure 2
  assert_output --partial "missing from $ROOT_PREFIX/etc/hpc-cluster/secrets.env: REDIS_PASSWORD DB_SLURM_PASSWORD"
}

@test "under --dry-run a secret is a placeholder, so a plan never shows one" {
  DRY_RUN=1 in_lib 'secrets::get REDIS_PASSWORD'
  assert_success
  assert_output "<secret:REDIS_PASSWORD>"
}

@test "svc uses the init script when systemd is not running" {
  printf '#!/bin/sh\necho "init mariadb $1" >> "%s"\n' "$STUB_LOG" > "$ROOT_PREFIX/etc/init.d/mariadb"
  chmod +x "$ROOT_PREFIX/etc/init.d/mariadb"
  in_lib 'svc::init_system; svc::start mariadb'
  assert_success
  assert_line --index 0 "sysv"
  run cat "$STUB_LOG"
  assert_output "init mariadb start"
}

@test "svc uses systemctl where systemd runs" {
  mkdir -p "$ROOT_PREFIX/run/systemd/system"
  stub systemctl
  in_lib 'svc::init_system; svc::restart redis-server'
  assert_success
  assert_line --index 0 "systemd"
  run cat "$STUB_LOG"
  assert_output "systemctl restart redis-server"
}

@test "svc starts glusterd directly when there is no systemd (Debian ships no init script)" {
  stub glusterd
  in_lib 'svc::start glusterd'
  assert_success
  run cat "$STUB_LOG"
  assert_output "glusterd -p /run/glusterd.pid"
}

@test "svc fails clearly for a service it cannot start" {
  in_lib 'svc::start nosuchd'
  assert_failure
  assert_output --partial "cannot start nosuchd: no systemd, no init script"
}

@test "node::require_self finds this node among the local addresses" {
  HPC_LOCAL_IPS="127.0.0.1 10.0.0.12" in_lib 'node::require_self; echo "$SELF_INDEX $SELF_IP $SELF_HOSTNAME $SELF_PRIORITY"; node::peer_ips | tr "\n" " "'
  assert_success
  assert_line --index 0 "1 10.0.0.12 node2 99"
  assert_line --index 1 "10.0.0.11 10.0.0.13 "
}

@test "node::require_self refuses a host that is not a configured node" {
  HPC_LOCAL_IPS="127.0.0.1 10.9.9.9" in_lib 'node::require_self'
  assert_failure 2
  assert_output --partial "this host has none of the configured node addresses"
}

@test "tpl::render fills tokens with values as plain text" {
  printf 'bind=@NODE_IP@\nname=@NODE_NAME@\n' > "$BATS_TEST_TMPDIR/t.conf"
  in_lib "NODE_IP='10.0.0.1'; NODE_NAME='\$(touch $BATS_TEST_TMPDIR/pwned)'; tpl::render '$BATS_TEST_TMPDIR/t.conf' NODE_IP NODE_NAME"
  assert_success
  assert_line "bind=10.0.0.1"
  assert_line "name=\$(touch $BATS_TEST_TMPDIR/pwned)"
  [ ! -e "$BATS_TEST_TMPDIR/pwned" ]
}

@test "tpl::render refuses to leave a token unfilled" {
  printf 'bind=@NODE_IP@ port=@PORT@\n' > "$BATS_TEST_TMPDIR/t.conf"
  in_lib "NODE_IP=1; tpl::render '$BATS_TEST_TMPDIR/t.conf' NODE_IP"
  assert_failure
  assert_output --partial "still has the token @PORT@"
}

@test "ui::confirm refuses without a terminal unless --yes" {
  in_lib 'ui::confirm "Delete everything?" < /dev/null; echo yes'
  assert_failure 6
  assert_output --partial "refusing without confirmation"
  ASSUME_YES=1 in_lib 'ui::confirm "Delete everything?"; echo confirmed'
  assert_success
  assert_output "confirmed"
}

@test "json::str escapes quotes, backslashes and control characters" {
  in_lib "$(cat <<'CODE'
json::str "a\"b\\c"$'\n\t'; echo
json::arr_str x "y z"; echo
json::num 1.5; json::num abc
CODE
)"
  assert_success
  assert_line --index 0 '"a\"b\\c\n\t"'
  assert_line --index 1 '["x","y z"]'
  assert_line --index 2 '1.5null'
}

@test "temp dirs are removed on exit, even after a failure" {
  in_lib 'd=$(tmp::dir); echo "$d"; touch "$d/f"; false'
  assert_failure
  [ ! -d "${lines[0]}" ]
}

@test "remote::run quotes arguments for the remote shell" {
  stub ssh 'shift $(( $# - 1 )); printf "%s\n" "$1"'
  in_lib 'remote::run 10.0.0.12 echo "a b" "\$(x)"'
  assert_success
  assert_output --partial 'echo a\ b \$\(x\)'
  run cat "$STUB_LOG"
  assert_output --partial "BatchMode=yes"
  assert_output --partial "root@10.0.0.12 --"
}

@test "every generated script answers --help with its usage and exit 0, and unbuilt ones exit 3" {
  local s
  for s in $(cd "$TK" && find . -name '*.sh' -not -path './lib/*' | sort); do
    run "$TK/$s" --help
    assert_success
    assert_line --index 0 --regexp '^Usage: '
  done
}

# A phase script made of lib/phase.sh alone: its modes print what the shared parser decided.
phase_script() {
  local script="$TK/setup/.unit-phase-$BATS_TEST_NUMBER.sh"
  cat > "$script" <<'SCRIPT'
#!/usr/bin/env bash
# Usage: unit-phase.sh (--bootstrap | --join | --status | --remove-node IP | --leave | --refresh | --witness)
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
source "$HPC_LIB_DIR/phase.sh"
PHASE_LOCK=unit
PHASE_MODES=(bootstrap join status remove-node leave refresh witness)
show() { echo "mode=$MODE peer=$PEER target=$TARGET change=$MEMBER_CHANGE:$MEMBER_IP json=$JSON dry=${DRY_ARGS[*]-} yes=${ASSUME_YES:-0}"; }
mode::bootstrap() { show; run::write_file "$ROOT_PREFIX/etc/unit.conf" <<< new; [[ ${FAIL:-0} == 0 ]] || die "step failed"; }
mode::join() { show; }
mode::status() { show; return 3; }
mode::remove_node() { show; }
mode::leave() { show; }
mode::refresh() { show; }
mode::witness() { show; }
phase::main "$@"
SCRIPT
  chmod +x "$script"
  printf '%s\n' "$script"
}

@test "phase.sh: one parser for the shared flags; --stop-local and --stop are --leave; --exclude implies --refresh" {
  local p
  p="$(phase_script)"
  run "$p" --join --peer 10.0.0.12 --json --dry-run --force
  assert_success
  assert_output "mode=join peer=10.0.0.12 target= change=: json=1 dry=--dry-run yes=1"
  run "$p" --stop-local
  assert_output --partial "mode=leave"
  run "$p" --stop --yes
  assert_output --partial "mode=leave"
  run "$p" --exclude 10.0.0.13
  assert_output --partial "mode=refresh peer= target= change=exclude:10.0.0.13"
  run "$p" --remove-node 10.0.0.13
  assert_output --partial "target=10.0.0.13"
  run "$p" --witness
  assert_output --partial "mode=witness"
  rm -f "$p"
}

@test "phase.sh: usage errors exit 2 (no mode, two modes, a mode the script lacks, a missing or unknown address)" {
  local p
  p="$(phase_script)"
  run "$p"
  assert_failure 2
  assert_output --partial "say what to do: one of --bootstrap, --join, --status"
  run "$p" --bootstrap --join
  assert_failure 2
  assert_output --partial "only one mode at a time"
  run "$p" --add-node 10.0.0.12
  assert_failure 2
  assert_output --partial "--add-node is not a mode of this script"
  run "$p" --remove-node
  assert_failure 2
  run "$p" --remove-node 10.9.9.9
  assert_failure 2
  assert_output --partial "not in cluster_config.yaml"
  run "$p" --join --peer 10.9.9.9
  assert_failure 2
  run "$p" --join --include 10.0.0.12
  assert_failure 2
  assert_output --partial "--include goes with --refresh"
  run "$p" --frobnicate
  assert_failure 2
  rm -f "$p"
}

@test "phase.sh: a read-only mode's status is the script's; a failing mode rolls back, a successful one commits" {
  local p
  p="$(phase_script)"
  run "$p" --status
  assert_failure 3
  refute_output --partial "ERROR"
  mkdir -p "$ROOT_PREFIX/etc"
  printf 'old\n' > "$ROOT_PREFIX/etc/unit.conf"
  FAIL=1 run "$p" --bootstrap
  assert_failure 1
  assert_output --partial "rolled back $ROOT_PREFIX/etc/unit.conf"
  run cat "$ROOT_PREFIX/etc/unit.conf"
  assert_output old
  run "$p" --bootstrap
  assert_success
  run cat "$ROOT_PREFIX/etc/unit.conf"
  assert_output new
  run find "$ROOT_PREFIX/etc" -name '.*hpc-*'
  assert_output ""
  rm -f "$p"
}

@test "cli::report_args takes --json and --timeout, hands other flags to cli::own_arg and refuses the rest" {
  in_lib 'JSON=0 TIMEOUT=3 FROM=""
cli::own_arg() { [[ $1 == --from ]] || return 1; FROM=$2; CLI_SHIFT=2; }
cli::report_args --timeout 7 --from r.json --json
echo "$JSON $TIMEOUT $FROM"'
  assert_success
  assert_output "1 7 r.json"
  in_lib 'JSON=0 TIMEOUT=3; cli::report_args --timeout soon'
  assert_failure 2
  assert_output --partial "--timeout needs a whole number of seconds"
  in_lib 'JSON=0 TIMEOUT=3; cli::report_args --from r.json'
  assert_failure 2
  assert_output --partial "unknown argument: --from"
}

@test "cli::only gives the snapshot items of one --only-* part and refuses a second one" {
  in_lib 'cli::only --only-databases; echo "${CLI_ONLY[*]}"'
  assert_success
  assert_output "databases redis_rdb"
  in_lib 'cli::only --only-state; cli::only --only-configs'
  assert_failure 2
  assert_output --partial "choose one of --only-configs, --only-databases, --only-state"
}

@test "a phase script with no mode::standalone bootstraps for --standalone" {
  in_lib 'source "$HPC_LIB_DIR/phase.sh"
PHASE_LOCK=unit PHASE_MODES=(bootstrap standalone status)
mode::bootstrap() { echo "bootstrap ran as $MODE"; }
phase::main --standalone'
  assert_success
  assert_output --partial "bootstrap ran as standalone"
}
