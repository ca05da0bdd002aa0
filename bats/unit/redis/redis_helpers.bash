# Shared setup for the Redis unit tests: one toolkit per file (from the lab fixtures), a root prefix
# per test, and PATH stubs (redis-cli, start-stop-daemon, ssh) that record their calls.
load "${HPC_REPO_ROOT}/bats/helpers/unit.bash"

RDS_PW=unit-secret-Zq81

# redis_generate FIXTURE: once per file.
redis_generate() {
  export RDS_TOOLKIT="$BATS_FILE_TMPDIR/gen-${1%.yaml}/cluster"
  [[ -d $RDS_TOOLKIT ]] || toolkit_generate "$(toolkit_fixture "lab/$1")" "$BATS_FILE_TMPDIR/gen-${1%.yaml}" 2>/dev/null
}

redis_setup() {
  export ROOT_PREFIX="$BATS_TEST_TMPDIR/root"
  export HPC_NODE_IP=10.213.0.11 HPC_INIT=sysv NO_COLOR=1
  export HPC_SECRETS_ANY_OWNER=1
  mkdir -p "$ROOT_PREFIX"/etc/hpc-cluster "$ROOT_PREFIX"/run/lock
  stub_init
  (umask 077; printf 'REDIS_PASSWORD=%s\n' "$RDS_PW" > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env")
  # No Redis answers unless a test says otherwise.
  stub redis-cli 'exit 1'
  stub start-stop-daemon 'exit 0'
  stub ssh 'exit 255'
}


# in_lib CODE: run CODE with the generated library and lib/redis.sh loaded.
in_lib() {
  bash -c 'source "$1/lib/common.sh"; source "$1/lib/redis.sh"; eval "$2"' in_lib "$RDS_TOOLKIT" "$1"
}
