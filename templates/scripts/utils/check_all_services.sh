#!/usr/bin/env bash
# Usage: check_all_services.sh [--keepalived | --json]
# Summary: Decide whether this node is fit to hold the VIP (keepalived's track script).
#
# Runs the health checks listed in vip.track_checks (lib/health.sh's, the same as health_check.sh;
# a service never set up here does not count). The node is unfit when a critical check fails
# (health.critical_checks, or a web service marked critical), or when at least
# vip.noncritical_failures_to_move non-critical checks fail at the same time. It is also unfit while
# the drain file (health.drain_file) or a switchover release (utils/vip_switchover.sh) is present.
# keepalived tracks it with weight 0: unfit puts the node in FAULT, which gives the VIP away.
#
# When every member is unfit, the top-priority one still passes (the "last resort", see below), so the
# VIP stays reachable; --json shows it as "last_resort": true.
#
#   --keepalived  print nothing; log only when the verdict changes (keepalived runs this every second)
#   --json        {"fit": true, "critical_failed": [...], "noncritical_failed": [...], "checks": [...]}
#
# Exit codes: 0 fit to hold the VIP, 1 unfit, 2 usage.
# shellcheck source=../lib/keepalived.sh
source "$HPC_LIB_DIR/keepalived.sh"
# shellcheck source=../lib/health.sh
source "$HPC_LIB_DIR/health.sh"

MODE=text
# Results, one entry per check: name, critical (1/0), ok (1/0), detail.
RESULT_NAMES=()
RESULT_CRITICAL=()
RESULT_OK=()
RESULT_DETAIL=()

parse_args() {
  while (( $# )); do
    case "$1" in
      --keepalived) MODE=keepalived ;;
      --json) MODE=json ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
}

# is_critical CHECK: listed in health.critical_checks.
is_critical() {
  local c
  for c in "${HEALTH_CRITICAL_CHECKS[@]}"; do [[ $c == "$1" ]] && return 0; done
  [[ $1 == nginx ]] && health::is_critical nginx && return 0   # the web tier (lib/web.sh)
  return 1
}

# record NAME CRITICAL OK DETAIL
record() {
  RESULT_NAMES+=("$1")
  RESULT_CRITICAL+=("$2")
  RESULT_OK+=("$3")
  RESULT_DETAIL+=("$4")
}

# run_check NAME CRITICAL FUNCTION [ARGS...]: the function prints a short detail and returns 0 when ok.
run_check() {
  local name=$1 critical=$2 detail ok=1
  shift 2
  detail="$("$@" 2>&1)" || ok=0
  record "$name" "$critical" "$ok" "${detail:-ok}"
}

# --- the checks ----------------------------------------------------------------------------------
# One source of truth: every service check is lib/health.sh's (the same code behind health_check.sh and
# GET /health). Only the verdict is the VIP's own: a critical check counts when it fails (a warning,
# e.g. a Galera donor, still serves), a non-critical one when it warns or fails, and a service never
# set up here (not_configured) never counts. Web services are counted one by one, so two of them
# down add up like any two other non-critical failures.

# shellcheck disable=SC2317 # called through run_check
check::web() {
  if timeout 4 curl -fsS -m 3 -o /dev/null "$1" 2>/dev/null; then printf 'ok'; else printf '%s does not answer' "$1"; return 1; fi
}

# run_checks: every tracked check, plus the two manual switches (drain and switchover release).
run_checks() {
  local check i critical dir status msg names=()
  if health::drained; then record drain 1 0 "drained ($HEALTH_DRAIN_FILE exists)"; fi
  if [[ -e "$(vip::release_file)" ]]; then record release 1 0 "released by vip_switchover.sh"; fi
  # vip (health_check.sh's cluster-wide check) never counts: another node's state must not move the VIP.
  for check in "${VIP_TRACK_CHECKS[@]}"; do [[ $check == web || $check == vip ]] || names+=("$check"); done
  # With cluster.web, tracking "web" tracks this node's nginx too (critical: lib/web.sh).
  if [[ " ${VIP_TRACK_CHECKS[*]} " == *" web "* ]] && web::configured; then names+=(nginx); fi
  if (( ${#names[@]} )); then
    dir="$(tmp::dir)"
    # Within keepalived's 5 s script timeout whatever a check does: a check still running after its own
    # bound (TERM at HEALTH_TIMEOUT, KILL 1 s later) counts as failed (health::run_checks).
    HEALTH_RUN_DEADLINE=$(( ${HEALTH_TIMEOUT%.*} + 1 )) health::run_checks "$dir" "${names[@]}"
    for check in "${names[@]}"; do
      status="" msg=""
      IFS=$'\t' read -r status msg < "$dir/$check" || true
      [[ -n $status ]] || { status=fail; msg="did not finish within ${HEALTH_TIMEOUT}s"; }
      critical=0
      is_critical "$check" && critical=1
      case "$status" in
        ok|not_configured) record "$check" "$critical" 1 "$msg" ;;
        warn) record "$check" "$critical" "$critical" "$msg" ;;
        *) record "$check" "$critical" 0 "$msg" ;;
      esac
    done
  fi
  for check in "${VIP_TRACK_CHECKS[@]}"; do
    [[ $check == web ]] || continue
    # Each web service counts on its own; one marked critical is critical by itself.
    for i in "${!WEB_SERVICE_URLS[@]}"; do
      critical=0
      if [[ ${WEB_SERVICE_CRITICAL[i]} == true ]] || is_critical web; then critical=1; fi
      run_check "web:${WEB_SERVICE_NAMES[i]}" "$critical" check::web "${WEB_SERVICE_URLS[i]}"
    done
  done
}

# verdict: sets CRITICAL_FAILED, NONCRITICAL_FAILED and FIT (1/0).
verdict() {
  local i
  CRITICAL_FAILED=()
  NONCRITICAL_FAILED=()
  for i in "${!RESULT_NAMES[@]}"; do
    (( RESULT_OK[i] )) && continue
    if (( RESULT_CRITICAL[i] )); then CRITICAL_FAILED+=("${RESULT_NAMES[i]}"); else NONCRITICAL_FAILED+=("${RESULT_NAMES[i]}"); fi
  done
  FIT=1
  if (( ${#CRITICAL_FAILED[@]} > 0 || ${#NONCRITICAL_FAILED[@]} >= VIP_NONCRITICAL_FAILURES_TO_MOVE )); then FIT=0; fi
}

summary() {
  if (( FIT )); then
    printf 'fit to hold the VIP'
  else
    printf 'unfit to hold the VIP'
  fi
  (( ${#CRITICAL_FAILED[@]} )) && printf '; critical failed: %s' "${CRITICAL_FAILED[*]}"
  (( ${#NONCRITICAL_FAILED[@]} )) && printf '; non-critical failed: %s of %s allowed' \
    "${#NONCRITICAL_FAILED[@]}" "$(( VIP_NONCRITICAL_FAILURES_TO_MOVE - 1 ))"
  printf '\n'
}

# --- the last resort -----------------------------------------------------------------------------
# When every node is unfit at once (a critical service down everywhere), FAULT everywhere would leave
# the VIP nowhere and the portal's address silent. Then the top-priority member holds it anyway (so
# the address still answers, e.g. with a maintenance page) - but only on positive evidence: every
# other member answered that it is unfit or runs no keepalived. A member that cannot be asked may be
# fit on the other side of a partition, so then nothing changes. Only the top-priority node asks, only
# once it is FAULT or already the last resort (a normal failover never waits for this), and at most
# every LAST_RESORT_ASK_EVERY seconds. Drain and switchover release are the admin's will: never
# overridden. The verdict printed and logged stays this node's own; only the exit code changes.

LAST_RESORT_ASK_EVERY=5

# top_priority_self: this node has the highest priority among the members (removed peers left out).
top_priority_self() {
  local i best=-1 best_ip="" removed
  removed=" $(vip::removed_peers | paste -sd' ') "
  for i in "${!NODE_IPS[@]}"; do
    [[ $removed == *" ${NODE_IPS[i]} "* ]] && continue
    if (( NODE_PRIORITIES[i] > best )); then best=${NODE_PRIORITIES[i]} best_ip=${NODE_IPS[i]}; fi
  done
  [[ -n ${SELF_IP:-} && $best_ip == "$SELF_IP" ]]
}

# peer_verdict IP: fit | unfit | unknown - the peer's own last verdict (STATE_DIR/vip_check_last, a JSON
# record read by field), or unfit when no keepalived runs there; unknown when it cannot be asked within
# 2 s or its answer is not a verdict.
peer_verdict() {
  local ip=$1 out opts
  mapfile -t opts < <(remote::ssh_opts)
  # shellcheck disable=SC2016 # expanded by the peer's shell
  if ! out="$(timeout -k 1 2 ssh "${opts[@]}" "${DISCOVERY_SSH_USER}@${ip}" -- "$(remote::quote_all sh -c \
      'if pidof keepalived >/dev/null 2>&1; then cat "$1" 2>/dev/null || echo "{}"; else echo "{\"keepalived\":false}"; fi' \
      sh "$STATE_DIR/vip_check_last")" 2>/dev/null < /dev/null)"; then
    printf 'unknown\n'
    return 0
  fi
  jq -r 'if .keepalived == false then "unfit" elif .fit == true then "fit" elif .fit == false then "unfit" else "unknown" end' \
    <<< "$out" 2>/dev/null || printf 'unknown\n'
}

# peers_all_unfit: every other member answered unfit (cached for LAST_RESORT_ASK_EVERY seconds).
peers_all_unfit() {
  local cache now stamp=0 verdict="" ip dir i pids=() removed all=1
  cache="$(path::of "$STATE_DIR/vip_last_resort_peers")"
  now=$EPOCHSECONDS
  [[ -r $cache ]] && read -r stamp verdict < "$cache"
  if [[ $stamp =~ ^[0-9]+$ ]] && (( now - stamp < LAST_RESORT_ASK_EVERY )) && [[ -n $verdict ]]; then
    [[ $verdict == all_unfit ]]
    return
  fi
  removed=" $(vip::removed_peers | paste -sd' ') "
  dir="$(tmp::dir)"
  for i in "${!NODE_IPS[@]}"; do
    ip=${NODE_IPS[i]}
    [[ $ip == "$SELF_IP" || $removed == *" $ip "* ]] && continue
    peer_verdict "$ip" > "$dir/$i" &
    pids+=("$!")
  done
  (( ${#pids[@]} == 0 )) || wait "${pids[@]}" || true
  for i in "${!NODE_IPS[@]}"; do
    [[ -e $dir/$i ]] || continue
    [[ "$(< "$dir/$i")" == unfit ]] || all=0
  done
  (( ${#pids[@]} )) || all=0   # alone: keepalived needs no help to hold the VIP
  mkdir -p "$(dirname "$cache")"
  printf '%s %s\n' "$now" "$( (( all )) && echo all_unfit || echo not_all)" > "$cache"
  (( all ))
}

# last_resort: this unfit node should still hold the VIP (see above).
last_resort() {
  local c state=""
  for c in ${CRITICAL_FAILED[@]+"${CRITICAL_FAILED[@]}"}; do
    [[ $c == drain || $c == release ]] && return 1
  done
  if SELF_INDEX="$(node::self_index)"; then SELF_IP=${NODE_IPS[SELF_INDEX]}; else return 1; fi
  top_priority_self || return 1
  [[ -r "$(vip::state_file)" ]] && state="$(< "$(vip::state_file)")"
  [[ $state == FAULT || -e "$(vip::last_resort_file)" ]] || return 1
  peers_all_unfit
}

# keepalived_verdict: the exit code keepalived sees - fit, or unfit but the last resort.
keepalived_verdict() {
  local flag
  flag="$(vip::last_resort_file)"
  if (( FIT )); then
    rm -f -- "$flag"
    return 0
  fi
  if last_resort; then
    if [[ ! -e $flag ]]; then
      mkdir -p "$(dirname "$flag")"
      : > "$flag"
      log::to_file WARN "every other member is unfit too: holding the VIP as the last resort (highest priority) while this node is unfit"
    fi
    return 0
  fi
  if [[ -e $flag ]]; then
    rm -f -- "$flag"
    log::to_file INFO "another member is fit again (or cannot be asked): no longer the last resort"
  fi
  return 1
}

# log_change: keepalived runs us every second; the verdict record (STATE_DIR/vip_check_last, read by
# peers: {"fit": true, "summary": "...", "critical_failed": [...], "noncritical_failed": [...]}) is
# rewritten and the log gets a line only when the verdict changes.
log_change() {
  local file last="" now
  file="$(path::of "$STATE_DIR/vip_check_last")"
  now="$(summary)"
  [[ -r $file ]] && last="$(jq -r '.summary // empty' "$file" 2>/dev/null || true)"
  [[ $now == "$last" ]] && return 0
  mkdir -p "$(dirname "$file")"
  printf '{"fit":%s,"summary":%s,"critical_failed":%s,"noncritical_failed":%s}\n' "$(json::bool "$FIT")" \
    "$(json::str "$now")" "$(json::arr_str ${CRITICAL_FAILED[@]+"${CRITICAL_FAILED[@]}"})" \
    "$(json::arr_str ${NONCRITICAL_FAILED[@]+"${NONCRITICAL_FAILED[@]}"})" > "$file.$$"
  mv -f "$file.$$" "$file"
  if (( FIT )); then log::to_file INFO "$now"; else log::to_file WARN "$now"; fi
}

print_text() {
  local i state
  for i in "${!RESULT_NAMES[@]}"; do
    if (( RESULT_OK[i] )); then state=ok; else state=FAIL; fi
    printf '%-4s %-22s %-12s %s\n' "$state" "${RESULT_NAMES[i]}" \
      "$( (( RESULT_CRITICAL[i] )) && echo critical || echo non-critical)" "${RESULT_DETAIL[i]}"
  done
  summary
}

print_json() {
  local i first=1
  printf '{"fit":%s,"last_resort":%s,"critical_failed":%s,"noncritical_failed":%s,"noncritical_failures_to_move":%s,"checks":[' \
    "$(json::bool "$FIT")" "$( [[ -e "$(vip::last_resort_file)" ]] && echo true || echo false)" "$(json::arr_str ${CRITICAL_FAILED[@]+"${CRITICAL_FAILED[@]}"})" \
    "$(json::arr_str ${NONCRITICAL_FAILED[@]+"${NONCRITICAL_FAILED[@]}"})" "$VIP_NONCRITICAL_FAILURES_TO_MOVE"
  for i in "${!RESULT_NAMES[@]}"; do
    (( first )) || printf ','
    first=0
    printf '{"name":%s,"critical":%s,"ok":%s,"detail":%s}' "$(json::str "${RESULT_NAMES[i]}")" \
      "$(json::bool "${RESULT_CRITICAL[i]}")" "$(json::bool "${RESULT_OK[i]}")" "$(json::str "${RESULT_DETAIL[i]}")"
  done
  printf ']}\n'
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  log::phase check
  run_checks
  verdict
  case "$MODE" in
    keepalived)
      log_change
      keepalived_verdict && exit 0
      exit 1
      ;;
    json) print_json ;;
    text) print_text ;;
  esac
  (( FIT )) && exit 0
  exit 1
}

main "$@"
