# shellcheck shell=bash
# lib/redis_replicas.sh - where the Redis Cluster replica instances go (replicas: 1): the replica on
# member i serves the master of member i+1, and a master that came back takes its role back.
# Needs lib/redis.sh.

# cluster::ring HOST: member node addresses (config order) whose master-port instance is in the
# cluster and not failed.
cluster::ring() {
  local nodes ip line
  nodes="$(redis::nodes "$1" "$REDIS_PORT")" || return 1
  for ip in "${NODE_IPS[@]}"; do
    line="$(redis::node_line "$nodes" "$ip:$REDIS_PORT")"
    [[ -n $line ]] || continue
    [[ $(awk '{print $3}' <<< "$line") == *fail* ]] && continue
    printf '%s\n' "$ip"
  done
}

# cluster::place_replicas HOST: with replicas: 1, the replica instance of the member at position i
# serves the master of member i+1 (never its own node's). Masters that failed over to another node
# and came back are made masters again first (CLUSTER FAILOVER waits for the replica to catch up).
cluster::place_replicas() {
  redis::has_replica_instances || return 0
  log::phase replicas
  local host=$1 ring=() n i ip next role mid rline rflags rmaster
  cluster::failback "$host"
  mapfile -t ring < <(cluster::ring "$host" || true)
  n=${#ring[@]}
  if (( n < 2 )); then
    log::warn "one node only: its replica instance waits for a second node (a node loss loses the slots)"
    return 0
  fi
  for (( i = 0; i < n; i++ )); do
    ip=${ring[i]}
    next=${ring[(i + 1) % n]}
    if ! redis::ping "$ip" "$REDIS_REPLICA_PORT"; then
      log::warn "the replica instance $ip:$REDIS_REPLICA_PORT does not answer: run --join on $ip to start it"
      continue
    fi
    mid="$(redis::myid "$next" "$REDIS_PORT")" || { log::warn "no id from $next:$REDIS_PORT; skipping"; continue; }
    rline="$(redis::node_line "$(redis::nodes "$host" "$REDIS_PORT")" "$ip:$REDIS_REPLICA_PORT")"
    if [[ -z $rline ]]; then
      log::info "adding $ip:$REDIS_REPLICA_PORT as a replica of $next:$REDIS_PORT"
      redis::quiet redis-cli --no-auth-warning --cluster add-node "$ip:$REDIS_REPLICA_PORT" "$next:$REDIS_PORT" \
        --cluster-slave --cluster-master-id "$mid" \
        || die "adding the replica $ip:$REDIS_REPLICA_PORT failed; see $(redis::trace)"
      continue
    fi
    read -r _ _ rflags rmaster _ <<< "$rline"
    role=master
    [[ $rflags == *slave* ]] && role=slave
    if [[ $role == slave && $rmaster == "$mid" ]]; then continue; fi
    if [[ $role == master ]] && (( $(awk '{print $6}' <<< "$rline") > 0 )); then
      log::warn "$ip:$REDIS_REPLICA_PORT serves slots as a master (a failover whose node has not come back); left as is"
      continue
    fi
    log::info "pointing $ip:$REDIS_REPLICA_PORT at $next:$REDIS_PORT"
    redis::send "$ip" "$REDIS_REPLICA_PORT" CLUSTER REPLICATE "$mid"
  done
  run::is_dry && return 0
  run::wait_until 120 "every replica instance to report master_link_status:up" cluster::replicas_synced "${ring[@]}" \
    || log::warn "some replica is not in sync yet; it keeps syncing in the background"
  log::ok "replicas placed: each master has a replica on the next node"
}

cluster::replicas_synced() {
  local ip
  for ip in "$@"; do
    redis::ping "$ip" "$REDIS_REPLICA_PORT" || continue
    [[ "$(redis::info_field "$ip" "$REDIS_REPLICA_PORT" replication master_link_status)" == up ]] || return 1
  done
}

# cluster::failback HOST: a master-port instance that is a replica (its node came back after a
# failover) takes its role back with a coordinated CLUSTER FAILOVER once it is in sync.
cluster::failback() {
  local host=$1 ip
  for ip in $(cluster::ring "$host" || true); do
    [[ "$(redis::info_field "$ip" "$REDIS_PORT" replication role)" == slave ]] || continue
    if [[ "$(redis::info_field "$ip" "$REDIS_PORT" replication master_link_status)" != up ]]; then
      run::is_dry || run::wait_until 120 "$ip:$REDIS_PORT to sync from its master" redis::link_up "$ip" "$REDIS_PORT" \
        || { log::warn "$ip:$REDIS_PORT is not in sync; not failing back"; continue; }
    fi
    log::info "$ip:$REDIS_PORT takes its master role back (CLUSTER FAILOVER)"
    redis::send "$ip" "$REDIS_PORT" CLUSTER FAILOVER
    run::is_dry || run::wait_until 60 "$ip:$REDIS_PORT to become master" redis::is_master "$ip" "$REDIS_PORT" \
      || log::warn "$ip:$REDIS_PORT did not become master"
  done
}
