# Helpers for the Redis lab suites (bats/lab/redis/*.bats): a lab with the generated toolkit pushed,
# the secrets file on every node, and small probes that read the password inside the node (it never
# appears on a command line).
#   rds_setup N FIXTURE        lab of N nodes, ssh mesh, toolkit from test/fixtures/lab/FIXTURE, secrets
#   rds_phase nK ARGS...       run setup/phase2_redis_setup.sh ARGS on nK
#   rds_cli nK ARGS...         redis-cli (password from the node's secrets file) on nK
#   rds_write nK FROM TO       SET key:I valI for I in FROM..TO through the cluster (redis-cli -c)
#   rds_count_ok nK FROM TO    every key:I in FROM..TO reads back valI (prints the number that do)
#   rds_masters nK             the number of masters serving slots
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"

RDS_TOOLKIT=/opt/hpc-dashboard/cluster
RDS_PASSWORD=lab-redis-pw-4711

rds_setup() {
  local n=$1 fixture=$2 k
  lab_setup "$n" >/dev/null
  lab ssh-mesh >/dev/null 2>&1
  RDS_GEN="$BATS_FILE_TMPDIR/gen"
  toolkit_generate "$HPC_REPO_ROOT/test/fixtures/lab/$fixture" "$RDS_GEN" 2>/dev/null
  lab_push "$RDS_GEN/cluster" >/dev/null 2>&1
  for (( k = 1; k <= n; k++ )); do
    printf 'REDIS_PASSWORD=%s\n' "$RDS_PASSWORD" \
      | lab_exec "n$k" sh -c 'umask 077; mkdir -p /etc/hpc-cluster; cat > /etc/hpc-cluster/secrets.env'
  done
}

rds_phase() {
  local node=$1
  shift
  lab_exec "$node" "$RDS_TOOLKIT/setup/phase2_redis_setup.sh" "$@"
}

# shellcheck disable=SC2016 # expanded inside the node
RDS_AUTH='export REDISCLI_AUTH="$(sed -n "s/^REDIS_PASSWORD=//p" /etc/hpc-cluster/secrets.env)"; '

rds_cli() {
  local node=$1
  shift
  lab_exec "$node" bash -c "$RDS_AUTH"'exec redis-cli --no-auth-warning "$@"' rds "$@"
}

rds_write() {
  lab_exec "$1" bash -c "$RDS_AUTH"'for ((i = $2; i <= $3; i++)); do printf "SET key:%d val%d\n" "$i" "$i"; done \
    | redis-cli --no-auth-warning -c -h "$1" | grep -c "^OK$"' rds "$(lab_ip "$1")" "$2" "$3"
}

rds_count_ok() {
  lab_exec "$1" bash -c "$RDS_AUTH"'paste -d" " <(for ((i = $2; i <= $3; i++)); do printf "GET key:%d\n" "$i"; done \
    | redis-cli --no-auth-warning -c -h "$1" | grep -v "^-> Redirected") <(seq "$2" "$3") | awk "\$1 == \"val\" \$2 { n++ } END { print n + 0 }"' \
    rds "$(lab_ip "$1")" "$2" "$3"
}

rds_masters() {
  rds_cli "$1" -h "$(lab_ip "$1")" CLUSTER NODES | awk '$3 ~ /master/ && $3 !~ /fail/ && NF > 8 { n++ } END { print n + 0 }'
}
