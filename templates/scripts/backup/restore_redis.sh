#!/usr/bin/env bash
# Usage: restore_redis.sh --src DIR [--dry-run] [--yes]
# Summary: Put the keys of a Redis backup (backup_redis.sh) back into the running Redis, whatever its topology now.
#
# Every checksum in DIR/SHA256SUMS is verified before anything changes. Each saved RDB is then loaded
# into a temporary redis-server on 127.0.0.1 of this node (no persistence, no cluster; a random
# password in a root-only config file, so no local user reads the backup through it) and its keys are
# copied into the live service: Redis Cluster with `redis-cli --cluster import --cluster-copy
# --cluster-replace` (each key goes to the master that owns its slot now, so a backup taken on 3
# nodes restores into 2 or 5); Sentinel with MIGRATE ... COPY REPLACE into the current master (the
# replicas follow). Keys of the backup replace keys of the same name; then every key that is not in
# the backup (written after it) is deleted from each master, so Redis holds exactly the snapshot's
# keys (asked first; --yes skips). Every master address a Redis reports is checked against the
# configured nodes before a key is sent to it. The service is never stopped. Redis must be running
# (setup/phase2_redis_setup.sh rebuilds the topology first). Key names are compared line by line: a
# key whose name holds a newline is not handled.
# Part of the backup contract (docs/toolkit-conventions.md).
#
# --force is the same as --yes.
# Exit codes: 0 ok, 1 error, 2 usage, 5 Redis not healthy or a checksum wrong, 6 not confirmed.
# shellcheck source=../lib/service_backup.sh
source "$HPC_LIB_DIR/service_backup.sh"
# shellcheck source=../lib/redis.sh
source "$HPC_LIB_DIR/redis.sh"

SRC=""
TEMP_PID=""
TEMP_PORT=""
TEMP_AUTH=""

verify_backup() {
  [[ -f $SRC/SHA256SUMS ]] || die "[ERROR RedisBackup]: $SRC/SHA256SUMS is missing: not a backup_redis.sh snapshot" "$EXIT_PREFLIGHT"
  (cd "$SRC" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1) \
    || die "[ERROR RedisBackup]: a checksum in $SRC does not match: the backup is damaged; nothing was changed" "$EXIT_PREFLIGHT"
  compgen -G "$SRC/*.rdb" >/dev/null || die "[ERROR RedisBackup]: no RDB file in $SRC" "$EXIT_PREFLIGHT"
  log::ok "checksums of $SRC verified"
}

# target: the live instance to restore into (a cluster member answering ok, or the Sentinel master).
target() {
  local ip
  for ip in ${SELF_IP:+"$SELF_IP"} "${NODE_IPS[@]}"; do
    redis::ping "$ip" "$REDIS_PORT" || continue
    if [[ $REDIS_TYPE == cluster ]]; then
      redis::cluster_ok "$ip" "$REDIS_PORT" && { printf '%s\n' "$ip"; return 0; }
    elif [[ "$(redis::info_field "$ip" "$REDIS_PORT" replication role)" == master ]]; then
      printf '%s\n' "$ip"
      return 0
    fi
  done
  return 1
}

# A free local port for the temporary loader.
free_port() {
  local p
  for (( p = REDIS_PORT + 3000; p < REDIS_PORT + 3100; p++ )); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then printf '%d\n' "$p"; return 0; fi
  done
  return 1
}

temp_cli() {
  # The loader's own random password (never the live one), from the environment, not argv.
  REDISCLI_AUTH="$TEMP_AUTH" timeout 60 redis-cli --no-auth-warning -h 127.0.0.1 -p "$TEMP_PORT" "$@" 2>/dev/null
}

temp_loaded() {
  [[ "$(temp_cli PING)" == PONG ]] && [[ "$(temp_cli INFO persistence | tr -d '\r' | sed -n 's/^loading://p')" == 0 ]]
}

# temp_start RDB: a throw-away redis-server reading RDB, bound to 127.0.0.1 only, with a random
# password that lives in a 0600 config file inside a 0700 temp dir (not on its command line, where
# any local user would read it in ps): a local user can reach the port but not the keys.
temp_start() {
  local rdb=$1 dir
  dir="$(tmp::dir)"
  chmod 0700 "$dir"
  cp -- "$rdb" "$dir/dump.rdb"
  chmod 0600 "$dir/dump.rdb"
  TEMP_PORT="$(free_port)" || die "no free local port for the temporary loader"
  TEMP_AUTH="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
  [[ ${#TEMP_AUTH} -eq 48 ]] || die "could not make a password for the temporary loader"
  ( umask 077
    printf 'port %s\nbind 127.0.0.1\nprotected-mode yes\nrequirepass %s\ndir %s\ndbfilename dump.rdb\nappendonly no\nsave ""\ndaemonize no\nlogfile %s\n' \
      "$TEMP_PORT" "$TEMP_AUTH" "$dir" "$dir/loader.log" > "$dir/loader.conf" )
  redis::_detached redis-server "$dir/loader.conf" &
  TEMP_PID=$!
  run::wait_until 300 "the temporary loader to read $(basename "$rdb")" temp_loaded \
    || die "the temporary loader did not start; see $dir/loader.log"
}

temp_stop() {
  [[ -n $TEMP_PID ]] || return 0
  temp_cli SHUTDOWN NOSAVE >/dev/null || kill "$TEMP_PID" 2>/dev/null || true
  wait "$TEMP_PID" 2>/dev/null || true
  TEMP_PID=""
}

# import_cluster HOST: copy every key of the loader into the cluster (slot owners found by redis-cli).
import_cluster() {
  local host=$1 trace
  trace="$(path::of /var/log/hpc-cluster/redis-restore-cli.log)"
  # The loader's password goes on stdin (--cluster-from-askpass), the live one in REDISCLI_AUTH.
  printf '%s\n' "$TEMP_AUTH" | redis-cli --no-auth-warning --cluster import "$host:$REDIS_PORT" \
    --cluster-from "127.0.0.1:$TEMP_PORT" --cluster-from-askpass \
    --cluster-copy --cluster-replace >> "$trace" 2>&1 || die "redis-cli --cluster import failed; see $trace"
}

# import_master HOST: MIGRATE the loader's keys to the Sentinel master in batches. The commands go to
# redis-cli on stdin, so the password (MIGRATE's AUTH) never appears on a command line.
import_master() {
  local host=$1 batch=() key out
  flush() {
    (( ${#batch[@]} )) || return 0
    out="$( { printf 'MIGRATE %s %s "" 0 60000 COPY REPLACE AUTH %s KEYS' "$host" "$REDIS_PORT" "$(quote "$REDISCLI_AUTH")"
              printf ' %s' "${batch[@]}"; printf '\n'; } | temp_cli )"
    [[ $out == OK* || $out == NOKEY* ]] || die "MIGRATE to $host:$REDIS_PORT failed: $out"
    batch=()
  }
  while IFS= read -r key; do
    batch+=("$(quote "$key")")
    (( ${#batch[@]} >= 500 )) && flush
  done < <(temp_cli --scan)
  flush
}

# live_masters HOST: "ip port" of every master that serves keys now (Cluster: the masters owning
# slots; Sentinel: HOST, the current master), each checked against the configured nodes.
live_masters() {
  local host=$1 list ip port
  if [[ $REDIS_TYPE == cluster ]]; then
    list="$(redis::nodes "$host" "$REDIS_PORT" | awk '$3 ~ /master/ && $3 !~ /fail/ && $6 > 0 { n = split($2, a, ":"); print a[1], a[n] }')"
  else
    list="$host $REDIS_PORT"
  fi
  while read -r ip port; do
    [[ -n $ip ]] || continue
    redis::require_member_addr "$ip" "$port" "the Redis topology of $host"
    printf '%s %s\n' "$ip" "$port"
  done <<< "$list"
}

# require_member_topology HOST: every node HOST's cluster knows is a configured address (redis-cli
# --cluster import sends keys to whatever CLUSTER NODES lists).
require_member_topology() {
  local host=$1 addr flags
  [[ $REDIS_TYPE == cluster ]] || return 0
  while read -r _ addr flags _; do
    [[ -n $addr && $flags != *noaddr* && $flags != *handshake* ]] || continue
    redis::require_member_addr "${addr%:*}" "${addr##*:}" "the Redis cluster of $host"
  done < <(redis::nodes "$host" "$REDIS_PORT")
}

# remove_newer HOST KEYS_FILE: delete from every live master the keys that are not in KEYS_FILE (the
# sorted key names of the backup). Prints how many were deleted.
remove_newer() {
  local host=$1 keys=$2 ip port extra removed=0 n masters
  extra="$(tmp::dir)/extra"
  masters="$(live_masters "$host")"
  while read -r ip port; do
    timeout 600 redis-cli --no-auth-warning -h "$ip" -p "$port" --scan 2>/dev/null < /dev/null | LC_ALL=C sort -u \
      | LC_ALL=C comm -23 - "$keys" > "$extra"
    n="$(wc -l < "$extra")"
    (( n > 0 )) || continue
    while IFS= read -r key; do printf 'DEL %s\n' "$(quote "$key")"; done < "$extra" \
      | timeout 600 redis-cli --no-auth-warning -h "$ip" -p "$port" > /dev/null 2>&1 \
      || die "deleting the keys written after the backup on $ip:$port failed"
    log::info "$ip:$port: deleted $n key(s) written after the backup"
    removed=$(( removed + n ))
  done <<< "$masters"
  printf '%d\n' "$removed"
}

# quote TEXT: a double-quoted argument for redis-cli's line parser.
quote() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

on_exit() {
  temp_stop
  lib::on_exit
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  service_backup::parse_restore_args "" "$@"
  log::phase restore-redis
  SELF_IP=""
  if node::self_index >/dev/null 2>&1; then node::require_self; fi
  secrets::require "$REDIS_PASSWORD_SECRET"
  redis::load_password
  verify_backup
  local host rdb keys total=0
  host="$(target)" || die "[ERROR RedisHealthy]: no healthy Redis ${REDIS_TYPE} answers (fix: setup/phase2_redis_setup.sh --bootstrap/--join first, then rerun)" "$EXIT_PREFLIGHT"
  if run::is_dry; then
    for rdb in "$SRC"/*.rdb; do
      printf '[dryrun] would load %s into a temporary redis-server and copy its keys into %s:%s\n' "$rdb" "$host" "$REDIS_PORT"
    done
    printf '[dryrun] would then delete from every master the keys that are not in the backup\n'
    return 0
  fi
  require_member_topology "$host"
  ui::confirm "Restore the keys of $SRC into the running Redis? Keys of the same name are replaced and keys that are not in the backup are deleted."
  trap on_exit EXIT
  local snapkeys removed
  snapkeys="$(tmp::dir)/keys"
  : > "$snapkeys"
  for rdb in "$SRC"/*.rdb; do
    temp_start "$rdb"
    keys="$(temp_cli DBSIZE)"
    temp_cli --scan >> "$snapkeys"
    if (( keys > 0 )); then
      if [[ $REDIS_TYPE == cluster ]]; then import_cluster "$host"; else import_master "$host"; fi
    fi
    temp_stop
    total=$(( total + keys ))
    log::ok "restored $keys keys from $(basename "$rdb")"
  done
  LC_ALL=C sort -u -o "$snapkeys" "$snapkeys"
  removed="$(remove_newer "$host" "$snapkeys")"
  log::ok "Redis restore: $total keys put back into $host:$REDIS_PORT ($REDIS_TYPE), $removed key(s) written after the backup deleted"
}

main "$@"
