# shellcheck shell=bash
# lib/discovery.sh - what a node knows about itself (discovery::self_json) and how every configured
# node is probed at once (discovery::probe_all). Sourced by discovery/auto_discovery.sh,
# discovery/check_cluster_status.sh and utils/cluster_info.sh.
#
# A peer is probed by running this toolkit's own `auto_discovery.sh --self-json` on it over SSH, so the
# probe reads the daemons through their local sockets (no database or Redis port has to be open to us).
# Every probe starts at once against one shared deadline, so a run costs about one probe timeout whatever
# the number of nodes. The JSON shape is fixed in docs/toolkit-conventions.md (the orchestrator reads it).
# Which services a node reports, under which keys: the registry (discovery_key, discovery_fact).

# shellcheck source=discovery_facts.sh
source "$HPC_LIB_DIR/discovery_facts.sh"

# The first line a remote probe prints: its presence proves SSH got through even if the probe then hung.
readonly DISCOVERY_MARKER='HPC-PROBE'

# ---------------------------------------------------------------------------------------------------
# Probing peers.
#
# One deadline for the whole run, taken once before the first probe starts: every probe starts at
# once and gets only the time left, and the collector stops waiting at the deadline and classifies
# whatever has not answered by then. Per node the cost is kept small, because on a big cluster most
# probes are addresses that never answer and all of them start in the same instant:
#   - a forked bash opens TCP port 22 with /dev/tcp and only once that connect succeeded does it
#     become ssh (exec), so an address that does not answer costs one fork and no program start;
#   - another fork asks GET /health over /dev/tcp (no curl);
#   - the verdicts are built in bash and one jq at the end checks the answers and builds the report.
# A node counts as inactive for "timeout" only when the TCP connect itself did not complete: a port 22
# that accepted the connection means the machine is up, and a node that is up is never reported down.
#
# What a probe leaves in its folder: tcp ("open", or bash's connect error), out and err (what ssh, or
# the local probe, printed), http (the status line's code of GET /health, when one came).

# The exit code of a probe whose TCP connect failed (ssh never started; the reason is in DIR/tcp).
readonly DISCOVERY_NO_CONNECT=200

# The helpers below answer in REPLY rather than on stdout: the collector runs them once per node at
# the deadline, and a $(...) is one fork each.

# discovery::reason_of TEXT: REPLY = why a connection failed, from ssh's (or bash's connect) message.
discovery::reason_of() {
  case "$1" in
    *"timed out"*|*"Timeout"*) REPLY=timeout ;;
    *"Connection refused"*) REPLY=refused ;;
    *"No route to host"*|*"Network is unreachable"*|*"Could not resolve"*|*"Name or service not known"*) REPLY=no_route ;;
    *"Permission denied"*|*"Host key verification failed"*|*"HOST IDENTIFICATION HAS CHANGED"*|*"Too many authentication failures"*) REPLY=auth_failed ;;
    *) REPLY=malformed ;;
  esac
}

# discovery::_first_line FILE: REPLY = its first non-empty line, cut to 200 characters (for "error").
discovery::_first_line() {
  local line
  REPLY=""
  while IFS= read -r line; do
    line=${line//$'\r'/}
    if [[ -n $line ]]; then REPLY=${line:0:200}; return 0; fi
  done < "$1"
}

# discovery::_ssh_job IP DIR DEADLINE_US OPTS...: the SSH side of one probe; runs forked, and ends as
# the ssh process itself (so the collector's kill at the deadline reaches ssh, and its exit code is
# ssh's). OPTS are remote::ssh_opts without ConnectTimeout.
discovery::_ssh_job() {
  local ip=$1 dir=$2 deadline=$3 left_us sub remote
  shift 3
  exec < /dev/null > "$dir/out" 2> "$dir/err"
  left_us=$(( deadline - ${EPOCHREALTIME/./} ))
  # The remote side must answer before our deadline: it gets the time left minus 1 s for SSH itself.
  sub=$(( left_us / 1000000 - 1 ))
  (( sub >= 1 )) || sub=1
  if [[ $ip == "${SELF_IP:-}" ]]; then
    printf '%s\n' "$DISCOVERY_MARKER"
    exec "$HPC_TOOLKIT_DIR/discovery/auto_discovery.sh" --self-json --timeout "$sub"
  fi
  # Connect first: a silent address keeps this fork blocked here (cheap) until the collector kills it,
  # and a refused or unroutable one ends here with bash's message, without starting ssh.
  if ! true 2> "$dir/tcp" <> "/dev/tcp/$ip/22"; then
    exit "$DISCOVERY_NO_CONNECT"
  fi
  printf 'open\n' > "$dir/tcp"
  # ssh's own connect limit: the time left, rounded up (the collector ends it at the deadline anyway)
  left_us=$(( deadline - ${EPOCHREALTIME/./} + 999999 ))
  (( left_us >= 1000000 )) || left_us=1000000
  printf -v remote "printf '%%s\\\\n' %s; exec %q --self-json --timeout %d" \
    "$DISCOVERY_MARKER" "$HPC_TOOLKIT_DIR/discovery/auto_discovery.sh" "$sub"
  exec ssh -o "ConnectTimeout=$(( left_us / 1000000 ))" "$@" "${DISCOVERY_SSH_USER}@${ip}" -- "$remote"
}

# discovery::_http_job IP DIR DEADLINE_US: GET /health on the node's health port (forked; no curl).
# Writes DIR/http only when an HTTP status line came back.
discovery::_http_job() {
  local ip=$1 dir=$2 deadline=$3 fd left_us left proto code rest
  exec 2> /dev/null
  { exec {fd}<> "/dev/tcp/$ip/$HEALTH_PORT"; } || exit 0
  printf 'GET /health HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$ip" >&"$fd" || exit 0
  left_us=$(( deadline - ${EPOCHREALTIME/./} ))
  (( left_us > 0 )) || exit 0
  printf -v left '%d.%06d' $(( left_us / 1000000 )) $(( left_us % 1000000 ))
  IFS=' ' read -r -t "$left" proto code rest <&"$fd" || exit 0
  [[ $proto == HTTP/* && $code =~ ^[1-5][0-9][0-9]$ ]] && printf '%s' "$code" > "$dir/http"
  exit 0
}

# discovery::_verdict I RC T: the record of node I for the collector's jq, from what its probe left in
# DIR/I. RC is ssh's (or the local probe's) exit code, or "deadline" when it was still running then.
# active = the node answered with its facts (jq checks they are a node object); inactive = nothing of
# it answered, with the reason; unknown = reached (TCP port 22 accepted the connection, SSH got
# through, or its /health answered) but its state could not be read.
discovery::_verdict() {
  local i=$1 rc=$2 t=$3 d=$DISCOVERY_DIR/$1 ip=${NODE_IPS[$1]} host=${NODE_HOSTNAMES[$1]:-${NODE_IPS[$1]}}
  local self=false marker=0 tcp="" http="" status reason msg text lines=()
  [[ $ip == "${SELF_IP:-}" ]] && self=true
  if [[ -s $d/tcp ]]; then IFS= read -r tcp < "$d/tcp" || true; fi
  if [[ -s $d/http ]]; then IFS= read -r http < "$d/http" || true; fi
  [[ $http =~ ^[1-5][0-9][0-9]$ ]] || http=""
  if [[ -s $d/out ]]; then mapfile -t lines < "$d/out"; fi
  [[ ${lines[0]:-} == "$DISCOVERY_MARKER" ]] && marker=1
  if [[ $rc == 0 ]] && (( marker )); then
    # the answer on its own line (JSON may not hold a raw newline inside a string, so joining the
    # lines with spaces keeps valid JSON valid): jq decides between active and malformed.
    printf '{"kind":"answer","ip":'
    json::str "$ip"
    printf ',"hostname":'
    json::str "$host"
    printf ',"self":%s,"http":%s}\n' "$self" "${http:-null}"
    local IFS=' '
    printf '%s\n' "${lines[*]:1}"
    return 0
  fi
  if [[ $rc == deadline ]]; then
    reason=timeout
    if (( marker )); then
      status=unknown msg="reached over SSH but the probe did not answer within ${t}s"
    elif [[ $tcp == open ]]; then
      status=unknown msg="TCP port 22 accepted the connection but SSH did not complete within ${t}s"
    else
      status=inactive msg="no answer within ${t}s"
    fi
  elif [[ $rc == "$DISCOVERY_NO_CONNECT" && $tcp != open ]]; then
    discovery::reason_of "$tcp"
    reason=$REPLY msg="connect to $ip port 22: ${tcp##*: }"
    status=inactive
    [[ $reason == malformed ]] && status=unknown
  elif [[ $rc == 255 ]] && (( ! marker )); then
    text=""
    IFS= read -r -d '' text < "$d/err" || true
    discovery::reason_of "$text"
    reason=$REPLY
    discovery::_first_line "$d/err"
    msg=$REPLY status=inactive
    # ssh's own timeout after the TCP connect (e.g. during the banner exchange): the machine is up.
    if [[ $reason == malformed || ( $reason == timeout && $tcp == open ) ]]; then status=unknown; fi
  elif [[ $rc == 127 ]]; then
    status=unknown reason=malformed msg="toolkit not found at $HPC_TOOLKIT_DIR on $ip (exit 127)"
  else
    status=unknown reason=malformed
    discovery::_first_line "$d/err"
    msg="the probe exited $rc: $REPLY"
  fi
  # Something answered on the node's /health port: it is up, so it is never reported as down.
  if [[ $status == inactive && -n $http ]]; then
    status=unknown
    msg+="; but its /health endpoint answered HTTP $http"
  fi
  printf '{"kind":"node","ip":'
  json::str "$ip"
  printf ',"hostname":'
  json::str "$host"
  printf ',"self":%s,"status":"%s","reason":"%s","error":' "$self" "$status" "$reason"
  json::str "${msg:-$reason}"
  printf ',"services":{}%s,"cluster_id":null,"toolkit":null,"load":null,"uptime":null,"health_http":%s}\n' \
    "$DISCOVERY_NULL_FACTS" "${http:-null}"
}

# discovery::_stop PID...: end probes still running at the deadline (TERM, then KILL after 0.3 s for
# whatever ignores it) and reap them, so none outlives the run.
discovery::_stop() {
  local pid left=() tries=0
  kill -TERM "$@" 2>/dev/null || true
  while :; do
    left=()
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
    (( ${#left[@]} )) || break
    if (( ++tries > 15 )); then kill -KILL "${left[@]}" 2>/dev/null || true; break; fi
    read -r -t 0.02 -u "$DISCOVERY_TICK" _ || true
  done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# discovery::probe_all T: probe every configured node in parallel and print the report (one JSON).
discovery::probe_all() {
  local t=$1 i started_us deadline opts=() o pid rc running late=() now_us
  local -a ssh_pids=() http_pids=() rcs=()
  started_us=${EPOCHREALTIME/./}
  deadline=$(( started_us + t * 1000000 ))
  DISCOVERY_DIR="$(tmp::dir)"
  # the collector's clock between two looks at the probes: a read on a FIFO nobody writes to
  mkfifo "$DISCOVERY_DIR/tick"
  exec {DISCOVERY_TICK}<> "$DISCOVERY_DIR/tick"
  # ConnectTimeout is set per probe from the time left (ssh keeps the first value given).
  while IFS= read -r o; do
    if [[ $o == ConnectTimeout=* ]]; then unset 'opts[-1]'; continue; fi
    opts+=("$o")
  done < <(remote::ssh_opts)
  # Interrupted: take the probes along (a fork blocked in connect would otherwise wait for the
  # kernel's own limit, about 2 minutes). The forks reset this trap, so _stop's TERM ends them.
  trap 'kill -KILL "${ssh_pids[@]}" "${http_pids[@]}" 2>/dev/null; exit 130' INT TERM HUP
  for i in "${!NODE_IPS[@]}"; do
    mkdir "$DISCOVERY_DIR/$i"
    discovery::_ssh_job "${NODE_IPS[i]}" "$DISCOVERY_DIR/$i" "$deadline" "${opts[@]}" &
    ssh_pids[i]=$!
    discovery::_http_job "${NODE_IPS[i]}" "$DISCOVERY_DIR/$i" "$deadline" &
    http_pids[i]=$!
  done
  # Wait until every probe has ended or the deadline has come, whichever is first.
  while :; do
    running=0
    for pid in "${ssh_pids[@]}" "${http_pids[@]}"; do
      if kill -0 "$pid" 2>/dev/null; then running=1; break; fi
    done
    (( running )) || break
    now_us=${EPOCHREALTIME/./}
    (( now_us < deadline )) || break
    read -r -t 0.02 -u "$DISCOVERY_TICK" _ || true
  done
  for i in "${!ssh_pids[@]}"; do
    if kill -0 "${ssh_pids[i]}" 2>/dev/null; then
      rcs[i]=deadline
      late+=("${ssh_pids[i]}")
    fi
  done
  for pid in "${http_pids[@]}"; do kill -0 "$pid" 2>/dev/null && late+=("$pid"); done
  (( ${#late[@]} == 0 )) || discovery::_stop "${late[@]}"
  for i in "${!ssh_pids[@]}"; do
    if [[ -z ${rcs[i]:-} ]]; then
      rc=0
      wait "${ssh_pids[i]}" || rc=$?
      rcs[i]=$rc
    fi
  done
  trap - INT TERM HUP
  exec {DISCOVERY_TICK}>&-
  DISCOVERY_NULL_FACTS="$(discovery::null_facts)"
  for i in "${!NODE_IPS[@]}"; do
    discovery::_verdict "$i" "${rcs[i]}" "$t"
  done > "$DISCOVERY_DIR/verdicts"
  now_us=${EPOCHREALTIME/./}
  jq -ncR --arg self_ip "${SELF_IP:-}" --argjson t "$t" --argjson nulls "{${DISCOVERY_NULL_FACTS#,}}" \
    --argjson toolkit "$(toolkit::json)" --argjson duration "$(( (now_us - started_us) / 1000 ))" '
    def failed($m; $reason; $msg):
      {ip: $m.ip, hostname: $m.hostname, self: $m.self, status: "unknown", reason: $reason, error: $msg,
       services: {}} + $nulls + {cluster_id: null, toolkit: null, load: null, uptime: null, health_http: $m.http};
    [inputs | fromjson
     | if .kind == "answer" then
         . as $m | (input | try fromjson catch null) as $b
         | if ($b | type) == "object" and ($b.services | type) == "object" then
             $b + {ip: $m.ip, hostname: $m.hostname, reported_hostname: $b.hostname, self: $m.self,
                   status: "active", reason: null, health_http: $m.http}
           else failed($m; "malformed"; "the probe'"'"'s answer is not valid JSON") end
       else del(.kind) end]
    | (map(select(.status == "active"))) as $active
    | ([.[] | select(.self) | .cluster_id | strings] + [$active[] | .cluster_id | strings]) as $ids
    | {
        total_nodes: length,
        active_nodes: ($active | length),
        inactive_nodes: (map(select(.status == "inactive")) | length),
        unknown_nodes: (map(select(.status == "unknown")) | length),
        cluster_id: ($ids[0] // null),
        cluster_ids: ($ids | unique),
        cluster_state: (if length == 1 then "standalone"
                        elif ($active | length) == 0 then "down"
                        elif ($active | length) == length then "healthy"
                        else "degraded" end),
        vip_owner: ([$active[] | select(.holds_vip == true) | .ip][0] // null),
        toolkit: $toolkit,
        toolkit_mismatch: [$active[] | select(.toolkit != null and .toolkit != $toolkit)
                           | {ip, hostname, version: .toolkit.version, config_hash: .toolkit.config_hash}],
        toolkit_unknown: [$active[] | select(.toolkit == null) | .ip],
        self_ip: (if $self_ip == "" then null else $self_ip end),
        probe_timeout: $t,
        duration_ms: $duration,
        nodes: .
      }' < "$DISCOVERY_DIR/verdicts"
}
