#!/usr/bin/env bash
# Usage: phase4_keepalived_setup.sh (--bootstrap | --join [--peer IP] | --standalone | --refresh
#          | --add-node IP | --remove-node IP | --leave | --status [--cluster]) [--dry-run] [--yes] [--json]
# Summary: Set up keepalived and the cluster VIP on this node.
#
# Every node runs keepalived as BACKUP with nopreempt, VRRPv3 unicast to the configured peers, and a
# weight-0 health check (utils/check_all_services.sh): the VIP stays where it is until its holder
# fails, and then moves in well under a second.
#
#   --bootstrap       first node of a new cluster: start keepalived and wait until it holds the VIP
#   --join            start keepalived here; the running owner keeps the VIP (--peer is accepted and unused)
#   --standalone      one-node cluster: the same as --bootstrap
#   --refresh [--include IP | --exclude IP]
#                     re-render keepalived.conf (e.g. after the node list changed); reload if it changed;
#                     with --include/--exclude IP add IP back to the unicast peers or leave it out
#   --add-node IP     on a live member: every reachable member adds IP as a unicast peer
#   --remove-node IP  on a survivor: keepalived stops on IP (if reachable), the others drop it
#   --leave           stop keepalived here (a clean release: the VIP moves at once); run by --remove-node
#                     on the node it removes (--stop is the old name, still accepted)
#   --status          one line about this node (--json: an object); --cluster asks every node over
#                     SSH and exits 1 unless exactly one node holds the VIP
#   --dry-run         print the file and the commands; change nothing
#
# When every node is unfit at once (a critical check fails everywhere, e.g. Galera lost its quorum on
# all nodes), every node goes FAULT and the VIP is gone for a few seconds; then the member with the
# highest priority takes it as the "last resort" (utils/check_all_services.sh), so the portal's address
# still answers (a maintenance page, a 503) instead of timing out, and gives it up as soon as another
# member is fit again. Only on positive evidence: every other member must answer over SSH that it is
# unfit or runs no keepalived. A member that cannot be asked (powered off, or across a partition,
# where it may be fit and hold the VIP) rules the last resort out, and so does a drain or a switchover
# release (the admin's will). See who holds the VIP with --status --cluster, utils/health_check.sh
# (check "vip") or utils/cluster_info.sh.
#
# --force is the same as --yes; --stop-local is another old name of --leave.
# Exit codes: 0 ok, 1 error, 2 usage, 4 locked, 5 preflight failed, 6 refused.
# shellcheck source=../lib/phase.sh
source "$HPC_LIB_DIR/phase.sh"
# shellcheck source=../lib/keepalived.sh
source "$HPC_LIB_DIR/keepalived.sh"

PHASE_LOCK=keepalived
PHASE_MODES=(bootstrap join standalone refresh add-node remove-node leave status)
CLUSTER_STATUS=0
RESTARTED=0

# --cluster (with --status) is this script's own flag.
phase::own_arg() {
  [[ $1 == --cluster ]] || return 1
  CLUSTER_STATUS=1
  PHASE_SHIFT=1
}

removed_file() { path::of "$STATE_DIR/keepalived_removed_peers"; }

removed_peers() {
  local f
  f="$(removed_file)"
  if [[ -r $f ]]; then grep -E '^[0-9.]+$' "$f" || true; fi
}

# set_removed IP 1|0: remember (1) or forget (0) that IP was removed from the VRRP peers.
set_removed() {
  local ip=$1 on=$2 list
  list="$(removed_peers | grep -vxF "$ip" || true)"
  (( on )) && list+="${list:+$'\n'}$ip"
  run::write_file "$(removed_file)" 0644 <<< "$list"
}

phase::preflight() {
  log::phase preflight
  command -v keepalived >/dev/null || die "keepalived is not installed (fix: apt-get install keepalived)" "$EXIT_PREFLIGHT"
  node::require_self
  if ! ip -o link show dev "$VIP_INTERFACE" >/dev/null 2>&1; then
    die "[ERROR Interface-$VIP_INTERFACE]: this node has no interface $VIP_INTERFACE (fix: set cluster.vip.interface)" "$EXIT_PREFLIGHT"
  fi
  local addrs
  addrs="$(ip -o -4 addr show dev "$VIP_INTERFACE" 2>/dev/null || true)"
  if [[ " ${addrs//$'\n'/ } " != *" $SELF_IP/"* ]]; then
    die "[ERROR Address-$SELF_IP]: $SELF_IP is not on $VIP_INTERFACE (fix: cluster.vip.interface must be the nodes' interface)" "$EXIT_PREFLIGHT"
  fi
  # keepalived refuses (enable_script_security) scripts that a non-root user could change.
  if [[ -n "$(find "$HPC_TOOLKIT_DIR/utils/check_all_services.sh" "$HPC_TOOLKIT_DIR/utils/vip_notify.sh" \
      \( ! -user root -o -perm /022 \) -print 2>/dev/null)" ]] && [[ -z "${ROOT_PREFIX:-}" ]]; then
    die "[ERROR ScriptSecurity]: the toolkit's scripts must be owned by root and not writable by others (fix: chown -R root: $HPC_TOOLKIT_DIR; chmod -R go-w $HPC_TOOLKIT_DIR)" "$EXIT_PREFLIGHT"
  fi
  [[ -z $VIP_AUTH_SECRET || $VIP_VRRP_VERSION != 2 ]] || secrets::require "$VIP_AUTH_SECRET"
  log::ok "keepalived $(keepalived --version 2>&1 | awk 'NR == 1 { print $2 }'), node $SELF_HOSTNAME ($SELF_IP) priority $SELF_PRIORITY"
}

# phase::configure: write keepalived.conf for this node (only if keepalived's own test accepts it).
phase::configure() {
  local tmp conf removed
  log::phase configure
  mapfile -t removed < <(removed_peers)
  tmp="$(tmp::dir)/keepalived.conf"
  keepalived::render "$SELF_IP" ${removed[@]+"${removed[@]}"} > "$tmp"
  if ! run::is_dry; then
    keepalived::config_test "$tmp" || die "the generated keepalived.conf does not pass keepalived --config-test" "$EXIT_PREFLIGHT"
  fi
  conf="$(keepalived::conf)"
  run::mkdir "$(dirname "$conf")"
  # 0600: with VRRPv2 it holds the authentication password.
  SECRET_CONTENT=$([[ $VIP_VRRP_VERSION == 2 && -n $VIP_AUTH_SECRET ]] && echo 1 || echo 0) \
    run::write_file "$conf" 0600 < "$tmp"
  CONF_CHANGED=$RUN_CHANGED
  if (( CONF_CHANGED )); then log::ok "wrote $conf"; else log::ok "$conf is up to date"; fi
}

# phase::run: start keepalived, or reload it when its config changed; nothing when all is in place.
phase::run() {
  log::phase run
  if svc::is_running keepalived; then
    if (( CONF_CHANGED )); then
      svc::reload keepalived
      log::ok "keepalived reloaded with the new configuration"
    else
      log::ok "keepalived is already running with this configuration; nothing to do"
    fi
    return 0
  fi
  svc::enable keepalived
  svc::start keepalived
  run::on_rollback stop_started_keepalived
  log::ok "keepalived started (log: $(keepalived::log_file))"
}

has_state() {
  local s
  s="$(vip::local_state)"
  [[ $s == MASTER || $s == BACKUP ]] && return 0
  restart_if_gone
  return 1
}

holds_vip() {
  vip::held_here && return 0
  restart_if_gone
  return 1
}

# restart_if_gone: a keepalived that was still shutting down (stopped just before this run) looked
# running, so phase::run left it alone; once it is gone, start it (once) instead of timing out.
restart_if_gone() {
  (( RESTARTED == 0 )) || return 0
  svc::is_running keepalived && return 0
  RESTARTED=1
  log::warn "keepalived stopped while this run waited for it (it was shutting down); starting it again"
  svc::start keepalived
  run::on_rollback stop_started_keepalived
}

# phase::verify: bootstrap waits until this node holds the VIP; a join until it settled as a member.
phase::verify() {
  log::phase verify
  run::is_dry && return 0
  if [[ $MODE == bootstrap || $MODE == standalone ]]; then
    if ! run::wait_until 20 "the VIP $VIP_ADDRESS on this node" holds_vip; then
      if [[ "$(vip::local_state)" == BACKUP ]]; then
        log::warn "another node already holds the VIP $VIP_ADDRESS; this node stays BACKUP"
        return 0
      fi
      return 1
    fi
    log::ok "this node holds the VIP $VIP_ADDRESS"
  else
    run::wait_until 20 "keepalived to settle as MASTER or BACKUP" has_state || return 1
    log::ok "keepalived is $(vip::local_state) here; the VIP stays with its current owner"
  fi
}

# stop_started_keepalived: the rollback step of a run that started keepalived.
stop_started_keepalived() {
  log::phase rollback
  svc::stop keepalived || true
}

# setup: --bootstrap, --join and --standalone (a failure rolls back: see lib/phase.sh).
setup() {
  CONF_CHANGED=0
  phase::preflight
  phase::configure
  phase::run
  if ! phase::verify; then
    log::error "this node's health check says: $("$HPC_TOOLKIT_DIR/utils/check_all_services.sh" 2>&1 | tail -n 1)"
    die "keepalived did not settle; see $(keepalived::log_file)"
  fi
}

mode::bootstrap() { setup; }
mode::join() { setup; }
mode::standalone() { setup; }

refresh_here() {
  CONF_CHANGED=0
  node::require_self
  phase::configure
  if (( CONF_CHANGED )) && svc::is_running keepalived; then
    log::phase run
    svc::reload keepalived
    log::ok "keepalived reloaded"
  fi
  run::commit_files
}

# refresh_members include|exclude IP: every configured member re-renders its peers with IP added back
# (include) or left out (exclude); this node in-process, the others over SSH. Unreachable ones are
# reported with the command to run there later.
refresh_members() {
  local how=$1 target=$2
  set_removed "$target" "$([[ $how == exclude ]] && echo 1 || echo 0)"
  refresh_here
  phase::on_members setup/phase4_keepalived_setup.sh --refresh "--$how" "$target" \
    < <(printf '%s\n' "${NODE_IPS[@]}" | if [[ $how == exclude ]]; then grep -vxF -- "$target"; else cat; fi)
}

# --refresh [--include IP | --exclude IP]
mode::refresh() {
  case "$MEMBER_CHANGE" in
    include) set_removed "$MEMBER_IP" 0 ;;
    exclude) set_removed "$MEMBER_IP" 1 ;;
  esac
  refresh_here
}

mode::add_node() {
  node::require_self
  log::phase add-node
  refresh_members include "$TARGET"
  log::ok "every reachable member now sends VRRP adverts to $TARGET; run --join there"
}

mode::remove_node() {
  node::require_self
  [[ $TARGET != "$SELF_IP" ]] || die "run --remove-node on a surviving node, not on $TARGET itself" "$EXIT_USAGE"
  log::phase remove-node
  # Stop it there first: if it holds the VIP, the clean release moves the VIP at once.
  if ! remote::toolkit "$TARGET" setup/phase4_keepalived_setup.sh --leave "${DRY_ARGS[@]+"${DRY_ARGS[@]}"}"; then
    log::warn "could not stop keepalived on $TARGET (unreachable?); the others drop it anyway"
  fi
  refresh_members exclude "$TARGET"
  log::ok "$TARGET is no longer a VRRP peer"
}

mode::leave() {
  log::phase stop
  if ! svc::is_running keepalived; then log::ok "keepalived is not running"; return 0; fi
  svc::stop keepalived
  log::ok "keepalived stopped; the VIP (if it was here) moved to another node"
}

status_local() {
  local running=false state here=false
  svc::is_running keepalived && running=true
  state="$(vip::local_state)"
  vip::held_here && here=true
  if (( JSON )); then
    printf '{"service":"keepalived","running":%s,"state":%s,"vip":%s,"vip_here":%s}\n' \
      "$running" "$(json::str "$state")" "$(json::str "$VIP_ADDRESS")" "$here"
  else
    printf 'keepalived: %s, %s; VIP %s %s\n' "$([[ $running == true ]] && echo running || echo stopped)" \
      "$state" "$VIP_ADDRESS" "$([[ $here == true ]] && echo 'is here' || echo 'is not here')"
  fi
}

# status_cluster: who holds the VIP, asked on every node; exactly one holder is the only healthy answer.
status_cluster() {
  local ok=1 HOLDERS UNKNOWN
  node::require_self
  vip::read_holders
  (( ${#HOLDERS[@]} == 1 )) || ok=0
  if (( JSON )); then
    printf '{"vip":%s,"holders":%s,"unknown":%s,"exactly_one":%s}\n' "$(json::str "$VIP_ADDRESS")" \
      "$(json::arr_str ${HOLDERS[@]+"${HOLDERS[@]}"})" "$(json::arr_str ${UNKNOWN[@]+"${UNKNOWN[@]}"})" "$(json::bool "$ok")"
  else
    case ${#HOLDERS[@]} in
      0) printf 'VIP %s: no node holds it' "$VIP_ADDRESS" ;;
      1) printf 'VIP %s: held by %s (%s)' "$VIP_ADDRESS" "${HOLDERS[0]}" "$(node::hostname_of "${HOLDERS[0]}")" ;;
      *) printf 'VIP %s: SPLIT BRAIN, held by %s' "$VIP_ADDRESS" "${HOLDERS[*]}" ;;
    esac
    (( ${#UNKNOWN[@]} )) && printf '; could not ask %s' "${UNKNOWN[*]}"
    printf '\n'
  fi
  (( ok )) || return 1
}

mode::status() {
  if (( CLUSTER_STATUS )); then status_cluster; else status_local; fi
}

main() { phase::main "$@"; }

main "$@"
