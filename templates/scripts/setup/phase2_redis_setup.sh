#!/usr/bin/env bash
# Usage: phase2_redis_setup.sh (--bootstrap | --join [--peer IP] | --standalone | --status
#                               | --add-node IP | --remove-node IP | --witness | --leave)
#                              [--dry-run] [--yes] [--json]
# Summary: Set up Redis (Cluster or Sentinel) on this node, and grow or shrink it with the cluster.
#
# Modes (the orchestrator calls them; see docs/toolkit-conventions.md):
#   --bootstrap        first node of a new cluster: start Redis and create the Redis cluster (a Redis
#                      Cluster of one node owns all 16384 slots; Sentinel: this node is the master).
#                      Joins instead when a reachable peer already serves a Redis cluster.
#   --join [--peer IP] add this node to the running Redis cluster (IP = a live member; others are
#                      tried when it does not answer), wait for cluster_state:ok here, rebalance
#                      slots onto it, check, and place the replica instances (replicas: 1).
#   --standalone       a one-node deployment (same as --bootstrap; it can grow later with --join).
#   --status           one status line: state, masters, replicas, what the topology survives.
#   --add-node IP      run on a member: runs --join on IP over SSH.
#   --remove-node IP   run on a survivor: drain IP's slots onto the others, del-node its instances,
#                      re-place replicas, SENTINEL RESET; stop Redis on IP when it is reachable.
#   --witness          on the arbitrator host: run only the third Sentinel (redis.type: sentinel).
#   --leave            stop this node's Redis instances (called by --remove-node on the removed node).
# A run that was interrupted (half-moved slots) is completed by running the same command again:
# open slots are repaired with `redis-cli --cluster fix` before and after every slot move.
#
# Exit codes: 0 ok, 1 error, 2 usage, 4 locked, 5 preflight failed (a member unreachable), 6 refused.
# shellcheck source=../lib/redis.sh
source "$HPC_LIB_DIR/redis.sh"

MODE=""
PEER=""
# Set when this run (re)configured a Sentinel: only then are the sentinels reset.
SENTINEL_CHANGED=0
TARGET=""
JSON=0
# Rebalances and slot moves get this long; they move keys and may take minutes on a big data set.
readonly REDIS_CLUSTER_TIMEOUT_MS=60000
# How long a just-restarted member may keep its FAIL flag (2 x cluster-node-timeout, plus gossip).
readonly REDIS_FAIL_CLEAR_WAIT_S=30

# DRY_RUN and ASSUME_YES are read by lib/run.sh and lib/ui.sh; NODE_IPS comes from lib/config.sh.
# shellcheck disable=SC2034,SC2153
parse_args() {
  while (( $# )); do
    case "$1" in
      --bootstrap|--join|--standalone|--status|--witness|--leave) set_mode "${1#--}" ;;
      --add-node|--remove-node)
        [[ $# -ge 2 && -n $2 ]] || lib::usage_error "$1 needs a node address"
        set_mode "${1#--}"
        TARGET=$2
        shift
        ;;
      --peer)
        [[ $# -ge 2 && -n $2 ]] || lib::usage_error "--peer needs a node address"
        PEER=$2
        shift
        ;;
      --dry-run) DRY_RUN=1 ;;
      --yes|--force) ASSUME_YES=1 ;;
      --json) JSON=1 ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  [[ -n $MODE ]] || lib::usage_error "choose one of --bootstrap, --join, --standalone, --status, --add-node, --remove-node, --witness, --leave"
  if [[ -n $TARGET ]] && ! node::index_of "$TARGET" >/dev/null; then
    lib::usage_error "$TARGET is not a configured node (${NODE_IPS[*]})"
  fi
  if [[ -n $PEER ]] && ! node::index_of "$PEER" >/dev/null; then
    lib::usage_error "--peer $PEER is not a configured node (${NODE_IPS[*]})"
  fi
}

set_mode() {
  [[ -z $MODE ]] || lib::usage_error "only one mode at a time (--$MODE and --$1)"
  MODE=$1
}

# ---- preflight and configuration ----------------------------------------------------------------

phase::preflight() {
  log::phase preflight
  local bin
  for bin in redis-server redis-cli; do
    command -v "$bin" >/dev/null || die "[ERROR RedisInstalled]: $bin not found (fix: apt-get install redis-server redis-tools)" "$EXIT_PREFLIGHT"
  done
  if [[ $REDIS_TYPE == sentinel ]] && ! command -v redis-sentinel >/dev/null; then
    die "[ERROR SentinelInstalled]: redis-sentinel not found (fix: apt-get install redis-sentinel)" "$EXIT_PREFLIGHT"
  fi
  secrets::require "$REDIS_PASSWORD_SECRET"
  redis::load_password
}

# phase::configure: the auth include, one config per instance, the data/log dirs. Prints nothing
# when everything is already in place; restarts an instance whose config changed.
phase::configure() {
  log::phase configure
  local port pw changed=()
  pw="$(secrets::get "$REDIS_PASSWORD_SECRET")"
  # requirepass/masterauth only in this root:redis 0640 file, never in a generated file.
  printf 'requirepass %s\nmasterauth %s\n' "$pw" "$pw" \
    | SECRET_CONTENT=1 run::write_file "$(redis::auth_file)" 0640 root:redis
  run::mkdir "$(path::of /var/log/redis)" 2750 redis:adm
  for port in $(redis::local_ports); do
    run::mkdir "$(redis::data_dir "$port")" 0750 redis:redis
    # Not a pipeline: run::write_file must run in this shell to set RUN_CHANGED.
    run::write_file "$(redis::conf_file "$port")" 0640 root:redis < <(render_redis_conf "$port")
    if (( RUN_CHANGED )) && redis::is_running "$port"; then changed+=("$port"); fi
  done
  for port in "${changed[@]+"${changed[@]}"}"; do
    log::warn "the config of the instance on port $port changed: restarting it"
    redis::stop "$port"
    redis::start "$port"
  done
}

# The @TOKENS@ of configs/redis.conf are filled from these locals by name.
# shellcheck disable=SC2034
render_redis_conf() {
  local NODE_IP=$SELF_IP PORT=$1 INSTANCE AUTH_FILE PID_FILE LOG_FILE DATA_DIR
  INSTANCE="$(redis::instance "$1")"
  AUTH_FILE=$REDIS_AUTH_FILE_PATH
  PID_FILE="/run/redis-hpc-$1/redis-server.pid"
  LOG_FILE="/var/log/redis/redis-hpc-$1.log"
  DATA_DIR="/var/lib/redis/hpc-$1"
  tpl::render "$(tpl::path redis.conf)" NODE_IP PORT INSTANCE AUTH_FILE PID_FILE LOG_FILE DATA_DIR
}

phase::start() {
  log::phase start
  local port
  for port in $(redis::local_ports); do
    if redis::is_running "$port"; then
      log::info "Redis $SELF_IP:$port already running"
      continue
    fi
    redis::start "$port"
    run::is_dry && continue
    redis::wait_ping "$SELF_IP" "$port" 60 || die "Redis on port $port did not start; see $(redis::log_file "$port")"
    log::ok "Redis $SELF_IP:$port started (log $(redis::log_file "$port"))"
  done
  # The configs are proven by a running Redis: a later failure (a rebalance) keeps them, and a rerun
  # completes the work.
  run::commit_files
}

# ---- Redis Cluster ------------------------------------------------------------------------------

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

# cluster::bad_members HOST [SKIP_IP]: print the members HOST sees as failing or that do not answer.
cluster::bad_members() {
  local host=$1 skip=${2:-} id addr flags nodes
  nodes="$(redis::nodes "$host" "$REDIS_PORT")" || return 1
  while read -r id addr flags _; do
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
    quiet_cmd redis-cli --no-auth-warning --cluster fix "$host:$REDIS_PORT" --cluster-yes \
      --cluster-timeout "$REDIS_CLUSTER_TIMEOUT_MS" \
      || die "redis-cli --cluster fix failed; see $(cluster::trace)"
  fi
}

# quiet_cmd CMD...: run::cmd with the command's own output kept in the trace file (the dry-run line
# still shows on stdout).
quiet_cmd() {
  if run::is_dry; then run::cmd "$@"; return; fi
  run::cmd "$@" >> "$(cluster::trace)" 2>&1
}

# The chatty output of redis-cli --cluster goes to its own file next to the log.
cluster::trace() {
  local f
  f="$(path::of /var/log/hpc-cluster/redis-cluster-cli.log)"
  mkdir -p "$(dirname "$f")" 2>/dev/null || true
  printf '%s\n' "$f"
}

# cluster::check HOST: redis-cli --cluster check is clean (all slots covered, none open).
cluster::check() {
  local out
  out="$(redis-cli --no-auth-warning --cluster check "$1:$REDIS_PORT" 2>&1)" || { printf '%s\n' "$out" >> "$(cluster::trace)"; return 1; }
  printf '%s\n' "$out" >> "$(cluster::trace)"
  [[ $out == *"[OK] All $REDIS_SLOTS slots covered."* && $out != *"[WARNING]"* && $out != *"[ERR]"* ]]
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
    cluster::check "$host" || die "redis-cli --cluster check still reports problems after a fix; see $(cluster::trace)"
  fi
  log::ok "redis-cli --cluster check: all $REDIS_SLOTS slots covered, none half-moved"
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
  quiet_cmd redis-cli --no-auth-warning -h "$SELF_IP" -p "$REDIS_PORT" CLUSTER ADDSLOTSRANGE 0 $(( REDIS_SLOTS - 1 ))
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
  local peer=${1:-} out
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
    quiet_cmd redis-cli --no-auth-warning --cluster add-node "$SELF_IP:$REDIS_PORT" "$peer:$REDIS_PORT" \
      || die "redis-cli --cluster add-node failed; see $(cluster::trace)"
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
    printf '%s\n' "$out" >> "$(cluster::trace)"
    (( attempt < 3 )) || die "redis-cli --cluster rebalance failed; rerun this command to complete it (see $(cluster::trace))"
    log::warn "the rebalance stopped (attempt $attempt); repairing and resuming"
    cluster::repair "$host"
  done
  printf '%s\n' "$out" >> "$(cluster::trace)"
  if [[ $out == *"No rebalancing needed"* ]]; then
    log::info "slots already balanced: nothing moved"
  else
    log::ok "slots rebalanced: $(grep -c '^Moving' <<< "$out" || true) move(s)"
  fi
}

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
      quiet_cmd redis-cli --no-auth-warning --cluster add-node "$ip:$REDIS_REPLICA_PORT" "$next:$REDIS_PORT" \
        --cluster-slave --cluster-master-id "$mid" \
        || die "adding the replica $ip:$REDIS_REPLICA_PORT failed; see $(cluster::trace)"
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
    quiet_cmd redis-cli --no-auth-warning -h "$ip" -p "$REDIS_REPLICA_PORT" CLUSTER REPLICATE "$mid"
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
      run::is_dry || run::wait_until 120 "$ip:$REDIS_PORT to sync from its master" cluster::link_up "$ip" "$REDIS_PORT" \
        || { log::warn "$ip:$REDIS_PORT is not in sync; not failing back"; continue; }
    fi
    log::info "$ip:$REDIS_PORT takes its master role back (CLUSTER FAILOVER)"
    quiet_cmd redis-cli --no-auth-warning -h "$ip" -p "$REDIS_PORT" CLUSTER FAILOVER
    run::is_dry || run::wait_until 60 "$ip:$REDIS_PORT to become master" cluster::is_master "$ip" "$REDIS_PORT" \
      || log::warn "$ip:$REDIS_PORT did not become master"
  done
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

cluster::link_up() { [[ "$(redis::info_field "$1" "$2" replication master_link_status)" == up ]]; }
cluster::is_master() { [[ "$(redis::info_field "$1" "$2" replication role)" == master ]]; }

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
        quiet_cmd redis-cli --no-auth-warning --cluster fix "$SELF_IP:$REDIS_PORT" --cluster-yes \
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
  if (( reachable )); then
    local leave=(--leave --yes)
    if run::is_dry; then leave+=(--dry-run); fi
    remote::toolkit "$ip" setup/phase2_redis_setup.sh "${leave[@]}" \
      || log::warn "could not stop Redis on $ip; stop it there with: setup/phase2_redis_setup.sh --leave"
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
    quiet_cmd redis-cli --no-auth-warning -h "${addr%:*}" -p "${addr#*:}" CLUSTER FORGET "$gone" || true
  done <<< "$nodes"
  log::ok "node $gone removed from the Redis cluster"
}

# ---- Sentinel -----------------------------------------------------------------------------------

sentinel::count() { printf '%d\n' $(( NODE_COUNT + (${#ARBITRATOR_IP} > 0 ? 1 : 0) )); }

sentinel::quorum() { printf '%d\n' $(( $(sentinel::count) / 2 + 1 )); }

# sentinel::hosts: every host that runs a sentinel (the nodes, then the witness).
sentinel::hosts() {
  printf '%s\n' "${NODE_IPS[@]}"
  if [[ -n $ARBITRATOR_IP ]]; then printf '%s\n' "$ARBITRATOR_IP"; fi
}

# sentinel::current_master: ask every reachable sentinel, then every node's INFO, who the master is.
sentinel::current_master() {
  local ip out
  for ip in $(sentinel::hosts); do
    [[ $ip == "$SELF_IP" ]] && continue
    out="$(redis::cli "$ip" "$REDIS_SENTINEL_PORT" SENTINEL GET-MASTER-ADDR-BY-NAME "$REDIS_SENTINEL_MASTER" | head -n 1 | tr -d '\r' || true)"
    if [[ -n $out ]] && redis::ping "$out" "$REDIS_PORT"; then printf '%s\n' "$out"; return 0; fi
  done
  for ip in "${NODE_IPS[@]}"; do
    [[ $ip == "$SELF_IP" ]] && continue
    if [[ "$(redis::info_field "$ip" "$REDIS_PORT" replication role)" == master ]]; then printf '%s\n' "$ip"; return 0; fi
  done
  return 1
}

# shellcheck disable=SC2034 # the @TOKENS@ of configs/sentinel.conf, filled by name
sentinel::configure() {
  local master=$1 pw NODE_IP=$SELF_IP MASTER_NAME=$REDIS_SENTINEL_MASTER MASTER_IP=$1 QUORUM
  local PID_FILE=/run/sentinel-hpc/redis-sentinel.pid LOG_FILE=/var/log/redis/redis-sentinel-hpc.log
  local DATA_DIR=/var/lib/redis/sentinel-hpc
  QUORUM="$(sentinel::quorum)"
  if redis::sentinel_is_running && [[ "$(redis::cli 127.0.0.1 "$REDIS_SENTINEL_PORT" SENTINEL GET-MASTER-ADDR-BY-NAME "$MASTER_NAME" | head -n 1 | tr -d '\r')" == "$master" ]]; then
    log::info "Sentinel already monitors $master"
    return 0
  fi
  SENTINEL_CHANGED=1
  pw="$(secrets::get "$REDIS_PASSWORD_SECRET")"
  run::mkdir "$(path::of "$DATA_DIR")" 0750 redis:redis
  { tpl::render "$(tpl::path sentinel.conf)" NODE_IP MASTER_NAME MASTER_IP QUORUM PID_FILE LOG_FILE DATA_DIR
    printf 'sentinel auth-pass %s %s\nrequirepass %s\nsentinel sentinel-pass %s\n' "$MASTER_NAME" "$pw" "$pw" "$pw"
  } | SECRET_CONTENT=1 run::write_file "$(redis::sentinel_conf)" 0640 redis:redis
  redis::sentinel_stop
  redis::sentinel_start
  run::is_dry && return 0
  run::wait_until 60 "Sentinel on $SELF_IP to answer" redis::ping 127.0.0.1 "$REDIS_SENTINEL_PORT" \
    || die "Sentinel did not start; see $(redis::sentinel_log_file)"
  log::ok "Sentinel monitors $master (quorum $QUORUM of $(sentinel::count) sentinels)"
}

# sentinel::reset_all: SENTINEL RESET each sentinel in turn, letting it rediscover the others first,
# then check every one knows the expected number of sentinels.
sentinel::reset_all() {
  log::phase sentinel
  local ip expected replicas master
  expected=$(( $(sentinel::live_sentinels | wc -l) - 1 ))
  master="$(redis::cli "$SELF_IP" "$REDIS_SENTINEL_PORT" SENTINEL GET-MASTER-ADDR-BY-NAME "$REDIS_SENTINEL_MASTER" | head -n 1 | tr -d '\r' || true)"
  replicas="$(redis::info_field "${master:-$SELF_IP}" "$REDIS_PORT" replication connected_slaves || echo 0)"
  for ip in $(sentinel::live_sentinels); do
    quiet_cmd redis-cli --no-auth-warning -h "$ip" -p "$REDIS_SENTINEL_PORT" SENTINEL RESET "$REDIS_SENTINEL_MASTER"
    run::is_dry && continue
    # A reset sentinel forgets the replicas too, and cannot fail over until it has found them again
    # (INFO every 10 s): the next one is reset only after that.
    run::wait_until 60 "Sentinel $ip to see the other $expected sentinel(s) and $replicas replica(s)" \
      sentinel::knows "$ip" "$expected" "$replicas" \
      || log::warn "Sentinel $ip knows fewer sentinels or replicas than expected"
  done
  if (( expected + 1 < 3 )); then
    log::warn "only $(( expected + 1 )) Sentinel(s) run: a whole node's loss can NOT be failed over automatically (add cluster.arbitrator and run --witness there)"
  fi
}

sentinel::live_sentinels() {
  local ip
  for ip in $(sentinel::hosts); do
    redis::ping "$ip" "$REDIS_SENTINEL_PORT" && printf '%s\n' "$ip"
  done
  return 0
}

# sentinel::knows IP SENTINELS REPLICAS: the sentinel on IP knows at least that many of each.
sentinel::knows() {
  local out n r
  out="$(redis::cli "$1" "$REDIS_SENTINEL_PORT" SENTINEL MASTER "$REDIS_SENTINEL_MASTER" | tr -d '\r' || true)"
  n="$(awk 'prev == "num-other-sentinels" { print; exit } { prev = $0 }' <<< "$out")"
  r="$(awk 'prev == "num-slaves" { print; exit } { prev = $0 }' <<< "$out")"
  [[ $n =~ ^[0-9]+$ && $r =~ ^[0-9]+$ ]] && (( n >= $2 && r >= ${3:-0} ))
}

sentinel::bootstrap() {
  log::phase bootstrap
  local master
  if master="$(sentinel::current_master)"; then
    log::warn "$master is already the Redis master: joining it instead of bootstrapping a second one"
    sentinel::join "$master"
    return
  fi
  if [[ "$(redis::info_field "$SELF_IP" "$REDIS_PORT" replication role)" != master ]]; then
    quiet_cmd redis-cli --no-auth-warning -h "$SELF_IP" -p "$REDIS_PORT" REPLICAOF NO ONE
  fi
  sentinel::configure "$SELF_IP"
  if (( SENTINEL_CHANGED )); then sentinel::reset_all; fi
  log::ok "this node is the Redis master"
}

sentinel::join() {
  log::phase join
  local master=${1:-}
  [[ -n $master ]] || master="$(sentinel::current_master)" \
    || die "[ERROR RedisMaster]: no Sentinel or node reports a Redis master (fix: --bootstrap on the first node)" "$EXIT_PREFLIGHT"
  if [[ $master != "$SELF_IP" ]]; then
    if [[ "$(redis::info_field "$SELF_IP" "$REDIS_PORT" replication master_host)" != "$master" ]]; then
      log::info "replicating from $master:$REDIS_PORT"
      quiet_cmd redis-cli --no-auth-warning -h "$SELF_IP" -p "$REDIS_PORT" REPLICAOF "$master" "$REDIS_PORT"
      quiet_cmd redis-cli --no-auth-warning -h "$SELF_IP" -p "$REDIS_PORT" CONFIG REWRITE || true
    fi
    if ! run::is_dry; then
      run::wait_until 300 "master_link_status:up on $SELF_IP" cluster::link_up "$SELF_IP" "$REDIS_PORT" \
        || die "this replica did not finish its sync from $master; see $(redis::log_file "$REDIS_PORT")"
    fi
  fi
  sentinel::configure "$master"
  if (( SENTINEL_CHANGED )); then sentinel::reset_all; fi
}

sentinel::witness() {
  log::phase witness
  local master
  master="$(sentinel::current_master)" \
    || die "[ERROR RedisMaster]: no node reports a Redis master yet (fix: set up Redis on the nodes first)" "$EXIT_PREFLIGHT"
  sentinel::configure "$master"
  if (( SENTINEL_CHANGED )); then sentinel::reset_all; fi
}

sentinel::remove() {
  log::phase remove
  local ip=$1 master
  master="$(sentinel::current_master || true)"
  if [[ $master == "$ip" ]]; then
    log::info "$ip is the master: asking Sentinel for a planned switchover first"
    quiet_cmd redis-cli --no-auth-warning -h "$SELF_IP" -p "$REDIS_SENTINEL_PORT" SENTINEL FAILOVER "$REDIS_SENTINEL_MASTER"
    run::is_dry || run::wait_until 120 "a new master other than $ip" sentinel::master_is_not "$ip" \
      || die "the switchover away from $ip did not finish; nothing was removed"
  fi
  if redis::ping "$ip" "$REDIS_PORT" || redis::ping "$ip" "$REDIS_SENTINEL_PORT"; then
    remote::toolkit "$ip" setup/phase2_redis_setup.sh --leave --yes \
      || log::warn "could not stop Redis on $ip; stop it there with: setup/phase2_redis_setup.sh --leave"
  fi
  sentinel::reset_all
}

sentinel::master_is_not() {
  local m
  m="$(redis::cli "$SELF_IP" "$REDIS_SENTINEL_PORT" SENTINEL GET-MASTER-ADDR-BY-NAME "$REDIS_SENTINEL_MASTER" | head -n 1 | tr -d '\r' || true)"
  [[ -n $m && $m != "$1" ]] && cluster::is_master "$m" "$REDIS_PORT"
}

sentinel::summary() {
  local master replicas sentinels=0 ip
  master="$(redis::cli 127.0.0.1 "$REDIS_SENTINEL_PORT" SENTINEL GET-MASTER-ADDR-BY-NAME "$REDIS_SENTINEL_MASTER" | head -n 1 | tr -d '\r' || true)"
  [[ -n $master ]] || master="$(sentinel::current_master || true)"
  [[ -n $master ]] || { printf 'redis sentinel: no master found\n'; return 1; }
  replicas="$(redis::info_field "$master" "$REDIS_PORT" replication connected_slaves || echo 0)"
  for ip in $(sentinel::hosts); do redis::ping "$ip" "$REDIS_SENTINEL_PORT" && sentinels=$(( sentinels + 1 )); done
  printf 'redis sentinel: master %s, %d replica(s), %d sentinel(s); ' "$master" "$replicas" "$sentinels"
  if (( replicas >= 1 && sentinels >= 3 )); then
    printf 'survives the loss of any one node (automatic failover)\n'
  elif (( replicas >= 1 )); then
    printf 'a replica holds the data but fewer than 3 sentinels: failover after a node loss is MANUAL\n'
  else
    printf 'no replica: losing the master node loses the service\n'
  fi
}

# ---- modes --------------------------------------------------------------------------------------

mode::status() {
  local line rc=0
  if [[ $REDIS_TYPE == cluster ]]; then
    line="$(redis::cluster_summary "$SELF_IP" "$REDIS_PORT")" || rc=1
  else
    line="$(sentinel::summary)" || rc=1
  fi
  if (( JSON )); then
    printf '{"service":"redis","type":%s,"ok":%s,"summary":%s}\n' "$(json::str "$REDIS_TYPE")" \
      "$(json::bool "$(( rc == 0 ))")" "$(json::str "$line")"
  else
    printf '%s\n' "$line"
  fi
  return "$rc"
}

mode::leave() {
  log::phase leave
  local port
  for port in $(redis::local_ports); do redis::stop "$port"; done
  if [[ $REDIS_TYPE == sentinel ]]; then redis::sentinel_stop; fi
  # A node that was removed must not come back with its old cluster identity (and its old keys).
  for port in $(redis::local_ports); do
    run::cmd rm -f -- "$(redis::data_dir "$port")/nodes-$port.conf"
  done
  log::ok "Redis stopped on $SELF_IP"
}

mode::add_node() {
  log::phase add-node
  local args=(--join --peer "$SELF_IP" --yes)
  if run::is_dry; then args+=(--dry-run); fi
  log::info "running --join on $TARGET"
  remote::toolkit "$TARGET" setup/phase2_redis_setup.sh "${args[@]}"
}

on_failure() {
  local code=$?
  trap - ERR
  if (( code != 0 )); then
    run::rollback_files
  fi
  lib::on_exit
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  if [[ $MODE == witness ]]; then
    [[ $REDIS_TYPE == sentinel ]] || die "--witness is for redis.type: sentinel (a Redis Cluster needs no witness)" "$EXIT_USAGE"
    [[ -n $ARBITRATOR_IP ]] || die "--witness needs cluster.arbitrator in the config" "$EXIT_USAGE"
    SELF_IP=$ARBITRATOR_IP
    if [[ -n "${HPC_NODE_IP:-}" ]]; then SELF_IP=$HPC_NODE_IP; fi
  else
    node::require_self
  fi
  if [[ $MODE == status ]]; then
    redis::load_password
    mode::status
    return
  fi
  lock::acquire redis
  trap on_failure EXIT
  phase::preflight
  case "$MODE" in
    leave) mode::leave; run::commit_files; return 0 ;;
    add-node) mode::add_node; return ;;
    remove-node)
      [[ $TARGET != "$SELF_IP" ]] || die "--remove-node runs on a survivor, not on the node being removed" "$EXIT_USAGE"
      if [[ $REDIS_TYPE == cluster ]]; then cluster::remove "$TARGET"; else sentinel::remove "$TARGET"; fi
      run::commit_files
      return 0
      ;;
  esac
  if [[ $MODE == witness ]]; then
    phase::configure_witness_dirs
    sentinel::witness
    run::commit_files
    return 0
  fi
  phase::configure
  phase::start
  if [[ $REDIS_TYPE == cluster ]]; then
    case "$MODE" in
      bootstrap|standalone) cluster::bootstrap ;;
      join) cluster::join "$PEER" ;;
    esac
    if [[ $MODE != join ]]; then cluster::place_replicas "$SELF_IP"; fi
  else
    case "$MODE" in
      bootstrap|standalone) sentinel::bootstrap ;;
      join) sentinel::join "" ;;
    esac
  fi
  run::commit_files
  log::phase finish
  run::is_dry || log::ok "$(mode::status 2>/dev/null || true)"
}

phase::configure_witness_dirs() {
  run::mkdir "$(path::of /var/log/redis)" 2750 redis:adm
}

main "$@"
