#!/usr/bin/env bash
# Usage: bench/redis/run.sh [--requests N] [--clients N]
# Summary: redis-benchmark SET/GET against the toolkit's 3-node Redis Cluster (replicas 0, set up by
#          setup/phase2_redis_setup.sh; redis-benchmark --cluster spreads the keys over the masters)
#          next to one plain redis-server on n1 (same persistence: appendonly, fsync every second;
#          no cluster), from a client on n1, without and with pipelining, in the same run.
#
#   --requests N  requests per test (default 100000)
#   --clients N   parallel connections (default 50)
#
# Not part of npm test. Needs root (the lab).
set -Eeuo pipefail
trap 'printf "bench/redis: failed (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export HPC_REPO_ROOT=$REPO
export LAB_PREFIX=redis-bench
REQUESTS=100000
CLIENTS=50

while (( $# )); do
  case "$1" in
    --requests) REQUESTS=${2:?--requests needs a number}; shift ;;
    --clients) CLIENTS=${2:?--clients needs a number}; shift ;;
    -h|--help) sed -n '2,/^set -Eeuo/{/^set -Eeuo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) printf 'unknown argument: %s\n' "$1" >&2; exit 2 ;;
  esac
  shift
done

# The lab helpers are written for bats; these stand-ins are all they need outside it.
BATS_FILE_TMPDIR="$(mktemp -d /tmp/redis-bench.XXXXXX)"
# bats' load: a path with or without .bash.
# shellcheck disable=SC1090 # the helpers load each other by computed paths
load() { if [[ -f $1 ]]; then source "$1"; else source "$1.bash"; fi; }
# shellcheck source=bats/lab/redis/redis-helpers.bash
source "$REPO/bats/lab/redis/redis-helpers.bash"

cleanup() {
  lab down >/dev/null 2>&1 || true
  rm -rf -- "$BATS_FILE_TMPDIR"
}
trap cleanup EXIT

say() { printf '==> %s\n' "$*" >&2; }

BASE_PORT=6390

# bench LABEL PIPELINE ARGS...: one row per test (SET, GET) from redis-benchmark's CSV on n1.
bench() {
  local label=$1 pipeline=$2
  shift 2
  # shellcheck disable=SC2016 # expanded inside the node
  lab_exec n1 bash -c "$RDS_AUTH"'exec redis-benchmark -a "$REDISCLI_AUTH" "$@" -t set,get --csv' rb \
      -n "$REQUESTS" -c "$CLIENTS" -P "$pipeline" -r 100000 "$@" 2>/dev/null \
    | awk -F'"' -v label="$label" -v p="$pipeline" '
        $2 == "SET" || $2 == "GET" { printf "%-34s -P %-3s %-4s rps=%-10s p50=%sms p99=%sms\n", label, p, $2, $4, $10, $14 }'
}

main() {
  local config="$BATS_FILE_TMPDIR/redis-3.yaml" n p
  say "lab up (prefix $LAB_PREFIX)"
  grep -v '10.213.0.14' "$REPO/test/fixtures/lab/redis-cluster.yaml" > "$config"
  # rds_setup, with the 3-node config: lab, toolkit pushed, the password in every node's secrets file.
  lab_setup 3 >/dev/null
  lab ssh-mesh >/dev/null 2>&1
  RDS_GEN="$BATS_FILE_TMPDIR/gen"
  toolkit_generate "$config" "$RDS_GEN" 2>/dev/null
  lab_push "$RDS_GEN/cluster" >/dev/null 2>&1
  for n in n1 n2 n3; do
    printf 'REDIS_PASSWORD=%s\n' "$RDS_PASSWORD" \
      | lab_exec "$n" sh -c 'umask 077; mkdir -p /etc/hpc-cluster; cat > /etc/hpc-cluster/secrets.env'
  done
  rds_phase n1 --bootstrap >/dev/null
  for n in n2 n3; do rds_phase "$n" --join --peer "$(lab_ip n1)" >/dev/null; done
  [[ "$(rds_masters n1)" == 3 ]]
  # The baseline: one redis-server beside the cluster's on n1, with the same persistence.
  # shellcheck disable=SC2016 # expanded inside the node
  lab_exec n1 bash -c "$RDS_AUTH"'mkdir -p /var/lib/redis-bench && exec redis-server --port "$1" --bind 127.0.0.1 "$2" \
      --daemonize yes --dir /var/lib/redis-bench --appendonly yes --appendfsync everysec \
      --logfile /var/lib/redis-bench/log --requirepass "$REDISCLI_AUTH"' rb "$BASE_PORT" "$(lab_ip n1)"
  wait_until 10 rds_cli n1 -p "$BASE_PORT" PING
  {
    printf 'redis-benchmark, %s requests, %s clients, random keys over 100000, client on n1; %s\n' \
      "$REQUESTS" "$CLIENTS" "$(redis-server --version | cut -d' ' -f1-3)"
    printf 'load average at the start: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    for p in 1 16; do
      bench "Redis Cluster, 3 masters" "$p" --cluster -h "$(lab_ip n1)" -p 6379
      bench "one redis-server" "$p" -h "$(lab_ip n1)" -p "$BASE_PORT"
    done
    printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  } | tee "$BATS_FILE_TMPDIR/result.txt"
}

main "$@"
