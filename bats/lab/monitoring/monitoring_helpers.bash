# Helpers of the monitoring lab suite and bench/alert-delivery: a webhook receiver in the lab client,
# Prometheus queries through the VIP, notifications counted from the receiver's log.
TK=/opt/hpc-dashboard/cluster
VIP=10.213.0.100
MON_SECRETS=$'DB_SLURM_PASSWORD=slurm-secret-1\nDB_AUTH_PASSWORD=auth-secret-2\nREDIS_PASSWORD=redis-secret-3\nMON_EXPORTER_PASSWORD=exp\'orter-4\nBACKUP_HMAC_KEY=lab-hmac-5'
HOOK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# webhook_start LOG: the receiver on the client (10.213.0.200:8099), one JSON line per POST in LOG.
webhook_start() {
  : > "$1"
  lab_client setsid python3 "$HOOK_DIR/webhook.py" "$(lab_ip client)" 8099 "$1" "$1.pid" </dev/null >/dev/null 2>&1 &
  wait_until 10 lab_port_open client "$(lab_ip client)" 8099
}

webhook_stop() {
  local pid
  pid="$(cat "$1.pid" 2>/dev/null || true)"
  [[ -z $pid ]] || kill "$pid" 2>/dev/null || true
}

# notifications LOG STATUS ALERTNAME [NODE]: how many notifications carried that alert in that status.
notifications() {
  jq -s --arg s "$2" --arg a "$3" --arg n "${4:-}" \
    '[ .[] | .body.alerts[]? | select(.status == $s and .labels.alertname == $a and ($n == "" or .labels.node == $n)) ] | length' "$1"
}

# first_notification LOG STATUS ALERTNAME NODE: arrival time (epoch seconds) of the first one, or empty.
first_notification() {
  jq -s -r --arg s "$2" --arg a "$3" --arg n "$4" \
    '[ .[] | select(any(.body.alerts[]?; .status == $s and .labels.alertname == $a and .labels.node == $n)) | .t ] | first // empty' "$1"
}

has_notification() { (( $(notifications "$@") > 0 )); }

# promq HOST EXPR: the instant query's result array (JSON), from the client.
promq() {
  lab_client curl -fsS -m 5 --get "http://$1:9090/api/v1/query" --data-urlencode "query=$2" | jq -c '.data.result'
}

# targets_up HOST JOB COUNT: COUNT targets of JOB report up == 1.
targets_up() {
  [[ "$(promq "$1" "count(up{job=\"$2\"} == 1)" | jq -r '.[0].value[1] // 0')" == "$3" ]]
}

# monitoring_cluster: bootstrap n1, join n2 and n3 with the one command, as an admin would.
monitoring_cluster() {
  lab_exec n1 "$TK/start_multi_complete.sh" --bootstrap --yes
  lab_exec n2 "$TK/start_multi_complete.sh" --join --yes
  lab_exec n3 "$TK/start_multi_complete.sh" --join --yes
}
