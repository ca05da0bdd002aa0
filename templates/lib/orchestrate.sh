# shellcheck shell=bash
# lib/orchestrate.sh - what start_multi_complete.sh and join_cluster.sh share: cluster identity,
# kubeadm-style preflight checks, the service phase runner, and the evidence a mode decision rests on.
#
# Safety rules (docs/field-lessons): a peer counts as down only on positive evidence (it answered and
# said so, or its host refused the connection); a timeout or "no route" is unknown, because that is
# exactly what a partitioned node sees. When unsure we refuse (exit 6) and print the override.
# Which services exist, their phase scripts, ports and packages: the registry (lib/registry.sh).
# It sources what it needs: evidence.sh, and galera.sh (a database member's state decides a mode, and
# where a membership change runs), so its scripts source this file alone.

# shellcheck source=evidence.sh
source "$HPC_LIB_DIR/evidence.sh"
# shellcheck source=tls.sh
source "$HPC_LIB_DIR/tls.sh"
# shellcheck source=galera.sh
source "$HPC_LIB_DIR/galera.sh"

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

# orch::check_ports SERVICE: "[ERROR Port-N]" for each port of SERVICE held by a foreign process
# (a service whose daemons this toolkit does not start has no processes in the registry: not checked).
orch::check_ports() {
  local service=$1 port procs=() ports=()
  read -r -a procs <<< "$(registry::get "$service" processes)"
  (( ${#procs[@]} )) || return 0
  read -r -a ports <<< "$(registry::get "$service" ports)"
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

# preflight::Packages: what the selected services need (the registry's "command=package" pairs; a
# command may be an absolute path, e.g. Galera's provider library).
preflight::Packages() {
  local missing
  missing="$(orch::packages missing)"
  [[ -n $missing ]] || return 0
  PF_MSG="required packages missing: $missing" PF_FIX="apt-get install $missing (or rerun with --install-packages)"
  return 1
}

# orch::packages all|missing: the Debian packages the selected services need (and the toolkit's own: jq,
# the SSH client, curl, rsync and zstd for the backups), all of them or those whose program is not
# installed; one line, in order.
orch::packages() {
  local s need what pkg out=()
  for need in jq=jq ssh=openssh-client curl=curl rsync=rsync zstd=zstd $(for s in "${ORCH_SERVICES[@]}"; do registry::get "$s" packages; printf '\n'; done); do
    what=${need%%=*} pkg=${need#*=}
    if [[ $1 == missing ]]; then
      if [[ $what == /* ]]; then [[ -e $what ]] && continue
      else command -v "$what" >/dev/null 2>&1 || [[ -x /usr/sbin/$what ]] && continue; fi
    fi
    [[ " ${out[*]} " == *" $pkg "* ]] || out+=("$pkg")
  done
  printf '%s\n' "${out[*]}"
}

# orch::install_packages: start_multi_complete.sh --install-packages: apt-get install what is missing
# (--dry-run: list the packages and print the command).
orch::install_packages() {
  local missing
  log::info "Debian packages of ${ORCH_SERVICES[*]}: $(orch::packages all)"
  missing="$(orch::packages missing)"
  if [[ -z $missing ]]; then log::ok "every package is installed"; return 0; fi
  log::info "missing: $missing"
  read -r -a missing <<< "$missing"
  run::cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed (see the output above; apt-get update first?)"
}

# ---- services and their phase scripts ---------------------------------------------------------------
# orch::phase_script SERVICE: its phase script, relative to the toolkit (empty when it has none yet).
orch::phase_script() {
  registry::get "$1" phase
}

# orch::parse_member_args ARGS...: the command line of node_add.sh and node_remove.sh,
# --service SERVICE NODE_IP [--dry-run] [--yes]. Sets SERVICE (the registry's name; old names such as
# mariadb or cache are accepted), TARGET and PASS (the flags handed on to the phase script); exit 2 on a
# usage error.
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
  local name
  name="$(registry::canonical "$SERVICE" 2>&1)" || lib::usage_error "$name"
  SERVICE=$name
  [[ -n "$(orch::phase_script "$SERVICE")" ]] || lib::usage_error "$SERVICE has no phase script in this toolkit: nothing to add or remove"
}

# orch::member_change add|remove ARGS...: node_add.sh / node_remove.sh - the service's phase script with
# --add-node / --remove-node TARGET, run on a live member (add) or a survivor (remove). -h/--help
# prints the script's help.
orch::member_change() {
  local verb=$1 script member who
  shift
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  SERVICE="" TARGET="" PASS=()
  orch::parse_member_args "$@"
  if ! node::index_of "$TARGET" >/dev/null; then
    [[ $verb == add ]] && die "$TARGET is not in cluster_config.yaml: add it there, regenerate the toolkit and copy it to every node first" "$EXIT_USAGE"
    die "$TARGET is not in cluster_config.yaml (nothing to remove that this toolkit knows)" "$EXIT_USAGE"
  fi
  node::require_self
  script="$(orch::phase_script "$SERVICE")"
  who="a live member, not on the node being added"
  [[ $verb == remove ]] && who="a survivor, not on the node being removed"
  [[ $TARGET != "$SELF_IP" ]] || die "run node_$verb.sh on $who ($TARGET)" "$EXIT_USAGE"
  if [[ $verb == add ]]; then
    member="$(orch::live_member "$SERVICE")"
    log::info "adding $TARGET to $SERVICE through $member ($script --add-node)"
  else
    member="$(orch::live_member "$SERVICE" "$TARGET")"
    log::info "removing $TARGET from $SERVICE through $member ($script --remove-node)"
  fi
  remote::toolkit "$member" "$script" "--$verb-node" "$TARGET" "${PASS[@]+"${PASS[@]}"}"
}

# orch::live_member SERVICE [EXCLUDE_IP]: where membership changes of SERVICE run: this node when it is a
# live database member (or for other services), else the first peer reporting a Primary component.
orch::live_member() {
  local peer
  if [[ $1 != database ]] || galera::is_synced_primary ""; then printf '%s\n' "$SELF_IP"; return 0; fi
  peer="$(orch::evidence | jq -rn --arg x "${2:-}" 'first(inputs | select(.ip != $x and .reach == "answered" and .cluster_status == "Primary") | .ip) // empty')"
  [[ -n $peer ]] || die "no live database member found (no configured node reports a Primary component)" "$EXIT_ERROR"
  printf '%s\n' "$peer"
}

# orch::select_services LIST: set ORCH_SERVICES from --only (comma list of names or old names), in
# dependency order; every service when LIST is empty.
orch::select_services() {
  local out
  ORCH_SERVICES=()
  if [[ -z $1 ]]; then ORCH_SERVICES=("${SERVICES[@]}"); return 0; fi
  out="$(registry::select "$1" 2>&1)" || lib::usage_error "--only: $out"
  mapfile -t ORCH_SERVICES <<< "$out"
}

# orch::run_service SERVICE ARGS...: run the service's phase script. 0 done, 3 skipped (not built yet);
# any other exit stops the run (the phase script has already rolled back its own changes).
orch::run_service() {
  local service=$1 script rc=0 common=()
  shift
  script="$(orch::phase_script "$service")"
  if [[ -z $script ]]; then
    log::info "$service: skipped (no phase script in this toolkit yet)"
    return 3
  fi
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

# ---- the mode decision --------------------------------------------------------------------------------
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
  while IFS=$'\x1f' read -r ip reach reason running status cid; do
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
  done < <(evidence::rows "$evidence" ip reach reason running cluster_status cluster_id)
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
