# shellcheck shell=bash
# lib/slurm_dbd.sh - Slurm accounting (setup/phase3_slurm_setup.sh): the accounting database and user,
# slurmdbd.conf and the slurmdbd daemons (active and backup on the first two members), and the
# cluster's registration in slurmdbd. Needs lib/slurm.sh and lib/slurm_node.sh.

readonly SLURM_ACCT_DB=slurm_acct_db
DBD_STARTED_AT=0
DBD_CHANGED=0

# slurm::acct_index: the index of the slurm_acct_db entry in database.databases (fails when there is none).
slurm::acct_index() {
  local i
  # shellcheck disable=SC2153 # DB_NAMES comes from lib/config.sh
  for i in "${!DB_NAMES[@]}"; do
    if [[ ${DB_NAMES[i]} == "$SLURM_ACCT_DB" ]]; then printf '%s\n' "$i"; return 0; fi
  done
  return 1
}

slurm::is_dbd_host() {
  slurm::dbd_hosts | grep -xF "$SELF_IP" >/dev/null
}

# The database and its user; normally made by the database phase, created here when missing and the
# local MariaDB lets root in through its socket. The password travels on stdin, never on a command line.
slurm::ensure_acct_database() {
  local idx=$1 user pw
  # shellcheck disable=SC2153 # DB_USERS comes from lib/config.sh
  user=${DB_USERS[idx]}
  command -v mariadb >/dev/null 2>&1 || return 1
  if ! mariadb -e 'SELECT 1' >/dev/null 2>&1; then
    log::info "cannot log in to the local MariaDB as root; assuming the database phase created $SLURM_ACCT_DB"
    return 0
  fi
  run::is_dry && { printf '[dryrun] would create database %s and user %s if missing\n' "$SLURM_ACCT_DB" "$user"; return 0; }
  pw="$(secrets::get "${DB_PASSWORD_SECRETS[idx]}")"
  pw=${pw//\\/\\\\}
  pw=${pw//\'/\\\'}
  mariadb <<SQL
CREATE DATABASE IF NOT EXISTS \`$SLURM_ACCT_DB\`;
CREATE USER IF NOT EXISTS '$user'@'localhost' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS '$user'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL ON \`$SLURM_ACCT_DB\`.* TO '$user'@'localhost';
GRANT ALL ON \`$SLURM_ACCT_DB\`.* TO '$user'@'127.0.0.1';
SQL
}

# shellcheck disable=SC2034 # NODE_NAME..ACCT_PASSWORD are the @TOKENS@ of configs/slurmdbd.conf
slurm::ensure_slurmdbd() {
  log::phase slurmdbd
  local idx hosts=() conf content
  local NODE_NAME DBD_HOST DBD_BACKUP_LINE ACCT_DB ACCT_USER ACCT_PASSWORD
  if ! slurm::is_dbd_host; then
    if slurm::running slurmdbd; then
      log::info "this node no longer runs slurmdbd (the first two members do); stopping it"
      slurm::stop_daemon slurmdbd
    fi
    return 0
  fi
  if ! idx="$(slurm::acct_index)"; then
    log::warn "database.databases has no $SLURM_ACCT_DB entry: Slurm runs without accounting"
    return 0
  fi
  command -v slurmdbd >/dev/null 2>&1 || die "[ERROR Packages]: slurmdbd is missing (fix: apt-get install slurmdbd)" "$EXIT_PREFLIGHT"
  if ! slurm::ensure_acct_database "$idx"; then
    log::warn "no MariaDB client here: cannot check $SLURM_ACCT_DB"
  fi
  mapfile -t hosts < <(slurm::dbd_hosts)
  NODE_NAME=$SELF_HOSTNAME
  DBD_HOST="$(node::hostname_of "${hosts[0]}")"
  DBD_BACKUP_LINE=""
  if (( ${#hosts[@]} > 1 )); then DBD_BACKUP_LINE="DbdBackupHost=$(node::hostname_of "${hosts[1]}")"; fi
  ACCT_DB=$SLURM_ACCT_DB
  ACCT_USER=${DB_USERS[idx]}
  ACCT_PASSWORD="$(secrets::get "${DB_PASSWORD_SECRETS[idx]}")"
  if [[ $ACCT_PASSWORD =~ [[:space:]#] ]]; then
    die "the $SLURM_ACCT_DB password (${DB_PASSWORD_SECRETS[idx]}) holds a space or '#', which slurmdbd.conf cannot carry; choose another" "$EXIT_USAGE"
  fi
  conf="$(path::of /etc/slurm/slurmdbd.conf)"
  content="$(tpl::render "$(tpl::path slurmdbd.conf)" NODE_NAME DBD_HOST DBD_BACKUP_LINE ACCT_DB ACCT_USER ACCT_PASSWORD)"
  SECRET_CONTENT=1 run::write_file "$conf" 0600 slurm:slurm <<< "$content"
  DBD_CHANGED=$RUN_CHANGED
  if slurm::running slurmdbd; then
    if (( DBD_CHANGED || MUNGE_CHANGED )); then slurm::restart_daemon slurmdbd; fi
  else
    svc::start slurmdbd >/dev/null
  fi
  run::is_dry && return 0
  DBD_STARTED_AT=$SECONDS
  if [[ ${hosts[0]} == "$SELF_IP" ]]; then
    # The active slurmdbd is needed for accounting: it must listen.
    run::wait_until 60 "slurmdbd to accept connections or exit" slurm::dbd_settled || true
    slurm::port_open 127.0.0.1 "$SLURM_SLURMDBD_PORT" \
      || die "slurmdbd did not start (see $SLURM_LOG_LOCATION/slurmdbd.log); is $SLURM_ACCT_DB reachable at 127.0.0.1:$DB_PORT for ${DB_USERS[idx]}?"
  else
    # The standby runs "in background mode" and listens only once the active one is gone.
    run::wait_until 30 "the standby slurmdbd to settle" slurm::dbd_settled || true
    if ! slurm::running slurmdbd; then
      log::warn "the standby slurmdbd did not start here (see $SLURM_LOG_LOCATION/slurmdbd.log); accounting depends on $DBD_HOST alone"
    fi
  fi
}

# slurm::dbd_settled: slurmdbd listens; or it ran for 3 s (a standby); or it has not been running for 5 s
# after its start (it died: its log says why, and waiting longer would not help).
slurm::dbd_settled() {
  slurm::port_open 127.0.0.1 "$SLURM_SLURMDBD_PORT" && return 0
  if slurm::running slurmdbd; then
    [[ $(slurm::dbd_hosts | tail -n 1) == "$SELF_IP" ]] && (( SECONDS - DBD_STARTED_AT >= 3 ))
  else
    (( SECONDS - DBD_STARTED_AT >= 5 ))
  fi
}

slurm::port_open() {
  # shellcheck disable=SC2016 # $1/$2 expand in the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# The cluster must be known to slurmdbd for `sacctmgr show cluster` (and accounting) to work.
slurm::ensure_cluster_registered() {
  log::phase accounting
  slurm::acct_index >/dev/null || return 0
  [[ -n "$(slurm::dbd_hosts)" ]] || return 0
  run::is_dry && { printf '[dryrun] would run: sacctmgr -i add cluster %s (if missing)\n' "$SLURM_CLUSTER_NAME"; return 0; }
  if ! run::wait_until 60 "slurmdbd to answer sacctmgr" slurm::sacctmgr_answers; then
    log::warn "slurmdbd does not answer: accounting is unavailable until it does (see $SLURM_LOG_LOCATION/slurmdbd.log)"
    return 0
  fi
  if slurm::cluster_registered; then
    log::info "cluster $SLURM_CLUSTER_NAME is registered in slurmdbd"
  else
    run::cmd sacctmgr -i add cluster "$SLURM_CLUSTER_NAME" >/dev/null
    run::wait_until 30 "cluster $SLURM_CLUSTER_NAME in sacctmgr" slurm::cluster_registered
    log::info "registered cluster $SLURM_CLUSTER_NAME in slurmdbd"
  fi
}

slurm::sacctmgr_answers() { timeout 15 sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; }

slurm::cluster_registered() {
  timeout 15 sacctmgr -n -P show cluster format=cluster 2>/dev/null | grep -xF "$SLURM_CLUSTER_NAME" >/dev/null
}
