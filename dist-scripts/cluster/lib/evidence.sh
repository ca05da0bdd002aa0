# shellcheck shell=bash
# lib/evidence.sh - what every peer says about the database cluster, the facts a mode decision rests
# on (sourced by lib/orchestrate.sh).
#
# One record per configured peer, in priority order: one JSON object a line, read with jq by name.
#   {"ip": "10.0.0.11", "reach": "answered|down|unknown", "reason": "refused|timeout|...|null",
#    "running": true|false|null, "cluster_status": "Primary|null", "cluster_size": 3|null,
#    "local_state": "Synced|null", "cluster_id": "uuid|null", "last_committed": 42|null,
#    "toolkit": {"version": "0.1.0", "config_hash": "sha256"}|null}
# last_committed is wsrep_last_committed of a running server (null when it is stopped); toolkit is
# null when the peer did not say (an older toolkit, or no answer).
# Gathered by one run of discovery/auto_discovery.sh --json (every node probed in parallel under one
# deadline); when that script is missing or prints no report, each peer's own toolkit is asked over SSH
# (setup/phase1_database_setup.sh --status --json) instead. Either way the same rules turn answers into
# evidence: only an answer, or a refused connection with the Galera port refused too, is positive.

# Seconds the evidence may take: generous, a decision is not latency-sensitive and a loaded peer that
# misses a short deadline would look "unknown" (safe, but it makes a join fail for nothing).
ORCH_EVIDENCE_TIMEOUT="${ORCH_EVIDENCE_TIMEOUT:-}"

orch::evidence_timeout() {
  local t=${ORCH_EVIDENCE_TIMEOUT:-$(( DISCOVERY_PROBE_TIMEOUT * 3 ))}
  (( t >= 6 )) || t=6
  printf '%s\n' "$t"
}

# evidence::record IP REACH REASON: the record of a peer that gave no facts (down or unknown).
evidence::record() {
  jq -cn --arg ip "$1" --arg reach "$2" --arg reason "$3" \
    '{ip: $ip, reach: $reach, reason: $reason, running: (if $reach == "down" then false else null end),
      cluster_status: null, cluster_size: null, local_state: null, cluster_id: null, last_committed: null,
      toolkit: null}'
}

# evidence::_not_answered IP REASON: a peer that did not answer. A refused SSH connection means the host
# is up; only when the Galera port is refused as well does nothing of ours run there (down).
evidence::_not_answered() {
  if [[ $2 == refused ]] && orch::tcp_refused "$1" "$DB_GALERA_PORT"; then
    evidence::record "$1" down refused
  else
    evidence::record "$1" unknown "${2:-unknown}"
  fi
}

# orch::evidence_from_discovery REPORT_JSON: the records of every configured peer, in priority order.
# active -> answered; inactive because the connection was refused -> down, but only when the Galera
# port is refused as well (sshd off does not mean MariaDB off); any other status or reason (timeout,
# no_route, auth_failed, malformed, unknown, absent from the report) -> unknown.
orch::evidence_from_discovery() {
  local report=$1 ip rec status
  while IFS= read -r ip; do
    rec="$(jq -c --arg ip "$ip" 'first(.nodes[]? | select(.ip == $ip and (.self | not))) |
        if .status == "active" then
          {ip, reach: "answered", reason: null, running: (.services.mariadb // false),
           cluster_status: .galera.cluster_status, cluster_size: .galera.cluster_size,
           local_state: .galera.local_state, cluster_id, last_committed: .galera.last_committed,
           toolkit: (.toolkit // null)}
        else {ip, reach: "not_answered", reason: (if .status == "inactive" and .reason == "refused" then "refused" else (.reason // .status // "unknown") end)} end' \
        <<< "$report" 2>/dev/null || true)"
    status="$(jq -r '.reach // empty' <<< "$rec" 2>/dev/null || true)"
    case "$status" in
      answered) printf '%s\n' "$rec" ;;
      not_answered) evidence::_not_answered "$ip" "$(jq -r .reason <<< "$rec")" ;;
      *) evidence::record "$ip" unknown absent ;;
    esac
  done < <(node::peer_ips)
}

# orch::discovery_report: discovery's JSON report, or nothing (non-zero) when it gave none.
orch::discovery_report() {
  local script="$HPC_TOOLKIT_DIR/discovery/auto_discovery.sh" out
  [[ -x $script ]] || return 1
  out="$("$script" --json --timeout "$(orch::evidence_timeout)" 2>/dev/null </dev/null)" || return 1
  jq -e '.nodes | type == "array"' >/dev/null 2>&1 <<< "$out" || return 1
  printf '%s\n' "$out"
}

# orch::classify_ssh_error STDERR: timeout|refused|no_route|auth_failed|malformed.
orch::classify_ssh_error() {
  case "$1" in
    *"timed out"*|*"Connection timed"*) printf 'timeout\n' ;;
    *"Connection refused"*) printf 'refused\n' ;;
    *"No route to host"*|*"Network is unreachable"*|*"Host is unreachable"*) printf 'no_route\n' ;;
    *"Permission denied"*|*"Host key verification failed"*) printf 'auth_failed\n' ;;
    *) printf 'malformed\n' ;;
  esac
}

# orch::tcp_refused IP PORT: the host answered with a reset (it is up, nothing listens) - positive evidence.
orch::tcp_refused() {
  local err
  # shellcheck disable=SC2016 # $1/$2 expand in the child bash
  err="$(timeout "$DISCOVERY_PROBE_TIMEOUT" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>&1)" && return 1
  [[ $err == *"Connection refused"* ]]
}

# orch::probe_peer IP: print the evidence record of one peer, asked over SSH.
orch::probe_peer() {
  local ip=$1 out err rc=0 errfile reason
  errfile="$(mktemp)"
  out="$(remote::toolkit "$ip" setup/phase1_database_setup.sh --status --json 2>"$errfile")" || rc=$?
  err="$(cat "$errfile")"
  rm -f -- "$errfile"
  if (( rc == 0 )) && jq -e 'type == "object"' >/dev/null 2>&1 <<< "$out"; then
    jq -c --arg ip "$ip" '{ip: $ip, reach: "answered", reason: null, running: (.running // false), cluster_status,
      cluster_size, local_state, cluster_id, last_committed, toolkit: (.toolkit // null)}' <<< "$out"
    return 0
  fi
  if (( rc == 255 )); then reason="$(orch::classify_ssh_error "$err")"; else reason=malformed; fi
  evidence::_not_answered "$ip" "$reason"
}

# orch::evidence: one record per configured peer, in priority order.
orch::evidence() {
  local report
  if report="$(orch::discovery_report)"; then
    orch::evidence_from_discovery "$report"
    return 0
  fi
  log::to_file WARN "discovery/auto_discovery.sh gave no report; asking each peer's toolkit over SSH"
  orch::evidence_ssh
}

# orch::evidence_ssh: the fallback, each peer asked in parallel over SSH.
orch::evidence_ssh() {
  local ip dir i=0
  dir="$(tmp::dir)"
  while IFS= read -r ip; do
    orch::probe_peer "$ip" > "$dir/$(printf '%03d' "$i")" &
    i=$(( i + 1 ))
  done < <(node::peer_ips)
  wait
  cat "$dir"/* 2>/dev/null || true
}

# ---- reading the records ---------------------------------------------------------------------------

# evidence::get EVIDENCE IP FIELD: FIELD of IP's record (empty when absent or null).
evidence::get() {
  jq -r --arg ip "$2" --arg f "$3" 'select(.ip == $ip) | .[$f] | if . == null then empty else tostring end' <<< "$1"
}

# evidence::rows EVIDENCE FIELD...: one line per record, the FIELDs separated by US (\x1f, so empty
# fields survive `IFS=$'\x1f' read`); null is empty. Read as: while IFS=$'\x1f' read -r a b; do ...
evidence::rows() {
  local ev=$1
  shift
  [[ -n $ev ]] || return 0
  jq -r --args '. as $r | [$ARGS.positional[] | $r[.] | if . == null then "" else tostring end] | join("\u001f")' "$@" <<< "$ev"
}

# orch::primary_peer EVIDENCE [PREFERRED]: PREFERRED when it reports a Primary component, else the first
# peer that does (empty when none).
orch::primary_peer() {
  [[ -n $1 ]] || return 0
  jq -rn --arg want "${2:-}" '[inputs | select(.reach == "answered" and .cluster_status == "Primary") | .ip]
    | if index($want) then $want else (.[0] // empty) end' <<< "$1"
}

# evidence::summary EVIDENCE: "10.0.0.11 answered (Primary), 10.0.0.13 unknown (timeout)", for logs.
evidence::summary() {
  [[ -n $1 ]] || return 0
  jq -rn '[inputs | "\(.ip) \(.reach)" + (if .cluster_status then " (\(.cluster_status))" elif .reason then " (\(.reason))" else "" end)] | join(", ")' <<< "$1"
}

# evidence::toolkit_check EVIDENCE PEER: fail (message on stdout) when PEER reported another toolkit
# version or config than this node's; warn in the log for any other peer that did, or that did not say.
evidence::toolkit_check() {
  local ip version hash bad=""
  while IFS=$'\x1f' read -r ip version hash; do
    [[ -n $ip ]] || continue
    if toolkit::differs "$version" "$hash"; then
      if [[ $ip == "$2" ]]; then bad="$(toolkit::mismatch_message "$ip" "$version" "$hash")"
      else log::warn "$(toolkit::mismatch_message "$ip" "$version" "$hash")"; fi
    elif [[ -z $version && $ip == "$2" ]]; then
      log::warn "$ip did not report its toolkit version or config hash (an older toolkit?): cannot check it runs the same toolkit and config as this node"
    fi
  done < <(jq -r 'select(.reach == "answered") | [.ip, (.toolkit.version // ""), (.toolkit.config_hash // "")]
      | join("\u001f")' <<< "$1")
  [[ -z $bad ]] && return 0
  printf '%s\n' "$bad"
  return 1
}
