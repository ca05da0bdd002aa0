#!/usr/bin/env bash
# Usage: rolling_update.sh [--toolkit DIR] [--packages] [--from IP] [--timeout SECONDS]
#                          [--dry-run] [--yes] [--json]
# Summary: Apply a new toolkit/config (and package upgrades) to the cluster one node at a time.
#
# Runs on a node (or any host with root SSH to every node and a copy of the toolkit). Refuses to start
# unless every node's utils/health_check.sh is healthy with no failing check and exactly one node holds
# the VIP. Then, lowest priority first and the VIP holder last, for each node:
#   drain     create the drain file (health.drain_file): the node is unfit for the VIP
#   vip       wait until the VIP is held by exactly one other node
#   copy      copy the toolkit DIR to the node's toolkit folder (files replaced, none removed)
#   packages  with --packages: apt-get install --only-upgrade the Debian packages of its services
#   apply     rerun each service set up there: its phase script --refresh where it has one, else
#             --join --peer <another node> (re-render the config files, reload/restart what changed)
#   ready     wait until its health_check.sh --json has no failing check (Galera Synced, Redis ok,
#             the shared mount, Slurm, nginx) and its lib/config.sh is the new one
#   undrain   remove the drain file, wait until the node reports healthy
# The first node that fails stops the run: it stays drained, the nodes after it are untouched, and
# the message says how to resume (fix it, remove its drain file, rerun with --from IP).
#
#   --toolkit DIR  the toolkit to apply (a generated dist-scripts/cluster/; default: this toolkit)
#   --packages     also upgrade the Debian packages of the services on each node (apt-get)
#   --from IP      start at IP in the order (resume after a stop; the nodes before it are skipped)
#   --timeout S    how long each wait may take (default 300)
#   --dry-run      check the cluster, print the order and every step; change nothing
#   --yes          do not ask for confirmation
#   --json         print {"order": [...], "updated": [...], "failed": IP|null, "step": ..., "seconds": N}
#
# --force is the same as --yes. --apply-here --peer IP (internal) is the apply step, run on the node
# being updated.
# Exit codes: 0 every node updated, 1 a node failed (the run stopped there), 2 usage, 4 locked,
#             5 the cluster is not healthy (nothing changed), 6 refused (cancelled, one-node cluster).
# shellcheck source=../lib/keepalived.sh
source "$HPC_LIB_DIR/keepalived.sh"

SOURCE_DIR=$HPC_TOOLKIT_DIR
PACKAGES=0 FROM="" TIMEOUT=300 JSON=0 APPLY_HERE=0 PEER=""
ORDER=() UPDATED=() FAILED="" STEP="" STARTED=$SECONDS NEW_HASH=""
PLAN_FD=1   # the [dryrun] lines and the nodes' output; stderr with --json (stdout: the summary alone)

# shellcheck disable=SC2034 # DRY_RUN and ASSUME_YES are read by lib/run.sh and lib/ui.sh
parse_args() {
  while (( $# )); do
    case "$1" in
      --toolkit) [[ -n ${2:-} ]] || lib::usage_error "--toolkit needs a folder"; SOURCE_DIR=$2; shift ;;
      --packages) PACKAGES=1 ;;
      --from) [[ -n ${2:-} ]] || lib::usage_error "--from needs a node address"; FROM=$2; shift ;;
      --timeout) cli::seconds "$1" "${2:-}"; TIMEOUT=$2; shift ;;
      --dry-run) DRY_RUN=1 ;;
      --yes|--force) ASSUME_YES=1 ;;
      --json) JSON=1 PLAN_FD=2 ;;
      --apply-here) APPLY_HERE=1 ;;
      --peer) [[ -n ${2:-} ]] || lib::usage_error "--peer needs a node address"; PEER=$2; shift ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  if [[ -n $FROM ]] && ! node::index_of "$FROM" >/dev/null; then
    lib::usage_error "--from $FROM is not a configured node (${NODE_IPS[*]})"
  fi
  [[ -f $SOURCE_DIR/lib/config.sh && -x $SOURCE_DIR/utils/rolling_update.sh ]] \
    || lib::usage_error "$SOURCE_DIR is not a generated toolkit (no lib/config.sh or utils/rolling_update.sh)"
  SOURCE_DIR="$(cd "$SOURCE_DIR" && pwd)"
}

# name IP: "10.0.0.13 (node3)" for messages.
name() { printf '%s (%s)' "$1" "$(node::hostname_of "$1")"; }

# on IP CMD...: run CMD on IP (over SSH; here when IP is this node); under --dry-run print it instead.
on() {
  local ip=$1
  shift
  if run::is_dry; then printf '[dryrun] would run on %s: %s\n' "$(name "$ip")" "$(run::quote "$@")" >&"$PLAN_FD"; return 0; fi
  log::to_file CMD "on $ip: $(run::quote "$@")"
  remote::run "$ip" "$@" >&"$PLAN_FD"
}

# report IP: the node's health_check.sh --json (nothing when it cannot be asked).
report() { remote::toolkit "$1" utils/health_check.sh --json < /dev/null 2>/dev/null || true; }

# failing REPORT: the checks that fail, one per line ("drain" while drained; vip is the cluster's check,
# waited for on its own). Nothing printed = every service is back.
failing() {
  jq -r '(if .drain then "drain" else empty end), (.checks // {} | to_entries[]
    | select(.key != "vip" and .value.status == "fail") | .key), (if .checks then empty else "no answer" end)' \
    <<< "${1:-"{}"}" 2>/dev/null || printf 'no answer\n'
}

# ready IP [drain-ok]: the node's services are all back (the drain file allowed with drain-ok).
ready() {
  local bad
  bad="$(failing "$(report "$1")")"
  [[ ${2:-} != drain-ok ]] || bad="$(grep -vx drain <<< "$bad" || true)"
  [[ -z $bad ]]
}

# vip_elsewhere IP: exactly one node holds the VIP, and it is not IP.
vip_elsewhere() { vip::read_holders 5; (( ${#HOLDERS[@]} == 1 )) && [[ ${HOLDERS[0]} != "$1" ]]; }

# order HOLDER: the update order - lowest priority first (NODE_IPS is highest first), HOLDER last, from
# --from on.
order() {
  local i ips=() started=0
  for (( i = ${#NODE_IPS[@]} - 1; i >= 0; i-- )); do [[ ${NODE_IPS[i]} == "$1" ]] || ips+=("${NODE_IPS[i]}"); done
  ips+=("$1")
  for i in "${ips[@]}"; do
    [[ -z $FROM || $i == "$FROM" ]] && started=1
    (( started )) && printf '%s\n' "$i"
  done
  return 0
}

# problems: PROBLEMS = what is wrong with the cluster now (empty: every node healthy, one VIP holder).
problems() {
  local ip bad
  PROBLEMS=()
  for ip in "${NODE_IPS[@]}"; do
    bad="$(failing "$(report "$ip")" | paste -sd, -)"
    [[ -z $bad ]] || PROBLEMS+=("$(name "$ip"): $bad")
  done
  vip::read_holders 5
  (( ${#HOLDERS[@]} == 1 )) || PROBLEMS+=("the VIP $VIP_ADDRESS is held by ${#HOLDERS[@]} nodes (${HOLDERS[*]:-none}${UNKNOWN[*]:+; could not ask ${UNKNOWN[*]}})")
  (( ${#PROBLEMS[@]} == 0 ))
}

# preflight: every node healthy with nothing failing, exactly one VIP holder (asked up to 3 times, so a
# check that timed out once on a busy node does not refuse the update); sets ORDER.
preflight() {
  local attempt
  log::phase preflight
  (( NODE_COUNT > 1 )) || die "a one-node cluster cannot be updated without downtime: run start_multi_complete.sh --yes there" "$EXIT_REFUSED"
  for attempt in 1 2 3; do
    problems && break
    (( attempt == 3 )) || sleep 1
  done
  if (( ${#PROBLEMS[@]} )); then
    log::error "the cluster is not healthy; nothing was changed:"
    printf '    %s\n' "${PROBLEMS[@]}" >&2
    die "fix it first (utils/health_check.sh on each node; a node left drained by a stopped update: remove its drain file $HEALTH_DRAIN_FILE), then rerun" "$EXIT_PREFLIGHT"
  fi
  mapfile -t ORDER < <(order "${HOLDERS[0]}")
  log::ok "every node is healthy; the VIP is on $(name "${HOLDERS[0]}")"
  log::info "order (lowest priority first, the VIP holder last): ${ORDER[*]}"
}

# peer_of IP: the member a node rejoins its services through (the highest-priority other node).
peer_of() { printf '%s\n' "${NODE_IPS[@]}" | grep -vxF -- "$1" | sed -n 1p; }

copy_toolkit() {
  local ip=$1
  if [[ $ip == "${SELF_IP:-}" && $SOURCE_DIR == "$HPC_TOOLKIT_DIR" ]]; then log::info "$ip runs this toolkit already"; return 0; fi
  if run::is_dry; then printf '[dryrun] would copy %s to %s:%s\n' "$SOURCE_DIR" "$(name "$ip")" "$HPC_TOOLKIT_DIR" >&"$PLAN_FD"; return 0; fi
  log::to_file CMD "copy $SOURCE_DIR to $ip:$HPC_TOOLKIT_DIR"
  # Unpacked beside it, then copied over: every file is replaced (a running script keeps its old copy).
  # shellcheck disable=SC2016 # expanded by the node's shell
  tar -C "$SOURCE_DIR" -cf - . | remote::run "$ip" sh -c 'set -e; s=$(mktemp -d); trap "rm -rf \"\$s\"" EXIT; tar -C "$s" -xf - --no-same-owner; mkdir -p "$1"; cp -a --remove-destination "$s/." "$1/"' sh "$HPC_TOOLKIT_DIR"
}

# new_config IP: the node runs the lib/config.sh being applied.
new_config() { [[ "$(remote::run "$1" sha256sum "$HPC_TOOLKIT_DIR/lib/config.sh" < /dev/null)" == "$NEW_HASH "* ]]; }

# step NAME CMD...: one step of a node's update; a failure stops the run (see fail_node).
step() { STEP=$1; shift; log::phase "$CURRENT/$STEP"; "$@" || fail_node; }

fail_node() {
  local rest=() state="it stays drained" resume="utils/rolling_update.sh --from $CURRENT" fix
  FAILED=$CURRENT
  mapfile -t rest < <(printf '%s\n' "${ORDER[@]}" | sed "0,/^${CURRENT//./\\.}\$/d")
  if (( PACKAGES )); then resume+=" --packages"; fi
  if [[ $SOURCE_DIR != "$HPC_TOOLKIT_DIR" ]]; then resume+=" --toolkit $SOURCE_DIR"; fi
  fix="fix it (utils/health_check.sh there; the logs $HPC_LOG_FILE here and there), remove $HEALTH_DRAIN_FILE there"
  if [[ $STEP == drain || $STEP == vip ]]; then   # nothing changed there yet
    on "$CURRENT" rm -f "$HEALTH_DRAIN_FILE" < /dev/null || true
    state="nothing changed there (the drain file is removed again)" fix="fix the cause"
  fi
  summary
  die "step '$STEP' failed on $(name "$CURRENT"): $state; ${rest[*]:+untouched: ${rest[*]}; }updated: ${UPDATED[*]:-none}. To resume, $fix, then run: $resume"
}

# wait_for WHAT CMD...: run::wait_until with --timeout (under --dry-run: say what it would wait for).
wait_for() {
  local what=$1
  shift
  if run::is_dry; then printf '[dryrun] would wait up to %ss for %s\n' "$TIMEOUT" "$what" >&"$PLAN_FD"; return 0; fi
  run::wait_until "$TIMEOUT" "$what" "$@"
}

update_node() {
  local ip=$1 start=$SECONDS args=(--apply-here --peer "$(peer_of "$1")" --yes)
  CURRENT=$ip
  (( PACKAGES )) && args+=(--packages)
  log::phase "$ip"
  log::info "updating $(name "$ip")"
  step drain on "$ip" install -D -m 0644 /dev/null "$HEALTH_DRAIN_FILE" < /dev/null
  step vip wait_for "the VIP to be held by one node other than $ip" vip_elsewhere "$ip"
  step copy copy_toolkit "$ip"
  step apply on "$ip" "$HPC_TOOLKIT_DIR/utils/rolling_update.sh" "${args[@]}" < /dev/null
  step ready wait_for "every service on $ip to be back" ready "$ip" drain-ok
  run::is_dry || step ready new_config "$ip"
  step undrain on "$ip" rm -f "$HEALTH_DRAIN_FILE" < /dev/null
  step healthy wait_for "$ip to report healthy" ready "$ip"
  UPDATED+=("$ip")
  run::is_dry || log::ok "$(name "$ip") updated in $(( SECONDS - start ))s"
}

# --- --apply-here: on the node being updated ----------------------------------------------------------

# set_up_here: the services set up on this node, in service order: one of its health checks is more
# than not_configured, or (a service without health checks) a phase left its marker or --status --json
# says it runs.
set_up_here() {
  local rep i h script
  rep="$("$HPC_TOOLKIT_DIR/utils/health_check.sh" --json 2>/dev/null || true)"
  for i in "${!SERVICES[@]}"; do
    script=${SERVICE_PHASES[i]}
    [[ -n $script && -x $HPC_TOOLKIT_DIR/$script ]] || continue
    if [[ -n ${SERVICE_HEALTH[i]} ]]; then
      for h in ${SERVICE_HEALTH[i]}; do
        if jq -e --arg h "$h" '.checks[$h].status // "not_configured" | . != "not_configured"' <<< "$rep" >/dev/null 2>&1; then
          printf '%s\n' "${SERVICES[i]}"; break
        fi
      done
    elif [[ -e "$(path::of "$STATE_DIR/services/${SERVICES[i]}")" ]] \
        || "$HPC_TOOLKIT_DIR/$script" --status --json 2>/dev/null | jq -e '.running == true' >/dev/null 2>&1; then
      printf '%s\n' "${SERVICES[i]}"
    fi
  done
}

# mode_of SCRIPT: how a service applies a new config on a running member: --refresh where its phase
# script has it (re-render, reload what changed; keepalived's --join would wait for a state a drained
# node never reaches), else --join (re-render, restart what changed, start what is missing).
mode_of() {
  if "$HPC_TOOLKIT_DIR/$1" --help 2>/dev/null | grep -e '--refresh' >/dev/null; then echo --refresh; else echo --join; fi
}

apply_here() {
  local s script args pkgs=() p here=()
  log::phase apply
  node::require_self
  [[ -n $PEER && $PEER != "$SELF_IP" ]] || lib::usage_error "--apply-here needs --peer IP (another member)"
  mapfile -t here < <(set_up_here)
  log::info "services set up here: ${here[*]:-none}"
  if (( PACKAGES )); then
    for s in "${here[@]}"; do
      for p in $(registry::get "$s" packages); do pkgs+=("${p#*=}"); done
    done
    run::cmd apt-get update -q
    run::cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --only-upgrade -o Dpkg::Options::=--force-confold "${pkgs[@]}"
  fi
  for s in "${here[@]}"; do
    log::phase "apply/$s"
    script="$(registry::get "$s" phase)"
    args=(--join --peer "$PEER")
    [[ "$(mode_of "$script")" == --join ]] || args=(--refresh)
    run::cmd "$HPC_TOOLKIT_DIR/$script" "${args[@]}" --yes || die "$s: $script ${args[*]} failed on $SELF_IP (see ${HPC_LOG_FILE})"
  done
  log::ok "applied: ${here[*]:-nothing}"
}

summary() {
  (( JSON )) || return 0
  printf '{"order":%s,"updated":%s,"failed":%s,"step":%s,"seconds":%s,"dry_run":%s}\n' \
    "$(json::arr_str ${ORDER[@]+"${ORDER[@]}"})" "$(json::arr_str ${UPDATED[@]+"${UPDATED[@]}"})" \
    "$([[ -n $FAILED ]] && json::str "$FAILED" || echo null)" "$([[ -n $FAILED ]] && json::str "$STEP" || echo null)" \
    "$(( SECONDS - STARTED ))" "$(json::bool "$DRY_RUN")"
}

main() {
  local ip
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  if (( APPLY_HERE )); then lock::acquire rolling-apply; apply_here; return 0; fi
  node::identify
  lock::acquire rolling-update
  NEW_HASH="$(sha256sum "$SOURCE_DIR/lib/config.sh" | awk '{ print $1 }')"
  preflight
  ui::confirm "Update ${#ORDER[@]} node(s) one at a time (${ORDER[*]}) with $SOURCE_DIR?" || die "cancelled" "$EXIT_REFUSED"
  for ip in "${ORDER[@]}"; do update_node "$ip"; done
  log::phase finish
  log::ok "$(run::is_dry && echo 'dry run: would update' || echo updated) ${#ORDER[@]} node(s) in $(( SECONDS - STARTED ))s: ${ORDER[*]}"
  summary
}

main "$@"
