#!/usr/bin/env bash
# Usage: bench/alert-delivery/run.sh [--runs N]
# Summary: Seconds from the power loss of a node to a firing NodeDown alert naming it at a webhook in
#          the lab client: the generated monitoring (scrape/evaluate every 5 s, group_wait 5 s, Prometheus
#          on n1+n2, Alertmanager cluster of 3) next to a default-style setup in the same run (Prometheus
#          scrape/evaluation 1 m, the same 30 s rule, Alertmanager group_wait 30 s) watching the same nodes.
#
#   --runs N   power losses (n3 crashed, booted, its exporter restarted; default 1). A later loss of the
#              same node joins the baseline's existing alert group, so it waits for group_interval (5 m).
#
# Goal (issue 15): within 60 s. Not part of npm test. Needs root (the lab).
set -Eeuo pipefail
trap 'printf "bench/alert-delivery: failed (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export HPC_REPO_ROOT=$REPO
export LAB_PREFIX=${LAB_PREFIX:-mob}
RUNS=1
while (( $# )); do
  case "$1" in
    --runs) RUNS=${2:?--runs needs a number}; shift ;;
    -h|--help) sed -n '2,/^set -Eeuo/{/^set -Eeuo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) printf 'unknown argument: %s\n' "$1" >&2; exit 2 ;;
  esac
  shift
done

BATS_FILE_TMPDIR="$(mktemp -d /tmp/alert-bench.XXXXXX)"
chmod 755 "$BATS_FILE_TMPDIR"
# shellcheck source=bats/lab/helpers.bash
source "$REPO/bats/lab/helpers.bash"
# shellcheck source=bats/helpers/toolkit.bash
source "$REPO/bats/helpers/toolkit.bash"
# shellcheck source=bats/lab/monitoring/monitoring_helpers.bash
source "$REPO/bats/lab/monitoring/monitoring_helpers.bash"

BASE="$BATS_FILE_TMPDIR/baseline"
cleanup() {
  webhook_stop "$BATS_FILE_TMPDIR/toolkit.log"
  webhook_stop "$BATS_FILE_TMPDIR/baseline.log"
  local p
  for p in "$BASE"/*.pid; do [[ -r $p ]] && kill "$(cat "$p")" 2>/dev/null; done
  lab down >/dev/null 2>&1 || true
  rm -rf -- "$BATS_FILE_TMPDIR"
}
trap cleanup EXIT
trap 'printf "bench/alert-delivery: failed (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR
say() { printf '==> %s\n' "$*" >&2; }

say "lab up 3, toolkit deployed, monitoring only (setup/phase5_monitoring_setup.sh on each node)"
lab down >/dev/null 2>&1 || true
lab up 3 >/dev/null
LAB_SECRETS=$MON_SECRETS toolkit_deploy "$(toolkit_fixture lab/monitoring-3.yaml)" n1 n2 n3
lab_exec n1 "$TK/setup/phase5_monitoring_setup.sh" --bootstrap --yes >"$BATS_FILE_TMPDIR/setup.log" 2>&1 || { tail -n 30 "$BATS_FILE_TMPDIR/setup.log" >&2; exit 1; }
lab_exec n2 "$TK/setup/phase5_monitoring_setup.sh" --join --peer 10.213.0.11 --yes >>"$BATS_FILE_TMPDIR/setup.log" 2>&1 || { tail -n 30 "$BATS_FILE_TMPDIR/setup.log" >&2; exit 1; }
lab_exec n3 "$TK/setup/phase5_monitoring_setup.sh" --join --peer 10.213.0.11 --yes >>"$BATS_FILE_TMPDIR/setup.log" 2>&1 || { tail -n 30 "$BATS_FILE_TMPDIR/setup.log" >&2; exit 1; }

# The baseline: Prometheus + Alertmanager in the client with default-style timing.
mkdir -p "$BASE/data" "$BASE/am"
client_ip="$(lab_ip client)"
cat > "$BASE/prometheus.yml" <<YAML
global: { scrape_interval: 1m, evaluation_interval: 1m }
alerting: { alertmanagers: [ { static_configs: [ { targets: ["$client_ip:19093"] } ] } ] }
rule_files: ["$BASE/rules.yml"]
scrape_configs:
  - job_name: node
    static_configs:
      - { targets: ["10.213.0.11:9100"], labels: { node: node1 } }
      - { targets: ["10.213.0.12:9100"], labels: { node: node2 } }
      - { targets: ["10.213.0.13:9100"], labels: { node: node3 } }
YAML
cat > "$BASE/rules.yml" <<'YAML'
groups:
  - name: baseline
    rules:
      - { alert: NodeDown, expr: 'up{job="node"} == 0', for: 30s }
YAML
cat > "$BASE/am.yml" <<YAML
route: { receiver: hook, group_by: [alertname, node], group_wait: 30s, group_interval: 5m, repeat_interval: 4h }
receivers: [ { name: hook, webhook_configs: [ { url: "http://$client_ip:8098/hook" } ] } ]
YAML
# shellcheck disable=SC2016 # the inner shell expands them
lab_client setsid bash -c 'echo $$ > "$1/prom.pid"; exec prometheus --config.file="$1/prometheus.yml" --storage.tsdb.path="$1/data" --web.listen-address="$2:19090"' _ "$BASE" "$client_ip" </dev/null >"$BASE/prom.log" 2>&1 &
# shellcheck disable=SC2016 # the inner shell expands them
lab_client setsid bash -c 'echo $$ > "$1/am.pid"; exec prometheus-alertmanager --config.file="$1/am.yml" --storage.path="$1/am" --web.listen-address="$2:19093" --cluster.listen-address=' _ "$BASE" "$client_ip" </dev/null >"$BASE/am.log" 2>&1 &

webhook_start "$BATS_FILE_TMPDIR/toolkit.log"
: > "$BATS_FILE_TMPDIR/baseline.log"
lab_client setsid python3 "$HOOK_DIR/webhook.py" "$client_ip" 8098 "$BATS_FILE_TMPDIR/baseline.log" "$BATS_FILE_TMPDIR/baseline.log.pid" </dev/null >/dev/null 2>&1 &
baseline_up() { [[ "$(lab_client curl -fsS -m 5 --get "http://$client_ip:19090/api/v1/query" --data-urlencode 'query=count(up{job="node"} == 1)' | jq -r '.data.result[0].value[1] // 0')" == 3 ]]; }
# no keepalived in this lab (monitoring only): ask n1 directly
if ! wait_until 120 targets_up 10.213.0.11 node 3; then
  # seen twice in four runs (cause not found yet): n1's Prometheus accepted the connection and did not answer
  lab_exec n1 sh -c 'ss -ltnp | grep 9090; tail -n 20 /var/log/prometheus/prometheus.log' >&2 || true
  exit 1
fi
wait_until 150 baseline_up

# more_than LOG STATUS N: the log holds more than N NodeDown notifications for node3 in STATUS.
more_than() { (( $(notifications "$1" "$2" NodeDown node3) > $3 )); }

printf '%-4s %12s %12s\n' run toolkit_s baseline_s
for (( r = 1; r <= RUNS; r++ )); do
  before_t=$(notifications "$BATS_FILE_TMPDIR/toolkit.log" firing NodeDown node3)
  before_b=$(notifications "$BATS_FILE_TMPDIR/baseline.log" firing NodeDown node3)
  t0=$EPOCHREALTIME
  lab crash n3
  wait_until 420 more_than "$BATS_FILE_TMPDIR/baseline.log" firing "$before_b"
  wait_until 10 more_than "$BATS_FILE_TMPDIR/toolkit.log" firing "$before_t"
  tt=$(jq -s -r --argjson n "$before_t" '[ .[] | select(any(.body.alerts[]?; .status == "firing" and .labels.alertname == "NodeDown" and .labels.node == "node3")) | .t ][$n]' "$BATS_FILE_TMPDIR/toolkit.log")
  tb=$(jq -s -r --argjson n "$before_b" '[ .[] | select(any(.body.alerts[]?; .status == "firing" and .labels.alertname == "NodeDown" and .labels.node == "node3")) | .t ][$n]' "$BATS_FILE_TMPDIR/baseline.log")
  printf '%-4s %12.1f %12.1f\n' "$r" "$(awk -v a="$tt" -v b="$t0" 'BEGIN { print a - b }')" "$(awk -v a="$tb" -v b="$t0" 'BEGIN { print a - b }')"
  if (( r < RUNS )); then
    lab boot n3 >/dev/null
    lab_exec n3 /etc/init.d/prometheus-node-exporter start >/dev/null 2>&1
    wait_until 120 targets_up 10.213.0.11 node 3
    wait_until 150 baseline_up
    # wait for both resolutions so the next loss opens a new alert
    wait_until 360 more_than "$BATS_FILE_TMPDIR/toolkit.log" resolved "$(( r - 1 ))"
    sleep 65
  fi
done
