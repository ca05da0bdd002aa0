#!/usr/bin/env bash
# Usage: galera_auto_recover.sh [--force-with-missing NODE[,NODE...]] [--dry-run] [--yes]
# Summary: Restart the database cluster after a full outage from the most advanced node, and only that one.
#
# [1] asks every database member over SSH for its position (grastate.dat, or mariadbd --wsrep-recover
#     after a crash; the live wsrep_last_committed for a server still running non-Primary);
# [2] refuses while any member cannot be asked (it may hold the newest writes) unless it is named in
#     --force-with-missing (hostname or IP; its writes after the others' are lost);
# [3] picks the highest seqno, then the highest configured priority, and writes the decision with every
#     node's position to /var/log/hpc-cluster/galera_recovery.log;
# [4] bootstraps only that node (marks it safe_to_bootstrap), then starts the others, which join it;
# [5] waits until every reachable member is Synced.
# Nothing to do when a Primary component is running (start the stopped nodes with start_multi_complete.sh).
#
# Exit codes: 0 ok, 1 error, 2 usage, 4 another run holds the lock, 6 refused for safety.
# shellcheck source=../lib/orchestrate.sh
source "$HPC_LIB_DIR/orchestrate.sh"

MISSING_OK="" PASS=()
declare -A POS_UUID=() POS_SEQNO=() POS_STATE=()

parse_args() {
  while (( $# )); do
    case "$1" in
      --force-with-missing) [[ $# -ge 2 ]] || lib::usage_error "$1 needs a node"; MISSING_OK+="${2},"; shift ;;
      --force-with-missing=*) MISSING_OK+="${1#*=}," ;;
      --dry-run) export DRY_RUN=1; PASS+=(--dry-run) ;;
      --yes) ASSUME_YES=1 ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
}

recovery_log() {
  local file
  file="$(path::of /var/log/hpc-cluster/galera_recovery.log)"
  mkdir -p "$(dirname "$file")"
  printf '%s %s\n' "$(date '+%Y-%m-%dT%H:%M:%S%z')" "$1" >> "$file"
}

# collect: every member's "uuid:seqno STATE" (STATE Primary|non-Primary|stopped), or unknown.
collect() {
  local ip out pos state dir
  dir="$(tmp::dir)"
  while IFS= read -r ip; do
    remote::toolkit "$ip" setup/phase1_database_setup.sh --position > "$dir/$ip" 2>/dev/null &
  done < <(galera::member_ips)
  wait || true
  while IFS= read -r ip; do
    out="$(cat "$dir/$ip" 2>/dev/null || true)"
    read -r pos state <<< "$out"
    if [[ $pos =~ ^([0-9a-f-]{36}):(-?[0-9]+)$ && -n $state ]]; then
      POS_UUID[$ip]=${BASH_REMATCH[1]} POS_SEQNO[$ip]=${BASH_REMATCH[2]} POS_STATE[$ip]=$state
    else
      POS_STATE[$ip]=unknown
    fi
    log::info "$(node::hostname_of "$ip") ($ip): ${POS_STATE[$ip]}${POS_SEQNO[$ip]:+, position ${POS_UUID[$ip]}:${POS_SEQNO[$ip]}}"
  done < <(galera::member_ips)
}

is_allowed_missing() {
  [[ ",$MISSING_OK" == *",$1,"* || ",$MISSING_OK" == *",$(node::hostname_of "$1"),"* ]]
}

# choose: the most advanced node (highest seqno; ties go to the highest priority = first in NODE_IPS).
choose() {
  local ip best="" uuid=""
  while IFS= read -r ip; do
    [[ ${POS_STATE[$ip]} == unknown ]] && continue
    if [[ -n ${POS_UUID[$ip]} && ${POS_UUID[$ip]} != 00000000-0000-0000-0000-000000000000 ]]; then
      if [[ -n $uuid && $uuid != "${POS_UUID[$ip]}" ]]; then
        die "members disagree on the cluster state uuid ($uuid vs ${POS_UUID[$ip]} on $ip): they hold different histories; recover by hand" "$EXIT_REFUSED"
      fi
      uuid=${POS_UUID[$ip]}
    fi
    if [[ -z $best ]] || (( POS_SEQNO[$ip] > POS_SEQNO[$best] )); then best=$ip; fi
  done < <(galera::member_ips)
  [[ -n $best ]] || die "no member answered; nothing can be recovered from here" "$EXIT_ERROR"
  printf '%s\n' "$best"
}

main() {
  local ip best missing=() primary="" known=0 summary=""
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  node::require_self
  lock::acquire galera-recover
  log::phase collect
  collect
  while IFS= read -r ip; do
    summary+="$(node::hostname_of "$ip")=${POS_STATE[$ip]}:${POS_SEQNO[$ip]:-?} "
    case "${POS_STATE[$ip]}" in
      Primary) primary=$ip ;;
      unknown) is_allowed_missing "$ip" || missing+=("$(node::hostname_of "$ip") ($ip)") ;;
      *)
        # A position of -1 is "could not tell", not "least advanced": ranking it could lose commits.
        if [[ ${POS_SEQNO[$ip]} == -1 ]]; then
          POS_STATE[$ip]=unknown
          is_allowed_missing "$ip" \
            || missing+=("$(node::hostname_of "$ip") ($ip: position not recoverable, see /var/log/mysql/wsrep-recover.log there)")
        fi
        ;;
    esac
    [[ ${POS_STATE[$ip]} == unknown ]] || known=$(( known + 1 ))
  done < <(galera::member_ips)
  if [[ -n $primary ]]; then
    log::ok "nothing to recover: $primary runs a Primary component. Start the stopped nodes with start_multi_complete.sh (they join it)"
    return 0
  fi
  log::phase decide
  if (( ${#missing[@]} )); then
    recovery_log "refused: unknown ${missing[*]}; positions: $summary"
    die "cannot ask ${missing[*]}: it may hold the newest writes. Bring it back, or if it is gone for good rerun with --force-with-missing NODE (its writes not on the others are lost)" "$EXIT_REFUSED"
  fi
  best="$(choose)"
  log::info "most advanced: $(node::hostname_of "$best") ($best) at seqno ${POS_SEQNO[$best]} (ties go to the higher priority)"
  recovery_log "decision: bootstrap $(node::hostname_of "$best") ($best) seqno ${POS_SEQNO[$best]}; positions: $summary; missing allowed: ${MISSING_OK:-none}"
  ui::confirm "Bootstrap the database cluster from $(node::hostname_of "$best") ($best) and start the others?"
  log::phase bootstrap
  if [[ ${POS_STATE[$best]} == non-Primary ]]; then
    # Still running but without quorum: promote its component in place (pc.bootstrap) instead of a restart.
    run::cmd remote::run "$best" mariadb --protocol=socket -uroot -e "SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'"
  else
    remote::toolkit "$best" setup/phase1_database_setup.sh --recover-bootstrap --yes "${PASS[@]+"${PASS[@]}"}" \
      || die "bootstrapping $best failed: see /var/log/mysql/error.log there"
  fi
  log::phase start-others
  while IFS= read -r ip; do
    [[ $ip == "$best" || ${POS_STATE[$ip]} == unknown ]] && continue
    if [[ ${POS_STATE[$ip]} == stopped ]]; then
      # </dev/null: ssh would otherwise read the rest of the member list this loop reads.
      remote::toolkit "$ip" setup/phase1_database_setup.sh --join --peer "$best" --yes "${PASS[@]+"${PASS[@]}"}" </dev/null \
        || log::warn "$ip did not join: run start_multi_complete.sh --join there"
    fi
  done < <(galera::member_ips)
  log::phase verify
  run::is_dry && { log::ok "dry run: nothing changed"; return 0; }
  run::wait_until 300 "$known member(s) Synced" all_synced \
    || die "the cluster did not reach $known Synced members; run setup/phase1_database_setup.sh --status on each node"
  recovery_log "recovered: $known member(s) Synced from $best"
  log::ok "recovered: $known member(s) Synced, bootstrapped from $(node::hostname_of "$best") ($best)"
}

# all_synced: every member that reported a position is Synced in a Primary component, by its own
# database status (orch::probe_peer). Asked member by member: the component's size also counts the
# witness's garbd when it runs, so "size == members" never held with 4 members + the witness, and the
# recovery waited out its 300 s.
all_synced() {
  local ip
  while IFS= read -r ip; do
    [[ ${POS_STATE[$ip]} == unknown ]] && continue
    [[ "$(orch::probe_peer "$ip" </dev/null | jq -r '"\(.cluster_status) \(.local_state)"')" == "Primary Synced" ]] || return 1
  done < <(galera::member_ips)
}

main "$@"
