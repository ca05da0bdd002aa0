# shellcheck shell=bash
# lib/remote.sh - run commands and toolkit scripts on other nodes over SSH (root key trust).
# Every peer runs the same toolkit at the same path (HPC_TOOLKIT_DIR), so remote calls name scripts
# relative to it.

# remote::ssh_opts: the options every SSH call uses (no prompts, bounded connect time).
remote::ssh_opts() {
  printf '%s\n' -o BatchMode=yes -o "ConnectTimeout=${DISCOVERY_SSH_TIMEOUT}" \
    -o StrictHostKeyChecking=accept-new -o LogLevel=ERROR -o ServerAliveInterval=5 -o ServerAliveCountMax=2
}

# remote::run IP CMD...: run CMD on IP (locally when IP is this node). Arguments are quoted for the
# remote shell, so they arrive exactly as given.
remote::run() {
  local ip=$1 opts
  shift
  if [[ $ip == "${SELF_IP:-}" ]]; then
    "$@"
    return
  fi
  mapfile -t opts < <(remote::ssh_opts)
  ssh "${opts[@]}" "${DISCOVERY_SSH_USER}@${ip}" -- "$(remote::quote_all "$@")"
}

# remote::toolkit IP SCRIPT ARGS...: run a toolkit script (path relative to the toolkit) on IP.
remote::toolkit() {
  local ip=$1 script=$2
  shift 2
  remote::run "$ip" "$HPC_TOOLKIT_DIR/$script" "$@"
}

# remote::quote_all ARGS...: every argument shell-quoted (printf %q), joined by spaces.
remote::quote_all() {
  local out="" a
  for a in "$@"; do out+="$(printf '%q' "$a") "; done
  printf '%s' "${out% }"
}
