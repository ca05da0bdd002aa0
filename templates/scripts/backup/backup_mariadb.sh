#!/usr/bin/env bash
# Usage: backup_mariadb.sh --dest DIR [--json]
# Summary: Consistent hot dump of MariaDB from this (synced) node into DIR, recording the Galera position.
#
# Writes DIR/mariadb_all.sql.zst (every user database: schema, rows, routines, events, triggers, with
# DROP/CREATE DATABASE; .sql.gz where zstd is not installed: lib/dump_codec.sh), DIR/mariadb_users.sql.gz
# (accounts and grants) and DIR/position.json.
# One `mariadb-dump --single-transaction` gives a consistent InnoDB view without locking writers. When
# Galera is on, the node must be Synced in a Primary component, and it is desynced for the dump
# (wsrep_desync=ON) so a slow dump never throttles the cluster through flow control; it is resynced
# however the script ends. The dump omits its date, so an unchanged database dumps byte-identically and
# an incremental snapshot hard-links it. Part of the backup contract (docs/toolkit-conventions.md).
#
# --dry-run prints what would be dumped and changes nothing.
# Exit codes: 0 ok, 1 error, 2 usage, 5 MariaDB not answering, or this Galera node not Synced/Primary.
# shellcheck source=../lib/service_backup.sh
source "$HPC_LIB_DIR/service_backup.sh"
# shellcheck source=../lib/backup.sh
source "$HPC_LIB_DIR/backup.sh"
# shellcheck source=../lib/dump_codec.sh
source "$HPC_LIB_DIR/dump_codec.sh"

DEST=""
JSON=0
DESYNCED=0

# sql QUERY: one query through the local socket as root (Debian's unix_socket auth), tab-separated.
sql() {
  mariadb --batch --skip-column-names -e "$1"
}

status_var() {
  sql "SHOW GLOBAL STATUS LIKE '$1'" | cut -f2
}

preflight() {
  if ! sql 'SELECT 1' >/dev/null 2>&1; then
    die "[ERROR MariaDB]: MariaDB does not answer on this node (fix: start it, or run the backup on a node where it runs)" "$EXIT_PREFLIGHT"
  fi
  GALERA="$(sql 'SELECT @@wsrep_on' 2>/dev/null || printf 0)"
  [[ $GALERA == 1 || $GALERA == ON ]] && GALERA=1 || GALERA=0
  if (( GALERA )); then
    local state status
    state="$(status_var wsrep_local_state_comment)"
    status="$(status_var wsrep_cluster_status)"
    if [[ $state != Synced || $status != Primary ]]; then
      die "[ERROR GaleraSynced]: this node is '$state' in a '$status' component; a backup needs a Synced node of the Primary component (fix: run it on another node)" "$EXIT_PREFLIGHT"
    fi
  fi
}

# The node rejoins flow control however the script ends (error, signal, success).
resync() {
  if (( DESYNCED )); then
    sql 'SET GLOBAL wsrep_desync=OFF' || log::warn "could not set wsrep_desync=OFF; do it by hand: mariadb -e 'SET GLOBAL wsrep_desync=OFF'"
    DESYNCED=0
  fi
  lib::on_exit
}

user_databases() {
  sql "SELECT schema_name FROM information_schema.schemata
       WHERE schema_name NOT IN ('mysql','information_schema','performance_schema','sys') ORDER BY schema_name"
}

dump() {
  local dbs=() uuid="" seq_before="" seq_after="" started=$SECONDS
  mapfile -t dbs < <(user_databases)
  if run::is_dry; then
    printf '[dryrun] would dump %s database(s) (%s) into %s\n' "${#dbs[@]}" "${dbs[*]}" "$DEST"
    return 0
  fi
  mkdir -p "$DEST"
  chmod 0700 "$DEST"
  trap 'resync' EXIT
  if (( GALERA )); then
    sql 'SET GLOBAL wsrep_desync=ON'
    DESYNCED=1
    uuid="$(status_var wsrep_cluster_state_uuid)"
    seq_before="$(status_var wsrep_last_committed)"
  fi
  local file
  file="$(dump_codec::name mariadb_all.sql)"
  log::info "dumping ${#dbs[@]} database(s): ${dbs[*]:-none}"
  if (( ${#dbs[@]} )); then
    # the sha256 is computed while the dump is written, so backup.sh need not read the dump again
    # (DEST/.sha256sums, see the backup contract)
    mariadb-dump --single-transaction --quick --skip-dump-date --hex-blob --routines --events --triggers \
      --add-drop-database --databases "${dbs[@]}" | dump_codec::compress "$file" | tee "$DEST/$file.tmp" \
      | sha256sum > "$DEST/.mariadb_all.sum"
  else
    printf -- '-- no user databases at backup time\n' | dump_codec::compress "$file" | tee "$DEST/$file.tmp" \
      | sha256sum > "$DEST/.mariadb_all.sum"
  fi
  if ! mariadb-dump --system=users --insert-ignore --skip-dump-date | gzip -n -1 > "$DEST/mariadb_users.sql.gz.tmp"; then
    # An anonymous ''@'' row that the server never loaded (restores of the accounts through Galera
    # before restore_mariadb.sh skipped the install-time PROXY grants left one on the other nodes).
    if [[ "$(sql "SELECT COUNT(*) FROM mysql.global_priv WHERE user = '' AND host = ''" 2>/dev/null)" != 0 ]]; then
      die "[ERROR MariaDBUsers]: mysql.global_priv holds an anonymous ''@'' row the server does not load, so mariadb-dump --system=users fails (fix, on this node: mariadb -e \"DELETE FROM mysql.global_priv WHERE user = '' AND host = ''\", then rerun)"
    fi
    die "mariadb-dump --system=users failed (see above)"
  fi
  if (( GALERA )); then
    seq_after="$(status_var wsrep_last_committed)"
    sql 'SET GLOBAL wsrep_desync=OFF'
    DESYNCED=0
  fi
  mv -f -- "$DEST/$file.tmp" "$DEST/$file"
  mv -f -- "$DEST/mariadb_users.sql.gz.tmp" "$DEST/mariadb_users.sql.gz"
  printf '%s  %s\n' "$(cut -c1-64 "$DEST/.mariadb_all.sum")" "$file" > "$DEST/.sha256sums"
  rm -f -- "$DEST/.mariadb_all.sum"
  # position.json changes only when the data does, so unchanged databases stay hard-linkable.
  jq -n --argjson g "$GALERA" --arg uuid "$uuid" --arg a "$seq_before" --arg b "$seq_after" \
    --arg version "$(sql 'SELECT VERSION()')" --argjson dbs "$(json::arr_str "${dbs[@]}")" \
    '{version: $version, databases: $dbs,
      galera: (if $g == 1 then {uuid: $uuid, seqno: ($b | tonumber), seqno_at_start: ($a | tonumber)} else null end)}' \
    > "$DEST/position.json"
  chmod 0600 "$DEST/$file" "$DEST/mariadb_users.sql.gz" "$DEST/position.json"
  log::ok "MariaDB dump done in $(( SECONDS - started ))s ($(du -sb "$DEST" | cut -f1) bytes)${uuid:+; Galera position $uuid:$seq_after}"
  if (( JSON )); then jq -c . "$DEST/position.json"; fi
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  service_backup::parse_backup_args "$@"
  log::phase mariadb-backup
  preflight
  dump
}

main "$@"
