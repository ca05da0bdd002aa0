#!/usr/bin/env bash
# Usage: galera_notify.sh --status STATUS [--uuid UUID] [--primary yes|no] [--index N] [--members LIST] [--seed]
# Summary: MariaDB's wsrep_notify_cmd: this node's Galera state changes as node_exporter metrics.
#
# MariaDB runs it (as the mysql user, and waits for it) whenever this node's Galera state or the
# component changes; galera.cnf names it when monitoring is enabled (read at MariaDB's start).
# setup/phase5_monitoring_setup.sh installs it as /usr/local/lib/hpc-cluster/galera_notify.sh (the
# toolkit's own folder is root's only: mysql could not run it there), the state folder filled in.
# It rewrites @STATE_DIR@/galera-notify/hpc_galera_notify.prom, a mysql-owned folder that phase5 creates and
# links into node_exporter's textfile directory, atomically (temp file + rename):
#   hpc_galera_notify_state{state="S"}        1 for the state MariaDB reported last, 0 for the others
#   hpc_galera_notify_primary                 1 while this node is in a Primary component
#   hpc_galera_state_changes_total            state changes seen (the count is kept in the file itself)
#   hpc_galera_last_change_timestamp_seconds  when the last change was reported
#   --seed   write the given state without counting a change (phase5 does, once: MariaDB reports
#            only changes)
# Self-contained (the toolkit's libraries are root's only), quick, and it never fails MariaDB: whatever
# goes wrong (no folder yet) leaves the previous file and exits 0.
set -u

# What MariaDB 10.x reports (wsrep::server_state); another word is written as one more state.
STATES="Disconnected Initializing Initialized Connected Joiner Joined Donor Synced Disconnecting Error"
STATUS="" PRIMARY="" SEED=0

parse_args() {
  while (( $# )); do
    case "$1" in
      --status) STATUS=${2:-}; shift ;;
      --primary) PRIMARY=${2:-}; shift ;;
      --uuid|--index|--members) shift ;;
      --seed) SEED=1 ;;
    esac
    shift
  done
}

# read_previous FILE: OLD_STATE, OLD_PRIMARY and CHANGES from the file this script wrote last.
read_previous() {
  local name value
  OLD_STATE="" OLD_PRIMARY="" CHANGES=0
  [[ -r $1 ]] || return 0
  while read -r name value; do
    case "$name" in
      hpc_galera_notify_state*)
        if [[ $value == 1 ]]; then OLD_STATE="${name#*state=\"}"; OLD_STATE=${OLD_STATE%%\"*}; fi ;;
      hpc_galera_notify_primary) OLD_PRIMARY=$value ;;
      hpc_galera_state_changes_total) if [[ $value =~ ^[0-9]+$ ]]; then CHANGES=$value; fi ;;
    esac
  done < "$1"
}

render() {
  local s
  printf '# HELP hpc_galera_notify_state The Galera state MariaDB reported last through wsrep_notify_cmd (1 = current).\n'
  printf '# TYPE hpc_galera_notify_state gauge\n'
  for s in $STATES; do
    printf 'hpc_galera_notify_state{state="%s"} %d\n' "$s" "$([[ $s == "$STATUS" ]] && echo 1 || echo 0)"
  done
  if [[ " $STATES " != *" $STATUS "* ]]; then printf 'hpc_galera_notify_state{state="%s"} 1\n' "$STATUS"; fi
  printf '# HELP hpc_galera_notify_primary 1 while this node is in a Primary component (wsrep_notify_cmd).\n'
  printf '# TYPE hpc_galera_notify_primary gauge\nhpc_galera_notify_primary %d\n' "$PRIMARY"
  printf '# HELP hpc_galera_state_changes_total Galera state changes reported on this node.\n'
  printf '# TYPE hpc_galera_state_changes_total counter\nhpc_galera_state_changes_total %d\n' "$CHANGES"
  printf '# TYPE hpc_galera_last_change_timestamp_seconds gauge\nhpc_galera_last_change_timestamp_seconds %s\n' "$(date +%s)"
}

notify() {
  local dir file tmp
  dir="@STATE_DIR@/galera-notify"
  file="$dir/hpc_galera_notify.prom"
  [[ -d $dir && -w $dir ]] || return 0
  read_previous "$file"
  [[ $STATUS =~ ^[A-Za-z]+$ ]] || STATUS=$OLD_STATE
  [[ -n $STATUS ]] || return 0
  case "$PRIMARY" in
    yes) PRIMARY=1 ;;
    no) PRIMARY=0 ;;
    *) PRIMARY=${OLD_PRIMARY:-0} ;;
  esac
  if (( ! SEED )) && [[ $STATUS != "$OLD_STATE" || $PRIMARY != "${OLD_PRIMARY:-$PRIMARY}" ]]; then
    CHANGES=$(( CHANGES + 1 ))
  fi
  tmp="$(mktemp "$dir/.hpc_galera_notify.prom.XXXXXX")" || return 0
  if render > "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" "$file"; then return 0; fi
  rm -f -- "$tmp"
  return 0
}

parse_args "$@"
notify 2>/dev/null || true
exit 0
