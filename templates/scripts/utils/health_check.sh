#!/usr/bin/env bash
# Usage: health_check.sh [--json | --quiet] | --http [--daemon | --stop | --status] [--dry-run]
# Summary: Check this node's services; serve GET /health with --http.
#
# Checks: mariadb (Galera Synced in a Primary component), redis (answers; cluster_state ok), glusterfs
# (shared volume mounted and answering), slurmctld, slurmdbd, web (the configured health URLs), disk,
# memory, vip (exactly one node holds the VIP, every node asked over SSH; never critical, and not in
# keepalived's track script: it judges the cluster, not this node). Checks named in
# health.critical_checks are critical: the node is healthy when none of them fails. A service never
# set up on this node reports not_configured and fails nothing. The drain file (health.drain_file)
# makes the node unhealthy on purpose, for maintenance.
#
# Options:
#   --json      the report as JSON on stdout
#   --quiet     only the critical checks, no output: exit 0 healthy, 1 not (for keepalived track_script)
#   --http      serve GET /health on the node address, port health.port: 200 healthy, 503 not, JSON body.
#               Alone it serves in the foreground; with --daemon it starts in the background (socat and a
#               pid file without systemd, a socket unit with systemd) and returns; rerunning is harmless.
#   --stop      with --http: stop the endpoint;  --status: exit 0 when it is serving
#   --dry-run   print what --http --daemon/--stop would write and run
#
# --serve-request (internal) answers one HTTP request on stdin/stdout (what the socket unit runs).
# Exit codes: 0 healthy (or the action succeeded), 1 a critical check failed / drained / error, 2 usage.
# shellcheck source=../lib/health.sh
source "$HPC_LIB_DIR/health.sh"
# shellcheck source=../lib/keepalived.sh
source "$HPC_LIB_DIR/keepalived.sh"

MODE=report
HTTP_ACTION=foreground
HEALTH_PID_FILE=/run/hpc-health.pid
HEALTH_UNIT=hpc-health.socket

parse_args() {
  while (( $# )); do
    case "$1" in
      --json) MODE=json ;;
      --quiet) MODE=quiet ;;
      --http) MODE=http ;;
      --daemon) HTTP_ACTION=daemon ;;
      --stop) HTTP_ACTION=stop ;;
      --status) HTTP_ACTION=status ;;
      --serve-request) MODE=request ;;
      --dry-run) export DRY_RUN=1 ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  if [[ $HTTP_ACTION != foreground && $MODE != http ]]; then
    lib::usage_error "--daemon, --stop and --status go with --http"
  fi
}

# self_if_known: SELF_IP when this host is a configured node (the report names it); never fails.
self_if_known() {
  if SELF_INDEX="$(node::self_index)"; then
    # shellcheck disable=SC2153 # NODE_IPS comes from lib/config.sh
    SELF_IP=${NODE_IPS[SELF_INDEX]}
  fi
  return 0
}

# full_report: run every check; REPORT = the JSON report, HEALTH_OK = 1 when the node is healthy.
# (Not in a $(...) subshell, so HEALTH_OK survives.)
full_report() {
  local dir
  dir="$(tmp::dir)"
  mkdir -p "$dir/checks"
  health::run_checks "$dir/checks" "${HEALTH_CHECKS_ALL[@]}"
  health::report "$dir/checks" "${HEALTH_CHECKS_ALL[@]}" > "$dir/report.json"
  REPORT="$(< "$dir/report.json")"
}

print_human() {
  local report=$1
  jq -r '"Node \(.hostname)\(if .node then " (\(.node))" else "" end): \(.status | ascii_upcase)\(if .drain then " - drained by the drain file" else "" end)",
    (.checks | to_entries[] | "  \(.key | . + " " * (10 - length)) \(.value.status | . + " " * (15 - length)) \(if .value.critical then "critical" else "        " end)  \(.value.message)")' <<< "$report"
}

# quiet: for keepalived's track_script - only the critical checks, no output, exit code only.
quiet() {
  local dir critical=()
  health::drained && exit 1
  mapfile -t critical < <(health::critical_list)
  (( ${#critical[@]} )) || exit 0
  dir="$(tmp::dir)"
  health::run_checks "$dir" "${critical[@]}"
  health::report "$dir" "${critical[@]}" > /dev/null
  (( HEALTH_OK )) && exit 0
  exit 1
}

# The endpoint's bounds: an idle or slow client holds one of a few slots, so it gets REQUEST_WINDOW_US
# for its whole request (lines of at most 1024 bytes, 50 header lines); every request within
# REPORT_MAX_AGE_S of the last one gets that report, computed once however many ask at the same time.
REQUEST_WINDOW_US=2000000
REPORT_MAX_AGE_S=2

# time_left END_US: the seconds (with decimals) until END_US, for read -t; fails when none is left.
time_left() {
  local left=$(( $1 - ${EPOCHREALTIME/./} ))
  (( left > 0 )) || return 1
  printf '%d.%06d\n' $(( left / 1000000 )) $(( left % 1000000 ))
}

# cached_report: REPORT and HEALTH_OK from a report at most REPORT_MAX_AGE_S old, else a fresh one
# (under a lock, so concurrent requests run the checks once).
cached_report() {
  local dir fd age drained
  dir="$(lock::dir)"
  exec {fd}<>"$dir/health-report.lock"
  flock -w 10 "$fd" || true
  age=$(( EPOCHSECONDS - $(stat -c %Y "$dir/health-report.json" 2>/dev/null || echo 0) ))
  drained=false
  health::drained && drained=true
  # A drain takes effect at once: a cached report from before it (or before its removal) is not used.
  if (( age >= 0 && age <= REPORT_MAX_AGE_S )) && [[ -s $dir/health-report.json ]] \
    && REPORT="$(jq -ce --argjson d "$drained" 'select(.drain == $d)' "$dir/health-report.json")"; then
    HEALTH_OK="$(jq -r 'if .healthy then 1 else 0 end' <<< "$REPORT")"
  else
    full_report
    printf '%s\n' "$REPORT" > "$dir/health-report.json.tmp" && mv -f "$dir/health-report.json.tmp" "$dir/health-report.json"
  fi
  exec {fd}>&-
}

# serve_request: one HTTP exchange on stdin/stdout (socat EXEC or systemd Accept=yes hands us the socket).
serve_request() {
  local method="" target="" line n=0 code reason body len end left
  end=$(( ${EPOCHREALTIME/./} + REQUEST_WINDOW_US ))
  IFS=' ' read -r -t "$(time_left "$end")" -n 1024 method target _ || true
  # Drain the request headers (bounded in count, size and time), so the client sees a clean response.
  while (( n++ < 50 )) && left="$(time_left "$end")" && IFS= read -r -t "$left" -n 1024 line; do
    line=${line%$'\r'}
    [[ -z $line ]] && break
  done
  target=${target%%\?*}
  if [[ $method != GET && $method != HEAD ]]; then
    code=405 reason="Method Not Allowed" body='{"error":"only GET /health"}'
  elif [[ $target != /health && $target != /health/ ]]; then
    code=404 reason="Not Found" body='{"error":"only GET /health"}'
  else
    cached_report
    body=$REPORT
    if (( HEALTH_OK )); then code=200 reason=OK; else code=503 reason="Service Unavailable"; fi
  fi
  log::to_file INFO "$method ${target:-?} from ${SOCAT_PEERADDR:-${REMOTE_ADDR:-?}} -> $code"
  len="$(printf '%s\n' "$body" | wc -c)"
  printf 'HTTP/1.0 %s %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n' \
    "$code" "$reason" "$len"
  [[ $method == HEAD ]] || printf '%s\n' "$body"
}

# The command socat runs per connection: socat splits it on spaces and gives ',' ':' '!' meaning.
request_command() {
  local script="$HPC_TOOLKIT_DIR/utils/health_check.sh"
  [[ $script =~ ^[A-Za-z0-9_./-]+$ ]] \
    || die "the toolkit path $HPC_TOOLKIT_DIR has characters socat cannot pass (use only letters, digits, _ . / -)"
  printf '%s --serve-request' "$script"
}

socat_address() {
  printf 'TCP-LISTEN:%s,bind=%s,reuseaddr,fork,max-children=64' "$HEALTH_PORT" "$SELF_IP"
}

http_serving() {
  svc::pid::alive "$HEALTH_PID_FILE" socat
}

# close_fds: a daemon must not keep the caller's descriptors (bats waits on fd 3 otherwise).
close_fds() {
  local fd
  for fd in /proc/self/fd/*; do
    fd=${fd##*/}
    if [[ $fd =~ ^[0-9]+$ ]] && (( fd > 2 )); then exec {fd}>&- 2>/dev/null || true; fi
  done
}

http_start_socat() {
  local pidfile logfile pid cmd
  pidfile="$(path::of "$HEALTH_PID_FILE")"
  logfile="$(path::of /var/log/hpc-cluster/health-http.log)"
  cmd="$(request_command)"
  if http_serving; then
    log::ok "/health already served on $SELF_IP:$HEALTH_PORT (pid $(cat "$pidfile")); nothing to do"
    return 0
  fi
  if run::is_dry; then
    run::cmd setsid socat -lf "$logfile" "$(socat_address)" "EXEC:$cmd"
    printf '[dryrun] would write %s (the pid of socat)\n' "$pidfile"
    return 0
  fi
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  touch "$logfile" && chmod 0640 "$logfile"
  log::to_file CMD "setsid socat -lf $logfile $(socat_address) EXEC:$cmd"
  ( close_fds; exec setsid socat -lf "$logfile" "$(socat_address)" "EXEC:$cmd" < /dev/null > /dev/null 2>&1 ) &
  pid=$!
  printf '%s\n' "$pid" > "$pidfile"
  if ! run::wait_until 10 "socat to listen on $SELF_IP:$HEALTH_PORT" http_listening "$pid"; then
    kill "$pid" 2>/dev/null || true
    rm -f -- "$pidfile"
    die "the /health endpoint did not start; see $logfile (is port $HEALTH_PORT taken?)"
  fi
  log::ok "/health served on http://$SELF_IP:$HEALTH_PORT/health (socat pid $pid, log $logfile)"
}

# http_listening PID: socat is alive and the port accepts connections.
# shellcheck disable=SC2317 # called through run::wait_until
http_listening() {
  [[ -d /proc/$1 ]] || return 2
  (exec 9<>"/dev/tcp/$SELF_IP/$HEALTH_PORT") 2>/dev/null
}

http_start_systemd() {
  local unit_dir NODE_IP TOOLKIT_DIR changed=0
  # shellcheck disable=SC2034 # read by tpl::render
  NODE_IP=$SELF_IP
  # shellcheck disable=SC2034
  TOOLKIT_DIR=$HPC_TOOLKIT_DIR
  request_command > /dev/null
  unit_dir="$(path::of /etc/systemd/system)"
  # (input by process substitution: run::write_file must run in this shell to set RUN_CHANGED)
  run::write_file "$unit_dir/hpc-health.socket" 0644 < <(tpl::render "$(tpl::path hpc-health.socket)" NODE_IP)
  (( RUN_CHANGED )) && changed=1
  run::write_file "$unit_dir/hpc-health@.service" 0644 < <(tpl::render "$(tpl::path hpc-health@.service)" TOOLKIT_DIR)
  (( RUN_CHANGED )) && changed=1
  if (( changed )); then
    run::cmd systemctl daemon-reload
    run::cmd systemctl enable "$HEALTH_UNIT"
    run::cmd systemctl restart "$HEALTH_UNIT"
  elif ! systemctl is-active --quiet "$HEALTH_UNIT" 2>/dev/null; then
    run::cmd systemctl enable --now "$HEALTH_UNIT"
  else
    log::ok "$HEALTH_UNIT already serving /health on $SELF_IP:$HEALTH_PORT; nothing to do"
    return 0
  fi
  run::commit_files
  log::ok "/health served by $HEALTH_UNIT on http://$SELF_IP:$HEALTH_PORT/health"
}

http_stop() {
  if [[ "$(svc::init_system)" == systemd ]]; then
    run::cmd systemctl disable --now "$HEALTH_UNIT"
    return 0
  fi
  if http_serving; then
    svc::pid::kill "$HEALTH_PID_FILE" socat
    log::ok "/health endpoint stopped"
  else
    rm -f -- "$(path::of "$HEALTH_PID_FILE")"
    log::info "/health endpoint was not running"
  fi
}

http_status() {
  if [[ "$(svc::init_system)" == systemd ]]; then
    systemctl is-active --quiet "$HEALTH_UNIT" && exit 0
    exit 1
  fi
  if http_serving; then
    printf 'serving on %s:%s (pid %s)\n' "$SELF_IP" "$HEALTH_PORT" "$(cat "$(path::of "$HEALTH_PID_FILE")")"
    exit 0
  fi
  printf 'not serving\n'
  exit 1
}

http() {
  log::phase http
  node::require_self
  case "$HTTP_ACTION" in
    stop) http_stop ;;
    status) http_status ;;
    daemon)
      if [[ "$(svc::init_system)" == systemd ]]; then http_start_systemd; else http_start_socat; fi
      ;;
    foreground)
      request_command > /dev/null
      log::info "serving GET /health on $SELF_IP:$HEALTH_PORT in the foreground (Ctrl-C stops)"
      run::cmd socat "$(socat_address)" "EXEC:$(request_command)"
      ;;
  esac
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  case "$MODE" in
    quiet) quiet ;;
    http) http; exit 0 ;;
  esac
  self_if_known
  if [[ $MODE == request ]]; then
    serve_request
    exit 0
  fi
  full_report
  if [[ $MODE == json ]]; then printf '%s\n' "$REPORT"; else print_human "$REPORT"; fi
  (( HEALTH_OK )) && exit 0
  exit 1
}

main "$@"
