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
# --force is the same as --yes; --stop-local and --stop are old names of --leave.
# Exit codes: 0 ok, 1 error, 2 usage, 4 locked, 5 preflight failed (a member unreachable), 6 refused.
# shellcheck source=../lib/phase.sh
source "$HPC_LIB_DIR/phase.sh"
# shellcheck source=../lib/redis.sh
source "$HPC_LIB_DIR/redis.sh"
# shellcheck source=../lib/redis_cluster.sh
source "$HPC_LIB_DIR/redis_cluster.sh"   # and lib/redis_slots.sh, lib/redis_replicas.sh
# shellcheck source=../lib/redis_sentinel.sh
source "$HPC_LIB_DIR/redis_sentinel.sh"

PHASE_LOCK=redis
PHASE_MODES=(bootstrap join standalone status add-node remove-node witness leave)

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

# ---- modes --------------------------------------------------------------------------------------

phase::init() {
  if [[ $MODE == witness ]]; then
    [[ $REDIS_TYPE == sentinel ]] || die "--witness is for redis.type: sentinel (a Redis Cluster needs no witness)" "$EXIT_USAGE"
    [[ -n $ARBITRATOR_IP ]] || die "--witness needs cluster.arbitrator in the config" "$EXIT_USAGE"
    SELF_IP=${HPC_NODE_IP:-$ARBITRATOR_IP}
  else
    node::require_self
  fi
  if [[ $MODE == status ]]; then redis::load_password; else phase::preflight; fi
}

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

mode::bootstrap() {
  phase::configure
  phase::start
  if [[ $REDIS_TYPE == cluster ]]; then
    cluster::bootstrap
    cluster::place_replicas "$SELF_IP"
  else
    sentinel::bootstrap
  fi
  phase::finish
}

mode::join() {
  phase::configure
  phase::start
  if [[ $REDIS_TYPE == cluster ]]; then cluster::join "$PEER"; else sentinel::join ""; fi
  phase::finish
}

phase::finish() {
  run::commit_files
  log::phase finish
  run::is_dry || log::ok "$(mode::status 2>/dev/null || true)"
}

mode::witness() {
  run::mkdir "$(path::of /var/log/redis)" 2750 redis:adm
  sentinel::witness
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

mode::remove_node() {
  [[ $TARGET != "$SELF_IP" ]] || die "--remove-node runs on a survivor, not on the node being removed" "$EXIT_USAGE"
  if [[ $REDIS_TYPE == cluster ]]; then cluster::remove "$TARGET"; else sentinel::remove "$TARGET"; fi
}

main() { phase::main "$@"; }

main "$@"
