# shellcheck shell=bash
# lib/redis_cluster.sh - Redis Cluster membership (setup/phase2_redis_setup.sh): create a one-node
# cluster, add this node to a running one, remove a node (drain, forget). Needs lib/redis.sh; sources
# the two files it is built on, lib/redis_slots.sh (moving slots) and lib/redis_replicas.sh (where the
# replicas go), so the phase script sources this file alone for Redis Cluster.

# shellcheck source=redis_slots.sh
source "$HPC_LIB_DIR/redis_slots.sh"
# shellcheck source=redis_replicas.sh
source "$HPC_LIB_DIR/redis_replicas.sh"

# cluster::live_peer [PREFERRED]: the first configured peer whose master instance answers and has
# slots assigned (a serving Redis cluster), PREFERRED first.
cluster::live_peer() {
  local ip
  for ip in ${1:+"$1"} $(node::peer_ips); do
    [[ $ip == "$SELF_IP" ]] && continue
    if redis::ping "$ip" "$REDIS_PORT" && (( $(redis::cluster_field "$ip" "$REDIS_PORT" cluster_slots_assigned || echo 0) > 0 )); then
      printf '%s\n' "$ip"
      return 0
    fi
  done
  return 1
}

# cluster::self_member PEER: this node's master instance is a member of PEER's cluster.
cluster::self_member() {
  local nodes line
  nodes="$(redis::nodes "$1" "$REDIS_PORT")" || return 1
  line="$(redis::node_line "$nodes" "$SELF_IP:$REDIS_PORT")"
  [[ -n $line && $line != *noaddr* && $line != *handshake* ]]
}

# cluster::all_know HOST ADDR: every member HOST knows has ADDR in its own CLUSTER NODES (not in handshake).
cluster::all_know() {
  local host=$1 want=$2 addr line nodes
  nodes="$(redis::nodes "$host" "$REDIS_PORT")" || return 1
  while read -r _ addr _; do
    [[ $addr == "$want" ]] && continue
    line="$(redis::node_line "$(redis::nodes "${addr%:*}" "${addr#*:}")" "$want")"
    [[ -n $line && $line != *handshake* && $line != *noaddr* ]] || return 1
  done <<< "$nodes"
}

cluster::bootstrap() {
  log::phase bootstrap
  local peer assigned known
  assigned="$(redis::cluster_field "$SELF_IP" "$REDIS_PORT" cluster_slots_assigned || echo 0)"
  known="$(redis::cluster_field "$SELF_IP" "$REDIS_PORT" cluster_known_nodes || echo 1)"
  if (( assigned > 0 || known > 1 )); then
    log::info "this node is already part of a Redis cluster ($assigned slots assigned, $known nodes known): nothing to create"
    cluster::verify "$SELF_IP"
    return 0
  fi
  if peer="$(cluster::live_peer)"; then
    log::warn "peer $peer already serves a Redis cluster: joining it instead of bootstrapping a second one"
    cluster::join "$peer"
    return
  fi
  redis::send "$SELF_IP" "$REDIS_PORT" CLUSTER ADDSLOTSRANGE 0 $(( REDIS_SLOTS - 1 ))
  run::is_dry && return 0
  run::wait_until 60 "cluster_state:ok on $SELF_IP" redis::cluster_ok "$SELF_IP" "$REDIS_PORT" \
    || die "the new one-node Redis cluster did not reach cluster_state:ok; see $(redis::log_file "$REDIS_PORT")"
  log::ok "created a one-node Redis cluster on $SELF_IP:$REDIS_PORT owning all $REDIS_SLOTS slots"
  if redis::has_replica_instances; then
    log::warn "replicas: 1 needs a second node: the replica instance on port $REDIS_REPLICA_PORT waits for one"
  fi
}

cluster::join() {
  log::phase join
  local peer=${1:-}
  if ! peer="$(cluster::live_peer "$peer")"; then
    die "[ERROR RedisPeer]: no configured peer serves a Redis cluster on port $REDIS_PORT (fix: start it there first, or use --bootstrap on the first node)" "$EXIT_PREFLIGHT"
  fi
  log::info "joining the Redis cluster through $peer:$REDIS_PORT"
  if cluster::self_member "$peer"; then
    log::info "$SELF_IP:$REDIS_PORT is already a member"
  else
    if (( $(redis::cluster_field "$SELF_IP" "$REDIS_PORT" cluster_known_nodes || echo 1) > 1 )); then
      die "$SELF_IP:$REDIS_PORT still remembers another Redis cluster that $peer does not know it in (fix: remove $(redis::data_dir "$REDIS_PORT")/nodes-$REDIS_PORT.conf after checking it holds no data you need, then rerun)" "$EXIT_REFUSED"
    fi
    cluster::preflight_members "$peer"
    cluster::repair "$peer"
    redis::quiet redis-cli --no-auth-warning --cluster add-node "$SELF_IP:$REDIS_PORT" "$peer:$REDIS_PORT" \
      || die "redis-cli --cluster add-node failed; see $(redis::trace)"
  fi
  if ! run::is_dry; then
    # Rebalancing before the new node sees the whole cluster ends in CLUSTERDOWN and a half-moved slot.
    run::wait_until 120 "cluster_state:ok on the new node $SELF_IP" redis::cluster_ok "$SELF_IP" "$REDIS_PORT" \
      || die "this node never reported cluster_state:ok; see $(redis::log_file "$REDIS_PORT")"
    # ...and before every member has heard of it through gossip ("ERR I don't know about node").
    run::wait_until 120 "every member to know $SELF_IP:$REDIS_PORT" cluster::all_know "$peer" "$SELF_IP:$REDIS_PORT" \
      || die "some member still does not know this node; rerun this command"
  fi
  cluster::rebalance "$peer"
  cluster::verify "$peer"
  cluster::place_replicas "$peer"
}

# cluster::remove IP: drain IP's slots onto the others, remove its instances from every node.
cluster::remove() {
  log::phase remove
  local ip=$1 nodes line id addr flags slots reachable=0 port ids=()
  nodes="$(redis::nodes "$SELF_IP" "$REDIS_PORT")" || die "Redis on this node ($SELF_IP:$REDIS_PORT) does not answer" "$EXIT_PREFLIGHT"
  redis::ping "$ip" "$REDIS_PORT" && reachable=1
  cluster::preflight_members "$SELF_IP" "$ip"
  for port in $REDIS_REPLICA_PORT $REDIS_PORT; do
    line="$(redis::node_line "$nodes" "$ip:$port")"
    [[ -n $line ]] || continue
    read -r id addr flags _ _ slots <<< "$line"
    if [[ $flags == *master* ]] && (( slots > 0 )); then
      if (( ! reachable )); then
        ui::confirm "$ip:$port is down and still owns $slots slots with no replica to take them: their keys are lost. Cover them with empty slots on the survivors?"
        redis::quiet redis-cli --no-auth-warning --cluster fix "$SELF_IP:$REDIS_PORT" --cluster-yes \
          --cluster-fix-with-unreachable-masters || true
      else
        log::info "draining $slots slots from $ip:$port"
        cluster::rebalance "$SELF_IP" "$id=0"
      fi
    fi
    ids+=("$id")
  done
  if (( ${#ids[@]} == 0 )); then
    log::info "$ip is not a member of the Redis cluster: nothing to remove"
  fi
  for id in "${ids[@]+"${ids[@]}"}"; do
    cluster::forget "$id"
  done
  (( reachable )) || redis::cover_orphan_slots "$SELF_IP" "$REDIS_PORT"
  if (( reachable )); then
    redis::leave_remote "$ip"
  fi
  cluster::place_replicas "$SELF_IP"
  cluster::verify "$SELF_IP"
}

# cluster::forget ID: every remaining node forgets ID (CLUSTER FORGET must reach all of them within
# a minute, or gossip brings the node back).
cluster::forget() {
  local gone=$1 id addr nodes
  nodes="$(redis::nodes "$SELF_IP" "$REDIS_PORT")" || die "Redis on this node stopped answering"
  while read -r id addr _; do
    [[ $id == "$gone" ]] && continue
    redis::ping "${addr%:*}" "${addr#*:}" || continue
    redis::send "${addr%:*}" "${addr#*:}" CLUSTER FORGET "$gone" || true
  done <<< "$nodes"
  log::ok "node $gone removed from the Redis cluster"
}
