#!/usr/bin/env bash
# Usage: phase5_monitoring_setup.sh (--bootstrap | --join [--peer IP] | --standalone | --refresh
#          | --add-node IP | --remove-node IP | --stop | --status | --collect | --members) [--dry-run] [--yes] [--json]
# Summary: Set up the exporters, Prometheus and Alertmanager on this node.
#
# Every member runs node_exporter (with the toolkit's own metrics through its textfile collector),
# mysqld-exporter and redis-exporter, and one Alertmanager; the Alertmanagers of all members form one
# gossip cluster, so an alert is sent once. Prometheus runs on the first monitoring.prometheus_nodes
# members (highest priority first) and sends its alerts to every Alertmanager. Both listen on every
# address, so they answer on the VIP; a member without Prometheus forwards its Prometheus port to one.
#
#   --bootstrap / --standalone   this node is the first member
#   --join [--peer IP]           take the member list from IP (or any member), add this node everywhere
#   --refresh                    re-render targets and configs from the member list; restart what changed
#   --add-node IP / --remove-node IP   on a member: every reachable member adds / drops IP
#   --stop                       stop everything monitoring runs here
#   --status                     one line (--json: an object)
#   --collect                    write the toolkit's metrics once (cron runs this every minute)
#   --members                    print the member list (what --join asks a peer)
#   --forward                    (internal) one forwarded connection to the first Prometheus that answers
#
# Files: /etc/default/prometheus*, /etc/prometheus/{prometheus,alertmanager}.yml, /etc/prometheus/hpc/
# (rules, targets, 0640 secrets), /etc/cron.d/hpc-monitoring. Secrets never appear on a command line.
# Exit codes: 0 ok, 1 error, 2 usage, 4 locked, 5 preflight failed, 6 refused.
# shellcheck source=../lib/monitoring.sh
source "$HPC_LIB_DIR/monitoring.sh"

ACTION="" TARGET_IP="" PEER="" JSON=0 INCLUDE="" EXCLUDE=""
STARTED=()
MON_USER=prometheus
EXCLUDE_MOUNTS='^/(dev|proc|run|sys|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)'

# shellcheck disable=SC2034 # DRY_RUN and ASSUME_YES are read by lib/run.sh and lib/ui.sh
parse_args() {
  while (( $# )); do
    case "$1" in
      --bootstrap|--join|--standalone|--refresh|--stop|--status|--collect|--members|--forward) set_action "${1#--}" ;;
      --add-node|--remove-node) set_action "${1#--}"; [[ -n ${2:-} ]] || lib::usage_error "$1 needs an IP"; TARGET_IP=$2; shift ;;
      --peer) [[ -n ${2:-} ]] || lib::usage_error "--peer needs an IP"; PEER=$2; shift ;;
      --include) [[ -n ${2:-} ]] || lib::usage_error "--include needs an IP"; INCLUDE=$2; shift ;;
      --exclude) [[ -n ${2:-} ]] || lib::usage_error "--exclude needs an IP"; EXCLUDE=$2; shift ;;
      --json) JSON=1 ;;
      --dry-run) DRY_RUN=1 ;;
      --yes|--force) ASSUME_YES=1 ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  [[ -n $ACTION ]] || lib::usage_error "say what to do (--bootstrap, --join, --standalone, --status, ...)"
  if [[ $ACTION == add-node ]] && ! node::index_of "$TARGET_IP" >/dev/null; then
    die "$TARGET_IP is not in cluster_config.yaml: add it there, regenerate and push the toolkit first" "$EXIT_USAGE"
  fi
}

set_action() {
  [[ -z $ACTION ]] || lib::usage_error "choose one of --$ACTION and --$1"
  ACTION=$1
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

is_prometheus_node() { monitoring::prometheus_nodes | grep -qxF "$SELF_IP"; }

# --- preflight ----------------------------------------------------------------------------------

PACKAGES=(prometheus-node-exporter:prometheus-node-exporter prometheus-alertmanager:prometheus-alertmanager
  prometheus:prometheus prometheus-mysqld-exporter:prometheus-mysqld-exporter prometheus-redis-exporter:prometheus-redis-exporter)

phase::preflight() {
  local p missing=()
  log::phase preflight
  node::require_self
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

write_default() {
  local name=$1
  shift
  run::write_file "$(path::of "/etc/default/$name")" 0644 <<< "# Written by setup/phase5_monitoring_setup.sh (hpc-cluster-kit)
ARGS=\"$*\""
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

mysqld_exporter_cnf() {
  local f dir
  dir="$(path::of /etc/prometheus/hpc)"
  f="$dir/mysqld-exporter.cnf"
  if [[ -n $MONITORING_EXPORTER_PASSWORD_SECRET ]]; then
    SECRET_CONTENT=1 run::write_file "$f" 0600 "$MON_USER:$MON_USER" <<< "[client]
user=$MONITORING_EXPORTER_USER
password=$(secrets::get "$MONITORING_EXPORTER_PASSWORD_SECRET")
socket=/run/mysqld/mysqld.sock"
  else
    run::write_file "$f" 0600 "$MON_USER:$MON_USER" <<< "[client]
user=$MON_USER
socket=/run/mysqld/mysqld.sock"
  fi
  changed prometheus-mysqld-exporter
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
  mysqld_exporter_cnf
  write_default prometheus-mysqld-exporter "--web.listen-address=$SELF_IP:$MONITORING_MYSQLD_EXPORTER_PORT" \
    "--config.my-cnf=/etc/prometheus/hpc/mysqld-exporter.cnf"
  redis_exporter_secret
  write_default prometheus-redis-exporter "-web.listen-address=$SELF_IP:$MONITORING_REDIS_EXPORTER_PORT" \
    "-redis.addr=redis://$SELF_IP:$REDIS_PORT" "-redis.password-file=/etc/prometheus/hpc/redis-exporter.json"

  file_secrets
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

ensure_running() {
  local s=$1
  if svc::is_running "$s"; then
    if [[ " ${CHANGED[*]} " == *" $s "* ]]; then svc::restart "$s"; log::ok "$s restarted (configuration changed)"; fi
    return 0
  fi
  svc::enable "$s"
  svc::start "$s"
  STARTED+=("$s")
  log::ok "$s started"
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

phase::verify() {
  log::phase verify
  run::is_dry && return 0
  run::wait_until 30 "node_exporter on $SELF_IP:$MONITORING_NODE_EXPORTER_PORT" port_answers "$SELF_IP:$MONITORING_NODE_EXPORTER_PORT" metrics || return 1
  run::wait_until 30 "Alertmanager on port $MONITORING_ALERTMANAGER_PORT" port_answers "$SELF_IP:$MONITORING_ALERTMANAGER_PORT" -/ready || return 1
  if is_prometheus_node; then
    run::wait_until 60 "Prometheus on port $MONITORING_PROMETHEUS_PORT" port_answers "$SELF_IP:$MONITORING_PROMETHEUS_PORT" -/ready || return 1
  fi
  log::ok "exporters, Alertmanager$(is_prometheus_node && echo ' and Prometheus') answer here"
}

rollback() {
  local s
  trap - ERR
  log::phase rollback
  for s in ${STARTED[@]+"${STARTED[@]}"}; do svc::stop "$s" || true; done
  run::rollback_files
}

rollback_exit() {
  rollback
  exit "$1"
}

setup() {
  local members=()
  trap 'rollback_exit $?' ERR
  phase::preflight
  log::phase members
  case "$ACTION" in
    bootstrap|standalone) mapfile -t members < <(monitoring::members) ;;
    join) mapfile -t members < <(peer_members) ;;
  esac
  set_members "${members[@]}" "$SELF_IP"
  exporter_db_user
  phase::configure
  phase::run
  if ! phase::verify; then rollback; die "monitoring did not come up; see /var/log/prometheus/ on this node"; fi
  trap - ERR
  run::commit_files
  run::is_dry || { mkdir -p "$(path::of "$STATE_DIR/services")"; : > "$(path::of "$STATE_DIR/services/monitoring")"; }
  [[ $ACTION != join ]] || refresh_members include "$SELF_IP" skip-self
}

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

refresh() {
  node::require_self
  local members=()
  mapfile -t members < <(monitoring::members)
  [[ -z $INCLUDE ]] || members+=("$INCLUDE")
  if [[ -n $EXCLUDE ]]; then mapfile -t members < <(printf '%s\n' "${members[@]}" | grep -vxF "$EXCLUDE"); fi
  set_members "${members[@]}"
  phase::configure
  phase::run
  run::commit_files
}

# refresh_members include|exclude IP [skip-self]: every member re-renders with IP added or dropped.
refresh_members() {
  local how=$1 target=$2 ip failed=0 extra=()
  run::is_dry && extra=(--dry-run)
  for ip in $(monitoring::members); do
    [[ $how == exclude && $ip == "$target" ]] && continue
    if [[ $ip == "$SELF_IP" ]]; then
      [[ ${3:-} == skip-self ]] && continue
      if [[ $how == include ]]; then INCLUDE=$target; else EXCLUDE=$target; fi
      refresh
    elif ! remote::toolkit "$ip" setup/phase5_monitoring_setup.sh --refresh "--$how" "$target" ${extra[@]+"${extra[@]}"} </dev/null; then
      log::warn "could not refresh monitoring on $ip; run there: setup/phase5_monitoring_setup.sh --refresh --$how $target"
      failed=1
    fi
  done
  return "$failed"
}

stop() {
  local s
  log::phase stop
  monitoring::forward_stop
  for s in prometheus "${SERVICES[@]}"; do
    if svc::is_running "$s"; then svc::stop "$s"; log::ok "$s stopped"; fi
  done
}

status() {
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

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  [[ $MONITORING_ENABLED == true || $ACTION == status || $ACTION == stop ]] || { log::info "monitoring.enabled is false; nothing to do"; return 0; }
  case "$ACTION" in
    status) node::require_self; status; return ;;
    members) monitoring::members; return ;;
    collect) monitoring::collect; return ;;
    forward) monitoring::forward_connection; return ;;
  esac
  lock::acquire monitoring
  case "$ACTION" in
    bootstrap|join|standalone) setup ;;
    refresh) refresh ;;
    add-node) node::require_self; refresh_members include "$TARGET_IP"; log::ok "every reachable member now monitors $TARGET_IP; run --join there" ;;
    remove-node)
      node::require_self
      [[ $TARGET_IP != "$SELF_IP" ]] || die "run --remove-node on a surviving node" "$EXIT_USAGE"
      remote::toolkit "$TARGET_IP" setup/phase5_monitoring_setup.sh --stop </dev/null || log::warn "could not stop monitoring on $TARGET_IP"
      refresh_members exclude "$TARGET_IP"
      ;;
    stop) stop ;;
  esac
}

main "$@"
