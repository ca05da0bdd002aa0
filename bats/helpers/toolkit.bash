# bats helpers shared by unit and lab suites: generate a toolkit from a fixture config.
# Usage in a .bats file:  load "${HPC_REPO_ROOT}/bats/helpers/toolkit.bash"
HPC_REPO_ROOT="${HPC_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

# toolkit_generate CONFIG OUTDIR: write OUTDIR/cluster from CONFIG (fails the test on invalid config).
toolkit_generate() {
  local config=$1 out=$2
  (cd "$HPC_REPO_ROOT" && node_modules/.bin/tsx generator/cli/main.ts generate -c "$config" -o "$out" >/dev/null)
}

# toolkit_fixture NAME: the path of test/fixtures/NAME.
toolkit_fixture() {
  printf '%s\n' "$HPC_REPO_ROOT/test/fixtures/$1"
}
