#!/usr/bin/env bash
# Usage: ssh_trust.sh [--check | --setup] [--dry-run] [--yes] [--json]
# Summary: Check, or set up, root SSH from every member to every other one, with pinned host keys.
#
# The toolkit logs in to the other members as discovery.ssh_user (root) with root's key, BatchMode (never a
# password prompt) and the members' host keys pinned in /etc/hpc-cluster/known_hosts (a changed key is
# refused).
#   --check   (the default) log in from this node to every other member that way; one line per member
#             and, for each one that fails, why and the exact command that fixes it. Changes nothing.
#   --setup   run on one member that can already log in to every other one as root (once, with a
#             password: ssh-copy-id root@IP): give every member a root key if it has none (ed25519), put
#             every member's public key in every member's /root/.ssh/authorized_keys and every member's
#             host keys (as this node pinned them) in every member's /etc/hpc-cluster/known_hosts, then
#             run --check on every member. Idempotent: a rerun adds nothing.
#   --dry-run print what --setup would change
#   --yes     no confirmation prompt (--force is the same)
#   --json    (--check) [{"ip": "...", "hostname": "...", "ok": true, "problem": "...", "fix": "..."}]
#
# Exit codes: 0 every member reachable, 1 error, 2 usage, 4 another run holds the lock,
#             5 a member cannot be reached (the fix is printed).
# (lib/remote.sh, sourced by lib/common.sh, makes every SSH call.)

ACTION=check
JSON=0

# shellcheck disable=SC2034 # DRY_RUN and ASSUME_YES are read by lib/run.sh and lib/ui.sh
parse_args() {
  while (( $# )); do
    case "$1" in
      --check) ACTION=check ;;
      --setup) ACTION=setup ;;
      --dry-run) DRY_RUN=1 ;;
      --yes|--force) ASSUME_YES=1 ;;
      --json) JSON=1 ;;
      *) lib::usage_error "unknown argument: $1" ;;
    esac
    shift
  done
}

# own_pubkey: the path of root's public key on this node (the one ssh offers first), or nothing.
own_pubkey() {
  local k
  for k in id_ed25519 id_ecdsa id_rsa; do
    if [[ -f "$(path::of "/root/.ssh/$k.pub")" ]]; then printf '%s\n' "$(path::of "/root/.ssh/$k.pub")"; return 0; fi
  done
  return 1
}

# check_one IP: log in to IP as the toolkit does; sets PROBLEM and FIX when it fails.
check_one() {
  local ip=$1 out pub
  PROBLEM="" FIX=""
  out="$(remote::run "$ip" true 2>&1 < /dev/null)" && return 0
  pub="$(own_pubkey || true)"
  case "$out" in
    *"Permission denied"*)
      PROBLEM="root's key of this node is not accepted by $ip"
      if [[ -n $pub ]]; then FIX="ssh-copy-id -i $pub ${DISCOVERY_SSH_USER}@$ip (then: utils/ssh_trust.sh --setup)"
      else FIX="ssh-keygen -t ed25519 -N '' -f /root/.ssh/id_ed25519 && ssh-copy-id -i /root/.ssh/id_ed25519.pub ${DISCOVERY_SSH_USER}@$ip"; fi
      ;;
    *"IDENTIFICATION HAS CHANGED"*|*"Host key verification failed"*)
      PROBLEM="$ip answers with another host key than the one pinned for it (a reinstalled server, or someone else on its address)"
      FIX="compare with the key on $ip's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub); only if it is the server's: ssh-keygen -R $ip -f $(remote::known_hosts)"
      ;;
    *"Connection refused"*)
      PROBLEM="nothing listens on $ip port 22"
      FIX="on $ip: apt-get install openssh-server && systemctl enable --now ssh"
      ;;
    *"timed out"*|*"No route"*|*"unreachable"*)
      PROBLEM="$ip does not answer on port 22 within ${DISCOVERY_SSH_TIMEOUT}s"
      FIX="make $ip reachable from this node (network, firewall: TCP 22)"
      ;;
    *)
      PROBLEM="ssh to $ip failed: $(tr '\n' ' ' <<< "$out")"
      FIX="ssh -v ${DISCOVERY_SSH_USER}@$ip true (to see why)"
      ;;
  esac
  return 1
}

# check_all: every other member; prints the report; returns 1 when one fails.
check_all() {
  local ip failed=0 json="[]"
  for ip in "${NODE_IPS[@]}"; do
    [[ $ip != "$SELF_IP" ]] || continue
    if check_one "$ip"; then
      (( JSON )) || log::ok "$ip ($(node::hostname_of "$ip")): ok"
    else
      failed=1
      if (( ! JSON )); then
        log::error "$ip ($(node::hostname_of "$ip")): $PROBLEM"
        log::error "  fix: $FIX"
      fi
    fi
    json="$(jq -c --arg ip "$ip" --arg h "$(node::hostname_of "$ip")" --arg p "$PROBLEM" --arg f "$FIX" \
      '. + [{ip: $ip, hostname: $h, ok: ($p == "")} + (if $p == "" then {} else {problem: $p, fix: $f} end)]' <<< "$json")"
  done
  if (( JSON )); then jq . <<< "$json"; fi
  return "$failed"
}

# The snippets run on every member (here through sh, there over SSH): each reads its input on stdin.
# shellcheck disable=SC2016 # expanded by the member's shell
KEY_SNIPPET='for k in id_ed25519 id_ecdsa id_rsa; do
  if [ -f "$1/.ssh/$k.pub" ]; then cat "$1/.ssh/$k.pub"; exit 0; fi
done
if [ "$2" = 1 ]; then echo "DRY-RUN: would create $1/.ssh/id_ed25519" >&2; exit 0; fi
mkdir -p -m 0700 "$1/.ssh" && ssh-keygen -q -t ed25519 -N "" -C "root@$(hostname)" -f "$1/.ssh/id_ed25519" && cat "$1/.ssh/id_ed25519.pub"'
# shellcheck disable=SC2016
MERGE_SNIPPET='umask 077
new=$(cat)
mkdir -p -m 0700 "$(dirname "$1")"
touch "$1"
if [ "$2" = keys ]; then
  merged=$( { cat "$1"; printf "%s\n" "$new"; } | awk "NF && !seen[\$0]++")
else
  merged=$( { printf "%s\n" "$new" | awk "NF { drop[\$1] = 1 } END { for (d in drop) print d }" > "$1.drop"
    awk "NR == FNR { drop[\$1] = 1; next } !(\$1 in drop)" "$1.drop" "$1"; rm -f "$1.drop"
    printf "%s\n" "$new"; } | awk "NF && !seen[\$0]++")
fi
if [ "$merged" = "$(cat "$1")" ]; then echo unchanged; exit 0; fi
if [ "$3" = 1 ]; then echo "DRY-RUN: would write $1:"; printf "%s\n" "$merged"; exit 0; fi
printf "%s\n" "$merged" > "$1.new" && chmod "$4" "$1.new" && mv -f "$1.new" "$1" && echo changed'

# on IP SNIPPET ARGS...: run SNIPPET with ARGS on IP (this node: locally), stdin passed on.
on() {
  local ip=$1 snippet=$2
  shift 2
  if [[ $ip == "$SELF_IP" ]]; then sh -c "$snippet" sh "$@"
  else remote::run "$ip" sh -c "$snippet" sh "$@"; fi
}

setup() {
  local ip keys="" hosts="" out pub dry=0 root
  run::is_dry && dry=1
  root="$(path::of /root)"
  log::phase check
  check_all || die "this node cannot log in to every member yet: fix the lines above (once per member: ssh-copy-id ${DISCOVERY_SSH_USER}@IP), then rerun --setup" "$EXIT_PREFLIGHT"
  ui::confirm "Exchange root keys and pinned host keys between ${NODE_IPS[*]}?" || die "cancelled" "$EXIT_REFUSED"

  log::phase keys
  for ip in "${NODE_IPS[@]}"; do
    out="$(on "$ip" "$KEY_SNIPPET" "$root" "$dry" < /dev/null)" || die "could not read or create root's key on $ip"
    [[ -z $out ]] || keys+="$out"$'\n'
  done
  # This node's host keys as every member will pin them, and the others' as this node pinned them.
  for pub in "$(path::of /etc/ssh)"/ssh_host_*_key.pub; do
    [[ -f $pub ]] && hosts+="$(awk -v ip="$SELF_IP" 'NF >= 2 { print ip, $1, $2 }' "$pub")"$'\n'
  done
  for ip in "${NODE_IPS[@]}"; do
    [[ $ip != "$SELF_IP" ]] || continue
    # (a dry run pins a key met for the first time only in its own temporary file: lib/remote.sh)
    out="$(cat "$(remote::known_hosts)" "$HPC_TMP_ROOT/known_hosts" 2>/dev/null | awk -v ip="$ip" '$1 == ip' | sort -u || true)"
    [[ -n $out ]] || die "no pinned host key for $ip in $(remote::known_hosts) after logging in to it"
    hosts+="$out"$'\n'
  done

  log::phase distribute
  for ip in "${NODE_IPS[@]}"; do
    out="$(on "$ip" "$MERGE_SNIPPET" "$root/.ssh/authorized_keys" keys "$dry" 0600 <<< "$keys")" || die "could not update authorized_keys on $ip"
    log::info "$ip: /root/.ssh/authorized_keys ${out%%$'\n'*}"; (( ! dry )) || printf '%s\n' "$out"
    out="$(on "$ip" "$MERGE_SNIPPET" "$(remote::known_hosts)" hosts "$dry" 0644 <<< "$hosts")" || die "could not update $(remote::known_hosts) on $ip"
    log::info "$ip: $(remote::known_hosts) ${out%%$'\n'*}"; (( ! dry )) || printf '%s\n' "$out"
  done
  (( ! dry )) || return 0

  log::phase verify
  local failed=()
  for ip in "${NODE_IPS[@]}"; do
    [[ $ip != "$SELF_IP" ]] || continue
    remote::toolkit "$ip" utils/ssh_trust.sh --check < /dev/null || failed+=("$ip")
  done
  (( ${#failed[@]} == 0 )) || die "from ${failed[*]} not every member can be reached yet: see its lines above" "$EXIT_PREFLIGHT"
  log::ok "every member logs in to every other one as ${DISCOVERY_SSH_USER}, host keys pinned"
}

main() {
  if lib::wants_help "$@"; then lib::help; exit 0; fi
  parse_args "$@"
  node::require_self
  if [[ $ACTION == check ]]; then
    log::phase check
    check_all || exit "$EXIT_PREFLIGHT"
    return 0
  fi
  lock::acquire ssh-trust
  setup
}

main "$@"
