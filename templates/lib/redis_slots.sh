# shellcheck shell=bash
# lib/redis_slots.sh - moving Redis Cluster slots safely (setup/phase2_redis_setup.sh): refuse while a
# member is failing, repair what an interrupted move left half-done, rebalance (resumable), and check
# the slot map after. Needs lib/redis.sh.

# Rebalances and slot moves get this long; they move keys and may take minutes on a big data set.
readonly REDIS_CLUSTER_TIMEOUT_MS=60000
# How long a just-restarted member may keep its FAIL flag (2 x cluster-node-timeout, plus gossip).
readonly REDIS_FAIL_CLEAR_WAIT_S=30

# cluster::bad_members HOST [SKIP_IP]: print the members HOST sees as failing or that do not answer.
cluster::bad_members() {
  local host=$1 skip=${2:-} addr flags nodes
  nodes="$(redis::nodes "$host" "$REDIS_PORT")" || return 1
  while read -r _ addr flags _; do
    [[ -n $addr && ${addr%:*} != "$skip" ]] || continue
    if [[ $flags == *fail* || $flags == *noaddr* ]] || ! redis::ping "${addr%:*}" "${addr#*:}"; then
      printf '%s\n' "$addr"
    fi
  done <<< "$nodes"
}

# cluster::members_healthy HOST [SKIP_IP]: HOST answers and sees no failing member.
cluster::members_healthy() {
  local bad
  bad="$(cluster::bad_members "$@")" && [[ -z $bad ]]
}

# cluster::preflight_members HOST [SKIP_IP]: refuse to move slots while any member is unreachable or
# failing (a rebalance is not transactional: it must not start half-blind). A node that has just
# restarted answers at once but keeps its FAIL flag in the others' view until gossip clears it (up
# to twice cluster-node-timeout), so a real run waits for that before refusing.
cluster::preflight_members() {
  local host=$1 skip=${2:-} bad
  if ! run::is_dry && ! cluster::members_healthy "$host" "$skip"; then
    log::info "waiting up to ${REDIS_FAIL_CLEAR_WAIT_S}s for every Redis member to be reachable and not failing"
    run::wait_until "$REDIS_FAIL_CLEAR_WAIT_S" "the Redis members' FAIL flags to clear" \
      cluster::members_healthy "$host" "$skip" || true
  fi
  bad="$(cluster::bad_members "$host" "$skip")" \
    || die "[ERROR RedisMembers]: $host:$REDIS_PORT stopped answering; refusing to move slots" "$EXIT_PREFLIGHT"
  [[ -z $bad ]] && return 0
  die "[ERROR RedisMembers]: cluster member(s) unreachable or failing: $(tr '\n' ' ' <<< "$bad")- refusing to move slots (fix: bring them back, or remove them with --remove-node)" "$EXIT_PREFLIGHT"
}

# cluster::repair HOST: complete a slot move that an interrupted run left half-done.
cluster::repair() {
  local host=$1
  if redis::open_slots "$host" "$REDIS_PORT"; then
    log::warn "half-moved slots found (an interrupted rebalance?): repairing with redis-cli --cluster fix"
    redis::quiet redis-cli --no-auth-warning --cluster fix "$host:$REDIS_PORT" --cluster-yes \
      --cluster-timeout "$REDIS_CLUSTER_TIMEOUT_MS" \
      || die "redis-cli --cluster fix failed; see $(redis::trace)"
  fi
}

# cluster::check HOST: redis-cli --cluster check is clean (all slots covered, none open).
# The report is kept in CLUSTER_CHECK_OUT, so a failure can say what the check found.
cluster::check() {
  local out
  out="$(redis-cli --no-auth-warning --cluster check "$1:$REDIS_PORT" 2>&1)" || { CLUSTER_CHECK_OUT=$out; printf '%s\n' "$out" >> "$(redis::trace)"; return 1; }
  CLUSTER_CHECK_OUT=$out
  printf '%s\n' "$out" >> "$(redis::trace)"
  [[ $out == *"[OK] All $REDIS_SLOTS slots covered."* && $out != *"[WARNING]"* && $out != *"[ERR]"* ]]
}

# cluster::check_problems: the lines of the last check that made it fail (colours removed).
cluster::check_problems() {
  printf '%s\n' "${CLUSTER_CHECK_OUT:-}" | sed 's/\x1b\[[0-9;]*m//g' | grep -iE '\[ERR\]|\[WARNING\]|warning|could not' | head -n 5 | tr '\n' ' '
}

# cluster::agree HOST: redis-cli --cluster check sees one slot map on every node.
cluster::agree() {
  # Captured first: `cmd | grep -q` fails under pipefail when grep quits before cmd finishes writing.
  local report
  report="$(redis-cli --no-auth-warning --cluster check "$1:$REDIS_PORT" 2>/dev/null)" || return 1
  [[ $report == *'All nodes agree about slots configuration'* ]]
}

cluster::verify() {
  local host=$1
  run::is_dry && return 0
  if ! cluster::check "$host"; then
    cluster::repair "$host"
    cluster::check "$host" || die "redis-cli --cluster check still reports problems after a fix: $(cluster::check_problems)(full report: $(redis::trace))"
  fi
  log::ok "redis-cli --cluster check: all $REDIS_SLOTS slots covered, none half-moved"
}

# cluster::rebalance HOST [WEIGHTS...]: move slots (resumable: repair first, verify after).
cluster::rebalance() {
  local host=$1 out
  shift
  cluster::preflight_members "$host"
  cluster::repair "$host"
  log::info "rebalancing slots${1:+ ($*)}"
  local args=(redis-cli --no-auth-warning --cluster rebalance "$host:$REDIS_PORT" --cluster-use-empty-masters
    --cluster-timeout "$REDIS_CLUSTER_TIMEOUT_MS")
  if (( $# )); then args+=(--cluster-weight "$@"); fi
  if run::is_dry; then run::cmd "${args[@]}"; return 0; fi
  local attempt
  for attempt in 1 2 3; do
    # Gossip needs a moment after a node joins or slots move; redis-cli refuses while views differ.
    run::wait_until 60 "every member to agree on the slot map" cluster::agree "$host" || true
    log::to_file CMD "$(run::quote "${args[@]}")"
    if out="$("${args[@]}" 2>&1)"; then break; fi
    printf '%s\n' "$out" >> "$(redis::trace)"
    (( attempt < 3 )) || die "redis-cli --cluster rebalance failed; rerun this command to complete it (see $(redis::trace))"
    log::warn "the rebalance stopped (attempt $attempt); repairing and resuming"
    cluster::repair "$host"
  done
  printf '%s\n' "$out" >> "$(redis::trace)"
  if [[ $out == *"No rebalancing needed"* ]]; then
    log::info "slots already balanced: nothing moved"
  else
    log::ok "slots rebalanced: $(grep -c '^Moving' <<< "$out" || true) move(s)"
  fi
}
