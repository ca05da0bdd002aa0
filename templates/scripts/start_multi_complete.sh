#!/usr/bin/env bash
# Usage: start_multi_complete.sh [--bootstrap | --join [--peer IP] | --standalone | --status]
#                                [--force] [--yes] [--dry-run] [--only SERVICES]
#                                [--ignore-preflight-errors=NAME,...] [--list-phases] [--phase NAME] [--skip-phases A,B]
#                                [--list-services]
#                                [--set-hostname] [--install-packages]
# Summary: Build, join or run this server as part of the cluster, deciding safely from live evidence.
#
# Without a mode flag the mode is decided from what the peers say right now:
#   join       when any configured peer reports a live Primary database component;
#   bootstrap  only when every other configured node answered that it never ran the cluster, or refused
#              the connection (host up, nothing listening), or this is the only configured node;
#   refuse     otherwise (exit 6) - a timeout is not proof that a peer is down. The message says why and
#              which flag overrides it. A node that was ever a member never bootstraps again on its own.
# A join (--join, or auto mode deciding join) is refused (exit 6) when the peer it joins through runs
# another toolkit version or another config (the sha256 of lib/config.sh): copy the same
# dist-scripts/cluster/ to every node first.
#
#   --bootstrap     create a new cluster here (still joins instead if a peer already runs one)
#   --join          join the running cluster (--peer IP: the member to join through)
#   --standalone    a one-node deployment (others can join later)
#   --status        only report: each service's status line; changes nothing
#   --force         allow --bootstrap on a node that was a member before (recovering a dead cluster)
#   --yes           no Y/N prompt (needed when stdin is not a terminal)
#   --dry-run       print every file (with content) and command; change nothing
#   --only S,S      only these services, run in dependency order (names: --list-services; the old names
#                   cache, scheduler, mariadb, keepalived, glusterfs... still work)
#   --list-services the service registry: name, old names, phase script, what it is
#   --ignore-preflight-errors=NAME,...   run despite these failed checks (or 'all')
#   --set-hostname  give this host its configured name and add unresolved node names to /etc/hosts
#                   (preflight checks Hostname, NodeNames); logged
#   --install-packages  apt-get install the Debian packages the services need and lack, before the preflight
#                   checks (with --dry-run: list every package and print the apt-get command)
#   --list-phases / --phase NAME / --skip-phases A,B   run the steps below selectively
#
# Phases: preflight mode discovery configure services health info backup
# Log: /var/log/cluster_setup.log (every phase script run from here writes to it as well).
# Exit codes: 0 ok, 1 error, 2 usage, 4 another run holds the lock, 5 preflight failed, 6 refused for safety.
# shellcheck source=lib/orchestrate.sh
source "$HPC_LIB_DIR/orchestrate.sh"
# shellcheck source=lib/preflight_hostname.sh
source "$HPC_LIB_DIR/preflight_hostname.sh"

# One log for the whole run, the phase scripts included (they inherit HPC_LOG_FILE).
HPC_LOG_FILE="$(path::of /var/log/cluster_setup.log)"
export HPC_LOG_FILE
log::init

PHASES=(preflight mode discovery configure services health info backup)
INSTALL_PACKAGES=0
REQUESTED_MODE="" MODE="" PEER="" FORCE=0 ONLY="" ONLY_PHASE="" SKIP_PHASES=""
EVIDENCE="" LOCAL_CLUSTER_ID="" LOCAL_PRIMARY=0 PEER_CLUSTER_ID=""

parse_args() {
  while (( $# )); do
    case "$1" in
      --bootstrap|--join|--standalone|--status)
        [[ -z $REQUESTED_MODE ]] || lib::usage_error "choose only one of --bootstrap, --join, --standalone, --status"
        REQUESTED_MODE=${1#--} ;;
      --peer) [[ $# -ge 2 ]] || lib::usage_error "--peer needs an IP"; PEER=$2; shift ;;
      --force) FORCE=1; ASSUME_YES=1 ;;
      --yes) ASSUME_YES=1 ;;
      --set-hostname) SET_HOSTNAME=1 ;;
      --install-packages) INSTALL_PACKAGES=1 ;;
      --dry-run) export DRY_RUN=1 ;;
      --only) [[ $# -ge 2 ]] || lib::usage_error "--only needs a list"; ONLY=$2; shift ;;
      --only=*) ONLY=${1#*=} ;;
      --ignore-preflight-errors=*) PREFLIGHT_IGNORE=${1#*=} ;;
      --ignore-preflight-errors) [[ $# -ge 2 ]] || lib::usage_error "$1 needs a list"; PREFLIGHT_IGNORE=$2; shift ;;
      --list-phases) printf '%s\n' "${PHASES[@]}"; exit 0 ;;
      --list-services) list_services; exit 0 ;;
      --phase) [[ $# -ge 2 ]] || lib::usage_error "--phase needs a name"; ONLY_PHASE=$2; shift ;;
      --skip-phases) [[ $# -ge 2 ]] || lib::usage_error "--skip-phases needs a list"; SKIP_PHASES=$2; shift ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  if [[ -n $ONLY_PHASE && " ${PHASES[*]} " != *" $ONLY_PHASE "* ]]; then
    lib::usage_error "unknown phase '$ONLY_PHASE' (phases: ${PHASES[*]})"
  fi
  orch::select_services "$ONLY"
}

# list_services: the registry, one service a line, in the order the services run.
list_services() {
  local s
  for s in "${SERVICES[@]}"; do
    printf '%-9s %-34s %s (old names: %s)\n' "$s" "$(registry::get "$s" phase | sed 's/^$/(no phase script yet)/')" \
      "$(registry::get "$s" description)" "$(registry::get "$s" aliases | sed 's/ /, /g')"
  done
}

# ---- [1] preflight ---------------------------------------------------------------------------------
phase::preflight() {
  local checks=(Root Config NodeInConfig Secrets DataDir Ports Packages Hostname NodeNames) c keep=()
  if (( INSTALL_PACKAGES )); then
    orch::install_packages
    # a dry run installed nothing: what it would install does not fail the check
    if run::is_dry; then
      for c in "${checks[@]}"; do [[ $c == Packages ]] || keep+=("$c"); done
      checks=("${keep[@]}")
    fi
  fi
  orch::preflight "${checks[@]}"
  hostname::apply
}

# ---- [2] mode --------------------------------------------------------------------------------------
phase::mode() {
  node::require_self
  LOCAL_CLUSTER_ID="$(cluster_id::get || true)"
  if galera::is_synced_primary ""; then LOCAL_PRIMARY=1; fi
  MODE=$REQUESTED_MODE
  if [[ -z $MODE && $NODE_COUNT == 1 ]]; then MODE=standalone; fi
  log::info "node $SELF_HOSTNAME ($SELF_IP), priority $SELF_PRIORITY; ${LOCAL_CLUSTER_ID:+member of cluster $LOCAL_CLUSTER_ID; }requested mode: ${MODE:-auto}"
}

# ---- [3] discovery ---------------------------------------------------------------------------------
phase::discovery() {
  local decision why ip reach reason status size state cid mismatch
  if [[ $MODE == standalone && $NODE_COUNT == 1 ]]; then log::info "standalone: no peers to ask"; return 0; fi
  EVIDENCE="$(orch::evidence)"
  while IFS=$'\x1f' read -r ip reach reason status size state cid; do
    [[ -n $ip ]] || continue
    log::info "peer $(node::hostname_of "$ip") ($ip): $reach${reason:+ ($reason)}${status:+, database $status/$state size $size}${cid:+, cluster $cid}"
  done < <(evidence::rows "$EVIDENCE" ip reach reason cluster_status cluster_size local_state cluster_id)
  decision="$(orch::decide "$EVIDENCE")"
  IFS='|' read -r AUTO_MODE AUTO_PEER why <<< "$decision"
  case "$MODE" in
    standalone)
      # the same evidence as --bootstrap: never a second cluster beside one the peers run
      if [[ $AUTO_MODE == join || $AUTO_MODE == member ]]; then
        die "--standalone refused: $why; a second cluster would fork it (run --join to join it)" "$EXIT_REFUSED"
      fi
      ;;
    "")
      [[ $AUTO_MODE == refuse ]] && die "not deciding a mode: $why" "$EXIT_REFUSED"
      MODE=$AUTO_MODE
      [[ -z $PEER ]] && PEER=$AUTO_PEER
      log::info "auto mode: $MODE ($why)"
      ;;
    bootstrap)
      if [[ $AUTO_MODE == join || $AUTO_MODE == member ]]; then
        log::warn "joining instead of bootstrapping: $why"
        MODE=$AUTO_MODE PEER=$AUTO_PEER
      elif [[ -n $LOCAL_CLUSTER_ID && $FORCE != 1 ]]; then
        die "this node was a member of cluster $LOCAL_CLUSTER_ID: a second bootstrap could fork it. For a whole-cluster outage use utils/galera_auto_recover.sh; if you are sure every other node is gone: --bootstrap --force" "$EXIT_REFUSED"
      fi
      ;;
    join)
      if [[ $AUTO_MODE == member ]]; then MODE=member
      elif [[ $AUTO_MODE == join ]]; then [[ -n $PEER ]] || PEER=$AUTO_PEER
      elif [[ $why == *"cluster id mismatch"* ]]; then die "$why" "$EXIT_REFUSED"
      else die "no configured peer reports a live Primary component to join (peers: $(evidence::summary "$EVIDENCE"))" "$EXIT_ERROR"
      fi
      ;;
  esac
  # A member rerun still names a live peer: the phase scripts check their membership through one.
  if [[ $MODE == member && ( -z $PEER || $PEER == "$SELF_IP" ) ]]; then
    PEER="$(orch::primary_peer "$EVIDENCE")"
  fi
  if [[ $MODE == join || $MODE == member ]]; then
    if ! mismatch="$(evidence::toolkit_check "$EVIDENCE" "$PEER")"; then
      die "refusing to join: $mismatch" "$EXIT_REFUSED"
    fi
    PEER_CLUSTER_ID="$(evidence::get "$EVIDENCE" "$PEER" cluster_id)"
    if [[ -n $LOCAL_CLUSTER_ID && -n $PEER_CLUSTER_ID && $LOCAL_CLUSTER_ID != "$PEER_CLUSTER_ID" ]]; then
      die "cluster id mismatch: this node belongs to $LOCAL_CLUSTER_ID, $PEER runs $PEER_CLUSTER_ID (a node of another cluster or an old restore). Refusing to join." "$EXIT_REFUSED"
    fi
  fi
}

# ---- [4] configure: confirm and settle the cluster identity -----------------------------------------
phase::configure() {
  case "$MODE" in
    bootstrap|standalone)
      ui::confirm "Create a NEW $MODE cluster on $SELF_HOSTNAME ($SELF_IP)?"
      CLUSTER_ID="${LOCAL_CLUSTER_ID:-$(cluster_id::new)}"
      ;;
    join)
      ui::confirm "Join $SELF_HOSTNAME to the running cluster through $PEER (local database data is replaced by a state transfer)?"
      CLUSTER_ID="${PEER_CLUSTER_ID:-${LOCAL_CLUSTER_ID:-}}"
      [[ -n $CLUSTER_ID ]] || log::warn "$PEER has no recorded cluster id; this node records none either"
      ;;
    member)
      CLUSTER_ID="${LOCAL_CLUSTER_ID:-$PEER_CLUSTER_ID}"
      log::info "already a member: checking every service, changing only what is missing"
      ;;
  esac
  log::info "cluster id: ${CLUSTER_ID:-none}"
}

# ---- [5] services, in dependency order ----------------------------------------------------------------
phase::services() {
  local s args rc
  # The orchestrator asked already; the phase scripts must not ask again.
  ASSUME_YES=1
  case "$MODE" in
    bootstrap) args=(--bootstrap) ;;
    standalone) args=(--standalone) ;;
    join|member) args=(--join); [[ -n $PEER && $PEER != "$SELF_IP" ]] && args+=(--peer "$PEER") ;;
  esac
  for s in "${ORCH_SERVICES[@]}"; do
    log::phase "services/$s"
    rc=0
    orch::run_service "$s" "${args[@]}" || rc=$?
    if (( rc != 0 && rc != 3 )); then
      log::phase services
      run::rollback_files
      die "service phase '$s' failed (exit $rc): the run stops here; '$s' rolled back its own changes, the services before it keep running. Fix the cause (see ${HPC_LOG_FILE}) and rerun - finished services are skipped as already done." "$rc"
    fi
    if [[ $s == storage && $rc == 0 ]] && ! run::is_dry; then adopt_storage_cluster_id; fi
    if [[ $s == database && $rc == 0 && -n ${CLUSTER_ID:-} ]]; then
      cluster_id::set "$CLUSTER_ID" "$([[ $MODE == bootstrap || $MODE == standalone ]] && [[ -z $LOCAL_CLUSTER_ID ]] && echo bootstrap)"
      run::commit_files
    fi
  done
  log::phase services
}

# The storage phase runs first and keeps the cluster id on the shared volume (config/cluster_id), creating
# it on the first node when none exists. One cluster, one id: a new cluster takes the id the storage
# created instead of a second fresh uuid; a joining node must find its peer's id there.
adopt_storage_cluster_id() {
  local sid
  sid="$(cluster_id::get || true)"
  [[ -n $sid && $sid != "${CLUSTER_ID:-}" ]] || return 0
  case "$MODE" in
    bootstrap|standalone)
      [[ -z $LOCAL_CLUSTER_ID ]] || return 0
      log::info "cluster id $sid (created with the shared storage)"
      CLUSTER_ID=$sid
      ;;
    join|member)
      if [[ -n $PEER_CLUSTER_ID && $PEER_CLUSTER_ID != "$sid" ]]; then
        die "cluster id mismatch: the shared storage holds cluster $sid but $PEER runs $PEER_CLUSTER_ID (a node of another cluster, or an old restore). Refusing to go on." "$EXIT_REFUSED"
      fi
      CLUSTER_ID=$sid
      ;;
  esac
}

# ---- [6] health, with a deadline ---------------------------------------------------------------------
phase::health() {
  local rc=0
  if [[ " ${ORCH_SERVICES[*]} " == *" database "* ]] && ! run::is_dry; then
    run::wait_until 60 "the database to be Synced in a Primary component" galera::is_synced_primary "" \
      || die "health check failed: the database is not Synced/Primary (run setup/phase1_database_setup.sh --status)"
    log::ok "database: Synced, Primary, cluster size $(galera::status wsrep_cluster_size)"
  fi
  [[ -x "$HPC_TOOLKIT_DIR/utils/health_check.sh" ]] || return 0
  run::is_dry && { printf '[dryrun] would run: %s\n' "utils/health_check.sh" "utils/health_check.sh --http --daemon" "utils/self_heal.sh --install (systemd)"; return 0; }
  "$HPC_TOOLKIT_DIR/utils/health_check.sh" >/dev/null 2>&1 || rc=$?
  case "$rc" in
    0) log::ok "health_check.sh: healthy" ;;
    3) log::info "health_check.sh not built yet; skipped" ;;
    *) log::warn "health_check.sh reports a problem (exit $rc); run utils/health_check.sh for details" ;;
  esac
  # GET /health on every member (discovery and keepalived rely on it): a socket unit under systemd
  # (enabled, so it is back after a reboot), a detached listener otherwise; idempotent
  rc=0
  "$HPC_TOOLKIT_DIR/utils/health_check.sh" --http --daemon >/dev/null 2>&1 || rc=$?
  if (( rc == 0 )); then log::ok "/health endpoint serving on this node"
  else log::warn "the /health endpoint did not start (exit $rc); run utils/health_check.sh --http --daemon for details"
  fi
  # after a reboot this member rejoins by itself (systemd: hpc-cluster-heal.service)
  if [[ "$(svc::init_system)" == systemd && -x "$HPC_TOOLKIT_DIR/utils/self_heal.sh" ]]; then
    "$HPC_TOOLKIT_DIR/utils/self_heal.sh" --install >/dev/null 2>&1 \
      || log::warn "could not enable hpc-cluster-heal.service (run utils/self_heal.sh --install for details)"
  fi
}

# ---- [7] info ---------------------------------------------------------------------------------------
phase::info() {
  local size
  size="$(galera::status wsrep_cluster_size 2>/dev/null || true)"
  if [[ $size =~ ^[0-9]+$ ]] && (( size > 1 )); then
    log::ok "cluster-$size: $MODE done on $SELF_HOSTNAME (database cluster of $size nodes)"
  else
    log::ok "standalone: $MODE done on $SELF_HOSTNAME"
  fi
  if [[ -x "$HPC_TOOLKIT_DIR/utils/cluster_info.sh" ]] && ! run::is_dry; then
    "$HPC_TOOLKIT_DIR/utils/cluster_info.sh" 2>/dev/null || true
  fi
}

# ---- [8] backup scheduler -------------------------------------------------------------------------------
phase::backup() {
  local rc=0 script="$HPC_TOOLKIT_DIR/backup/backup_scheduler.sh"
  [[ $BACKUP_ENABLED == true && -x $script ]] || return 0
  if run::is_dry; then "$script" --install --dry-run || true; return 0; fi
  "$script" --install >/dev/null 2>&1 || rc=$?
  case "$rc" in
    0) log::ok "backup schedule installed" ;;
    3) log::info "backup_scheduler.sh not built yet; skipped" ;;
    *) log::warn "backup_scheduler.sh --install failed (exit $rc); the cluster runs, backups are not scheduled" ;;
  esac
}

# ---- --status -------------------------------------------------------------------------------------------
show_status() {
  local s script rc
  node::require_self
  printf 'node %s (%s), cluster id %s\n' "$SELF_HOSTNAME" "$SELF_IP" "$(cluster_id::get || echo none)"
  for s in "${ORCH_SERVICES[@]}"; do
    script="$(orch::phase_script "$s")"
    [[ $script == setup/* && -x "$HPC_TOOLKIT_DIR/$script" ]] || continue
    rc=0
    "$HPC_TOOLKIT_DIR/$script" --status 2>/dev/null || rc=$?
    (( rc == 3 )) && printf '%s: not built yet\n' "$s"
  done
  return 0
}

run_phases() {
  local p
  for p in "${PHASES[@]}"; do
    if [[ -n $ONLY_PHASE && $p != "$ONLY_PHASE" ]]; then
      # A single phase still needs to know who we are and what mode applies.
      [[ $p == mode || ($p == discovery && $ONLY_PHASE != preflight) ]] || continue
    fi
    if [[ ",$SKIP_PHASES," == *",$p,"* ]]; then log::info "phase $p skipped (--skip-phases)"; continue; fi
    log::phase "$p"
    "phase::$p"
  done
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  if [[ $REQUESTED_MODE == status ]]; then show_status; return 0; fi
  lock::acquire cluster-setup
  log::to_file INFO "start_multi_complete.sh $* (pid $$)"
  run_phases
}

main "$@"
