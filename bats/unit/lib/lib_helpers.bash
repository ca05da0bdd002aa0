# Shared setup for the library's unit tests: a toolkit generated once per file, a temp ROOT_PREFIX,
# and PATH stubs that record their calls.
load "${HPC_REPO_ROOT}/bats/helpers/unit.bash"

lib_setup_file() {
  export TOOLKIT_OUT="$BATS_FILE_TMPDIR/out"
  toolkit_generate "$(toolkit_fixture valid/minimal.yaml)" "$TOOLKIT_OUT"
  export TK="$TOOLKIT_OUT/cluster"
}

lib_setup() {
  export ROOT_PREFIX="$BATS_TEST_TMPDIR/root"
  mkdir -p "$ROOT_PREFIX/run/lock" "$ROOT_PREFIX/etc/init.d"
  stub_init
  export HPC_LOG_FILE="$BATS_TEST_TMPDIR/test.log"
  unset DRY_RUN ASSUME_YES HPC_INIT HPC_NODE_IP HPC_LOCAL_IPS
}


# in_lib CODE: run bash CODE with the toolkit's library loaded (as a script in the toolkit would).
in_lib() {
  local script="$TK/utils/.unit-test-$BATS_TEST_NUMBER.sh"
  printf '#!/usr/bin/env bash\nset -Eeuo pipefail\nsource "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"\n%s\n' "$1" > "$script"
  run bash "$script"
  rm -f "$script"
}
