# shellcheck shell=bash
# lib/redis_sentinel.sh - Redis with Sentinel (redis.type: sentinel; setup/phase2_redis_setup.sh): who
# the master is, this node's sentinel, replication, the witness on the arbitrator, removal.
# Needs lib/redis.sh.

# Set when this run (re)configured a Sentinel: only then are the sentinels reset.
SENTINEL_CHANGED=0

sentinel::count() { printf '%d\n' $(( NODE_COUNT + (${#ARBITRATOR_IP} > 0 ? 1 : 0) )); }

sentinel::quorum() { printf '%d\n' $(( $(sentinel::count) / 2 + 1 )); }

# sentinel::hosts: every host that runs a sentinel (the nodes, then the witness).
sentinel::hosts() {
  # shellcheck disable=SC2153 # NODE_IPS comes from lib/config.sh
  printf '%s\n' "${NODE_IPS[@]}"
  if [[ -n $ARBITRATOR_IP ]]; then printf '%s\n' "$ARBITRATOR_IP"; fi
}

# sentinel::master_addr HOST: the master the sentinel on HOST reports (empty when it does not answer).
sentinel::master_addr() {
  local out
  out="$(redis::cli "$1" "$REDIS_SENTINEL_PORT" SENTINEL GET-MASTER-ADDR-BY-NAME "$REDIS_SENTINEL_MASTER" || true)"
  out="$(sed -n 1p <<< "$out")"
  printf '%s\n' "${out//$'\r'/}"
}

# sentinel::ensure MASTER: this node's sentinel monitors MASTER; every sentinel is reset when it changed.
sentinel::ensure() {
  sentinel::configure "$1"
  if (( SENTINEL_CHANGED )); then sentinel::reset_all; fi
}

# sentinel::current_master: ask every reachable sentinel, then every node's INFO, who the master is.
sentinel::current_master() {
  local ip out
  for ip in $(sentinel::hosts); do
    [[ $ip == "$SELF_IP" ]] && continue
    out="$(sentinel::master_addr "$ip")"
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
  if redis::sentinel_is_running && [[ "$(sentinel::master_addr 127.0.0.1)" == "$master" ]]; then
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
  master="$(sentinel::master_addr "$SELF_IP")"
  replicas="$(redis::info_field "${master:-$SELF_IP}" "$REDIS_PORT" replication connected_slaves || echo 0)"
  for ip in $(sentinel::live_sentinels); do
    redis::send "$ip" "$REDIS_SENTINEL_PORT" SENTINEL RESET "$REDIS_SENTINEL_MASTER"
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
    redis::send "$SELF_IP" "$REDIS_PORT" REPLICAOF NO ONE
  fi
  sentinel::ensure "$SELF_IP"
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
      redis::send "$SELF_IP" "$REDIS_PORT" REPLICAOF "$master" "$REDIS_PORT"
      redis::send "$SELF_IP" "$REDIS_PORT" CONFIG REWRITE || true
    fi
    if ! run::is_dry; then
      run::wait_until 300 "master_link_status:up on $SELF_IP" redis::link_up "$SELF_IP" "$REDIS_PORT" \
        || die "this replica did not finish its sync from $master; see $(redis::log_file "$REDIS_PORT")"
    fi
  fi
  sentinel::ensure "$master"
}

sentinel::witness() {
  log::phase witness
  local master
  master="$(sentinel::current_master)" \
    || die "[ERROR RedisMaster]: no node reports a Redis master yet (fix: set up Redis on the nodes first)" "$EXIT_PREFLIGHT"
  sentinel::ensure "$master"
}

sentinel::remove() {
  log::phase remove
  local ip=$1 master
  master="$(sentinel::current_master || true)"
  if [[ $master == "$ip" ]]; then
    log::info "$ip is the master: asking Sentinel for a planned switchover first"
    redis::send "$SELF_IP" "$REDIS_SENTINEL_PORT" SENTINEL FAILOVER "$REDIS_SENTINEL_MASTER"
    run::is_dry || run::wait_until 120 "a new master other than $ip" sentinel::master_is_not "$ip" \
      || die "the switchover away from $ip did not finish; nothing was removed"
  fi
  if redis::ping "$ip" "$REDIS_PORT" || redis::ping "$ip" "$REDIS_SENTINEL_PORT"; then
    redis::leave_remote "$ip"
  fi
  sentinel::reset_all
}

sentinel::master_is_not() {
  local m
  m="$(sentinel::master_addr "$SELF_IP")"
  [[ -n $m && $m != "$1" ]] && redis::is_master "$m" "$REDIS_PORT"
}

sentinel::summary() {
  local master replicas sentinels=0 ip
  master="$(sentinel::master_addr 127.0.0.1)"
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
