#!/usr/bin/env bash
# Usage: backup_redis.sh --dest DIR [--json] [--dry-run]
# Summary: Snapshot every Redis master in one pass (BGSAVE on all, then wait for each LASTSAVE to move) and copy the RDB files into DIR.
#
# Redis Cluster: every master serving slots holds different keys, so each one is saved; Sentinel: the
# current master. BGSAVE is started on every master first, then each is waited for (LASTSAVE changes
# and the save reports ok): one consistent point for the whole keyspace. Then each master's dump.rdb
# (and its AOF folder as a tar) is copied into DIR as IP_PORT.rdb / IP_PORT.aof.tar - locally or
# over SSH from the node that runs it. DIR/topology.txt records each master's slot ranges and key
# count; DIR/SHA256SUMS covers every file. The service keeps running. Refuses (exit 5) when the Redis
# cluster is not healthy (a slot not served, a master not answering): a partial backup is not one.
# Part of the backup contract (docs/toolkit-conventions.md); restore with backup/restore_redis.sh.
#
# Exit codes: 0 ok, 1 error, 2 usage, 5 Redis not healthy.
# shellcheck source=../lib/service_backup.sh
source "$HPC_LIB_DIR/service_backup.sh"
# shellcheck source=../lib/redis.sh
source "$HPC_LIB_DIR/redis.sh"

DEST=""
JSON=0

# any_member: a configured node whose Redis answers (this node first).
any_member() {
  local ip
  for ip in ${SELF_IP:+"$SELF_IP"} "${NODE_IPS[@]}"; do
    if redis::ping "$ip" "$REDIS_PORT"; then printf '%s\n' "$ip"; return 0; fi
  done
  return 1
}

# masters: "ip port slot-ranges" of every master to save.
masters() {
  local host out
  host="$(any_member)" || die "[ERROR RedisUp]: no configured node answers on port $REDIS_PORT" "$EXIT_PREFLIGHT"
  if [[ $REDIS_TYPE == cluster ]]; then
    redis::cluster_ok "$host" "$REDIS_PORT" \
      || die "[ERROR RedisHealthy]: the Redis cluster is not ok (cluster_state); a backup now would miss keys (fix: setup/phase2_redis_setup.sh --status)" "$EXIT_PREFLIGHT"
    out="$(redis::cli "$host" "$REDIS_PORT" CLUSTER NODES | tr -d '\r' || true)"
    awk '$3 ~ /master/ && $3 !~ /fail/ && NF > 8 {
           addr = $2; sub(/@.*/, "", addr); split(addr, a, ":")
           r = ""; for (i = 9; i <= NF; i++) if ($i !~ /^\[/) r = r (r == "" ? "" : ",") $i
           print a[1], a[2], r }' <<< "$out" | sort
  else
    if [[ "$(redis::info_field "$host" "$REDIS_PORT" replication role)" == master ]]; then
      printf '%s %s all\n' "$host" "$REDIS_PORT"
    else
      printf '%s %s all\n' "$(redis::info_field "$host" "$REDIS_PORT" replication master_host)" "$REDIS_PORT"
    fi
  fi
}

# member_masters: masters, each address checked against the configuration (a Redis that reports
# another master address - misconfigured or forged - gets no SSH and no BGSAVE from this script).
member_masters() {
  local list ip port ranges
  list="$(masters)" || return
  while read -r ip port ranges; do
    [[ -n $ip ]] || continue
    redis::require_member_addr "$ip" "$port" "the Redis topology"
    printf '%s %s %s\n' "$ip" "$port" "$ranges"
  done <<< "$list"
}

lastsave_moved() {
  local now
  now="$(redis::cli "$1" "$2" LASTSAVE || true)"
  [[ $now =~ ^[0-9]+$ ]] && (( now > $3 )) \
    && [[ "$(redis::info_field "$1" "$2" persistence rdb_bgsave_in_progress)" == 0 ]]
}

# save_start IP PORT: BGSAVE on IP:PORT; prints the LASTSAVE it must move past (LASTSAVE has a
# one-second resolution, so a save in the same second as the previous one waits for the next second).
save_start() {
  local ip=$1 port=$2 before out
  before="$(redis::cli "$ip" "$port" LASTSAVE || true)"
  [[ $before =~ ^[0-9]+$ ]] || die "no LASTSAVE from $ip:$port"
  while [[ "$(redis::cli "$ip" "$port" LASTSAVE)" == "$before" && $(date +%s) -le $before ]]; do sleep 0.2; done
  out="$(redis::cli "$ip" "$port" BGSAVE SCHEDULE || true)"
  [[ $out == *"Background saving"* ]] || die "BGSAVE on $ip:$port answered: $out"
  printf '%s\n' "$before"
}

# save_wait IP PORT BEFORE: wait for that BGSAVE to finish and succeed.
save_wait() {
  local ip=$1 port=$2 before=$3
  run::wait_until 600 "BGSAVE on $ip:$port to finish" lastsave_moved "$ip" "$port" "$before" \
    || die "BGSAVE on $ip:$port did not finish"
  [[ "$(redis::info_field "$ip" "$port" persistence rdb_last_bgsave_status)" == ok ]] \
    || die "BGSAVE on $ip:$port failed; see $(redis::log_file "$port") on $ip"
}

# fetch IP PORT: copy the RDB and the AOF folder of IP:PORT into DEST.
fetch() {
  local ip=$1 port=$2 dir file aofdir
  dir="$(redis::cli "$ip" "$port" CONFIG GET dir | tr -d '\r' | sed -n 2p || true)"
  file="$(redis::cli "$ip" "$port" CONFIG GET dbfilename | tr -d '\r' | sed -n 2p || true)"
  aofdir="$(redis::cli "$ip" "$port" CONFIG GET appenddirname | tr -d '\r' | sed -n 2p || true)"
  [[ -n $dir && -n $file ]] || die "cannot read the data directory of $ip:$port"
  remote::run "$ip" cat "$dir/$file" > "$DEST/${ip}_${port}.rdb" \
    || die "copying $dir/$file from $ip failed (SSH from this node to $ip is needed)"
  if [[ -n $aofdir ]]; then
    remote::run "$ip" tar -C "$dir" -cf - "$aofdir" > "$DEST/${ip}_${port}.aof.tar" 2>/dev/null \
      || { rm -f -- "$DEST/${ip}_${port}.aof.tar"; log::warn "no AOF copied from $ip:$port"; }
  fi
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  service_backup::parse_backup_args "$@"
  log::phase backup-redis
  SELF_IP=""
  if node::self_index >/dev/null 2>&1; then node::require_self; fi
  secrets::require "$REDIS_PASSWORD_SECRET"
  redis::load_password
  local list ip port ranges keys total=0 count=0
  list="$(member_masters)"
  [[ -n $list ]] || die "[ERROR RedisHealthy]: no master found" "$EXIT_PREFLIGHT"
  if run::is_dry; then
    while read -r ip port ranges; do
      printf '[dryrun] would BGSAVE %s:%s and copy its RDB to %s/%s_%s.rdb\n' "$ip" "$port" "$DEST" "$ip" "$port"
    done <<< "$list"
    return 0
  fi
  mkdir -p -- "$DEST"
  : > "$DEST/topology.txt"
  # One pass: every master starts its BGSAVE before any is waited for, so the RDBs are of one moment
  # (within the time the BGSAVE commands take to send), not one after the other.
  local -A before=()
  while read -r ip port ranges; do before[$ip:$port]="$(save_start "$ip" "$port" < /dev/null)"; done <<< "$list"
  while read -r ip port ranges; do save_wait "$ip" "$port" "${before[$ip:$port]}" < /dev/null; done <<< "$list"
  while read -r ip port ranges; do
    # SSH would read the rest of the master list from stdin.
    fetch "$ip" "$port" < /dev/null
    keys="$(redis::cli "$ip" "$port" DBSIZE || true)"
    printf '%s %s %s %s\n' "$ip" "$port" "${keys:-0}" "$ranges" >> "$DEST/topology.txt"
    total=$(( total + ${keys:-0} ))
    count=$(( count + 1 ))
    log::ok "saved $ip:$port (${keys:-0} keys)"
  done <<< "$list"
  printf 'mode %s\n' "$REDIS_TYPE" >> "$DEST/topology.txt"
  (cd "$DEST" && shopt -s nullglob && sha256sum -- *.rdb *.aof.tar topology.txt > SHA256SUMS)
  [[ -s $DEST/SHA256SUMS ]] || die "no checksum written in $DEST"
  log::ok "Redis backup: $count master(s), about $total keys, in $DEST"
  if (( JSON )); then
    printf '{"mode":%s,"masters":%d,"keys":%d}\n' "$(json::str "$REDIS_TYPE")" "$count" "$total"
  fi
}

main "$@"
