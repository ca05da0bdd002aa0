#!/usr/bin/env bash
# Usage: restore_mariadb.sh --src DIR [--dry-run] [--test]
# Summary: Load a dump written by backup_mariadb.sh into the running MariaDB (the whole Galera cluster).
#
# The dump is loaded through this live node: with Galera on, every DROP/CREATE and every InnoDB row
# is replicated, so the whole cluster holds the restored data when it ends - no node is stopped and no
# second bootstrap is ever needed. Databases are dropped and recreated from the dump; databases that
# did not exist at backup time are dropped afterwards; accounts missing now are recreated and the
# grants of the dump applied. The node must be Synced in a Primary component. Stops at the first SQL
# error (exit 1): restore.sh then puts its pre-restore snapshot back. Part of the backup contract
# (docs/toolkit-conventions.md).
# --test loads the dump into a scratch server instead (its own datadir and socket under /tmp, no
# network, no Galera) and prints each table's row count: proof the backup restores, touching nothing.
#
# --yes (or --force) skips the confirmation.
# Exit codes: 0 ok, 1 error, 2 usage, 5 MariaDB not answering / node not Synced, 6 dump missing.
# shellcheck source=../lib/service_backup.sh
source "$HPC_LIB_DIR/service_backup.sh"
# shellcheck source=../lib/dump_codec.sh
source "$HPC_LIB_DIR/dump_codec.sh"

SRC=""
TEST=0
SCRATCH=""
SCRATCH_PID=""
DUMP=""

sql() {
  mariadb --batch --skip-column-names -e "$1"
}

status_var() {
  sql "SHOW GLOBAL STATUS LIKE '$1'" | cut -f2
}

# check_dump: the three files of a dump are there and decompress whole; sets DUMP (the databases'
# dump: .zst, or .gz in snapshots taken without zstd).
check_dump() {
  local f
  DUMP="$(dump_codec::find "$SRC" mariadb_all.sql)" \
    || die "$SRC/mariadb_all.sql.zst (or .gz) is missing: not a MariaDB backup written by backup_mariadb.sh" "$EXIT_REFUSED"
  for f in mariadb_users.sql.gz position.json; do
    [[ -f $SRC/$f ]] || die "$SRC/$f is missing: not a MariaDB backup written by backup_mariadb.sh" "$EXIT_REFUSED"
  done
  dump_codec::test "$DUMP" "$SRC/mariadb_users.sql.gz" || die "the dump in $SRC is damaged (it does not decompress)" "$EXIT_REFUSED"
}

preflight() {
  check_dump
  if ! sql 'SELECT 1' >/dev/null 2>&1; then
    die "[ERROR MariaDB]: MariaDB does not answer on this node (fix: start it first: the dump is loaded through it)" "$EXIT_PREFLIGHT"
  fi
  local galera
  galera="$(sql 'SELECT @@wsrep_on' 2>/dev/null || printf 0)"
  if [[ $galera == 1 || $galera == ON ]]; then
    local state status
    state="$(status_var wsrep_local_state_comment)"
    status="$(status_var wsrep_cluster_status)"
    if [[ $state != Synced || $status != Primary ]]; then
      die "[ERROR GaleraSynced]: this node is '$state' in a '$status' component; load the dump through a Synced node of the Primary component" "$EXIT_PREFLIGHT"
    fi
  fi
}

# Databases present now that the dump does not know: dropped so the result equals the backup.
extra_databases() {
  local wanted current
  wanted="$(jq -r '.databases[]' "$SRC/position.json")"
  while IFS= read -r current; do
    [[ -n $current ]] || continue
    grep -qxF -- "$current" <<< "$wanted" || printf '%s\n' "$current"
  done < <(sql "SELECT schema_name FROM information_schema.schemata
                WHERE schema_name NOT IN ('mysql','information_schema','performance_schema','sys')")
}

# users_sql: the accounts and grants of the dump, made safe to replay through Galera, where each
# statement runs again on the other nodes' appliers, as an applier user ''@'':
# - mariadb-dump's "GRANT mariadb_dump_import_role TO CURRENT_USER()" names the loading account
#   explicitly (on an applier CURRENT_USER() is ''@'', and the dump's sql_mode lets GRANT create that
#   account: a broken anonymous ''@'' row in mysql.global_priv, on which every later
#   mariadb-dump --system=users there fails);
# - the server's own install-time grants "GRANT PROXY ON ''@'%' TO root/mysql@localhost" (every
#   server has them) are left out: they fail on every applier (no PROXY right there).
users_sql() {
  local me user host to='CURRENT_USER()'
  me="$(sql 'SELECT CURRENT_USER()' 2>/dev/null < /dev/null || true)" # stdin: the caller's loop
  user=${me%@*} host=${me##*@}
  if [[ $me == *@* && $user =~ ^[A-Za-z0-9_.%-]+$ && $host =~ ^[A-Za-z0-9_.%:-]+$ ]]; then
    to="\`$user\`@\`$host\`"
  fi
  # shellcheck disable=SC2016 # backquotes of SQL identifiers, not a command
  gzip -dc -- "$SRC/mariadb_users.sql.gz" \
    | sed "s/ TO CURRENT_USER();\$/ TO $to;/" \
    | grep -v '^GRANT PROXY ON ``@`%` TO `\(root\|mysql\)`@`localhost`' || true
}

load() {
  local extra=() db started=$SECONDS
  mapfile -t extra < <(extra_databases)
  if run::is_dry; then
    printf '[dryrun] would load %s into MariaDB: databases %s dropped and recreated\n' "$DUMP" \
      "$(jq -r '.databases | join(", ")' "$SRC/position.json")"
    printf '[dryrun] would apply the accounts and grants of %s\n' "$SRC/mariadb_users.sql.gz"
    (( ${#extra[@]} )) && printf '[dryrun] would drop databases created after the backup: %s\n' "${extra[*]}"
    return 0
  fi
  log::info "loading $(jq -r '.databases | length' "$SRC/position.json") database(s) from $SRC"
  # mariadb stops at the first failing statement and exits non-zero (no --force).
  dump_codec::cat "$DUMP" | mariadb --binary-mode
  users_sql | mariadb --binary-mode
  for db in "${extra[@]+"${extra[@]}"}"; do
    log::info "dropping database $db (created after the backup)"
    sql "DROP DATABASE \`${db//\`/\`\`}\`"
  done
  log::ok "MariaDB restored in $(( SECONDS - started ))s"
}

# ---- --test: a scratch server ------------------------------------------------------------------------

scratch_stop() {
  if [[ -n $SCRATCH_PID ]] && kill -0 "$SCRATCH_PID" 2>/dev/null; then
    mariadb-admin --socket="$SCRATCH/sock" shutdown 2>/dev/null || kill "$SCRATCH_PID" 2>/dev/null || true
    run::wait_until 60 "the scratch server to stop" svc::_gone "$SCRATCH_PID" || true
  fi
  SCRATCH_PID=""
  [[ -n $SCRATCH && -d $SCRATCH ]] && rm -rf -- "$SCRATCH"
  lib::on_exit
}

scratch_up() {
  scratch_sql -e 'SELECT 1' >/dev/null 2>&1
}

scratch_sql() {
  mariadb --socket="$SCRATCH/sock" --batch --skip-column-names "$@"
}

test_load() {
  local started=$SECONDS
  check_dump
  if run::is_dry; then
    printf '[dryrun] would load %s into a scratch server and count the rows\n' "$DUMP"
    return 0
  fi
  # in /tmp itself (not the script's private temp dir): mariadbd runs as mysql and must reach it
  SCRATCH="$(mktemp -d /tmp/hpc-mariadb-test.XXXXXX)"
  chown mysql:mysql "$SCRATCH"
  trap 'scratch_stop' EXIT
  mariadb-install-db --no-defaults --datadir="$SCRATCH/data" --user=mysql --auth-root-authentication-method=socket \
    > "$SCRATCH/install.log" 2>&1 || die "mariadb-install-db failed; see $SCRATCH/install.log"
  mariadbd --no-defaults --datadir="$SCRATCH/data" --socket="$SCRATCH/sock" --pid-file="$SCRATCH/pid" \
    --skip-networking --user=mysql --innodb-buffer-pool-size=64M --log-error="$SCRATCH/error.log" \
    > /dev/null 2>&1 < /dev/null &
  SCRATCH_PID=$!
  run::wait_until 60 "the scratch server to answer" scratch_up \
    || die "the scratch server did not start; see $SCRATCH/error.log"
  log::info "loading $SRC into a scratch server"
  dump_codec::cat "$DUMP" | scratch_sql --binary-mode
  gzip -dc -- "$SRC/mariadb_users.sql.gz" | scratch_sql --binary-mode
  local db table rows
  while IFS=$'\t' read -r db table; do
    rows="$(scratch_sql -e "SELECT COUNT(*) FROM \`${db//\`/\`\`}\`.\`${table//\`/\`\`}\`")"
    printf '%s.%s %s\n' "$db" "$table" "$rows"
  done < <(scratch_sql -e "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'
             AND table_schema NOT IN ('mysql','information_schema','performance_schema','sys') ORDER BY 1, 2")
  log::ok "test restore of $SRC loaded in $(( SECONDS - started ))s (row counts above); nothing live was touched"
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  service_backup::parse_restore_args --test "$@"
  log::phase mariadb-restore
  if (( TEST )); then
    test_load
    return 0
  fi
  preflight
  load
}

main "$@"
