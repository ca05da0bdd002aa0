# shellcheck shell=bash
# lib/health.sh - this node's health checks (utils/health_check.sh), each critical or not.
# A check prints one line "STATUS<TAB>MESSAGE" with STATUS ok | warn | fail | not_configured.
# Only a critical check that fails makes the node unhealthy (HTTP 503, keepalived gives the VIP away);
# a service that was never set up on this node is not_configured and never fails the node.
#
# "Set up here" = the phase script left ${STATE_DIR}/services/NAME, or the daemon runs, or its config
# files exist (so a node set up before the markers existed is still checked).

# shellcheck source=web.sh
source "$HPC_LIB_DIR/web.sh"   # health::check_nginx (the registry lists it for web)

# Every check: the registry's services' (SERVICE_HEALTH, in service order), then the node's own
# (disk, memory) and the cluster-wide vip - HEALTH_CHECKS in lib/config.sh, the schema's list plus vip.
readonly HEALTH_CHECKS_ALL=("${HEALTH_CHECKS[@]}")
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-2}"

# health::is_critical NAME: NAME is listed in health.critical_checks (web: or any critical web service).
health::is_critical() {
  local c
  # vip looks at the whole cluster, not at this node: it must never decide this node's health (or
  # keepalived's track script would move the VIP because of another node).
  [[ $1 == vip ]] && return 1
  [[ $1 == nginx ]] && { web::configured; return; }   # nginx: critical whenever cluster.web is set
  for c in "${HEALTH_CRITICAL_CHECKS[@]}"; do
    [[ $c == "$1" ]] && return 0
  done
  if [[ $1 == web ]]; then
    for c in "${WEB_SERVICE_CRITICAL[@]}"; do
      [[ $c == true ]] && return 0
    done
  fi
  return 1
}

# health::marked NAME: a phase script recorded that NAME is set up on this node.
health::marked() {
  [[ -e "$(path::of "$STATE_DIR/services/$1")" ]]
}

health::_result() {
  printf '%s\t%s\n' "$1" "$2"
}

health::_bounded() {
  timeout -k 1 "$HEALTH_TIMEOUT" "$@"
}

# Galera: the node must be Synced in a Primary component (Donor/Desynced still serve: warn).
health::check_mariadb() {
  local out name value
  local -A w=()
  if ! svc::process_running mariadbd mysqld; then
    if health::marked mariadb || [[ -e "$(path::of /var/lib/mysql/grastate.dat)" ]]; then
      health::_result fail "mariadbd is not running"
    else
      health::_result not_configured "MariaDB is not set up on this node"
    fi
    return 0
  fi
  if ! out="$(health::_bounded mariadb --connect-timeout="$HEALTH_TIMEOUT" -N -B \
      -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_cluster_status','wsrep_cluster_size','wsrep_provider_name')" 2>/dev/null)"; then
    health::_result fail "mariadbd runs but does not answer queries"
    return 0
  fi
  while IFS=$'\t' read -r name value; do
    [[ -n $name ]] && w[$name]=$value
  done <<< "$out"
  if [[ -z ${w[wsrep_provider_name]:-} ]]; then
    health::_result ok "MariaDB answers (Galera not enabled)"
  elif [[ ${w[wsrep_cluster_status]:-} != Primary ]]; then
    # Still a fail (the VIP must leave it), but what its clients get: stale reads, refused writes.
    health::_result fail "read-only: Galera component is ${w[wsrep_cluster_status]:-unknown}, not Primary (reads answer from this node's last state, writes are refused until quorum returns)"
  else
    case "${w[wsrep_local_state_comment]:-}" in
      Synced) health::_result ok "Galera Synced, cluster size ${w[wsrep_cluster_size]:-?}" ;;
      Donor*|Desynced) health::_result warn "Galera ${w[wsrep_local_state_comment]} (serving, cluster size ${w[wsrep_cluster_size]:-?})" ;;
      *) health::_result fail "Galera state ${w[wsrep_local_state_comment]:-unknown}, not Synced" ;;
    esac
  fi
}

# Redis: answers PING; in cluster mode cluster_state:ok; a replica must have its master link up.
health::check_redis() {
  local pw="" out
  if ! svc::process_running redis-server; then
    # Set up here = phase 2 wrote this node's instance config (redis::conf_file; phase 2 leaves no
    # marker): a stopped Redis must fail, not read as "never set up" (measured: a Redis stopped on the
    # VIP owner left the VIP where it was).
    if health::marked redis || [[ -e "$(path::of "/etc/redis/redis-hpc-$REDIS_PORT.conf")" ]]; then
      health::_result fail "redis-server is not running"
    else
      health::_result not_configured "Redis is not set up on this node"
    fi
    return 0
  fi
  if [[ -n $REDIS_PASSWORD_SECRET ]]; then
    pw="$( (secrets::get "$REDIS_PASSWORD_SECRET") 2>/dev/null)" || true
  fi
  out="$(REDISCLI_AUTH="$pw" health::_bounded redis-cli --no-auth-warning -h 127.0.0.1 -p "$REDIS_PORT" \
    info replication 2>&1)" || true
  out=${out//$'\r'/}
  if [[ $out == *NOAUTH* || $out == *WRONGPASS* ]]; then
    health::_result fail "redis-server refused our password (secret $REDIS_PASSWORD_SECRET)"
    return 0
  fi
  if [[ ! $out =~ (^|$'\n')role:([a-z]+) ]]; then
    health::_result fail "redis-server does not answer on port $REDIS_PORT"
    return 0
  fi
  local role=${BASH_REMATCH[2]}
  if [[ $role == slave && ! $out =~ (^|$'\n')master_link_status:up ]]; then
    health::_result fail "replica without a link to its master"
    return 0
  fi
  if [[ $REDIS_TYPE == cluster ]]; then
    out="$(REDISCLI_AUTH="$pw" health::_bounded redis-cli --no-auth-warning -h 127.0.0.1 -p "$REDIS_PORT" \
      cluster info 2>&1)" || true
    out=${out//$'\r'/}
    if [[ $out =~ (^|$'\n')cluster_state:ok ]]; then
      health::_result ok "Redis $role, cluster_state ok"
    elif [[ $out == *"cluster support disabled"* ]]; then
      health::_result warn "Redis $role, cluster mode not enabled yet"
    else
      # Not a fail: cluster_state is the cluster's, and the nodes see it alike (a 2|2 split leaves no side
      # a majority of masters), so releasing the VIP here cannot help; the database's quorum places it.
      # A redis-server down or not answering here still fails. The alert RedisClusterStateFail fires.
      health::_result warn "Redis $role, cluster_state not ok (a slot range has no reachable master)"
    fi
    return 0
  fi
  health::_result ok "Redis $role"
}

# GlusterFS: the shared volume is mounted here and answers (a hung FUSE mount times out).
health::check_glusterfs() {
  local mp
  mp="$(path::of "$STORAGE_MOUNT_POINT")"
  if ! awk -v m="$STORAGE_MOUNT_POINT" '$2 == m { found = 1 } END { exit !found }' "$(path::of /proc/mounts)" 2>/dev/null; then
    if health::marked glusterfs || grep -qs -- " $STORAGE_MOUNT_POINT " "$(path::of /etc/fstab)"; then
      health::_result fail "$STORAGE_MOUNT_POINT is not mounted"
    else
      health::_result not_configured "shared storage is not set up on this node"
    fi
    return 0
  fi
  if health::_bounded stat -t "$mp/." >/dev/null 2>&1; then
    health::_result ok "$STORAGE_MOUNT_POINT mounted"
  else
    health::_result fail "$STORAGE_MOUNT_POINT is mounted but does not answer"
  fi
}

# health::_daemon NAME CONFIG: a Slurm daemon runs when this node is meant to run it.
health::_daemon() {
  local name=$1 conf=$2
  if svc::process_running "$name"; then
    health::_result ok "$name running"
  elif health::marked "$name" || [[ -f "$(path::of "$conf")" ]]; then
    health::_result fail "$name is not running"
  else
    health::_result not_configured "$name is not set up on this node"
  fi
}

health::check_slurmctld() { health::_daemon slurmctld /etc/slurm/slurm.conf; }
health::check_slurmdbd() { health::_daemon slurmdbd /etc/slurm/slurmdbd.conf; }

# Web services: each configured health URL on this node answers 2xx. A down service fails the check
# when it is critical (its own flag, or "web" in health.critical_checks), else warns.
health::check_web() {
  local i code down_crit=() down=() all_crit=0
  if (( ${#WEB_SERVICE_URLS[@]} == 0 )); then
    health::_result not_configured "no web services in the config"
    return 0
  fi
  local c
  for c in "${HEALTH_CRITICAL_CHECKS[@]}"; do [[ $c == web ]] && all_crit=1; done
  for i in "${!WEB_SERVICE_URLS[@]}"; do
    code="$(curl -s -o /dev/null -w '%{http_code}' -m "$HEALTH_TIMEOUT" "${WEB_SERVICE_URLS[i]}" 2>/dev/null)" || true
    [[ $code == 2?? ]] && continue
    if (( all_crit )) || [[ ${WEB_SERVICE_CRITICAL[i]} == true ]]; then
      down_crit+=("${WEB_SERVICE_NAMES[i]}")
    else
      down+=("${WEB_SERVICE_NAMES[i]}")
    fi
  done
  if (( ${#down_crit[@]} )); then
    health::_result fail "down: ${down_crit[*]} ${down[*]}"
  elif (( ${#down[@]} )); then
    health::_result warn "down (not critical): ${down[*]}"
  else
    health::_result ok "${#WEB_SERVICE_URLS[@]} web services answer"
  fi
}

# Disk: / and the shared mount; warn at health.disk_warning_percent, fail at 95 %.
health::check_disk() {
  local path pct worst=0 where="" out
  for path in / "$STORAGE_MOUNT_POINT" "$STORAGE_BACKUP_PATH"; do
    [[ -d "$(path::of "$path")" ]] || continue
    out="$(health::_bounded df -P "$(path::of "$path")" 2>/dev/null | awk 'NR == 2 { sub("%", "", $5); print $5 }')" || true
    [[ $out =~ ^[0-9]+$ ]] || continue
    pct=$out
    if (( pct > worst )); then worst=$pct where=$path; fi
  done
  if (( worst >= 95 )); then
    health::_result fail "disk ${worst}% used on $where"
  elif (( worst >= HEALTH_DISK_WARNING_PERCENT )); then
    health::_result warn "disk ${worst}% used on $where (warning at ${HEALTH_DISK_WARNING_PERCENT}%)"
  else
    health::_result ok "disk at most ${worst}% used${where:+ ($where)}"
  fi
}

# Memory: used = total - available; warn at health.memory_warning_percent, fail at 98 %.
health::check_memory() {
  local total="" avail="" key value _ pct
  while read -r key value _; do
    case "$key" in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done < "$(path::of /proc/meminfo)"
  if [[ -z $total || -z $avail ]] || (( total == 0 )); then
    health::_result warn "cannot read /proc/meminfo"
    return 0
  fi
  pct=$(( (total - avail) * 100 / total ))
  if (( pct >= 98 )); then
    health::_result fail "memory ${pct}% used"
  elif (( pct >= HEALTH_MEMORY_WARNING_PERCENT )); then
    health::_result warn "memory ${pct}% used (warning at ${HEALTH_MEMORY_WARNING_PERCENT}%)"
  else
    health::_result ok "memory ${pct}% used"
  fi
}

# VIP (health_check.sh only; needs lib/keepalived.sh): exactly one node holds the VIP, as seen from
# here (every node asked at once over SSH, bounded by HEALTH_TIMEOUT). Never critical, and never part
# of keepalived's track script: it describes the cluster, and another node's state must not move the VIP.
# The SSH round costs ~0.3-0.5 s against ~0.1 s for the rest of the report, so an answer is reused
# for HEALTH_VIP_CACHE seconds (GET /health may be polled often; 0 = always ask).
HEALTH_VIP_CACHE="${HEALTH_VIP_CACHE:-5}"

health::check_vip() {
  local cache stamp=0 line=""
  if [[ -z ${VIP_ADDRESS:-} ]] || ! declare -F vip::holders >/dev/null; then
    health::_result not_configured "no VIP in the config"
    return 0
  fi
  if [[ ! -e "$(path::of /etc/keepalived/keepalived.conf)" ]] && ! svc::process_running keepalived; then
    health::_result not_configured "keepalived is not set up on this node"
    return 0
  fi
  cache="$(path::of /run/hpc-cluster/health_vip)"
  if (( HEALTH_VIP_CACHE > 0 )) && [[ -r $cache ]]; then
    { read -r stamp; IFS= read -r line; } < "$cache" || true
    if [[ $stamp =~ ^[0-9]+$ && -n $line ]] && (( EPOCHSECONDS - stamp < HEALTH_VIP_CACHE )); then
      printf '%s\n' "$line"
      return 0
    fi
  fi
  line="$(health::_check_vip_now)"
  if (( HEALTH_VIP_CACHE > 0 )) && mkdir -p "$(dirname "$cache")" 2>/dev/null; then
    printf '%s\n%s\n' "$EPOCHSECONDS" "$line" > "$cache.$BASHPID" && mv -f "$cache.$BASHPID" "$cache"
  fi
  printf '%s\n' "$line"
}

health::_check_vip_now() {
  local ip held holders=() unknown=() names=() h
  while read -r ip held; do
    case "$held" in
      yes) holders+=("$ip"); h="$(node::hostname_of "$ip")" || h=$ip; names+=("$h ($ip)") ;;
      unknown) unknown+=("$ip") ;;
    esac
  done < <(vip::holders "$HEALTH_TIMEOUT")
  local unknown_note=""
  (( ${#unknown[@]} )) && unknown_note="; could not ask ${unknown[*]}"
  if (( ${#holders[@]} > 1 )); then
    health::_result fail "VIP $VIP_ADDRESS held by ${#holders[@]} nodes: $(printf '%s, ' "${names[@]}" | sed 's/, $//')$unknown_note"
  elif (( ${#holders[@]} == 1 && ${#unknown[@]} == 0 )); then
    health::_result ok "VIP $VIP_ADDRESS held by ${names[0]}"
  elif (( ${#holders[@]} == 1 )); then
    health::_result warn "VIP $VIP_ADDRESS held by ${names[0]}$unknown_note"
  elif (( ${#unknown[@]} )); then
    health::_result warn "no reachable node holds the VIP $VIP_ADDRESS$unknown_note"
  else
    health::_result fail "no node holds the VIP $VIP_ADDRESS"
  fi
}

# health::drained: the maintenance drain file exists (forces 503 and a failing --quiet).
health::drained() {
  [[ -e "$(path::of "$HEALTH_DRAIN_FILE")" ]]
}

# health::run_checks DIR NAME...: run the checks in parallel (each bounded), results in DIR/NAME (each
# file appears whole, when its check is done). With HEALTH_RUN_DEADLINE=S, return after S seconds even
# if a check is still running: its result is then missing, which reads as "did not finish" (a fail).
# keepalived's track script needs this: a stat on a FUSE mount whose bricks just vanished can outlive
# its SIGKILL for the mount's ping-timeout, and while one run hangs keepalived skips the next ones and
# keeps the last verdict - in a 2|2 split a node of the side without quorum stayed "fit" for ~9 s and
# took the VIP. The check left behind finishes (or dies) on its own; nobody reads it.
health::run_checks() {
  local dir=$1 name deadline all_done
  shift
  for name in "$@"; do
    # Nothing of ours stays open in a check left behind: a caller reading our output is not held.
    { health::check_"$name" > "$dir/.$name"; mv -f -- "$dir/.$name" "$dir/$name"; } < /dev/null > /dev/null 2>&1 &
  done
  if [[ -z ${HEALTH_RUN_DEADLINE:-} ]]; then wait || true; return 0; fi
  deadline=$(( ${EPOCHREALTIME/./} + HEALTH_RUN_DEADLINE * 1000000 ))
  while :; do
    all_done=1
    for name in "$@"; do [[ -e $dir/$name ]] || { all_done=0; break; }; done
    if (( all_done )); then wait || true; return 0; fi
    (( ${EPOCHREALTIME/./} < deadline )) || return 0
    sleep 0.05
  done
}

# health::report DIR NAME...: the JSON report of the checks left in DIR; sets HEALTH_OK (1 = healthy).
health::report() {
  local dir=$1 name status msg first=1 critical failed=() drained=0 overall
  shift
  HEALTH_OK=1
  local checks=""
  for name in "$@"; do
    status="" msg=""
    IFS=$'\t' read -r status msg < "$dir/$name" || true
    if [[ -z $status ]]; then status=fail msg="check did not finish within ${HEALTH_TIMEOUT}s"; fi
    critical=false
    health::is_critical "$name" && critical=true
    if [[ $status == fail && $critical == true ]]; then
      HEALTH_OK=0
      failed+=("$name")
    fi
    (( first )) || checks+=','
    first=0
    checks+="$(json::str "$name"):{\"status\":$(json::str "$status"),\"critical\":$critical,\"message\":$(json::str "$msg")}"
  done
  if health::drained; then
    HEALTH_OK=0
    drained=1
  fi
  if (( drained )); then overall=drain
  elif (( ! HEALTH_OK )); then overall=fail
  elif grep -qs -P '^(fail|warn)\t' "$dir"/*; then overall=degraded
  else overall=ok
  fi
  printf '{"status":%s,"healthy":%s,"drain":%s,"node":%s,"hostname":%s,"timestamp":%s,"failed_critical":%s,"checks":{%s}}\n' \
    "$(json::str "$overall")" "$(json::bool "$HEALTH_OK")" "$(json::bool "$drained")" \
    "$( [[ -n ${SELF_IP:-} ]] && json::str "$SELF_IP" || printf null)" \
    "$(json::str "$(hostname 2>/dev/null || true)")" "$(json::str "$(date -u '+%Y-%m-%dT%H:%M:%SZ')")" \
    "$(json::arr_str "${failed[@]+"${failed[@]}"}")" "$checks"
}

# health::critical_list: the configured critical checks that exist (web only when configured).
health::critical_list() {
  local name
  for name in "${HEALTH_CHECKS_ALL[@]}"; do
    health::is_critical "$name" && printf '%s\n' "$name"
  done
  return 0
}
