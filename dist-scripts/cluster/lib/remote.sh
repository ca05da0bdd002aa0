# shellcheck shell=bash
# lib/remote.sh - run commands and toolkit scripts on other nodes over SSH (root key trust).
# Every peer runs the same toolkit at the same path (HPC_TOOLKIT_DIR), so remote calls name scripts
# relative to it.

# The members' SSH host keys, kept by the toolkit apart from root's own known_hosts. The shared one
# lives on the volume only members can mount: every member publishes its keys there (phase0), so a
# peer's key is known before the first contact. A key first met outside it is recorded in the local
# file and pinned from then on: a host answering on a member's address with another key is refused.
remote::known_hosts() { path::of /etc/hpc-cluster/known_hosts; }
remote::shared_known_hosts() { path::of "$STORAGE_MOUNT_POINT/config/ssh_known_hosts"; }

# remote::ssh_opts: the options every SSH call uses (no prompts, bounded connect time, pinned keys).
remote::ssh_opts() {
  local files
  files="$(remote::known_hosts) $(remote::shared_known_hosts)"
  # A dry run changes nothing: a key met for the first time goes to this run's temporary file (ssh
  # records new keys in the first file), while the pinned ones still refuse a changed key.
  if run::is_dry; then files="$HPC_TMP_ROOT/known_hosts $files"; fi
  printf '%s\n' -o BatchMode=yes -o "ConnectTimeout=${DISCOVERY_SSH_TIMEOUT}" \
    -o StrictHostKeyChecking=accept-new -o "UserKnownHostsFile=$files" \
    -o GlobalKnownHostsFile=/dev/null -o HashKnownHosts=no \
    -o LogLevel=ERROR -o ServerAliveInterval=5 -o ServerAliveCountMax=2
}

# remote::publish_host_keys: this node's SSH host keys in the shared known_hosts, replacing its old
# lines (a reinstalled node's new keys; the old ones are refused from then on).
remote::publish_host_keys() {
  local file pub content
  file="$(remote::shared_known_hosts)"
  [[ -d "$(dirname "$file")" ]] || return 0
  content="$( { grep -v -- "^$SELF_IP " "$file" 2>/dev/null || true
    for pub in "$(path::of /etc/ssh)"/ssh_host_*_key.pub; do
      if [[ -f $pub ]]; then awk -v ip="$SELF_IP" 'NF >= 2 { print ip, $1, $2 }' "$pub"; fi
    done; } | sort -u)"
  [[ -n $content ]] || return 0
  run::write_file "$file" 0644 <<< "$content"
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

# remote::answers IP [SECONDS]: SSH to IP runs `true` within SECONDS (default 10). (`timeout` runs
# programs only, so a bounded call of remote::run needs ssh itself under timeout.)
remote::answers() {
  local ip=$1 opts
  [[ $ip == "${SELF_IP:-}" ]] && return 0
  mapfile -t opts < <(remote::ssh_opts)
  timeout "${2:-10}" ssh "${opts[@]}" "${DISCOVERY_SSH_USER}@${ip}" -- true </dev/null >/dev/null 2>&1
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
