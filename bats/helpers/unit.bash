# shellcheck shell=bash
# The one set of helpers every bats/unit suite loads (`load "${HPC_REPO_ROOT}/bats/helpers/unit.bash"`):
# bats-support and bats-assert, the toolkit generator (toolkit.bash) and PATH stubs that record
# their calls.
HPC_REPO_ROOT="${HPC_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# shellcheck source=toolkit.bash
source "$HPC_REPO_ROOT/bats/helpers/toolkit.bash"
bats_load_library bats-support
bats_load_library bats-assert

# stub_init: this test's stub dir (STUB_DIR, default $BATS_TEST_TMPDIR/bin) in front of PATH and an
# empty call log (STUB_LOG, default $BATS_TEST_TMPDIR/calls.log). Call it from setup().
stub_init() {
  export STUB_DIR="${STUB_DIR:-$BATS_TEST_TMPDIR/bin}" STUB_LOG="${STUB_LOG:-$BATS_TEST_TMPDIR/calls.log}"
  mkdir -p "$STUB_DIR"
  : > "$STUB_LOG"
  [[ ":$PATH:" == *":$STUB_DIR:"* ]] || export PATH="$STUB_DIR:$PATH"
}

# stub NAME [BODY]: a command NAME in the stub dir that appends "NAME ARGS" to STUB_LOG, then runs
# BODY (bash; default: exit 0).
stub() {
  local dir="${STUB_DIR:-$BATS_TEST_TMPDIR/bin}"
  mkdir -p "$dir"
  # shellcheck disable=SC2016 # the stub expands "$*" when it runs
  printf '#!/usr/bin/env bash\nprintf "%%s %%s\\n" %q "$*" >> "$STUB_LOG"\n%s\n' "$1" "${2:-}" > "$dir/$1"
  chmod +x "$dir/$1"
}

# called NAME: the recorded argument lines of one stub, e.g. `run called gluster`.
called() {
  grep "^$1 " "$STUB_LOG" | cut -d' ' -f2- || true
}
