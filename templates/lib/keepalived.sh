# shellcheck shell=bash
# lib/keepalived.sh - keepalived and the cluster VIP: the node's keepalived.conf, the daemon with and
# without systemd (always logging to a file: lab nodes and minimal servers have no syslog), and who
# holds the VIP. Sourced by setup/phase4_keepalived_setup.sh and the utils/vip_*.sh scripts.

# Where things live (all through path::of, so unit tests run in a temp dir).
keepalived::conf()      { path::of /etc/keepalived/keepalived.conf; }
keepalived::log_file()  { path::of /var/log/hpc-cluster/keepalived.log; }
keepalived::pid_file()  { path::of /run/keepalived.pid; }
vip::transitions_log()  { path::of /var/log/hpc-cluster/vip_transitions.log; }
# The last VRRP state keepalived reported through vip_notify.sh (MASTER, BACKUP, FAULT, STOP).
vip::state_file()       { path::of "$STATE_DIR/vip_state"; }
# Present while utils/vip_switchover.sh asks this node to give the VIP away (the check fails).
vip::release_file()     { path::of "$STATE_DIR/vip_release"; }
# Present while this node holds (or may take) the VIP as the last resort: every node is unfit.
vip::last_resort_file() { path::of "$STATE_DIR/vip_last_resort"; }

# vip::removed_peers: the IPs --remove-node left out of the VRRP peers (one a line).
vip::removed_peers() {
  local f
  f="$(path::of "$STATE_DIR/keepalived_removed_peers")"
  if [[ -r $f ]]; then grep -E '^[0-9.]+$' "$f" || true; fi
}

# keepalived::daemon_args: how keepalived runs: in the foreground (the caller backgrounds it), logging
# details to stderr, which goes to the log file, and never to syslog.
keepalived::daemon_args() {
  printf '%s\n' --dont-fork --log-console --log-detail --no-syslog \
    --use-file "$(keepalived::conf)" --pid "$(keepalived::pid_file)"
}

# keepalived::auth_block: the VRRPv2 authentication block, or nothing. VRRPv3 has no authentication
# (keepalived ignores it and --config-test fails), and VRRPv2 silently truncates a longer password
# to 8 characters, so a longer one is refused instead of weakening it behind the admin's back.
keepalived::auth_block() {
  local pass
  [[ $VIP_VRRP_VERSION == 2 && -n $VIP_AUTH_SECRET ]] || return 0
  pass="$(secrets::get "$VIP_AUTH_SECRET")"
  if ! run::is_dry; then
    if (( ${#pass} < 1 || ${#pass} > 8 )); then
      die "secret $VIP_AUTH_SECRET must be 1-8 characters (keepalived truncates VRRPv2 passwords to 8); it has ${#pass}" "$EXIT_USAGE"
    fi
    # keepalived reads '#' and '!' as comments and splits on blanks and quotes.
    if [[ ! $pass =~ ^[A-Za-z0-9_.,:+=@%^*/-]+$ ]]; then
      die "secret $VIP_AUTH_SECRET may only hold letters, digits and _.,:+=@%^*/- (keepalived would misread it)" "$EXIT_USAGE"
    fi
  fi
  printf '    authentication {\n        auth_type PASS\n        auth_pass %s\n    }\n' "$pass"
}

# keepalived::unicast_block SELF_IP PEER...: unicast adverts to the peers; nothing for a single node
# (an empty unicast_peer block makes keepalived fall back to multicast with a warning).
keepalived::unicast_block() {
  local self=$1 peer
  shift
  (( $# )) || return 0
  printf '    unicast_src_ip %s\n    unicast_peer {\n' "$self"
  for peer in "$@"; do printf '        %s\n' "$peer"; done
  printf '    }\n'
}

# shellcheck disable=SC2153 # NODE_IPS comes from config.sh
# keepalived::peers SELF_IP [EXCLUDE_IP...]: the configured nodes other than this one and the excluded.
keepalived::peers() {
  local self=$1 ip ex skip
  shift
  for ip in "${NODE_IPS[@]}"; do
    [[ $ip == "$self" ]] && continue
    skip=0
    for ex in "$@"; do [[ $ip == "$ex" ]] && skip=1; done
    (( skip )) || printf '%s\n' "$ip"
  done
}

# keepalived::render SELF_IP [EXCLUDE_IP...]: this node's keepalived.conf on stdout.
keepalived::render() {
  local self=$1 i peers
  shift
  i="$(node::index_of "$self")" || die "$self is not a configured node" "$EXIT_USAGE"
  mapfile -t peers < <(keepalived::peers "$self" "$@")
  # shellcheck disable=SC2034 # read by tpl::render through ${!name}
  local NODE_IP=$self NODE_NAME=${NODE_HOSTNAMES[i]} PRIORITY=${NODE_PRIORITIES[i]} \
    TOOLKIT_DIR=$HPC_TOOLKIT_DIR UNICAST_BLOCK AUTH_BLOCK
  UNICAST_BLOCK="$(keepalived::unicast_block "$self" ${peers[@]+"${peers[@]}"})"
  [[ -z $UNICAST_BLOCK ]] || UNICAST_BLOCK+=$'\n'
  AUTH_BLOCK="$(keepalived::auth_block)" || return
  [[ -z $AUTH_BLOCK ]] || AUTH_BLOCK+=$'\n'
  tpl::render "$(tpl::path keepalived.conf)" NODE_IP NODE_NAME PRIORITY TOOLKIT_DIR UNICAST_BLOCK AUTH_BLOCK
}

# keepalived::config_test FILE: keepalived's own check (exit 0 only when it has nothing to complain
# about; warnings such as a truncated password exit 5). Its findings go to the log and stderr.
keepalived::config_test() {
  local out rc=0
  out="$(keepalived --config-test --use-file "$1" 2>&1)" || rc=$?
  if (( rc != 0 )); then
    log::error "keepalived --config-test rejected $1 (exit $rc):"
    printf '%s\n' "$out" | sed 's/^/    /' >&2
    log::to_file ERROR "$out"
  fi
  return "$rc"
}

# Without systemd there is no unit to start keepalived with logging to a file, so svc.sh's dispatcher
# uses these (svc::direct_<action>_keepalived) instead of the init script, which would log to syslog.
svc::direct_start_keepalived() {
  local args log
  svc::direct_status_keepalived && return 0
  mapfile -t args < <(keepalived::daemon_args)
  log="$(keepalived::log_file)"
  if run::is_dry; then
    run::cmd setsid keepalived "${args[@]}"
    return 0
  fi
  mkdir -p "$(dirname "$log")"
  log::to_file CMD "$(run::quote setsid keepalived "${args[@]}") >> $log 2>&1 &"
  keepalived::_spawn "$log" setsid keepalived "${args[@]}"
  run::wait_until 15 "keepalived to start (see $log)" svc::direct_status_keepalived
}

# keepalived::_spawn LOG CMD...: start CMD in the background with no inherited descriptor except
# stdout/stderr to LOG (an inherited lock or bats pipe would otherwise stay open as long as it runs).
keepalived::_spawn() {
  local log=$1
  shift
  (
    local fd
    for fd in /proc/"$BASHPID"/fd/*; do
      fd=${fd##*/}
      if [[ $fd =~ ^[0-9]+$ ]] && (( fd > 2 )); then exec {fd}>&-; fi
    done
    exec "$@" < /dev/null >> "$log" 2>&1
  ) &
}

svc::direct_stop_keepalived() {
  svc::pid::kill /run/keepalived.pid keepalived
}
svc::direct_restart_keepalived() {
  svc::direct_stop_keepalived
  svc::direct_start_keepalived
}
svc::direct_reload_keepalived() {
  local pid
  svc::direct_status_keepalived || { svc::direct_start_keepalived; return; }
  pid="$(cat "$(keepalived::pid_file)")"
  run::cmd kill -HUP "$pid"
}
svc::direct_status_keepalived() {
  svc::pid::alive /run/keepalived.pid keepalived
}

# vip::held_here: this node has the VIP on its interface (HPC_VIP_ADDRS overrides for tests).
vip::held_here() {
  local addrs
  if [[ -n "${HPC_VIP_ADDRS+x}" ]]; then
    addrs=$HPC_VIP_ADDRS
  else
    addrs="$(ip -o -4 addr show dev "$VIP_INTERFACE" 2>/dev/null || true)"
  fi
  [[ " ${addrs//$'\n'/ } " == *" ${VIP_ADDRESS}/"* ]]
}

# vip::local_state: MASTER when keepalived runs and the VIP is here, else the last state keepalived
# reported (BACKUP, FAULT), DOWN when keepalived is not running, or STALE when it is not running but
# the VIP is still on the interface (a killed keepalived cannot remove it; starting it again does).
vip::local_state() {
  local state=""
  if ! svc::is_running keepalived; then
    if vip::held_here; then printf 'STALE\n'; else printf 'DOWN\n'; fi
    return 0
  fi
  if vip::held_here; then printf 'MASTER\n'; return 0; fi
  [[ -r "$(vip::state_file)" ]] && state="$(cat "$(vip::state_file)")"
  [[ $state == MASTER ]] && state=BACKUP   # the file lags behind a VIP that is already gone
  printf '%s\n' "${state:-BACKUP}"
}

# vip::read_holders [TIMEOUT]: vip::holders split into HOLDERS (the nodes holding the VIP now) and
# UNKNOWN (those that could not be asked), for callers that count them.
# shellcheck disable=SC2120 # TIMEOUT is optional, as for vip::holders
vip::read_holders() {
  local ip held
  HOLDERS=() UNKNOWN=()
  while read -r ip held; do
    case "$held" in
      yes) HOLDERS+=("$ip") ;;
      unknown) UNKNOWN+=("$ip") ;;
    esac
  done < <(vip::holders "$@")
}

# vip::holders [TIMEOUT]: one "IP yes|no|unknown" line per configured node, in config order: does it
# hold the VIP right now? Peers are asked over SSH, all at once (the answer costs one round trip, not
# one per node); a peer that cannot be asked, or (with TIMEOUT seconds) does not answer in time, is
# "unknown", never "no" - a peer we cannot reach may be the other half of a split.
# shellcheck disable=SC2120 # TIMEOUT is optional: callers without one wait for ssh's own limits
vip::holders() {
  local limit=${1:-} dir i ip answer pids=()
  dir="$(mktemp -d "${HPC_TMP_ROOT:-${TMPDIR:-/tmp}}/vip-holders.XXXXXX")"
  for i in "${!NODE_IPS[@]}"; do
    ip=${NODE_IPS[i]}
    if [[ $ip == "${SELF_IP:-}" ]]; then
      if vip::held_here; then printf 'yes\n' > "$dir/$i"; else printf 'no\n' > "$dir/$i"; fi
      continue
    fi
    vip::_ask_peer "$ip" "$limit" > "$dir/$i" < /dev/null &
    pids+=("$!")
  done
  (( ${#pids[@]} == 0 )) || wait "${pids[@]}" || true
  for i in "${!NODE_IPS[@]}"; do
    answer=""
    [[ -r $dir/$i ]] && answer="$(< "$dir/$i")"
    printf '%s %s\n' "${NODE_IPS[i]}" "${answer:-unknown}"
  done
  rm -rf -- "$dir"
}

# vip::_ask_peer IP [TIMEOUT]: yes / no / unknown for one peer (the same SSH call as remote::run, under
# `timeout` when a limit is given: a frozen peer must not hold up a health check).
vip::_ask_peer() {
  local ip=$1 limit=$2 out opts bound=()
  mapfile -t opts < <(remote::ssh_opts)
  [[ -z $limit ]] || bound=(timeout -k 1 "$limit")
  if out="$(${bound[@]+"${bound[@]}"} ssh "${opts[@]}" "${DISCOVERY_SSH_USER}@${ip}" -- \
      "$(remote::quote_all ip -o -4 addr show dev "$VIP_INTERFACE")" 2>/dev/null)"; then
    if [[ " ${out//$'\n'/ } " == *" ${VIP_ADDRESS}/"* ]]; then printf 'yes\n'; else printf 'no\n'; fi
  else
    printf 'unknown\n'
  fi
}
