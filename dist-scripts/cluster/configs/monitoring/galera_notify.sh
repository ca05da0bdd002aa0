#!/usr/bin/env bash
# Usage: galera_notify.sh --status STATUS [--uuid UUID] [--primary yes|no] [--index N] [--members LIST] [--seed]
# Summary: MariaDB's wsrep_notify_cmd: this node's Galera state changes as node_exporter metrics.
#
# MariaDB runs it (as the mysql user, synchronously) whenever this node's Galera state or the
# component changes; galera.cnf names it when monitoring is enabled. It rewrites
# /var/lib/hpc-cluster/galera-notify/hpc_galera_notify.prom (a mysql-owned folder;
# setup/phase5_monitoring_setup.sh creates it and links the file into node_exporter's textfile
# directory), atomically (temp file + rename):
#   hpc_galera_notify_state{state="S"}        1 for the state MariaDB reported last, 0 for the others
#   hpc_galera_notify_primary                 1 while this node is in a Primary component
#   hpc_galera_state_changes_total            state changes seen (kept in the file itself)
#   hpc_galera_last_change_timestamp_seconds  when the last change was reported
# --seed writes the given state without counting a change (the monitoring phase, at setup).
# Self-contained (the toolkit's libraries are root-only), quick, and it never fails MariaDB: whatever
# goes wrong leaves the previous file and exits 0. Generated from cluster_config.yaml.
set -u
dir="${HPC_GALERA_NOTIFY_DIR:-/var/lib/hpc-cluster/galera-notify}"
file="$dir/hpc_galera_notify.prom"
status="" primary="" seed=0
while (( $# )); do
  case "$1" in
    --status) status=${2:-}; shift ;;
    --primary) primary=${2:-}; shift ;;
    --uuid|--index|--members) shift ;;
    --seed) seed=1 ;;
  esac
  shift
done
[[ -d $dir && -w $dir ]] || exit 0

# The previous state, primary flag and counter, from the file this script wrote last.
old_state="" old_primary="" changes=0
if [[ -r $file ]]; then
  while read -r name value; do
    case "$name" in
      hpc_galera_notify_state*) [[ $value == 1 ]] && old_state="${name#*state=\"}" old_state=${old_state%%\"*} ;;
      hpc_galera_notify_primary) old_primary=$value ;;
      hpc_galera_state_changes_total) [[ $value =~ ^[0-9]+$ ]] && changes=$value ;;
    esac
  done < "$file"
fi
[[ $status =~ ^[A-Za-z]+$ ]] || status=$old_state
[[ -n $status ]] || exit 0
case "$primary" in
  yes) primary=1 ;;
  no) primary=0 ;;
  *) primary=${old_primary:-0} ;;
esac
if (( ! seed )) && [[ $status != "$old_state" || $primary != "${old_primary:-$primary}" ]]; then
  changes=$(( changes + 1 ))
fi

tmp="$(mktemp "$dir/.hpc_galera_notify.prom.XXXXXX" 2>/dev/null)" || exit 0
{
  printf '# HELP hpc_galera_notify_state The Galera state MariaDB reported last through wsrep_notify_cmd (1 = current).\n'
  printf '# TYPE hpc_galera_notify_state gauge\n'
  for s in Undefined Joiner Donor Joined Synced Error; do
    printf 'hpc_galera_notify_state{state="%s"} %d\n' "$s" "$([[ $s == "$status" ]] && echo 1 || echo 0)"
  done
  if [[ ! " Undefined Joiner Donor Joined Synced Error " == *" $status "* ]]; then
    printf 'hpc_galera_notify_state{state="%s"} 1\n' "$status"
  fi
  printf '# HELP hpc_galera_notify_primary 1 while this node is in a Primary component (wsrep_notify_cmd).\n'
  printf '# TYPE hpc_galera_notify_primary gauge\nhpc_galera_notify_primary %d\n' "$primary"
  printf '# HELP hpc_galera_state_changes_total Galera state changes reported on this node.\n'
  printf '# TYPE hpc_galera_state_changes_total counter\nhpc_galera_state_changes_total %d\n' "$changes"
  printf '# TYPE hpc_galera_last_change_timestamp_seconds gauge\nhpc_galera_last_change_timestamp_seconds %s\n' "$(date +%s)"
} > "$tmp" 2>/dev/null && chmod 0644 "$tmp" && mv -f "$tmp" "$file" 2>/dev/null
rm -f "$tmp" 2>/dev/null
exit 0
