#!/usr/bin/env bats
# Unit tests for utils/rolling_update.sh: the order, the refusals, stopping at the first failing node,
# resuming and --dry-run. It runs from a host outside the config, so every node is reached through the
# ssh stub below, which plays three nodes: their health reports, who holds the VIP (it moves away
# from a drained holder, as keepalived does), the drain file, the toolkit copy and the apply step.

load "${HPC_REPO_ROOT}/bats/helpers/unit.bash"
bats_require_minimum_version 1.5.0

setup_file() {
  toolkit_generate "$(toolkit_fixture lab/vip-lab3.yaml)" "$BATS_FILE_TMPDIR/tk"
}

setup() {
  TK="$BATS_FILE_TMPDIR/tk/cluster"
  export ROOT_PREFIX="$BATS_TEST_TMPDIR/root" HPC_LOCAL_IPS=10.213.0.50 NO_COLOR=1
  export ST="$BATS_TEST_TMPDIR/nodes"
  mkdir -p "$ROOT_PREFIX" "$ST"
  stub_init
  echo 10.213.0.12 > "$ST/vip"
  # shellcheck disable=SC2016 # the stub's body runs later
  stub ssh 'host="" prev=""
for a in "$@"; do [[ $a == -- ]] && host=$prev; prev=$a; done
ip=${host#*@} cmd=${!#}
printf "%s: %s\n" "$ip" "$cmd" >> "$ST/remote.log"
case "$cmd" in
  *health_check.sh*--json*)
    drain=false status=ok
    [[ -e $ST/drained-$ip ]] && drain=true
    [[ -e $ST/broken-$ip ]] && status=fail
    healthy=true; [[ $drain == true || $status == fail ]] && healthy=false
    printf "{\"healthy\":%s,\"drain\":%s,\"checks\":{\"redis\":{\"status\":\"%s\"},\"glusterfs\":{\"status\":\"ok\"},\"vip\":{\"status\":\"fail\"}}}\n" "$healthy" "$drain" "$status"
    [[ $healthy == true ]] ;;
  *"addr show"*)
    [[ "$(cat "$ST/vip")" == "$ip" ]] && echo "2: eth0 inet 10.213.0.100/24 scope global secondary eth0"; exit 0 ;;
  *install*drain*)
    touch "$ST/drained-$ip"
    if [[ "$(cat "$ST/vip")" == "$ip" ]]; then
      for n in 10.213.0.11 10.213.0.12 10.213.0.13; do [[ $n == "$ip" || -e $ST/drained-$n ]] || { echo "$n" > "$ST/vip"; break; }; done
    fi ;;
  *"rm -f"*drain*) rm -f "$ST/drained-$ip" ;;
  *mktemp*) cat > /dev/null; touch "$ST/copied-$ip" ;;
  *rolling_update.sh*--apply-here*) [[ ! -e $ST/applyfail-$ip ]] ;;
  *sha256sum*) bash -c "$cmd" ;;
  *) exit 0 ;;
esac'
}

# remote_log: what was run on the nodes, reads (health reports, VIP queries) left out.
remote_log() { grep -v -e health_check.sh -e 'addr show' "$ST/remote.log" || true; }

@test "--dry-run prints the order (lowest priority first, the VIP holder last) and every step, changing nothing" {
  run "$TK/utils/rolling_update.sh" --dry-run
  assert_success
  assert_output --partial "order (lowest priority first, the VIP holder last): 10.213.0.13 10.213.0.11 10.213.0.12"
  assert_line "[dryrun] would run on 10.213.0.13 (node3): install -D -m 0644 /dev/null /etc/hpc-cluster/drain"
  assert_line --partial "[dryrun] would copy $TK to 10.213.0.11 (node1):"
  assert_line "[dryrun] would run on 10.213.0.12 (node2): $TK/utils/rolling_update.sh --apply-here --peer 10.213.0.11 --yes"
  assert_line "[dryrun] would run on 10.213.0.13 (node3): rm -f /etc/hpc-cluster/drain"
  run grep -c "would wait up to 300s for every service on" <<< "$output"
  assert_output 3
  run remote_log
  assert_output ""
}

@test "refuses (exit 5) and changes nothing when a node is not healthy" {
  touch "$ST/broken-10.213.0.13"
  run "$TK/utils/rolling_update.sh" --yes
  assert_failure 5
  assert_output --partial "10.213.0.13 (node3): redis"
  assert_output --partial "the cluster is not healthy; nothing was changed"
  run remote_log
  assert_output ""
}

@test "refuses (exit 5) while a node is drained, and when no node holds the VIP" {
  touch "$ST/drained-10.213.0.11"
  run "$TK/utils/rolling_update.sh" --yes
  assert_failure 5
  assert_output --partial "10.213.0.11 (node1): drain"
  rm "$ST/drained-10.213.0.11"
  echo none > "$ST/vip"
  run "$TK/utils/rolling_update.sh" --yes
  assert_failure 5
  assert_output --partial "is held by 0 nodes"
}

@test "updates every node in order: drain, VIP away, copy, apply, undrain; the VIP holder last" {
  run --separate-stderr "$TK/utils/rolling_update.sh" --yes --json --timeout 5
  assert_success
  # --json: stdout is the summary alone
  run jq -c '[.order, .updated, .failed]' <<< "$output"
  assert_output '[["10.213.0.13","10.213.0.11","10.213.0.12"],["10.213.0.13","10.213.0.11","10.213.0.12"],null]'
  run bash -c 'remote_log() { grep -v -e health_check.sh -e "addr show" "$1"; }; remote_log "$1" | sed -E "s/install .*drain/drain/; s/rm -f .*drain/undrain/; s/sh -c .*mktemp.*/copy/; s/[^ ]*rolling_update.sh --apply-here .*/apply/; s/sha256sum .*/hash/"' _ "$ST/remote.log"
  assert_output "$(for n in 13 11 12; do printf '10.213.0.%s: %s\n' "$n" drain "$n" copy "$n" apply "$n" hash "$n" undrain; done)"
  # the holder's drain moved the VIP to the highest-priority other node; nobody is left drained
  assert [ "$(cat "$ST/vip")" = 10.213.0.11 ]
  run ls "$ST"
  refute_output --partial drained
}

@test "stops at the first failing node: it stays drained, the next is untouched, the resume command is said" {
  touch "$ST/applyfail-10.213.0.11"
  run "$TK/utils/rolling_update.sh" --yes --timeout 5
  assert_failure 1
  assert_output --partial "step 'apply' failed on 10.213.0.11 (node1): it stays drained; untouched: 10.213.0.12; updated: 10.213.0.13"
  assert_output --partial "then run: utils/rolling_update.sh --from 10.213.0.11"
  assert [ -e "$ST/drained-10.213.0.11" ]
  run grep -c '^10.213.0.12: ' <<< "$(remote_log)"
  assert_output 0
}

@test "a node whose services do not come back stops the run at the ready step" {
  # shellcheck disable=SC2016 # the stub's body runs later
  sed -i 's|\*rolling_update.sh\*--apply-here\*) .*|*rolling_update.sh*--apply-here*) [[ $ip != 10.213.0.13 ]] \|\| touch "$ST/broken-$ip" ;;|' "$STUB_DIR/ssh"
  run "$TK/utils/rolling_update.sh" --yes --timeout 2
  assert_failure 1
  assert_output --partial "timed out after 2s waiting for every service on 10.213.0.13 to be back"
  assert_output --partial "step 'ready' failed on 10.213.0.13 (node3): it stays drained; untouched: 10.213.0.11 10.213.0.12"
}

@test "--from resumes at that node; an unknown --from and a folder that is no toolkit are usage errors" {
  run "$TK/utils/rolling_update.sh" --yes --from 10.213.0.11 --timeout 5
  assert_success
  assert_output --partial "order (lowest priority first, the VIP holder last): 10.213.0.11 10.213.0.12"
  run grep -c '^10.213.0.13: ' <<< "$(remote_log)"
  assert_output 0
  run "$TK/utils/rolling_update.sh" --from 10.213.0.99
  assert_failure 2
  run "$TK/utils/rolling_update.sh" --toolkit "$BATS_TEST_TMPDIR"
  assert_failure 2
  assert_output --partial "is not a generated toolkit"
}

@test "refuses without a terminal unless --yes" {
  run "$TK/utils/rolling_update.sh" < /dev/null
  assert_failure 6
  assert_output --partial "rerun with --yes"
  run remote_log
  assert_output ""
}

@test "--apply-here reruns only the services set up on the node: --refresh where the phase has it, else --join" {
  local tk="$BATS_TEST_TMPDIR/tk" s
  cp -a "$TK" "$tk"
  export HPC_NODE_IP=10.213.0.13
  # This node: Redis and MariaDB report in, the shared mount and Slurm were never set up; keepalived
  # runs (its phase script says so), monitoring left no marker.
  printf '#!/bin/sh\necho %s\n' "'{\"checks\":{\"glusterfs\":{\"status\":\"not_configured\"},\"mariadb\":{\"status\":\"ok\"},\"redis\":{\"status\":\"fail\"},\"slurmctld\":{\"status\":\"not_configured\"},\"slurmdbd\":{\"status\":\"not_configured\"},\"web\":{\"status\":\"not_configured\"},\"nginx\":{\"status\":\"not_configured\"}}}'" > "$tk/utils/health_check.sh"
  for s in phase1_database_setup phase2_redis_setup phase4_keepalived_setup phase5_monitoring_setup; do
    printf '#!/bin/sh\ncase "$*" in --help) grep -q refresh "$0.modes" && echo "Usage: x (--join | --refresh)";; "--status --json") echo "{\\"running\\":true}";; esac\n' > "$tk/setup/$s.sh"
  done
  echo refresh > "$tk/setup/phase1_database_setup.sh.modes"
  echo join > "$tk/setup/phase2_redis_setup.sh.modes"
  echo refresh > "$tk/setup/phase4_keepalived_setup.sh.modes"
  echo refresh > "$tk/setup/phase5_monitoring_setup.sh.modes"
  sed -i 's/"running\\":true/"running\\":false/' "$tk/setup/phase5_monitoring_setup.sh"
  run "$tk/utils/rolling_update.sh" --apply-here --peer 10.213.0.11 --yes --dry-run
  assert_success
  assert_output --partial "services set up here: database redis vip"
  assert_line "[dryrun] would run: $tk/setup/phase1_database_setup.sh --refresh --yes"
  assert_line "[dryrun] would run: $tk/setup/phase2_redis_setup.sh --join --peer 10.213.0.11 --yes"
  assert_line "[dryrun] would run: $tk/setup/phase4_keepalived_setup.sh --refresh --yes"
  refute_output --partial phase5_monitoring
  refute_output --partial apt-get
  run "$tk/utils/rolling_update.sh" --apply-here --peer 10.213.0.11 --yes --dry-run --packages
  assert_line --regexp '^\[dryrun\] would run: env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --only-upgrade .* mariadb-server galera-4 rsync redis-server redis-tools keepalived$'
  run "$tk/utils/rolling_update.sh" --apply-here --yes
  assert_failure 2
}
