#!/usr/bin/env bats
# The failure matrix (plan §9.2) on 4 members with every service + the witness n5 (garbd), on systemd
# nodes so a booted node comes back through the toolkit's own hpc-cluster-heal.service (docs/self-heal.md),
# with no command. The cluster is built once; each scenario runs real clients through its fault
# (fault_helpers.bash: the Galera set and bank checkers, acknowledged Redis keys through RedisCluster,
# checksummed GlusterFS files, a running Slurm job, the VIP owners), heals back to the full cluster, checks
# every invariant on every node and writes a result record for docs/FAULTS.md (scripts/faults-report.sh).

load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"
load fault_helpers

export LAB_PREFIX="${LAB_PREFIX:-flt}"
export LAB_INIT="${LAB_INIT:-systemd}"

setup_file() {
  : > "$FAULTS_RESULTS"
  lab_setup 5 >/dev/null 2>&1
  toolkit_deploy "$(toolkit_fixture lab/faults-4-witness.yaml)" n1 n2 n3 n4 n5
  faults_build > "$BATS_FILE_TMPDIR/build.log" 2>&1 || { tail -n 40 "$BATS_FILE_TMPDIR/build.log" >&3; return 1; }
}

teardown_file() {
  lab_teardown >/dev/null 2>&1 || true
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

@test "the cluster: 4 members in every service, garbd on the witness (5 votes), one VIP owner" {
  wait_until 120 full_cluster
  lab_exec n5 pgrep -x garbd >/dev/null
}

# lose_and_return SCEN LOST...: nodes LOST lose power while the checkers write on the survivors, then boot
# and come back by themselves; every invariant is checked and the result recorded.
lose_and_return() {
  local scen=$1 n survivors=() t0 t_evict=- t_back stall_ok=- job lost_set lost_redis bad_files bank
  shift
  for n in "${MEMBERS[@]}"; do [[ " $* " == *" $n "* ]] || survivors+=("$n"); done
  local writer=${survivors[0]} votes=$((5 - $#))
  checkers_start "$scen" "$writer" "${survivors[@]:0:2}"
  writes_flow "$scen" "$writer" 50
  job="$(slurm_job_start "${survivors[-1]}")"
  wait_until 30 eval "[[ \$(slurm_job_state ${survivors[-1]} $job) == RUNNING ]]"
  t0=$SECONDS
  for n in "$@"; do lab crash "$n" >/dev/null; done
  if (( votes >= 3 )); then
    # a Primary remains: the survivors evict the lost nodes and the writer goes on, the VIP on a survivor
    wait_until 60 synced "$writer" "$votes"
    t_evict=$((SECONDS - t0))
    writes_flow "$scen" "$writer" 50
    wait_until 30 vip_on_one_of "${survivors[@]}"
  else
    # no quorum (2 of 5 votes): the survivor refuses writes at once, never a hang
    wait_until 60 non_primary "$writer"
    run lab_exec "$writer" timeout 10 mariadb -e "INSERT INTO auth_portal.fault_set VALUES ('$scen', 'probe', 1)"
    assert_failure
    refute [ "$status" -eq 124 ]
  fi
  t0=$SECONDS
  for n in "$@"; do lab boot "$n" >/dev/null; done
  for n in "${MEMBERS[@]}"; do wait_until 300 back_in_cluster "$n" 5; done
  t_back=$((SECONDS - t0))
  wait_until 30 one_vip_holder
  writes_flow "$scen" "$writer" 20
  checkers_stop "$scen" "${survivors[@]:0:2}"
  lost_set="$(check_set "$scen" "$writer")"
  lost_redis="$(check_redis "$scen" "$writer")"
  bad_files="$(check_gluster "$scen" "$writer")"
  bank="$(bank_transfers "$scen" "${survivors[@]:0:2}")"
  record "$scen" "${MUST:-}" lost="$*" \
    set_acked="$(acked_count "$scen" "$writer")" set_failed="$(failed_count "$scen" "$writer")" set_lost="$lost_set" \
    bank_ok="${bank% *}" bank_failed="${bank#* }" bank_total_ok="$(check_bank && echo yes || echo no)" \
    redis_acked="$(acked_count "$scen" "$writer" redis.acked)" redis_lost="$(awk '{ print $4 }' <<< "$lost_redis")" \
    files_acked="$(acked_count "$scen" "$writer" gluster.sha256)" files_bad="$bad_files" \
    slurm_job="$(slurm_job_state "$writer" "$job")" evict_s="$t_evict" recover_s="$t_back" \
    vip_end="$(vip_holders | tr '\n' ' ')"
  assert_equal "$lost_set" 0
  check_bank
  [[ $lost_redis == *" missing 0 "* ]] || { echo "# redis: $lost_redis" >&3; false; }
  assert_equal "$bad_files" 0
  slurm_job_alive "$writer" "$job"
  one_vip_holder
}

@test "1 of 4 lost (power loss of n1, the VIP owner) and returned: nothing acknowledged is lost" {
  MUST="writes go on; every acknowledged write on every node after the return" lose_and_return lose1 n1
}

@test "2 of 4 lost (n3, n4) and returned: the witness keeps a Primary, nothing acknowledged is lost" {
  MUST="writes go on (3 of 5 votes); every acknowledged write on every node after the return" lose_and_return lose2 n3 n4
}
