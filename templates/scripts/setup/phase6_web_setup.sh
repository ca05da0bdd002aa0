#!/usr/bin/env bash
# Usage: phase6_web_setup.sh (--bootstrap | --join [--peer IP] | --standalone | --refresh
#          | --add-node IP | --remove-node IP | --leave | --status) [--dry-run] [--yes] [--json]
# Summary: Set up the portal behind the VIP on this node: shared environment, nginx, the portal's services.
#
# Every node runs the same nginx site (configs/nginx/hpc-cluster.conf): each web service with a
# location is proxied to its port on every node (passive health checks: a node that fails is left
# out for web.fail_timeout; WebSocket services are sticky by client address; idle keepalive connections
# to the backends), the frontends are served from the shared volume, and GET /health answers this
# node's health. Whichever node holds the VIP, a client reaches the same backends.
#
#   --bootstrap / --join / --standalone   the same here (nothing to join; --peer is accepted and not
#                     needed): write the shared environment file (web.env_file, no secrets) and this
#                     node's secrets env file (web.secrets_env_file, 0600), link .env into every
#                     web_services[].dir, raise worker_connections / worker_rlimit_nofile in
#                     /etc/nginx/nginx.conf to web.worker_connections, install the nginx site (nginx -t
#                     first; reload, never restart), then run the portal's own start script
#                     (web.start_script; the unit hpc-portal on systemd) - or say it is absent
#   --refresh         re-render the site and the env files; reload nginx if anything changed
#                     (--include/--exclude IP are accepted: the upstreams follow cluster_config.yaml)
#   --add-node IP     on a live member: every reachable member refreshes (the config lists IP already)
#   --remove-node IP  on a survivor: nginx stops on IP (if reachable); the others refresh. IP stays in
#                     the upstreams until it is removed from cluster_config.yaml (nginx skips it: passive checks)
#   --leave           stop nginx here (the VIP's check then fails, so the VIP moves away; --stop is the old name)
#   --status          one line about this node (--json: an object)
#   --dry-run         print every file and command; change nothing
#
# Without cluster.web in the config there is nothing to do (exit 0, said so).
# --force is the same as --yes; --stop-local is another old name of --leave.
# Exit codes: 0 ok, 1 error, 2 usage, 4 locked, 5 preflight failed, 6 refused.
# shellcheck source=../lib/phase.sh
source "$HPC_LIB_DIR/phase.sh"
# shellcheck source=../lib/web.sh
source "$HPC_LIB_DIR/web.sh"

PHASE_LOCK=web
PHASE_MODES=(bootstrap join standalone refresh add-node remove-node leave status)
SITE_CHANGED=0
DEFAULT_SITE_TARGET=""

mark_service() {
  local marker
  marker="$(path::of "$STATE_DIR/services/$1")"
  [[ -e $marker ]] || run::write_file "$marker" 0644 <<< ""
}

# Rollback steps (run::on_rollback): what this run started or removed outside the file journal.
stop_started_nginx() { svc::stop nginx; }
restore_default_site() {
  ln -sfn -- "$DEFAULT_SITE_TARGET" "$(web::default_site)"
  log::warn "put Debian's default site back ($(web::default_site))"
}

# --- preflight ----------------------------------------------------------------------------------

phase::preflight() {
  log::phase preflight
  command -v nginx >/dev/null || die "[ERROR Package-nginx]: nginx is not installed (fix: apt-get install nginx)" "$EXIT_PREFLIGHT"
  command -v curl >/dev/null || die "[ERROR Package-curl]: curl is not installed (fix: apt-get install curl)" "$EXIT_PREFLIGHT"
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
  # UPLOAD_DIR in that file: on the shared volume, so an upload taken by one node is seen by all.
  run::mkdir "$(path::of "$STORAGE_MOUNT_POINT/uploads")" 0755

  # A secret that cannot be written unambiguously stops the run with web::secret_line's exit code
  # (and the EXIT trap puts back what this run wrote).
  content="$(web::secrets_env)" || exit
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
    run::on_rollback restore_default_site
    SITE_CHANGED=1
    log::info "disabled Debian's default site ($default; it is still in sites-available)"
  fi
  phase::nginx_main_conf "$tmp.main"
  run::is_dry && return 0
  # die rolls back (lib::on_exit): the previous files are back before anything was reloaded.
  web::nginx_test || die "nginx -t rejects the configuration with $site; nothing was reloaded (the previous files are back)" "$EXIT_ERROR"
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
    run::on_rollback stop_started_nginx
    log::ok "nginx -t passed; nginx started"
  fi
  run::wait_until 10 "nginx to answer on port $WEB_LISTEN_PORT" web::nginx_answers || die "nginx does not answer on port $WEB_LISTEN_PORT (see /var/log/nginx/error.log)"
  mark_service nginx
}

# phase::nginx_main_conf TMP: worker_connections and worker_rlimit_nofile in Debian's nginx.conf (the
# events block is not reachable from conf.d); a change there counts as a site change (reload).
phase::nginx_main_conf() {
  local main_conf
  main_conf="$(path::of /etc/nginx/nginx.conf)"
  if [[ ! -f $main_conf ]] || ! web::tune_main_conf "$main_conf" "$WEB_WORKER_CONNECTIONS" > "$1"; then
    log::warn "no events block in $main_conf: worker_connections left as it is (set it to $WEB_WORKER_CONNECTIONS there for many clients)"
    return 0
  fi
  run::write_file "$main_conf" 0644 < "$1"
  if (( RUN_CHANGED )); then
    SITE_CHANGED=1
    log::info "$main_conf: worker_connections $WEB_WORKER_CONNECTIONS, worker_rlimit_nofile $(( WEB_WORKER_CONNECTIONS * 2 ))"
  fi
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

# --- modes ----------------------------------------------------------------------------------------

phase::init() {
  [[ $MODE == status ]] && return 0
  node::require_self
  if ! web::configured; then
    log::phase web
    log::info "the web tier is not configured (no cluster.web in cluster_config.yaml): nothing to set up"
    exit 0
  fi
}

setup() {
  phase::preflight
  phase::env
  phase::nginx
  # nginx serves with these files now: a failing portal script below must not take them back.
  run::commit_files
  phase::portal
  phase::verify
}

mode::bootstrap() { setup; }
mode::join() { setup; }
mode::standalone() { setup; }

mode::refresh() {
  phase::env
  if svc::process_running nginx || run::is_dry; then
    phase::nginx
  else
    log::info "nginx is not running here; files refreshed, nothing reloaded (run --join to start it)"
  fi
}

# refresh_members [SKIP_IP]: --refresh on every configured member (this one in-process, the others
# over SSH; an unreachable one is reported with the command to run there later).
refresh_members() {
  mode::refresh
  run::commit_files
  phase::on_members setup/phase6_web_setup.sh --refresh < <(printf '%s\n' "${NODE_IPS[@]}" | grep -vxF -- "${1:-none}")
}

mode::add_node() {
  log::phase add-node
  refresh_members || true
  log::ok "every reachable member refreshed; run setup/phase6_web_setup.sh --join on $TARGET"
}

mode::remove_node() {
  [[ $TARGET != "$SELF_IP" ]] || die "run --remove-node on a surviving node, not on $TARGET itself" "$EXIT_USAGE"
  log::phase remove-node
  remote::toolkit "$TARGET" setup/phase6_web_setup.sh --leave "${DRY_ARGS[@]+"${DRY_ARGS[@]}"}" < /dev/null \
    || log::warn "could not stop nginx on $TARGET (unreachable?)"
  refresh_members "$TARGET" || true
  log::ok "nginx stopped on $TARGET; remove it from cluster_config.yaml to drop it from the upstreams"
}

mode::leave() {
  log::phase stop
  if ! svc::process_running nginx; then log::ok "nginx is not running"; return 0; fi
  svc::stop nginx
  log::ok "nginx stopped (this node is now unfit for the VIP)"
}

mode::status() {
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
  phase::main "$@"
}

main "$@"
