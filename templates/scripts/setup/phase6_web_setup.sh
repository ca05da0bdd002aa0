#!/usr/bin/env bash
# Usage: phase6_web_setup.sh (--bootstrap | --join [--peer IP] | --standalone | --refresh
#          | --add-node IP | --remove-node IP | --stop | --status) [--dry-run] [--yes] [--json]
# Summary: Set up the portal behind the VIP on this node: shared environment, nginx, the portal's services.
#
# Every node runs the same nginx site (configs/nginx/hpc-cluster.conf): each web service with a
# location is proxied to its port on every node (passive health checks: a node that fails is left
# out for web.fail_timeout; WebSocket services are sticky by client address), the frontends are served
# from the shared volume, and GET /health answers this node's health. Whichever node holds the VIP,
# a client reaches the same backends.
#
#   --bootstrap / --join / --standalone   the same here (nothing to join): write the shared
#                     environment file (web.env_file, no secrets) and this node's secrets env file
#                     (web.secrets_env_file, 0600), link .env into every web_services[].dir, install the
#                     nginx site (nginx -t first; reload, never restart), then run the portal's own
#                     start script (web.start_script; the unit hpc-portal on systemd) - or say it is absent
#   --refresh         re-render the site and the env files; reload nginx if anything changed
#   --add-node IP     on a live member: every reachable member refreshes (the config lists IP already)
#   --remove-node IP  on a survivor: nginx stops on IP (if reachable); the others refresh. IP stays in
#                     the upstreams until it is removed from cluster_config.yaml (nginx skips it: passive checks)
#   --stop            stop nginx here (the VIP's check then fails, so the VIP moves away)
#   --status          one line about this node (--json: an object)
#   --dry-run         print every file and command; change nothing
#
# Without cluster.web in the config there is nothing to do (exit 0, said so).
# Exit codes: 0 ok, 1 error, 2 usage, 4 locked, 5 preflight failed, 6 refused.
# shellcheck source=../lib/web.sh
source "$HPC_LIB_DIR/web.sh"

ACTION=""
TARGET_IP=""
JSON=0
STARTED_HERE=0
DEFAULT_SITE_REMOVED=0
DEFAULT_SITE_TARGET=""

# shellcheck disable=SC2034 # DRY_RUN and ASSUME_YES are read by lib/run.sh and lib/ui.sh
parse_args() {
  while (( $# )); do
    case "$1" in
      --bootstrap|--join|--standalone|--refresh|--stop|--status) set_action "${1#--}" ;;
      --add-node|--remove-node)
        set_action "${1#--}"
        [[ -n ${2:-} ]] || lib::usage_error "$1 needs an IP"
        TARGET_IP=$2
        shift
        ;;
      --peer) [[ -n ${2:-} ]] || lib::usage_error "--peer needs an IP"; shift ;;
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

mark_service() {
  local marker
  marker="$(path::of "$STATE_DIR/services/$1")"
  [[ -e $marker ]] || run::write_file "$marker" 0644 <<< ""
}

# --- preflight ----------------------------------------------------------------------------------

phase::preflight() {
  log::phase preflight
  command -v nginx >/dev/null || die "[ERROR Package-nginx]: nginx is not installed (fix: apt-get install nginx)" "$EXIT_PREFLIGHT"
  command -v curl >/dev/null || die "[ERROR Package-curl]: curl is not installed (fix: apt-get install curl)" "$EXIT_PREFLIGHT"
  node::require_self
  if ! awk -v m="$STORAGE_MOUNT_POINT" '$2 == m { found = 1 } END { exit !found }' "$(path::of /proc/mounts)" 2>/dev/null; then
    die "[ERROR SharedStorage]: $STORAGE_MOUNT_POINT is not mounted: the environment file and the frontends live there (fix: run setup/phase0_storage_setup.sh first)" "$EXIT_PREFLIGHT"
  fi
  (( ${#WEB_SECRETS_ENV_SECRETS[@]} == 0 )) || secrets::require "${WEB_SECRETS_ENV_SECRETS[@]}"
  log::ok "$(nginx -v 2>&1 | sed 's/^nginx version: //'), node $SELF_HOSTNAME ($SELF_IP), shared volume at $STORAGE_MOUNT_POINT"
}

# --- the environment files and their links -----------------------------------------------------

phase::env() {
  local src dst content dir result linked=0 missing=()
  log::phase env
  src="$(tpl::path global.env)"
  web::env_check "$src" >&2 || die "the generated $src is not in the strict KEY=value format" "$EXIT_ERROR"
  dst="$(path::of "$WEB_ENV_FILE")"
  run::mkdir "$(dirname "$dst")" 0700
  run::write_file "$dst" 0644 < "$src"
  if (( RUN_CHANGED )); then log::ok "wrote the shared $WEB_ENV_FILE"; else log::ok "$WEB_ENV_FILE is up to date"; fi

  # A secret that cannot be written unambiguously stops the run with web::secret_line's exit code.
  content="$(web::secrets_env)" || { local rc=$?; rollback; exit "$rc"; }
  SECRET_CONTENT=1 run::write_file "$(path::of "$WEB_SECRETS_ENV_FILE")" 0600 root:root <<< "$content"
  if (( RUN_CHANGED )); then log::ok "wrote $WEB_SECRETS_ENV_FILE (0600: ${WEB_SECRETS_ENV_KEYS[*]:-no keys})"; else log::ok "$WEB_SECRETS_ENV_FILE is up to date"; fi

  while IFS= read -r dir; do
    result="$(web::link_env "$dir")"
    case "$result" in
      linked) linked=$(( linked + 1 )); log::ok "$dir/.env -> $WEB_ENV_FILE" ;;
      missing) missing+=("$dir") ;;
    esac
  done < <(web::service_dirs)
  (( linked )) || log::ok "every service folder's .env already links to $WEB_ENV_FILE"
  if (( ${#missing[@]} )); then
    log::warn "no such folder here (portal not installed on this node?), no .env link: ${missing[*]}; rerun after installing it"
  fi
}

# --- nginx ----------------------------------------------------------------------------------------

phase::nginx() {
  local tmp site default
  log::phase nginx
  tmp="$(tmp::dir)/$WEB_SITE_NAME"
  web::render_site "$SELF_IP" > "$tmp"
  site="$(web::site_path)"
  run::write_file "$site" 0644 < "$tmp"
  SITE_CHANGED=$RUN_CHANGED
  # Debian's default site also claims default_server on the same port: nginx would refuse both.
  default="$(web::default_site)"
  if [[ -L $default ]]; then
    DEFAULT_SITE_TARGET="$(readlink "$default")"
    run::cmd rm -f -- "$default"
    DEFAULT_SITE_REMOVED=1
    SITE_CHANGED=1
    log::info "disabled Debian's default site ($default; it is still in sites-available)"
  fi
  run::is_dry && return 0
  if ! web::nginx_test; then
    rollback
    die "nginx -t rejects the configuration with $site; nothing was reloaded (the previous files are back)" "$EXIT_ERROR"
  fi
  if svc::process_running nginx; then
    if (( SITE_CHANGED )); then
      svc::reload nginx
      log::ok "nginx -t passed; nginx reloaded"
    else
      log::ok "nginx runs with this configuration; nothing to do"
    fi
  else
    svc::enable nginx
    svc::start nginx
    STARTED_HERE=1
    log::ok "nginx -t passed; nginx started"
  fi
  run::wait_until 10 "nginx to answer on port $WEB_LISTEN_PORT" web::nginx_answers || die "nginx does not answer on port $WEB_LISTEN_PORT (see /var/log/nginx/error.log)"
  mark_service nginx
}

# --- the portal's own services ---------------------------------------------------------------------

phase::portal() {
  local unit
  log::phase portal
  if [[ ! -f "$(path::of "$WEB_START_SCRIPT")" ]]; then
    log::warn "the portal's start script $WEB_START_SCRIPT is ABSENT on this node: nginx runs, but no portal service was started here (install the portal under $(dirname "$WEB_START_SCRIPT") and rerun, or set web.start_script)"
    return 0
  fi
  if [[ "$(svc::init_system)" == systemd ]]; then
    unit="$(path::of /etc/systemd/system/hpc-portal.service)"
    run::write_file "$unit" 0644 <<EOF
# The portal's own services (generated by hpc-cluster-kit, setup/phase6_web_setup.sh).
[Unit]
Description=HPC portal services ($WEB_START_SCRIPT)
After=network-online.target nginx.service mariadb.service
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
WorkingDirectory=$(dirname "$WEB_START_SCRIPT")
EnvironmentFile=-$WEB_ENV_FILE
EnvironmentFile=-$WEB_SECRETS_ENV_FILE
ExecStart=/bin/bash $WEB_START_SCRIPT

[Install]
WantedBy=multi-user.target
EOF
    if (( RUN_CHANGED )); then run::cmd systemctl daemon-reload; fi
    run::cmd systemctl enable hpc-portal.service
    if systemctl is-active --quiet hpc-portal.service 2>/dev/null && (( ! RUN_CHANGED )); then
      log::ok "hpc-portal.service is active; nothing to do"
    else
      run::cmd systemctl restart hpc-portal.service
      log::ok "hpc-portal.service ran $WEB_START_SCRIPT"
    fi
  elif [[ -e "$(web::portal_marker)" ]]; then
    log::ok "$WEB_START_SCRIPT already ran since this node booted; not starting it twice"
  else
    run::mkdir "$(dirname "$(web::portal_log)")"
    if ! run::is_dry; then
      # Detached: the portal's processes must hold neither this run's lock nor its output.
      ( cd "$(dirname "$(path::of "$WEB_START_SCRIPT")")" || exit
        svc::detached setsid timeout 300 bash "$(path::of "$WEB_START_SCRIPT")" >> "$(web::portal_log)" 2>&1 < /dev/null ) \
        || die "$WEB_START_SCRIPT failed (exit $?); see $(web::portal_log)"
    else
      printf '[dryrun] would run: bash %s\n' "$WEB_START_SCRIPT"
    fi
    run::write_file "$(web::portal_marker)" 0644 <<< "$(date -u '+%Y-%m-%dT%H:%M:%SZ')"
    log::ok "ran $WEB_START_SCRIPT (log: $(web::portal_log))"
  fi
}

# --- verify -------------------------------------------------------------------------------------------

phase::verify() {
  local i code down=()
  log::phase verify
  run::is_dry && return 0
  for i in "${!WEB_SERVICE_NAMES[@]}"; do
    code="$(curl -s -o /dev/null -w '%{http_code}' -m 2 "${WEB_SERVICE_URLS[i]}" 2>/dev/null)" || true
    [[ $code == 2?? ]] || down+=("${WEB_SERVICE_NAMES[i]}")
  done
  if (( ${#down[@]} )); then
    log::warn "not answering on this node yet: ${down[*]} (nginx sends their requests to the other nodes meanwhile)"
  else
    log::ok "nginx answers; ${#WEB_SERVICE_NAMES[@]} web service(s) answer here"
  fi
}

rollback() {
  trap - ERR
  log::phase rollback
  if (( STARTED_HERE )); then svc::stop nginx || true; fi
  run::rollback_files
  if (( DEFAULT_SITE_REMOVED )); then
    ln -sfn -- "$DEFAULT_SITE_TARGET" "$(web::default_site)" || true
    log::warn "put Debian's default site back ($(web::default_site))"
  fi
}

setup() {
  SITE_CHANGED=0
  # shellcheck disable=SC2154 # rc is set inside the trap
  trap 'rc=$?; rollback; exit "$rc"' ERR
  phase::preflight
  phase::env
  phase::nginx
  trap - ERR
  run::commit_files
  phase::portal
  phase::verify
  run::commit_files
}

refresh() {
  SITE_CHANGED=0
  node::require_self
  # shellcheck disable=SC2154 # rc is set inside the trap
  trap 'rc=$?; rollback; exit "$rc"' ERR
  phase::env
  if svc::process_running nginx || run::is_dry; then
    phase::nginx
  else
    log::info "nginx is not running here; files refreshed, nothing reloaded (run --join to start it)"
  fi
  trap - ERR
  run::commit_files
}

# members_refresh [SKIP_IP]: --refresh on every configured member (this one in-process).
members_refresh() {
  local ip failed=0 extra=()
  run::is_dry && extra=(--dry-run)
  # shellcheck disable=SC2153 # NODE_IPS comes from lib/config.sh
  for ip in "${NODE_IPS[@]}"; do
    [[ $ip == "${1:-}" ]] && continue
    if [[ $ip == "$SELF_IP" ]]; then
      refresh
    elif ! remote::toolkit "$ip" setup/phase6_web_setup.sh --refresh ${extra[@]+"${extra[@]}"} < /dev/null; then
      log::warn "could not refresh the web tier on $ip; run there: setup/phase6_web_setup.sh --refresh"
      failed=1
    fi
  done
  return "$failed"
}

stop() {
  log::phase stop
  if ! svc::process_running nginx; then log::ok "nginx is not running"; return 0; fi
  svc::stop nginx
  log::ok "nginx stopped (this node is now unfit for the VIP)"
}

status() {
  local running=false conf=false answers=false links=0 dirs=0 d portal=absent
  svc::process_running nginx && running=true
  [[ -e "$(web::site_path)" ]] && conf=true
  [[ $running == true ]] && web::nginx_answers && answers=true
  while IFS= read -r d; do
    dirs=$(( dirs + 1 ))
    web::env_resolves "$d" && links=$(( links + 1 ))
  done < <(web::service_dirs)
  [[ -f "$(path::of "${WEB_START_SCRIPT:-/nonexistent}")" ]] && portal=present
  if (( JSON )); then
    printf '{"service":"web","configured":%s,"nginx_running":%s,"nginx_answers":%s,"site_installed":%s,"env_file":%s,"env_links":%s,"service_dirs":%s,"start_script":%s}\n' \
      "$(json::bool "$(web::configured && echo 1 || echo 0)")" "$running" "$answers" "$conf" \
      "$(json::str "${WEB_ENV_FILE:-}")" "$links" "$dirs" "$(json::str "$portal")"
  elif ! web::configured; then
    printf 'web: not configured (no cluster.web)\n'
  else
    local state=stopped
    [[ $running == true ]] && state=running
    [[ $answers == true ]] && state+=", answers"
    printf 'web: nginx %s; .env links %s/%s; start script %s\n' "$state" "$links" "$dirs" "$portal"
  fi
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  if [[ $ACTION == status ]]; then status; return 0; fi
  if ! web::configured; then
    log::phase web
    log::info "the web tier is not configured (no cluster.web in cluster_config.yaml): nothing to set up"
    return 0
  fi
  lock::acquire web
  case "$ACTION" in
    bootstrap|join|standalone) setup ;;
    refresh) refresh ;;
    add-node)
      node::require_self
      log::phase add-node
      members_refresh || true
      log::ok "every reachable member refreshed; run setup/phase6_web_setup.sh --join on $TARGET_IP"
      ;;
    remove-node)
      node::require_self
      [[ $TARGET_IP != "$SELF_IP" ]] || die "run --remove-node on a surviving node, not on $TARGET_IP itself" "$EXIT_USAGE"
      log::phase remove-node
      remote::toolkit "$TARGET_IP" setup/phase6_web_setup.sh --stop < /dev/null \
        || log::warn "could not stop nginx on $TARGET_IP (unreachable?)"
      members_refresh "$TARGET_IP" || true
      log::ok "nginx stopped on $TARGET_IP; remove it from cluster_config.yaml to drop it from the upstreams"
      ;;
    stop) stop ;;
  esac
}

main "$@"
