# shellcheck shell=bash
# lib/discovery.sh - what a node knows about itself (discovery::self_json) and how every configured
# node is probed at once (discovery::probe_all). Sourced by discovery/auto_discovery.sh,
# discovery/check_cluster_status.sh and utils/cluster_info.sh.
#
# A peer is probed by running this toolkit's own `auto_discovery.sh --self-json` on it over SSH, so the
# probe reads the daemons through their local sockets (no database or Redis port has to be open to us).
# Every probe starts at once against one shared deadline, so a run costs about one probe timeout whatever
# the number of nodes. The JSON shape is fixed in docs/toolkit-conventions.md (the orchestrator reads it).

# The first line a remote probe prints: its presence proves SSH got through even if the probe then hung.
readonly DISCOVERY_MARKER='HPC-PROBE'

# discovery::bounded SECS CMD...: CMD killed after SECS, so one hung daemon cannot stall a probe.
discovery::bounded() {
  local secs=$1
  shift
  timeout -k 1 "$secs" "$@"
}

# discovery::secret NAME: the secret's value, or fail quietly (a probe never dies for a missing secret).
discovery::secret() {
  [[ -n $1 ]] || return 1
  (secrets::get "$1") 2>/dev/null
}

# ---------------------------------------------------------------------------------------------------
# Local facts. Each discovery::fact_* NAME writes DIR/NAME.svc (true/false: the daemon runs here) and
# DIR/NAME.json (the service object, or null when the service does not run here).

discovery::_put() {  # DIR NAME SVC JSON
  printf '%s' "$3" > "$1/$2.svc"
  printf '%s' "$4" > "$1/$2.json"
}

# Galera: wsrep status over the unix socket as root (no password on the command line or anywhere).
discovery::fact_galera() {
  local dir=$1 t=$2 out name value obj
  local -A w=()
  if ! svc::process_running mariadbd mysqld; then
    discovery::_put "$dir" galera false null
    return 0
  fi
  if ! out="$(discovery::bounded "$t" mariadb --connect-timeout="$t" -N -B \
      -e "SHOW GLOBAL STATUS LIKE 'wsrep_%'" 2>/dev/null)"; then
    discovery::_put "$dir" galera false \
      '{"cluster_status":null,"cluster_size":null,"local_state":null,"state_uuid":null,"last_committed":null,"error":"mariadbd runs but does not answer"}'
    return 0
  fi
  while IFS=$'\t' read -r name value; do
    [[ -n $name ]] && w[$name]=$value
  done <<< "$out"
  # A MariaDB without the Galera provider still has a few wsrep_ rows: no provider means no Galera.
  if [[ -z ${w[wsrep_cluster_status]:-} || ( -n ${w[wsrep_provider_name]+x} && -z ${w[wsrep_provider_name]} ) ]]; then
    discovery::_put "$dir" galera true null
    return 0
  fi
  obj="{\"cluster_status\":$(json::str "${w[wsrep_cluster_status]}")"
  obj+=",\"cluster_size\":$(json::num "${w[wsrep_cluster_size]:-}")"
  obj+=",\"local_state\":$(json::str "${w[wsrep_local_state_comment]:-}")"
  obj+=",\"state_uuid\":$(json::str "${w[wsrep_cluster_state_uuid]:-}")"
  obj+=",\"last_committed\":$(json::num "${w[wsrep_last_committed]:-}")"
  obj+=",\"ready\":$(json::bool "$([[ ${w[wsrep_ready]:-} == ON ]] && echo 1)")}"
  discovery::_put "$dir" galera true "$obj"
}

# Redis: role and cluster state through redis-cli on the loopback; the password travels in REDISCLI_AUTH.
discovery::fact_redis() {
  local dir=$1 t=$2 pw="" out role="" state="" err=""
  if ! svc::process_running redis-server; then
    discovery::_put "$dir" redis false null
    return 0
  fi
  if [[ -n $REDIS_PASSWORD_SECRET ]] && ! pw="$(discovery::secret "$REDIS_PASSWORD_SECRET")"; then
    err="secret $REDIS_PASSWORD_SECRET is not readable here"
  fi
  out="$(REDISCLI_AUTH="$pw" discovery::bounded "$t" redis-cli --no-auth-warning -h 127.0.0.1 \
    -p "$REDIS_PORT" info replication 2>&1)" || true
  out=${out//$'\r'/}
  if [[ $out =~ (^|$'\n')role:([a-z]+) ]]; then
    role=${BASH_REMATCH[2]}
  elif [[ $out == *NOAUTH* || $out == *WRONGPASS* || $out == *"invalid password"* ]]; then
    err="authentication failed${err:+ ($err)}"
  else
    err="no answer from redis-server on port $REDIS_PORT"
  fi
  if [[ -n $role && $REDIS_TYPE == cluster ]]; then
    out="$(REDISCLI_AUTH="$pw" discovery::bounded "$t" redis-cli --no-auth-warning -h 127.0.0.1 \
      -p "$REDIS_PORT" cluster info 2>&1)" || true
    out=${out//$'\r'/}
    [[ $out =~ (^|$'\n')cluster_state:([a-z]+) ]] && state=${BASH_REMATCH[2]}
  fi
  discovery::_put "$dir" redis true "{\"role\":$( [[ -n $role ]] && json::str "$role" || printf null),\"cluster_state\":$( [[ -n $state ]] && json::str "$state" || printf null),\"sentinel\":$(json::bool "$(svc::process_running redis-sentinel && echo 1)")$( [[ -n $err ]] && printf ',"error":%s' "$(json::str "$err")")}"
}

# GlusterFS: connected peers, whether the configured volume is started, whether it is mounted here.
discovery::fact_glusterfs() {
  local dir=$1 t=$2 out peers=0 connected=0 started=false mounted=false line
  if ! svc::process_running glusterd; then
    discovery::_put "$dir" glusterfs false null
    return 0
  fi
  if out="$(discovery::bounded "$t" gluster --mode=script peer status 2>/dev/null)"; then
    while IFS= read -r line; do
      [[ $line =~ ^Number\ of\ Peers:\ ([0-9]+) ]] && peers=${BASH_REMATCH[1]}
      [[ $line == *"(Connected)"* ]] && connected=$((connected + 1))
    done <<< "$out"
  fi
  if out="$(discovery::bounded "$t" gluster --mode=script volume info "$STORAGE_VOLUME_NAME" 2>/dev/null)" \
      && [[ $out == *"Status: Started"* ]]; then
    started=true
  fi
  if awk -v m="$STORAGE_MOUNT_POINT" '$2 == m { found = 1 } END { exit !found }' "$(path::of /proc/mounts)" 2>/dev/null; then
    mounted=true
  fi
  discovery::_put "$dir" glusterfs true \
    "{\"peers\":$peers,\"peers_connected\":$connected,\"volume_started\":$started,\"mounted\":$mounted}"
}

# Slurm: `scontrol ping` names every controller and says UP or DOWN.
discovery::fact_slurm() {
  local dir=$1 t=$2 out line ping=DOWN primary="" ctl="" first=1 svc=false
  svc::process_running slurmctld slurmd && svc=true
  if [[ ! -f "$(path::of /etc/slurm/slurm.conf)" ]] && [[ $svc == false ]]; then
    discovery::_put "$dir" slurm false null
    return 0
  fi
  out="$(discovery::bounded "$t" scontrol ping 2>/dev/null)" || true
  while IFS= read -r line; do
    # Slurmctld(primary) at node1 is UP
    if [[ $line =~ Slurmctld\(([a-z0-9]+)\)\ at\ ([^ ]+)\ is\ ([A-Z]+) ]]; then
      (( first )) || ctl+=','
      first=0
      ctl+="{\"role\":$(json::str "${BASH_REMATCH[1]}"),\"host\":$(json::str "${BASH_REMATCH[2]}"),\"state\":$(json::str "${BASH_REMATCH[3]}")}"
      if [[ ${BASH_REMATCH[3]} == UP && -z $primary ]]; then
        ping=UP
        primary=${BASH_REMATCH[2]}
      fi
    fi
  done <<< "$out"
  discovery::_put "$dir" slurm "$svc" \
    "{\"ping\":\"$ping\",\"primary\":$( [[ -n $primary ]] && json::str "$primary" || printf null),\"controllers\":[${ctl}],\"slurmctld\":$(json::bool "$(svc::process_running slurmctld && echo 1)")}"
}

# Web services: each configured health URL on this node answers 2xx.
discovery::fact_web() {
  local dir=$1 t=$2 i code all=true obj="" first=1
  if (( ${#WEB_SERVICE_URLS[@]} == 0 )); then
    discovery::_put "$dir" web false null
    return 0
  fi
  for i in "${!WEB_SERVICE_URLS[@]}"; do
    code="$(curl -s -o /dev/null -w '%{http_code}' -m "$t" "${WEB_SERVICE_URLS[i]}" 2>/dev/null)" || true
    (( first )) || obj+=','
    first=0
    if [[ $code == 2?? ]]; then
      obj+="$(json::str "${WEB_SERVICE_NAMES[i]}"):true"
    else
      obj+="$(json::str "${WEB_SERVICE_NAMES[i]}"):false"
      all=false
    fi
  done
  discovery::_put "$dir" web "$all" "{$obj}"
}

# discovery::uptime_words SECONDS: "5 days", "3 hours", "12 minutes".
discovery::uptime_words() {
  local s=${1%%.*}
  if (( s >= 172800 )); then printf '%d days' $((s / 86400))
  elif (( s >= 86400 )); then printf '1 day'
  elif (( s >= 7200 )); then printf '%d hours' $((s / 3600))
  elif (( s >= 3600 )); then printf '1 hour'
  else printf '%d minutes' $((s / 60))
  fi
}

# discovery::cluster_id: the cluster uuid this node belongs to, empty when it never joined one.
discovery::cluster_id() {
  local f id=""
  f="$(path::of "$STATE_DIR/cluster_id")"
  [[ -r $f ]] && id="$(head -n 1 "$f")"
  [[ $id =~ ^[A-Za-z0-9-]+$ ]] && printf '%s' "$id"
  return 0
}

# discovery::self_json [SECS]: this node's facts as one JSON object (probes run in parallel, each
# bounded by SECS). Never fails: what cannot be read is null.
discovery::self_json() {
  local t=${1:-$DISCOVERY_PROBE_TIMEOUT} dir fact load="" up="" id holds=0 ssh
  dir="$(tmp::dir)"
  for fact in galera redis glusterfs slurm web; do
    discovery::fact_"$fact" "$dir" "$t" &
  done
  wait || true
  read -r load _ < "$(path::of /proc/loadavg)" 2>/dev/null || true
  read -r up _ < "$(path::of /proc/uptime)" 2>/dev/null || true
  id="$(discovery::cluster_id)"
  if [[ -n $VIP_ADDRESS ]] && grep -qxF -- "$VIP_ADDRESS" <<< "$(node::local_ips)"; then holds=1; fi
  ssh=0
  svc::process_running sshd && ssh=1
  for fact in galera redis glusterfs slurm web; do
    [[ -s $dir/$fact.svc ]] || discovery::_put "$dir" "$fact" false null
  done
  printf '{"hostname":%s' "$(json::str "$(hostname 2>/dev/null || true)")"
  printf ',"services":{"ssh":%s,"glusterfs":%s,"mariadb":%s,"redis":%s,"slurm":%s,"web":%s}' \
    "$(json::bool "$ssh")" "$(< "$dir/glusterfs.svc")" "$(< "$dir/galera.svc")" "$(< "$dir/redis.svc")" \
    "$(< "$dir/slurm.svc")" "$(< "$dir/web.svc")"
  printf ',"galera":%s,"redis":%s,"glusterfs":%s,"slurm":%s,"web":%s' "$(< "$dir/galera.json")" \
    "$(< "$dir/redis.json")" "$(< "$dir/glusterfs.json")" "$(< "$dir/slurm.json")" "$(< "$dir/web.json")"
  printf ',"cluster_id":%s' "$( [[ -n $id ]] && json::str "$id" || printf null)"
  printf ',"load":%s,"uptime":%s,"uptime_seconds":%s,"holds_vip":%s}\n' "$(json::num "$load")" \
    "$( [[ -n $up ]] && json::str "$(discovery::uptime_words "$up")" || printf null)" \
    "$(json::num "${up%%.*}")" "$(json::bool "$holds")"
}

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
  printf ','
  printf '"services":{},"galera":null,"redis":null,"glusterfs":null,"slurm":null,"web":null,'
  printf '"cluster_id":null,"load":null,"uptime":null,"health_http":%s}\n' "${http:-null}"
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
  for i in "${!NODE_IPS[@]}"; do
    discovery::_verdict "$i" "${rcs[i]}" "$t"
  done > "$DISCOVERY_DIR/verdicts"
  now_us=${EPOCHREALTIME/./}
  jq -ncR --arg self_ip "${SELF_IP:-}" --argjson t "$t" \
    --argjson duration "$(( (now_us - started_us) / 1000 ))" '
    def failed($m; $reason; $msg):
      {ip: $m.ip, hostname: $m.hostname, self: $m.self, status: "unknown", reason: $reason, error: $msg,
       services: {}, galera: null, redis: null, glusterfs: null, slurm: null, web: null,
       cluster_id: null, load: null, uptime: null, health_http: $m.http};
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
        self_ip: (if $self_ip == "" then null else $self_ip end),
        probe_timeout: $t,
        duration_ms: $duration,
        nodes: .
      }' < "$DISCOVERY_DIR/verdicts"
}
