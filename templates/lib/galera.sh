# shellcheck shell=bash
# lib/galera.sh - MariaDB Galera on this node: config, start (bootstrap or join), state, recovery.
# Sourced by lib/orchestrate.sh (so by setup/phase1_database_setup.sh, utils/galera_auto_recover.sh and
# every script of the orchestrator).
# Every SQL call uses the local unix socket as root (Debian's root@localhost is unix_socket-authenticated),
# so no password is ever needed for administration, and none ever reaches a command line.

GALERA_CNF="$(path::of /etc/mysql/mariadb.conf.d/60-galera.cnf)"
GALERA_SST_CNF="$(path::of /etc/mysql/mariadb.conf.d/61-galera-sst.cnf)"
GALERA_DATADIR="$(path::of /var/lib/mysql)"
GALERA_LOG_DIR="$(path::of /var/log/mysql)"
# Seconds a joiner may take to reach Synced (a large SST can take long; the caller can raise it).
GALERA_SYNC_TIMEOUT="${GALERA_SYNC_TIMEOUT:-900}"
# The Debian init script gives up after 30 s by default - too short for an SST; it reads this variable.
export MYSQLD_STARTUP_TIMEOUT="${MYSQLD_STARTUP_TIMEOUT:-600}"

# galera::excluded_file: nodes removed from the database cluster (one IP per line), kept by node_remove.
galera::excluded_file() {
  printf '%s\n' "$(path::of "$STATE_DIR")/galera_excluded"
}

# galera::member_ips: the configured nodes that belong to the database cluster, highest priority first.
galera::member_ips() {
  local ip file
  file="$(galera::excluded_file)"
  # shellcheck disable=SC2153 # NODE_IPS comes from config.sh
  for ip in "${NODE_IPS[@]}"; do
    if [[ -f $file ]] && grep -qxF -- "$ip" "$file"; then continue; fi
    printf '%s\n' "$ip"
  done
}

# galera::cluster_address: "A:4567,B:4567,..." of every member (what follows gcomm://).
galera::cluster_address() {
  local ip out=""
  while IFS= read -r ip; do
    out+="${ip}:${DB_GALERA_PORT},"
  done < <(galera::member_ips)
  printf '%s\n' "${out%,}"
}

# galera::allowlist: "A,B,..." of every configured node and the arbitrator: the only hosts whose group
# communication, IST and SST connections a member accepts (wsrep_allowlist). Configured nodes, not the
# current members: the variable is read at startup only, and a removed node may join again.
galera::allowlist() {
  local out
  out="$(IFS=,; printf '%s' "${NODE_IPS[*]}")"
  [[ -z ${ARBITRATOR_IP:-} ]] || out+=",$ARBITRATOR_IP"
  printf '%s\n' "$out"
}

# galera::render_cnf: this node's galera.cnf (needs SELF_IP and SELF_HOSTNAME).
galera::render_cnf() {
  # shellcheck disable=SC2034 # NODE_IP, NODE_NAME, CLUSTER_ADDRESS, ALLOWLIST are read by tpl::render by name
  local NODE_IP=$SELF_IP NODE_NAME=$SELF_HOSTNAME CLUSTER_ADDRESS ALLOWLIST
  # shellcheck disable=SC2034
  CLUSTER_ADDRESS="$(galera::cluster_address)"
  # shellcheck disable=SC2034
  ALLOWLIST="$(galera::allowlist)"
  tpl::render "$(tpl::path galera.cnf)" NODE_IP NODE_NAME CLUSTER_ADDRESS ALLOWLIST
}

# galera::write_config [PEER]: galera.cnf, the SST credentials file (mariabackup only), the TLS files
# (database.tls; the cluster CA from PEER when this node has none yet) and the log folder.
galera::write_config() {
  local content
  run::mkdir "$GALERA_LOG_DIR" 2750 mysql:adm
  content="$(galera::render_cnf)"
  run::write_file "$GALERA_CNF" 0644 <<< "$content"
  # shellcheck disable=SC2034 # read by the phase script
  GALERA_CNF_CHANGED=$RUN_CHANGED
  if [[ $DB_TLS == true ]]; then galera::tls_files "${1:-}"; fi
  if [[ $DB_SST_METHOD == mariabackup ]]; then
    local pw
    pw="$(secrets::get "$DB_SST_PASSWORD_SECRET")"
    # 0640 root:mysql: the server and the SST script (running as mysql) read it; nobody else can.
    content="$(printf '# SST credentials (from the secrets file). Written by hpc-cluster-kit; readable by root and mysql only.\n[mysqld]\nwsrep_sst_auth=%s:%s' \
      "$DB_SST_USER" "$pw")"
    SECRET_CONTENT=1 run::write_file "$GALERA_SST_CNF" 0640 root:mysql <<< "$content"
    # shellcheck disable=SC2034
    if (( RUN_CHANGED )); then GALERA_CNF_CHANGED=1; fi
  fi
  return 0
}

# galera::tls_files [PEER]: this node's certificate, key and the CA where mariadbd and the SST scripts
# (both running as mysql) read them; the key readable by root and mysql only.
galera::tls_files() {
  local dir changed=$GALERA_CNF_CHANGED spec copy
  dir="$(path::of /etc/mysql/hpc-tls)"
  if [[ $DB_SST_METHOD == rsync ]] && ! command -v stunnel >/dev/null 2>&1; then
    die "[ERROR Packages]: database.tls with sst_method rsync sends the state transfer through stunnel, which is missing (fix: apt-get install stunnel4)" "$EXIT_PREFLIGHT"
  fi
  tls::ensure "${1:-}"
  run::mkdir "$dir" 0750 root:mysql
  # SOURCE NAME MODE [OWNER]
  for spec in "$(tls::ca_crt) ca.crt 0644" "$(tls::node_crt) node.crt 0644" "$(tls::node_key) node.key 0640 root:mysql"; do
    read -r -a copy <<< "$spec"
    tls::install_copy "${copy[0]}" "$dir/${copy[1]}" "${copy[2]}" "${copy[3]:-}"
    (( RUN_CHANGED )) && changed=1
  done
  GALERA_CNF_CHANGED=$changed
}

# galera::sql SQL: run SQL locally, tab-separated rows without headers.
galera::sql() {
  mariadb --protocol=socket -uroot -N -B -e "$1"
}

# galera::sql_stdin: run the SQL on stdin (used for statements that hold a secret).
galera::sql_stdin() {
  mariadb --protocol=socket -uroot -N -B
}

# galera::alive: the local server answers.
galera::alive() {
  mariadb-admin --protocol=socket -uroot ping >/dev/null 2>&1
}

# galera::status NAME: a global status value (empty when the server does not answer).
galera::status() {
  galera::sql "SHOW GLOBAL STATUS LIKE '$1'" 2>/dev/null | awk -F'\t' '{ print $2 }'
}

# galera::is_synced_primary [SIZE]: Primary, ready, Synced (and of SIZE members when given).
galera::is_synced_primary() {
  local rows status ready state size
  rows="$(galera::sql "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_status','wsrep_ready','wsrep_local_state_comment','wsrep_cluster_size')" 2>/dev/null)" || return 1
  status="$(awk -F'\t' '$1=="wsrep_cluster_status"{print $2}' <<< "$rows")"
  ready="$(awk -F'\t' '$1=="wsrep_ready"{print $2}' <<< "$rows")"
  state="$(awk -F'\t' '$1=="wsrep_local_state_comment"{print $2}' <<< "$rows")"
  size="$(awk -F'\t' '$1=="wsrep_cluster_size"{print $2}' <<< "$rows")"
  [[ $status == Primary && $ready == ON && $state == Synced ]] || return 1
  [[ -z ${1:-} || $size == "$1" ]]
}

# galera::in_view IP / galera::out_of_view IP: this node is Synced in a Primary component whose members
# include (exclude) IP, by wsrep_incoming_addresses (garbd has none; the size would count it).
galera::in_view() {
  galera::is_synced_primary "" && [[ ",$(galera::status wsrep_incoming_addresses)," == *",$1:"* ]]
}
galera::out_of_view() {
  galera::is_synced_primary "" && [[ ",$(galera::status wsrep_incoming_addresses)," != *",$1:"* ]]
}

# galera::grastate FIELD: uuid, seqno or safe_to_bootstrap from grastate.dat (empty when absent).
galera::grastate() {
  local file
  file="$GALERA_DATADIR/grastate.dat"
  [[ -r $file ]] || return 0
  awk -v k="$1:" '$1==k { print $2; exit }' "$file"
}

# galera::recover_position: "uuid:seqno" of the local data, the server being stopped.
# grastate.dat holds it after a clean shutdown; after a crash its seqno is -1 and InnoDB must be asked
# (mariadbd --wsrep-recover reads the datadir and exits at once).
galera::recover_position() {
  local uuid seqno log out
  uuid="$(galera::grastate uuid)"
  seqno="$(galera::grastate seqno)"
  if [[ -n $uuid && -n $seqno && $seqno != -1 ]]; then
    printf '%s:%s\n' "$uuid" "$seqno"
    return 0
  fi
  # The server runs as mysql: its log must be in a folder mysql can write (not a root-only temp dir).
  log="$GALERA_LOG_DIR/wsrep-recover.log"
  fs::mkdir_public "$GALERA_LOG_DIR"
  : > "$log"
  chown mysql "$log" 2>/dev/null || true
  mariadbd --user=mysql --wsrep-recover --log-error="$log" >/dev/null 2>&1 || true
  out="$(sed -n 's/.*Recovered position: *\([0-9a-f-]*:-\{0,1\}[0-9]*\).*/\1/p' "$log" | tail -n 1)"
  # -1 means "not known": callers must never rank such a node as if it were the least advanced.
  [[ -n $out ]] || out="${uuid:-00000000-0000-0000-0000-000000000000}:-1"
  printf '%s\n' "$out"
}

# galera::set_safe_to_bootstrap: mark this node's data as the one to start the cluster from.
galera::set_safe_to_bootstrap() {
  local file="$GALERA_DATADIR/grastate.dat"
  [[ -f $file ]] || return 0
  run::cmd sed -i 's/^safe_to_bootstrap: *0/safe_to_bootstrap: 1/' "$file"
}

# galera::start bootstrap|join: start the server; a bootstrap passes --wsrep-new-cluster this once.
galera::start() {
  local how=$1
  galera::alive && return 0
  case "$(svc::init_system)" in
    systemd)
      if [[ $how == bootstrap ]]; then run::cmd svc::detached galera_new_cluster; else run::cmd systemctl start mariadb; fi
      ;;
    *)
      local script action=start
      script="$(path::of /etc/init.d/mariadb)"
      [[ $how == bootstrap ]] && action=bootstrap
      if run::is_dry; then run::cmd "$script" "$action"; return 0; fi
      log::to_file CMD "$script $action"
      # The init script gives up after MYSQLD_STARTUP_TIMEOUT while an SST may still run, and its
      # answer goes to syslog: the caller waits for Synced with its own deadline instead.
      svc::detached "$script" "$action" >/dev/null 2>&1 || true
      ;;
  esac
}

# galera::stop: a clean shutdown (grastate.dat then holds the position).
galera::stop() {
  galera::alive || return 0
  svc::stop mariadb >/dev/null 2>&1 || true
  run::is_dry && return 0
  run::wait_until 120 "MariaDB to stop" galera::_stopped
}

galera::_stopped() {
  ! galera::alive && ! pgrep -x mariadbd >/dev/null 2>&1
}

# galera::wait_synced TIMEOUT [SIZE]: wait until this node is Synced in a Primary component.
galera::wait_synced() {
  local timeout=$1 size=${2:-}
  run::is_dry && return 0
  run::wait_until "$timeout" "this node to be Synced in a Primary component${size:+ of $size}" galera::is_synced_primary "$size"
}

# galera::error_log_tail: the last lines of the server's error log, for failure messages.
galera::error_log_tail() {
  tail -n "${1:-15}" "$GALERA_LOG_DIR/error.log" 2>/dev/null | sed 's/^/    /' >&2 || true
}

# galera::sql_quote VALUE: VALUE as an SQL string literal ('...' with \ and ' escaped).
galera::sql_quote() {
  local v=${1//\\/\\\\}
  v=${v//\'/\\\'}
  printf "'%s'" "$v"
}

# galera::ensure_databases: the databases and users of the config, with passwords from the secrets.
# Creates only what is missing, so a rerun changes nothing (a password change is not applied here).
galera::ensure_databases() {
  local i name user secret pw created=0
  for i in "${!DB_NAMES[@]}"; do
    name=${DB_NAMES[i]} user=${DB_USERS[i]} secret=${DB_PASSWORD_SECRETS[i]}
    if ! run::is_dry && [[ -n "$(galera::sql "SHOW DATABASES LIKE '$name'")" ]] \
        && [[ -n "$(galera::sql "SELECT 1 FROM mysql.user WHERE User='$user' AND Host='%'")" ]]; then
      log::to_file INFO "database $name and user $user exist"
      continue
    fi
    if run::is_dry; then
      # shellcheck disable=SC2016 # the backquotes are SQL identifier quotes
      printf '[dryrun] would run SQL: CREATE DATABASE IF NOT EXISTS `%s`; CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY <secret:%s>; GRANT ALL ON `%s`.* TO %s@%s\n' \
        "$name" "$user" "'%'" "$secret" "$name" "$user" "'%'"
      created=1
      continue
    fi
    pw="$(secrets::get "$secret")"
    # shellcheck disable=SC2016 # the backquotes are SQL identifier quotes
    printf 'CREATE DATABASE IF NOT EXISTS `%s`;\nCREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s;\nGRANT ALL PRIVILEGES ON `%s`.* TO %s@%s;\n' \
      "$name" "'$user'" "'%'" "$(galera::sql_quote "$pw")" "$name" "'$user'" "'%'" | galera::sql_stdin
    log::info "created database $name and user $user"
    created=1
  done
  if [[ $DB_SST_METHOD == mariabackup ]]; then galera::ensure_sst_user && created=1; fi
  (( created )) || log::info "databases and users already in place (${DB_NAMES[*]:-none configured})"
  return 0
}

# galera::ensure_sst_user: the mariabackup SST user (localhost only); returns 1 when it existed.
galera::ensure_sst_user() {
  if ! run::is_dry && [[ -n "$(galera::sql "SELECT 1 FROM mysql.user WHERE User='$DB_SST_USER' AND Host='localhost'")" ]]; then
    return 1
  fi
  if run::is_dry; then
    printf '[dryrun] would run SQL: CREATE USER %s@localhost IDENTIFIED BY <secret:%s>; GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, REPLICA MONITOR ON *.*\n' \
      "$DB_SST_USER" "$DB_SST_PASSWORD_SECRET"
    return 0
  fi
  local pw
  pw="$(secrets::get "$DB_SST_PASSWORD_SECRET")"
  printf "CREATE USER IF NOT EXISTS '%s'@'localhost' IDENTIFIED BY %s;\nGRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, REPLICA MONITOR ON *.* TO '%s'@'localhost';\n" \
    "$DB_SST_USER" "$(galera::sql_quote "$pw")" "$DB_SST_USER" | galera::sql_stdin
  log::info "created the SST user $DB_SST_USER@localhost"
}

# galera::probe_json: this node's database state as one JSON object (read by peers over SSH).
galera::probe_json() {
  local running=false rows="" cid
  if galera::alive; then
    running=true
    rows="$(galera::sql "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_status','wsrep_cluster_size','wsrep_local_state_comment','wsrep_ready','wsrep_cluster_state_uuid','wsrep_last_committed','wsrep_incoming_addresses')" 2>/dev/null || true)"
  fi
  get() { awk -F'\t' -v k="$1" '$1==k{print $2}' <<< "$rows"; }
  cid="$(cluster_id::get || true)"
  printf '{"ip":%s,"hostname":%s,"running":%s,"cluster_status":%s,"cluster_size":%s,"local_state":%s,"ready":%s,' \
    "$(json::str "$SELF_IP")" "$(json::str "$SELF_HOSTNAME")" "$running" \
    "$(galera::_json_or_null "$(get wsrep_cluster_status)")" "$(json::num "$(get wsrep_cluster_size)")" \
    "$(galera::_json_or_null "$(get wsrep_local_state_comment)")" "$(galera::_json_or_null "$(get wsrep_ready)")"
  printf '"state_uuid":%s,"last_committed":%s,"incoming_addresses":%s,"grastate_uuid":%s,"grastate_seqno":%s,"safe_to_bootstrap":%s,"cluster_id":%s,"toolkit":%s}\n' \
    "$(galera::_json_or_null "$(get wsrep_cluster_state_uuid)")" "$(json::num "$(get wsrep_last_committed)")" \
    "$(galera::_json_or_null "$(get wsrep_incoming_addresses)")" "$(galera::_json_or_null "$(galera::grastate uuid)")" \
    "$(json::num "$(galera::grastate seqno)")" "$(json::num "$(galera::grastate safe_to_bootstrap)")" \
    "$(galera::_json_or_null "$cid")" "$(toolkit::json)"
}

galera::_json_or_null() {
  if [[ -n $1 ]]; then json::str "$1"; else printf 'null'; fi
}

# galera::member_count: how many database members the cluster has (configured nodes minus removed ones).
galera::member_count() {
  galera::member_ips | wc -l
}

# galera::ensure_arbitrator: garbd on the configured arbitrator host exactly when the member count is even
# (2, 4, ...). Its vote makes the total odd, so the loss of half the members, or an even split, leaves the
# side with the witness Primary (2 of 4 down: 3 of 5 votes). With an odd count it must not run: its vote
# would make the total even, and a 2|1 split with the witness beside the single node would leave neither
# side Primary. Without an arbitrator, an even count only gets a warning.
galera::ensure_arbitrator() {
  local members running=0
  members="$(galera::member_count)"
  if [[ -z $ARBITRATOR_IP ]]; then
    if (( members == 2 )); then
      log::warn "only two database nodes and no arbitrator: if either node fails or the link between them breaks, BOTH stop accepting writes (no quorum). Add cluster.arbitrator (a small third host running garbd) or a third node."
    elif (( members % 2 == 0 )); then
      log::warn "$members database nodes and no arbitrator: losing $(( members / 2 )) of them, or an even split, stops all writes (no quorum). Add cluster.arbitrator (a small host running garbd) for an odd number of votes."
    fi
    return 0
  fi
  if remote::run "$ARBITRATOR_IP" pgrep -x garbd >/dev/null 2>&1; then running=1; fi
  if (( members % 2 )); then
    (( running )) || return 0
    log::info "stopping garbd on the arbitrator $ARBITRATOR_IP: with $members (odd) database members its vote would make an even split possible"
    run::cmd remote::run "$ARBITRATOR_IP" pkill -x garbd
    return 0
  fi
  if (( running )); then
    log::info "garbd already runs on the arbitrator $ARBITRATOR_IP ($members members + the witness: $(( members + 1 )) votes)"
    return 0
  fi
  log::info "starting garbd on the arbitrator $ARBITRATOR_IP: $members members + the witness make $(( members + 1 )) votes, so losing $(( members / 2 )) keeps a Primary component"
  local options="gmcast.listen_addr=tcp://${ARBITRATOR_IP}:${DB_GALERA_PORT};${GALERA_EVS_OPTIONS}"
  if [[ $DB_TLS == true ]]; then
    galera::arbitrator_tls
    options+=";socket.ssl_key=$TLS_DIR/node.key;socket.ssl_cert=$TLS_DIR/node.crt;socket.ssl_ca=$TLS_DIR/ca.crt"
  fi
  run::cmd remote::run "$ARBITRATOR_IP" garbd --address "gcomm://$(galera::cluster_address)" --group "$DB_CLUSTER_NAME" \
    --options "$options" --log /var/log/garbd.log --daemon
}

# galera::arbitrator_tls: the witness's certificate (CN = arbitrator.hostname), issued here and copied
# with the CA certificate to the same directory on the witness (root-only; garbd runs as root there).
# The CA key never goes to the witness: it is not a member.
galera::arbitrator_tls() {
  local crt="$TLS_DIR/arbitrator.crt" key="$TLS_DIR/arbitrator.key" file
  [[ -s "$(tls::ca_key)" ]] || run::is_dry \
    || die "[ERROR ClusterCA]: database.tls is on but this node has no cluster CA in $TLS_DIR (fix: rerun setup/phase1_database_setup.sh --join on this node)" "$EXIT_PREFLIGHT"
  tls::ensure_cert "$ARBITRATOR_HOSTNAME" "$ARBITRATOR_IP" "$crt" "$key"
  for file in "$(tls::ca_crt):ca.crt" "$crt:node.crt" "$key:node.key"; do
    if run::is_dry; then
      printf '[dryrun] would copy %s to %s:%s/%s (mode 0600)\n' "${file%%:*}" "$ARBITRATOR_IP" "$TLS_DIR" "${file#*:}"
      continue
    fi
    # shellcheck disable=SC2016 # expanded by the witness's shell, from its own arguments
    remote::run "$ARBITRATOR_IP" sh -c 'umask 077 && mkdir -p "$1" && cat > "$1/.$2.tmp" && mv -f "$1/.$2.tmp" "$1/$2"' \
      sh "$TLS_DIR" "${file#*:}" < "${file%%:*}" \
      || die "could not copy the TLS files to the arbitrator $ARBITRATOR_IP"
  done
}
