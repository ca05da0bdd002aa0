#!/usr/bin/env bash
# Usage: phase5_monitoring_setup.sh (--bootstrap | --join [--peer IP] | --standalone | --refresh
#          | --add-node IP | --remove-node IP | --leave | --status | --collect | --members) [--dry-run] [--yes] [--json]
# Summary: Set up the exporters, Prometheus and Alertmanager on this node.
#
# Every member runs node_exporter (with the toolkit's own metrics through its textfile collector),
# mysqld-exporter and redis-exporter, and one Alertmanager; the Alertmanagers of all members form one
# gossip cluster, so an alert is sent once. Prometheus runs on the first monitoring.prometheus_nodes
# members (highest priority first) and sends its alerts to every Alertmanager. Both listen on every
# address, so they answer on the VIP; a member without Prometheus forwards its Prometheus port to one.
# Galera reports its state changes to /usr/local/lib/hpc-cluster/galera_notify.sh (installed here;
# galera.cnf's wsrep_notify_cmd).
#
#   --bootstrap / --standalone   this node is the first member
#   --join [--peer IP]           take the member list from IP (or any member), add this node everywhere
#   --refresh [--include IP | --exclude IP]
#                                re-render targets and configs from the member list (with IP added or
#                                dropped); restart only what changed. Waits up to 60 s for a run here
#                                that holds the monitoring lock
#   --add-node IP / --remove-node IP   on a member: every reachable member adds / drops IP
#   --leave                      stop everything monitoring runs here (--stop is the old name)
#   --status                     one line (--json: an object)
#   --collect                    write the toolkit's metrics once (cron runs this every minute)
#   --members                    print the member list (what --join asks a peer)
#   --forward                    (internal) one forwarded connection to the first Prometheus that answers
# A rerun changes nothing and restarts nothing when nothing changed.
#
# Files: /etc/default/prometheus*, /etc/prometheus/{prometheus,alertmanager}.yml, /etc/prometheus/hpc/
# (rules, targets, 0640 secrets), /etc/cron.d/hpc-monitoring, STATE_DIR/galera-notify/ (written by MariaDB).
# Secrets never appear on a command line.
# --force is the same as --yes; --stop-local is another old name of --leave.
# Exit codes: 0 ok, 1 error, 2 usage, 4 locked, 5 preflight failed, 6 refused.
# shellcheck source=../lib/phase.sh
source "$HPC_LIB_DIR/phase.sh"
# shellcheck source=../lib/monitoring.sh
source "$HPC_LIB_DIR/monitoring.sh"

PHASE_LOCK=monitoring
PHASE_MODES=(bootstrap join standalone refresh add-node remove-node leave status collect members forward)
PHASE_READONLY_MODES=(status collect members forward)
STARTED=()
MON_USER=prometheus
GALERA_NOTIFY_CMD=/usr/local/lib/hpc-cluster/galera_notify.sh  # galera.cnf's wsrep_notify_cmd
EXCLUDE_MOUNTS='^/(dev|proc|run|sys|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)'

phase::init() {
  if [[ $MONITORING_ENABLED != true && $MODE != status && $MODE != leave ]]; then
    log::info "monitoring.enabled is false; nothing to do"
    exit 0
  fi
  case "$MODE" in
    collect|members|forward) ;;
    *) node::require_self ;;
  esac
  case "$MODE" in
    bootstrap|join|standalone|refresh|add-node|remove-node) phase::preflight ;;
  esac
  # A peer's --refresh can meet this node's own short run (a join here, two nodes joining at once).
  [[ $MODE != refresh ]] || PHASE_LOCK_WAIT=60
  return 0
}

# --- members ------------------------------------------------------------------------------------

# set_members IP...: the member list (kept in configured priority order by monitoring::members).
set_members() {
  local list
  list="$(printf '%s\n' "$@" | awk 'NF && !seen[$0]++')"
  run::write_file "$(monitoring::members_file)" 0644 <<< "$list"
  run::is_dry && MONITORING_MEMBERS=$list
  return 0
}

# Not `| grep -q`: grep stops at the first match, and under pipefail the writer's SIGPIPE (141) says "no".
is_prometheus_node() { [[ $'\n'"$(monitoring::prometheus_nodes)"$'\n' == *$'\n'"$SELF_IP"$'\n'* ]]; }

# --- preflight ----------------------------------------------------------------------------------

PACKAGES=(prometheus-node-exporter:prometheus-node-exporter prometheus-alertmanager:prometheus-alertmanager
  prometheus:prometheus prometheus-mysqld-exporter:prometheus-mysqld-exporter prometheus-redis-exporter:prometheus-redis-exporter)

phase::preflight() {
  local p missing=()
  log::phase preflight
  for p in "${PACKAGES[@]}"; do command -v "${p%%:*}" >/dev/null 2>&1 || missing+=("${p#*:}"); done
  if (( ${#missing[@]} )); then
    log::info "installing ${missing[*]}"
    run::cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
      || die "[ERROR Packages]: could not install ${missing[*]} (fix: apt-get install ${missing[*]})" "$EXIT_PREFLIGHT"
  fi
  id "$MON_USER" >/dev/null 2>&1 || run::is_dry || die "[ERROR User-$MON_USER]: no user $MON_USER (the Debian packages create it)" "$EXIT_PREFLIGHT"
  [[ -z $MONITORING_EXPORTER_PASSWORD_SECRET ]] || secrets::require "$MONITORING_EXPORTER_PASSWORD_SECRET"
  (( ${#MONITORING_FILE_SECRETS[@]} == 0 )) || secrets::require "${MONITORING_FILE_SECRETS[@]}"
  log::ok "node $SELF_HOSTNAME ($SELF_IP); monitoring packages present"
}

# --- configure ----------------------------------------------------------------------------------

CHANGED=()
changed() { (( RUN_CHANGED )) && CHANGED+=("$1"); return 0; }

# write_default NAME ARGS...: /etc/default/NAME with ARGS (and DEFAULT_ENV, a VAR=value line, when set):
# what both the Debian init script and the systemd unit read.
write_default() {
  local name=$1
  shift
  run::write_file "$(path::of "/etc/default/$name")" 0644 <<< "# Written by setup/phase5_monitoring_setup.sh (hpc-cluster-kit)
${DEFAULT_ENV:+$DEFAULT_ENV
}ARGS=\"$*\""
  changed "$name"
}

# sql_quote VALUE: VALUE inside single quotes for SQL (backslash and quote escaped).
sql_quote() {
  local v=${1//\\/\\\\}
  printf "'%s'" "${v//\'/\'\'}"
}

# exporter_db_user: the least-privileged MariaDB user of mysqld-exporter (replicated by Galera). The
# password travels on stdin, never on a command line.
exporter_db_user() {
  local who pw sql
  if [[ -n $MONITORING_EXPORTER_PASSWORD_SECRET ]]; then
    who="$(sql_quote "$MONITORING_EXPORTER_USER")@'localhost'"
    pw="$(secrets::get "$MONITORING_EXPORTER_PASSWORD_SECRET")"
    sql="CREATE USER IF NOT EXISTS $who IDENTIFIED BY $(sql_quote "$pw"); ALTER USER $who IDENTIFIED BY $(sql_quote "$pw");"
  else
    who="$(sql_quote "$MON_USER")@'localhost'"
    sql="CREATE USER IF NOT EXISTS $who IDENTIFIED VIA unix_socket;"
  fi
  sql+=" GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO $who;"
  if run::is_dry; then printf '[dryrun] would run: mariadb (CREATE USER/GRANT for the exporter, on stdin)\n'; return 0; fi
  if ! mariadb -N -B -e 'SELECT 1' >/dev/null 2>&1; then
    log::warn "MariaDB does not answer here: the exporter user is created on the next run"
    return 0
  fi
  mariadb <<< "$sql" || die "could not create the exporter's MariaDB user"
}

# mysqld_exporter_config: with a password, a 0600 my.cnf for the exporter's user; without one, the
# exporter logs in over the socket as its Unix user (unix_socket): mysqld_exporter 0.14 refuses a my.cnf
# without a password and exits, so that login is a DATA_SOURCE_NAME (no secret in it).
mysqld_exporter_config() {
  local listen="--web.listen-address=$SELF_IP:$MONITORING_MYSQLD_EXPORTER_PORT"
  if [[ -n $MONITORING_EXPORTER_PASSWORD_SECRET ]]; then
    SECRET_CONTENT=1 run::write_file "$(path::of /etc/prometheus/hpc/mysqld-exporter.cnf)" 0600 "$MON_USER:$MON_USER" <<< "[client]
user=$MONITORING_EXPORTER_USER
password=$(secrets::get "$MONITORING_EXPORTER_PASSWORD_SECRET")
socket=/run/mysqld/mysqld.sock"
    changed prometheus-mysqld-exporter
    write_default prometheus-mysqld-exporter "$listen" "--config.my-cnf=/etc/prometheus/hpc/mysqld-exporter.cnf"
  else
    DEFAULT_ENV="DATA_SOURCE_NAME=\"$MON_USER@unix(/run/mysqld/mysqld.sock)/\"" write_default prometheus-mysqld-exporter "$listen"
  fi
}

redis_exporter_secret() {
  local f
  f="$(path::of /etc/prometheus/hpc/redis-exporter.json)"
  SECRET_CONTENT=1 run::write_file "$f" 0600 "$MON_USER:$MON_USER" <<< \
    "{$(json::str "redis://$SELF_IP:$REDIS_PORT"): $(json::str "$(secrets::get "$REDIS_PASSWORD_SECRET")")}"
  changed prometheus-redis-exporter
}

file_secrets() {
  local name
  for name in ${MONITORING_FILE_SECRETS[@]+"${MONITORING_FILE_SECRETS[@]}"}; do
    secrets::get "$name" | SECRET_CONTENT=1 run::write_file "$(path::of "$MONITORING_SECRETS_DIR/$name")" 0640 "root:$MON_USER"
  done
}

# galera_notify_setup: Galera's wsrep_notify_cmd (galera.cnf names it): configs/monitoring/galera_notify.bash
# installed outside the root-only toolkit folder (MariaDB runs it as mysql), the mysql-owned folder it
# writes to, its file seeded once from the state now (MariaDB reports only changes) and linked into the
# textfile directory once it exists (a dangling link is a scrape error).
galera_notify_setup() {
  local dir file link rows state primary cmd
  id mysql >/dev/null 2>&1 || return 0
  cmd="$(path::of "$GALERA_NOTIFY_CMD")"
  run::mkdir "$(dirname "$cmd")" 0755
  run::write_file "$cmd" 0755 < <(tpl::render "$(tpl::path monitoring/galera_notify.bash)" STATE_DIR)
  dir="$(path::of "$STATE_DIR/galera-notify")"
  file="$dir/hpc_galera_notify.prom"
  link="$(monitoring::textfile_dir)/hpc_galera_notify.prom"
  run::mkdir "$dir" 0755 mysql:mysql
  if run::is_dry; then
    [[ -L $link ]] || printf '[dryrun] would link %s -> %s\n' "$link" "$file"
    return 0
  fi
  if [[ ! -e $file ]]; then
    rows="$(mariadb -N -B -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_cluster_status')" 2>/dev/null || true)"
    state="$(awk -F'\t' '$1 == "wsrep_local_state_comment" { print $2 }' <<< "$rows")"
    primary=no
    [[ $rows != *$'wsrep_cluster_status\tPrimary'* ]] || primary=yes
    if [[ -n $state ]]; then
      runuser -u mysql -- "$cmd" --seed --status "$state" --primary "$primary" || true
    fi
  fi
  if [[ -e $file && "$(readlink "$link" 2>/dev/null)" != "$file" ]]; then run::cmd ln -sfn -- "$file" "$link"; fi
  return 0
}

phase::configure() {
  local ip members peers=() job port
  log::phase configure
  mapfile -t members < <(monitoring::members)
  run::mkdir "$(path::of "$MONITORING_TARGETS_DIR")"
  run::mkdir "$(path::of "$MONITORING_SECRETS_DIR")" 0750 "root:$MON_USER"
  run::mkdir "$(monitoring::textfile_dir)"
  for job in node mysqld redis alertmanager; do
    case "$job" in
      node) port=$MONITORING_NODE_EXPORTER_PORT ;;
      mysqld) port=$MONITORING_MYSQLD_EXPORTER_PORT ;;
      redis) port=$MONITORING_REDIS_EXPORTER_PORT ;;
      alertmanager) port=$MONITORING_ALERTMANAGER_PORT ;;
    esac
    run::write_file "$(path::of "$MONITORING_TARGETS_DIR/$job.json")" 0644 <<< "$(monitoring::targets_json "$port" "${members[@]}")"
  done
  run::write_file "$(path::of "$MONITORING_TARGETS_DIR/prometheus.json")" 0644 \
    <<< "$(mapfile -t p < <(monitoring::prometheus_nodes); monitoring::targets_json "$MONITORING_PROMETHEUS_PORT" "${p[@]}")"

  write_default prometheus-node-exporter "--web.listen-address=$SELF_IP:$MONITORING_NODE_EXPORTER_PORT" \
    "--collector.textfile.directory=$(monitoring::textfile_dir)" "--collector.filesystem.mount-points-exclude=$EXCLUDE_MOUNTS"
  mysqld_exporter_config
  redis_exporter_secret
  write_default prometheus-redis-exporter "-web.listen-address=$SELF_IP:$MONITORING_REDIS_EXPORTER_PORT" \
    "-redis.addr=redis://$SELF_IP:$REDIS_PORT" "-redis.password-file=/etc/prometheus/hpc/redis-exporter.json"

  file_secrets
  galera_notify_setup
  run::write_file "$(path::of "$MONITORING_ALERTMANAGER_CONFIG")" 0644 < "$(tpl::path monitoring/alertmanager.yml)"
  changed prometheus-alertmanager
  for ip in "${members[@]}"; do
    [[ $ip == "$SELF_IP" ]] || peers+=("--cluster.peer=$ip:$MONITORING_ALERTMANAGER_CLUSTER_PORT")
  done
  write_default prometheus-alertmanager "--config.file=$MONITORING_ALERTMANAGER_CONFIG" \
    "--storage.path=/var/lib/prometheus/alertmanager" "--web.listen-address=:$MONITORING_ALERTMANAGER_PORT" \
    "--cluster.listen-address=$SELF_IP:$MONITORING_ALERTMANAGER_CLUSTER_PORT" \
    "--cluster.advertise-address=$SELF_IP:$MONITORING_ALERTMANAGER_CLUSTER_PORT" "--cluster.reconnect-timeout=5m" \
    "--web.external-url=http://$VIP_ADDRESS:$MONITORING_ALERTMANAGER_PORT/" ${peers[@]+"${peers[@]}"}

  if is_prometheus_node; then
    run::write_file "$(path::of "$MONITORING_RULES_FILE")" 0644 < "$(tpl::path monitoring/alert_rules.yml)"
    changed prometheus
    run::write_file "$(path::of "$MONITORING_PROMETHEUS_CONFIG")" 0644 < "$(tpl::path monitoring/prometheus.yml)"
    changed prometheus
    write_default prometheus "--config.file=$MONITORING_PROMETHEUS_CONFIG" "--storage.tsdb.path=/var/lib/prometheus/metrics2" \
      "--storage.tsdb.retention.time=$MONITORING_RETENTION" "--web.listen-address=:$MONITORING_PROMETHEUS_PORT" \
      "--web.external-url=http://$VIP_ADDRESS:$MONITORING_PROMETHEUS_PORT/" --web.enable-lifecycle
  fi
  run::write_file "$(path::of /etc/cron.d/hpc-monitoring)" 0644 <<< "# hpc-cluster-kit: the toolkit's own metrics for node_exporter (setup/phase5_monitoring_setup.sh)
* * * * * root $HPC_TOOLKIT_DIR/setup/phase5_monitoring_setup.sh --collect >/dev/null 2>&1"
  log::ok "${#members[@]} member(s): ${members[*]}; Prometheus on $(monitoring::prometheus_nodes | tr '\n' ' ')"
}

# --- run ----------------------------------------------------------------------------------------

SERVICES=(prometheus-node-exporter prometheus-mysqld-exporter prometheus-redis-exporter prometheus-alertmanager)

# ensure_running NAME: start NAME when it does not run (stopped again if this run fails), restart it
# when this run changed its configuration; otherwise leave it alone.
ensure_running() {
  local s=$1
  if svc::is_running "$s"; then
    if [[ " ${CHANGED[*]} " == *" $s "* ]]; then svc::restart "$s"; log::ok "$s restarted (configuration changed)"; fi
    return 0
  fi
  svc::enable "$s"
  svc::start "$s"
  (( ${#STARTED[@]} )) || run::on_rollback stop_started
  STARTED+=("$s")
  log::ok "$s started"
}

stop_started() {
  local s
  for s in "${STARTED[@]}"; do svc::stop "$s" || true; done
}

phase::run() {
  local s
  log::phase run
  for s in "${SERVICES[@]}"; do ensure_running "$s"; done
  if is_prometheus_node; then
    monitoring::forward_stop
    ensure_running prometheus
  else
    if svc::is_running prometheus; then svc::stop prometheus; log::ok "prometheus stopped (another member runs it now)"; fi
    monitoring::forward_start "$(monitoring::prometheus_nodes | tr '\n' ' ')"
  fi
  monitoring::collect
}

port_answers() { curl -fsS -m 2 -o /dev/null "http://$1/$2"; }

# A daemon that exits at once (a config it refuses) was "started" all the same: each one must answer.
phase::verify() {
  log::phase verify
  run::is_dry && return 0
  local job port
  for job in node mysqld redis; do
    case "$job" in
      node) port=$MONITORING_NODE_EXPORTER_PORT ;;
      mysqld) port=$MONITORING_MYSQLD_EXPORTER_PORT ;;
      redis) port=$MONITORING_REDIS_EXPORTER_PORT ;;
    esac
    run::wait_until 30 "the $job exporter on $SELF_IP:$port" port_answers "$SELF_IP:$port" metrics \
      || die "the $job exporter does not answer on $SELF_IP:$port; see /var/log/prometheus/ on this node"
  done
  run::wait_until 30 "Alertmanager on port $MONITORING_ALERTMANAGER_PORT" port_answers "$SELF_IP:$MONITORING_ALERTMANAGER_PORT" -/ready \
    || die "Alertmanager did not come up; see /var/log/prometheus/ on this node"
  if is_prometheus_node; then
    run::wait_until 60 "Prometheus on port $MONITORING_PROMETHEUS_PORT" port_answers "$SELF_IP:$MONITORING_PROMETHEUS_PORT" -/ready \
      || die "Prometheus did not come up; see /var/log/prometheus/ on this node"
  fi
  log::ok "exporters, Alertmanager$(is_prometheus_node && echo ' and Prometheus') answer here"
}

# ---- modes -------------------------------------------------------------------------------------

# setup: the three setup modes. A join then adds this node on every other member; a member that cannot
# be reached is reported with the command to run there (this node is set up all the same).
setup() {
  local members=()
  log::phase members
  if [[ $MODE == join ]]; then mapfile -t members < <(peer_members); else mapfile -t members < <(monitoring::members); fi
  set_members ${members[@]+"${members[@]}"} "$SELF_IP"
  exporter_db_user
  phase::configure
  phase::run
  phase::verify
  run::commit_files
  run::is_dry || { mkdir -p "$(path::of "$STATE_DIR/services")"; : > "$(path::of "$STATE_DIR/services/monitoring")"; }
  if [[ $MODE == join ]]; then refresh_members include "$SELF_IP" skip-self || true; fi
}

mode::bootstrap() { setup; }
mode::standalone() { setup; }
mode::join() { setup; }

# peer_members: the member list of --peer (or of the first configured node that answers), plus what
# this node already knew.
peer_members() {
  local ip
  monitoring::members
  for ip in ${PEER:+"$PEER"} "${NODE_IPS[@]}"; do
    [[ $ip == "$SELF_IP" ]] && continue
    if remote::toolkit "$ip" setup/phase5_monitoring_setup.sh --members </dev/null 2>/dev/null; then return 0; fi
  done
  log::warn "no member answered with its monitoring member list; starting with this node only"
}

# mode::refresh: re-render here from the member list, with MEMBER_IP added (include) or dropped (exclude).
mode::refresh() {
  local members=()
  mapfile -t members < <(monitoring::members)
  [[ $MEMBER_CHANGE != include ]] || members+=("$MEMBER_IP")
  if [[ $MEMBER_CHANGE == exclude ]]; then mapfile -t members < <(printf '%s\n' "${members[@]}" | grep -vxF -- "$MEMBER_IP"); fi
  set_members ${members[@]+"${members[@]}"}
  phase::configure
  phase::run
  run::commit_files
}

# refresh_members include|exclude IP [skip-self]: every member re-renders with IP added or dropped.
refresh_members() {
  local how=$1 target=$2
  if [[ ${3:-} != skip-self && $'\n'"$(monitoring::members)"$'\n' == *$'\n'"$SELF_IP"$'\n'* ]]; then
    (MEMBER_CHANGE=$how MEMBER_IP=$target mode::refresh)
  fi
  { monitoring::members | grep -vxF -- "$target" || true; } \
    | phase::on_members setup/phase5_monitoring_setup.sh --refresh "--$how" "$target"
}

mode::add_node() {
  refresh_members include "$TARGET"
  log::ok "every reachable member now monitors $TARGET; run --join there"
}

mode::remove_node() {
  [[ $TARGET != "$SELF_IP" ]] || die "run --remove-node on a surviving node" "$EXIT_USAGE"
  remote::toolkit "$TARGET" setup/phase5_monitoring_setup.sh --leave ${DRY_ARGS[@]+"${DRY_ARGS[@]}"} </dev/null \
    || log::warn "could not stop monitoring on $TARGET"
  refresh_members exclude "$TARGET"
}

mode::leave() {
  local s
  log::phase leave
  monitoring::forward_stop
  for s in prometheus "${SERVICES[@]}"; do
    if svc::is_running "$s"; then svc::stop "$s"; log::ok "$s stopped"; fi
  done
}

mode::status() {
  local s running=() stopped=() prom=false members=()
  mapfile -t members < <(monitoring::members)
  is_prometheus_node 2>/dev/null && prom=true
  for s in "${SERVICES[@]}" prometheus; do
    if svc::is_running "$s"; then running+=("$s"); else stopped+=("$s"); fi
  done
  if (( JSON )); then
    printf '{"service":"monitoring","prometheus_here":%s,"running":%s,"stopped":%s,"members":%s}\n' "$prom" \
      "$(json::arr_str ${running[@]+"${running[@]}"})" "$(json::arr_str ${stopped[@]+"${stopped[@]}"})" "$(json::arr_str ${members[@]+"${members[@]}"})"
  else
    printf 'monitoring: running %s; stopped %s; members %s\n' "${running[*]:-none}" "${stopped[*]:-none}" "${members[*]:-none}"
  fi
}

mode::members() { monitoring::members; }
mode::collect() { monitoring::collect; }
mode::forward() { monitoring::forward_connection; }

main() {
  phase::main "$@"
}

main "$@"
