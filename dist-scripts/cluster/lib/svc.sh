# shellcheck shell=bash
# lib/svc.sh - start and stop services on hosts with systemd and without it.
# Without systemd: the Debian init script (/etc/init.d/NAME) where one exists, or a direct start
# (svc::direct_start_NAME) for daemons Debian ships no init script for (glusterd).

# svc::init_system: systemd, sysv or direct (HPC_INIT overrides, for tests).
svc::init_system() {
  if [[ -n "${HPC_INIT:-}" ]]; then
    printf '%s\n' "$HPC_INIT"
  elif [[ -d "$(path::of /run/systemd/system)" ]] && command -v systemctl >/dev/null 2>&1; then
    printf 'systemd\n'
  else
    printf 'sysv\n'
  fi
}

svc::_init_script() {
  printf '%s\n' "$(path::of "/etc/init.d/$1")"
}

# svc::_do ACTION NAME: the one dispatcher behind start/stop/restart/reload.
svc::_do() {
  local action=$1 name=$2 script
  case "$(svc::init_system)" in
    systemd)
      run::cmd systemctl "$action" "$name"
      return
      ;;
  esac
  if declare -F "svc::direct_${action}_${name}" >/dev/null; then
    svc::detached "svc::direct_${action}_${name}"
    return
  fi
  script="$(svc::_init_script "$name")"
  if [[ -x $script ]]; then
    svc::detached run::cmd "$script" "$action"
  else
    die "cannot $action $name: no systemd, no init script $script and no direct start known"
  fi
}

# svc::detached CMD...: run CMD with every descriptor above 2 closed, so a daemon it starts (or a FUSE
# mount's helper process) holds no lock (flock fd of this run or of a calling orchestrator) and no
# pipe of its caller for ever.
svc::detached() {
  (
    local fd
    for fd in "/proc/$BASHPID/fd/"*; do
      fd=${fd##*/}
      if [[ $fd =~ ^[0-9]+$ ]] && (( fd > 2 )) && [[ -e /proc/$BASHPID/fd/$fd ]]; then
        exec {fd}>&-
      fi
    done
    # A daemon gets systemd's default umask, not the toolkit's 077 (its sockets and files are its own
    # business: munged's socket, a brick's files).
    umask 022
    "$@"
  )
}

svc::start()   { svc::_do start "$1"; }
svc::stop()    { svc::_do stop "$1"; }
svc::restart() { svc::_do restart "$1"; }
svc::reload()  { svc::_do reload "$1"; }

# svc::enable NAME: start at boot where the init system supports it (systemd only; no-op otherwise).
svc::enable() {
  if [[ "$(svc::init_system)" == systemd ]]; then run::cmd systemctl enable "$1"; fi
}

# svc::is_running NAME: 0 when the service runs.
svc::is_running() {
  local name=$1 script
  case "$(svc::init_system)" in
    systemd) systemctl is-active --quiet "$name"; return ;;
  esac
  if declare -F "svc::direct_status_${name}" >/dev/null; then
    "svc::direct_status_${name}"
    return
  fi
  script="$(svc::_init_script "$name")"
  [[ -x $script ]] && "$script" status >/dev/null 2>&1
}

# glusterd: Debian has no init script for it.
svc::direct_start_glusterd() {
  svc::direct_status_glusterd && return 0
  run::cmd glusterd -p /run/glusterd.pid
}
svc::direct_stop_glusterd() {
  svc::pid::kill /run/glusterd.pid glusterd
}
svc::direct_restart_glusterd() {
  svc::direct_stop_glusterd
  svc::direct_start_glusterd
}
svc::direct_status_glusterd() {
  svc::pid::alive /run/glusterd.pid glusterd
}

# svc::process_running NAME...: one of the named processes runs here (pidof sees only this PID
# namespace, which is what a check of "this node" wants).
svc::process_running() {
  local name
  for name in "$@"; do
    pidof -s "$name" >/dev/null 2>&1 && return 0
  done
  return 1
}

# svc::pid::alive PIDFILE COMM: the pid file names a live process called COMM.
svc::pid::alive() {
  local pidfile pid
  pidfile="$(path::of "$1")"
  [[ -r $pidfile ]] || return 1
  pid="$(cat "$pidfile")"
  [[ $pid =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]]
}

# svc::pid::kill PIDFILE COMM: TERM the process and wait up to 20 s for it to go.
svc::pid::kill() {
  local pidfile pid
  svc::pid::alive "$1" "$2" || return 0
  pidfile="$(path::of "$1")"
  pid="$(cat "$pidfile")"
  run::cmd kill "$pid"
  run::is_dry && return 0
  run::wait_until 20 "$2 (pid $pid) to stop" svc::_gone "$pid"
  rm -f -- "$pidfile"
}

svc::_gone() {
  [[ ! -d /proc/$1 ]]
}
