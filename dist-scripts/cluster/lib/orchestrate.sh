# shellcheck shell=bash
# lib/orchestrate.sh - what start_multi_complete.sh and join_cluster.sh share: cluster identity,
# kubeadm-style preflight checks, the service phase runner, and the evidence a mode decision rests on.
#
# Safety rules (docs/field-lessons): a peer counts as down only on positive evidence (it answered and
# said so, or its host refused the connection); a timeout or "no route" is unknown, because that is
# exactly what a partitioned node sees. When unsure we refuse (exit 6) and print the override.

# ---- cluster identity -------------------------------------------------------------------------------

cluster_id::file() {
  printf '%s\n' "$(path::of "$STATE_DIR")/cluster_id"
}

# cluster_id::get: the uuid of the cluster this node belongs (or belonged) to; fails when none.
cluster_id::get() {
  local file
  file="$(cluster_id::file)"
  [[ -s $file ]] || return 1
  head -n 1 "$file"
}

# cluster_id::set UUID [bootstrap]: record membership (and, at bootstrap, when the cluster was created).
cluster_id::set() {
  local id=$1 dir
  dir="$(path::of "$STATE_DIR")"
  run::mkdir "$dir" 0755
  printf '%s\n' "$id" | run::write_file "$(cluster_id::file)" 0644
  if [[ ${2:-} == bootstrap ]]; then
    printf '%s %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$SELF_HOSTNAME" | run::write_file "$dir/bootstrapped_at" 0644
  fi
  cluster_id::store_shared "$id"
}

# cluster_id::store_shared UUID: also keep it on shared storage once that is mounted (first writer wins).
cluster_id::store_shared() {
  local mp file
  mp="$(path::of "$STORAGE_MOUNT_POINT")"
  mountpoint -q "$mp" 2>/dev/null || return 0
  file="$mp/config/cluster_id"
  [[ -s $file ]] && return 0
  run::mkdir "$mp/config" 0755
  printf '%s\n' "$1" | run::write_file "$file" 0644
}

# cluster_id::new: a fresh cluster uuid.
cluster_id::new() {
  if command -v uuidgen >/dev/null 2>&1; then uuidgen; else cat /proc/sys/kernel/random/uuid; fi
}

# ---- preflight checks (kubeadm style) ---------------------------------------------------------------
# A check is a function preflight::NAME that returns 0, or sets PF_MSG and PF_FIX and returns 1.
PREFLIGHT_IGNORE="${PREFLIGHT_IGNORE:-}"

# orch::preflight NAME...: run the checks; print "[ERROR Name]: what (fix: how)" for each failure and
# exit 5 unless every failure is in --ignore-preflight-errors (those print as warnings).
orch::preflight() {
  local check name errors=0 ignored
  for check in "$@"; do
    PF_MSG="" PF_FIX="" PF_NAME=""
    if "preflight::$check"; then continue; fi
    name="${PF_NAME:-$check}"
    ignored=0
    if [[ ",${PREFLIGHT_IGNORE}," == *",${name},"* || ",${PREFLIGHT_IGNORE}," == *",all,"* ]]; then ignored=1; fi
    if (( ignored )); then
      printf '[WARNING %s]: %s (ignored)\n' "$name" "$PF_MSG" >&2
      log::to_file WARN "preflight $name ignored: $PF_MSG"
    else
      printf '[ERROR %s]: %s%s\n' "$name" "$PF_MSG" "${PF_FIX:+ (fix: $PF_FIX)}" >&2
      log::to_file ERROR "preflight $name: $PF_MSG"
      errors=$(( errors + 1 ))
    fi
  done
  if (( errors )); then
    die "$errors preflight check(s) failed; fix them, or skip one with --ignore-preflight-errors=NAME[,NAME]" "$EXIT_PREFLIGHT"
  fi
  log::ok "preflight checks passed"
}

preflight::Root() {
  [[ $(id -u) == 0 || -n "${ROOT_PREFIX:-}" ]] && return 0
  PF_MSG="must run as root (it writes /etc, starts services)" PF_FIX="sudo $HPC_TOOL.sh ..."
  return 1
}

preflight::Config() {
  [[ -r "$HPC_TOOLKIT_DIR/cluster_config.yaml" && -r "$HPC_LIB_DIR/config.sh" ]] && return 0
  PF_MSG="cluster_config.yaml or lib/config.sh missing in $HPC_TOOLKIT_DIR" PF_FIX="regenerate the toolkit and copy the whole cluster/ folder"
  return 1
}

preflight::NodeInConfig() {
  node::self_index >/dev/null && return 0
  PF_MSG="this host has none of the configured addresses (${NODE_IPS[*]})" PF_FIX="run on a configured node, or set HPC_NODE_IP"
  return 1
}

preflight::Secrets() {
  local file name missing=()
  file="$(secrets::file)"
  if [[ ! -f $file ]]; then
    PF_MSG="secrets file $file is missing" PF_FIX="install -m 0600 -o root secrets.env.example $file and fill in the values"
    return 1
  fi
  if (( (8#$(stat -c '%a' "$file") & 8#077) != 0 )); then
    PF_MSG="secrets file $file is readable by others" PF_FIX="chmod 600 $file"
    return 1
  fi
  for name in "${SECRET_NAMES[@]}"; do
    grep -q "^${name}=." "$file" || missing+=("$name")
  done
  if (( ${#missing[@]} )); then
    PF_MSG="secrets missing from $file: ${missing[*]}" PF_FIX="add NAME=value lines for them"
    return 1
  fi
}

preflight::DataDir() {
  [[ -d "$(path::of /data)" ]] && return 0
  PF_MSG="/data does not exist (bricks and backups live there)" PF_FIX="mkdir -p /data (ideally its own disk)"
  return 1
}

# preflight::Port-N checks are generated per service by orch::port_checks.
# orch::port_busy_by_other PORT NAME...: the port is held by a process that is none of NAME (our own
# daemon holding it on a rerun is fine).
orch::port_busy_by_other() {
  local port=$1 line name
  shift
  line="$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n 1)"
  [[ -z $line ]] && return 1
  for name in "$@"; do
    [[ $line == *"\"$name\""* ]] && return 1
  done
  PORT_HOLDER="$(sed -n 's/.*users:((\"\([^\"]*\)\".*/\1/p' <<< "$line")"
  return 0
}

# orch::check_ports SERVICE: "[ERROR Port-N]" for each port of SERVICE held by a foreign process.
orch::check_ports() {
  local service=$1 port procs=() ports=()
  case "$service" in
    database) ports=("$DB_PORT" "$DB_GALERA_PORT" "$DB_IST_PORT" "$DB_SST_PORT"); procs=(mariadbd rsync) ;;
    cache) ports=("$REDIS_PORT"); procs=(redis-server) ;;
    scheduler) ports=("$SLURM_SLURMCTLD_PORT" "$SLURM_SLURMD_PORT"); procs=(slurmctld slurmd) ;;
    *) return 0 ;;
  esac
  for port in "${ports[@]}"; do
    if orch::port_busy_by_other "$port" "${procs[@]}"; then
      PF_FAILED_PORTS+=("Port-$port:${PORT_HOLDER:-another process}:$service")
    fi
  done
}

preflight::Ports() {
  local s entry name holder svc out=""
  PF_FAILED_PORTS=()
  for s in "${ORCH_SERVICES[@]}"; do orch::check_ports "$s"; done
  (( ${#PF_FAILED_PORTS[@]} )) || return 0
  for entry in "${PF_FAILED_PORTS[@]}"; do
    IFS=: read -r name holder svc <<< "$entry"
    out+="$name in use by $holder (needed by $svc); "
  done
  PF_NAME="${PF_FAILED_PORTS[0]%%:*}"
  PF_MSG="${out%; }" PF_FIX="stop the process holding the port, or change the port in cluster_config.yaml"
  return 1
}

preflight::Packages() {
  local s missing=()
  for s in "${ORCH_SERVICES[@]}"; do
    case "$s" in
      database)
        command -v mariadbd >/dev/null 2>&1 || [[ -x /usr/sbin/mariadbd ]] || missing+=(mariadb-server)
        [[ -e /usr/lib/galera/libgalera_smm.so ]] || missing+=(galera-4)
        [[ $DB_SST_METHOD != rsync ]] || command -v rsync >/dev/null 2>&1 || missing+=(rsync)
        [[ $DB_SST_METHOD != mariabackup ]] || command -v mariabackup >/dev/null 2>&1 || missing+=(mariadb-backup)
        ;;
      cache) command -v redis-server >/dev/null 2>&1 || missing+=(redis-server) ;;
      storage) [[ $STORAGE_TYPE != glusterfs ]] || command -v glusterd >/dev/null 2>&1 || missing+=(glusterfs-server) ;;
      scheduler) command -v slurmctld >/dev/null 2>&1 || missing+=(slurmctld) ;;
      vip) command -v keepalived >/dev/null 2>&1 || missing+=(keepalived) ;;
    esac
  done
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  (( ${#missing[@]} )) || return 0
  PF_MSG="required packages missing: ${missing[*]}" PF_FIX="apt-get install ${missing[*]}"
  return 1
}

# ---- services and their phase scripts ---------------------------------------------------------------
# Dependency order; "web" has no phase script in this toolkit yet (the portal's own start script).
ORCH_ALL_SERVICES=(storage database cache scheduler web vip)

orch::phase_script() {
  case "$1" in
    storage) printf 'setup/phase0_storage_setup.sh\n' ;;
    database) printf 'setup/phase1_database_setup.sh\n' ;;
    cache) printf 'setup/phase2_redis_setup.sh\n' ;;
    scheduler) printf 'setup/phase3_slurm_setup.sh\n' ;;
    vip) printf 'setup/phase4_keepalived_setup.sh\n' ;;
    web) printf 'start_complete.sh\n' ;;
  esac
}

# orch::parse_member_args ARGS...: the command line of node_add.sh and node_remove.sh,
# --service SERVICE NODE_IP [--dry-run] [--yes]. Sets SERVICE (the orchestrator's name), TARGET and
# PASS (the flags handed on to the phase script); exit 2 on a usage error.
orch::parse_member_args() {
  while (( $# )); do
    case "$1" in
      --service) [[ $# -ge 2 ]] || lib::usage_error "--service needs a name"; SERVICE=$2; shift ;;
      --dry-run) PASS+=(--dry-run) ;;
      --yes|--force) PASS+=(--yes) ;;
      -*) lib::usage_error "unknown argument: $1" ;;
      *) [[ -z $TARGET ]] || lib::usage_error "one NODE_IP only"; TARGET=$1 ;;
    esac
    shift
  done
  [[ -n $SERVICE && -n $TARGET ]] || lib::usage_error "need --service SERVICE and NODE_IP"
  SERVICE="$(orch::service_name "$SERVICE")" || lib::usage_error "unknown service '$SERVICE'"
}

# orch::service_name NAME: the orchestrator's service name for a user-facing one (mariadb -> database).
orch::service_name() {
  case "$1" in
    mariadb|galera|database) printf 'database\n' ;;
    glusterfs|gluster|nfs|storage) printf 'storage\n' ;;
    redis|cache) printf 'cache\n' ;;
    slurm|scheduler) printf 'scheduler\n' ;;
    keepalived|vip) printf 'vip\n' ;;
    *) return 1 ;;
  esac
}

# orch::live_member SERVICE [EXCLUDE_IP]: where membership changes of SERVICE run: this node when it is a
# live database member (or for other services), else the first peer reporting a Primary component.
orch::live_member() {
  local peer
  if [[ $1 != database ]] || galera::is_synced_primary ""; then printf '%s\n' "$SELF_IP"; return 0; fi
  peer="$(orch::evidence | awk -F'|' -v x="${2:-}" '$1!=x && $2=="answered" && $5=="Primary" { print $1; exit }')"
  [[ -n $peer ]] || die "no live database member found (no configured node reports a Primary component)" "$EXIT_ERROR"
  printf '%s\n' "$peer"
}

# orch::select_services LIST: set ORCH_SERVICES from --only (comma list), in dependency order.
orch::select_services() {
  local only=$1 s ok
  ORCH_SERVICES=()
  if [[ -z $only ]]; then ORCH_SERVICES=("${ORCH_ALL_SERVICES[@]}"); return 0; fi
  for s in ${only//,/ }; do
    ok=0
    [[ " ${ORCH_ALL_SERVICES[*]} " == *" $s "* ]] && ok=1
    (( ok )) || lib::usage_error "unknown service '$s' in --only (known: ${ORCH_ALL_SERVICES[*]})"
  done
  for s in "${ORCH_ALL_SERVICES[@]}"; do
    if [[ ",$only," == *",$s,"* ]]; then ORCH_SERVICES+=("$s"); fi
  done
}

# orch::run_service SERVICE ARGS...: run the service's phase script. 0 done, 3 skipped (not built yet);
# any other exit stops the run (the phase script has already rolled back its own changes).
orch::run_service() {
  local service=$1 script rc=0 common=()
  shift
  script="$(orch::phase_script "$service")"
  if [[ ! -x "$HPC_TOOLKIT_DIR/$script" ]]; then
    log::info "$service: skipped ($script is not part of this toolkit)"
    return 3
  fi
  run::is_dry && common+=(--dry-run)
  [[ $ASSUME_YES == 1 ]] && common+=(--yes)
  log::info "$service: $script $* ${common[*]}"
  "$HPC_TOOLKIT_DIR/$script" "$@" "${common[@]+"${common[@]}"}" || rc=$?
  case "$rc" in
    0) log::ok "$service: done" ;;
    3) log::info "$service: skipped (not built yet in this version)" ;;
    *) log::error "$service: $script failed with exit $rc (it rolled back what it changed)" ;;
  esac
  return "$rc"
}

# ---- evidence: what every peer says about the database cluster ---------------------------------------
# One record per configured peer, '|'-separated (not tabs: read would merge empty tab fields):
#   ip  reach(answered|down|unknown)  reason  running  cluster_status  cluster_size  local_state  cluster_id  seqno
# Gathered by one run of discovery/auto_discovery.sh --json (every node probed in parallel under one
# deadline); when that script is missing or prints no report, each peer's own toolkit is asked over SSH
# (setup/phase1_database_setup.sh --status --json) instead. Either way the same rules turn answers into
# evidence: only an answer, or a refused connection with the Galera port refused too, is positive.

# Seconds the evidence may take: generous, a decision is not latency-sensitive and a loaded peer that
# misses a short deadline would look "unknown" (safe, but it makes a join fail for nothing).
ORCH_EVIDENCE_TIMEOUT="${ORCH_EVIDENCE_TIMEOUT:-}"

orch::evidence_timeout() {
  local t=${ORCH_EVIDENCE_TIMEOUT:-$(( DISCOVERY_PROBE_TIMEOUT * 3 ))}
  (( t >= 6 )) || t=6
  printf '%s\n' "$t"
}

# orch::evidence_from_discovery REPORT_JSON: the records of every configured peer, in priority order.
# active -> answered; inactive because the connection was refused -> down, but only when the Galera
# port is refused as well (sshd off does not mean MariaDB off); any other status or reason (timeout,
# no_route, auth_failed, malformed, unknown, absent from the report) -> unknown.
orch::evidence_from_discovery() {
  local report=$1 ip rec reach reason
  while IFS= read -r ip; do
    rec="$(jq -r --arg ip "$ip" 'first(.nodes[]? | select(.ip == $ip and (.self | not))) |
        [.ip, (if .status == "active" then "answered" elif .status == "inactive" and .reason == "refused" then "refused" else "unknown" end),
         (if .status == "active" then "" else (.reason // .status // "unknown") end),
         (if .status == "active" then ((.services.mariadb // false) | tostring) else "" end),
         (.galera.cluster_status // ""), ((.galera.cluster_size // "") | tostring), (.galera.local_state // ""),
         (if .status == "active" then (.cluster_id // "") else "" end), ((.galera.last_committed // "") | tostring)] | join("|")' \
        <<< "$report" 2>/dev/null || true)"
    IFS='|' read -r _ reach reason _ <<< "$rec"
    case "$reach" in
      answered) printf '%s\n' "$rec" ;;
      refused)
        if orch::tcp_refused "$ip" "$DB_GALERA_PORT"; then printf '%s|down|refused|false|||||\n' "$ip"
        else printf '%s|unknown|refused||||||\n' "$ip"; fi ;;
      unknown) printf '%s|unknown|%s||||||\n' "$ip" "${reason:-unknown}" ;;
      *) printf '%s|unknown|absent||||||\n' "$ip" ;;
    esac
  done < <(node::peer_ips)
}

# orch::discovery_report: discovery's JSON report, or nothing (non-zero) when it gave none.
orch::discovery_report() {
  local script="$HPC_TOOLKIT_DIR/discovery/auto_discovery.sh" out
  [[ -x $script ]] || return 1
  out="$("$script" --json --timeout "$(orch::evidence_timeout)" 2>/dev/null </dev/null)" || return 1
  jq -e '.nodes | type == "array"' >/dev/null 2>&1 <<< "$out" || return 1
  printf '%s\n' "$out"
}

# orch::classify_ssh_error STDERR: timeout|refused|no_route|auth_failed|malformed.
orch::classify_ssh_error() {
  case "$1" in
    *"timed out"*|*"Connection timed"*) printf 'timeout\n' ;;
    *"Connection refused"*) printf 'refused\n' ;;
    *"No route to host"*|*"Network is unreachable"*|*"Host is unreachable"*) printf 'no_route\n' ;;
    *"Permission denied"*|*"Host key verification failed"*) printf 'auth_failed\n' ;;
    *) printf 'malformed\n' ;;
  esac
}

# orch::tcp_refused IP PORT: the host answered with a reset (it is up, nothing listens) - positive evidence.
orch::tcp_refused() {
  local err
  # shellcheck disable=SC2016 # $1/$2 expand in the child bash
  err="$(timeout "$DISCOVERY_PROBE_TIMEOUT" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>&1)" && return 1
  [[ $err == *"Connection refused"* ]]
}

# orch::probe_peer IP: print the evidence record of one peer.
orch::probe_peer() {
  local ip=$1 out err rc=0 errfile reason
  errfile="$(mktemp)"
  out="$(remote::toolkit "$ip" setup/phase1_database_setup.sh --status --json 2>"$errfile")" || rc=$?
  err="$(cat "$errfile")"
  rm -f -- "$errfile"
  if (( rc == 0 )) && jq -e 'type == "object"' >/dev/null 2>&1 <<< "$out"; then
    jq -r --arg ip "$ip" '[$ip, "answered", "", (.running|tostring), (.cluster_status // ""), ((.cluster_size // "")|tostring),
      (.local_state // ""), (.cluster_id // ""), ((.grastate_seqno // "")|tostring)] | join("|")' <<< "$out"
    return 0
  fi
  if (( rc == 255 )); then reason="$(orch::classify_ssh_error "$err")"; else reason=malformed; fi
  # sshd refused: the host is up; if the Galera port is refused as well, nothing of ours runs there.
  if [[ $reason == refused ]] && orch::tcp_refused "$ip" "$DB_GALERA_PORT"; then
    printf '%s|down|refused|false|||||\n' "$ip"
    return 0
  fi
  printf '%s|unknown|%s||||||\n' "$ip" "$reason"
}

# orch::evidence: one record per configured peer, in priority order.
orch::evidence() {
  local report
  if report="$(orch::discovery_report)"; then
    orch::evidence_from_discovery "$report"
    return 0
  fi
  log::to_file WARN "discovery/auto_discovery.sh gave no report; asking each peer's toolkit over SSH"
  orch::evidence_ssh
}

# orch::evidence_ssh: the fallback, each peer asked in parallel over SSH.
orch::evidence_ssh() {
  local ip dir i=0
  dir="$(tmp::dir)"
  while IFS= read -r ip; do
    orch::probe_peer "$ip" > "$dir/$(printf '%03d' "$i")" &
    i=$(( i + 1 ))
  done < <(node::peer_ips)
  wait
  cat "$dir"/* 2>/dev/null || true
}

# orch::decide EVIDENCE: the auto-mode decision from this node's facts and the peers' records.
# Prints "MODE|PEER|WHY" with MODE member|join|bootstrap|refuse. Pure: reads only its inputs
# (SELF_*, LOCAL_CLUSTER_ID, LOCAL_PRIMARY) so every rule is unit-tested.
orch::decide() {
  local evidence=$1 ip reach reason running status cid
  local primary_peer="" primary_cid="" unknown=() members=() higher_fresh=""
  if [[ ${LOCAL_PRIMARY:-0} == 1 ]]; then
    printf 'member|%s|this node is already Synced in a Primary component\n' "$SELF_IP"
    return 0
  fi
  while IFS='|' read -r ip reach reason running status _ _ cid _; do
    [[ -n $ip ]] || continue
    case "$reach" in
      answered)
        if [[ $status == Primary && -z $primary_peer ]]; then primary_peer=$ip primary_cid=$cid; fi
        if [[ -n $cid || $running == true ]]; then members+=("$ip"); fi
        if [[ -z $cid && $running != true && -z $higher_fresh ]] \
            && (( $(node::index_of "$ip") < SELF_INDEX )); then higher_fresh=$ip; fi
        ;;
      down) ;;
      *) unknown+=("$ip ($reason)") ;;
    esac
  done <<< "$evidence"
  if [[ -n $primary_peer ]]; then
    if [[ -n ${LOCAL_CLUSTER_ID:-} && -n $primary_cid && $LOCAL_CLUSTER_ID != "$primary_cid" ]]; then
      printf 'refuse|%s|cluster id mismatch: this node belongs to %s but %s runs cluster %s (a node of another cluster, or an old restore). Remove %s only if this node must really move to the other cluster\n' \
        "$primary_peer" "$LOCAL_CLUSTER_ID" "$primary_peer" "$primary_cid" "$(cluster_id::file)"
      return 0
    fi
    printf 'join|%s|%s reports a live Primary component\n' "$primary_peer" "$primary_peer"
    return 0
  fi
  if [[ -n ${LOCAL_CLUSTER_ID:-} ]]; then
    printf 'refuse||this node was a member of cluster %s and no peer reports a live Primary: it never bootstraps again on its own. If the whole cluster is down run utils/galera_auto_recover.sh; if you are sure every other node is gone, --bootstrap --force\n' "$LOCAL_CLUSTER_ID"
    return 0
  fi
  if (( ${#unknown[@]} )); then
    printf 'refuse||cannot tell whether %s is down (no answer is not proof: a partitioned node sees the same). Make the peers reachable, or if you are sure they are down: --bootstrap\n' "${unknown[*]}"
    return 0
  fi
  if (( ${#members[@]} )); then
    printf 'refuse||%s was a member (or runs MariaDB) but no Primary component answers: the cluster exists and is down. Recover it with utils/galera_auto_recover.sh\n' "${members[*]}"
    return 0
  fi
  if [[ -n $higher_fresh ]]; then
    printf 'refuse||%s has a higher priority and is reachable but not set up yet: bootstrap there first (start_multi_complete.sh), then run this again to join\n' "$higher_fresh"
    return 0
  fi
  printf 'bootstrap||no configured peer runs or ever ran the cluster (every other node answered or refused the connection)\n'
}

# orch::primary_peer EVIDENCE: the first peer that reports a Primary component (empty when none).
orch::primary_peer() {
  awk -F'|' '$2=="answered" && $5=="Primary" { print $1; exit }' <<< "$1"
}
