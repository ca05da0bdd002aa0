#!/usr/bin/env bats
# docs/QUICK_START.md, run as written: its cluster_config.yaml block is the config the toolkit is generated
# from, and every fenced block marked test=first|others|each runs, in order, on node1 / every other node /
# every node of a 2-node lab. What the lab does for the reader's unmarked blocks: the packages are the
# host's, `lab ssh-mesh` exchanges root keys and pins host keys, `lab push` copies the toolkit.

load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"

GUIDE="$HPC_REPO_ROOT/docs/QUICK_START.md"
NODES=(n1 n2)

# extract_blocks GUIDE DIR: DIR/cluster_config.yaml and DIR/NN.TARGET (one file per marked block).
extract_blocks() {
  awk -v dir="$2" '
    /^```yaml file=cluster_config.yaml$/ { out = dir "/cluster_config.yaml"; next }
    /^```bash test=(first|others|each)$/ { n++; split($2, t, "="); out = sprintf("%s/%02d.%s", dir, n, t[2]); next }
    /^```/ { if (out) close(out); out = ""; next }
    out { print > out }
  ' "$1"
}

setup_file() {
  export BLOCKS="$BATS_FILE_TMPDIR/blocks"
  mkdir -p "$BLOCKS"
  extract_blocks "$GUIDE" "$BLOCKS"
  lab_setup "${#NODES[@]}" >/dev/null 2>&1
  toolkit_generate "$BLOCKS/cluster_config.yaml" "$BATS_FILE_TMPDIR/tk"
  lab ssh-mesh >/dev/null 2>&1
  lab_push "$BATS_FILE_TMPDIR/tk/cluster" >/dev/null 2>&1
}

teardown_file() {
  lab_teardown >/dev/null 2>&1 || true
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

# run_block FILE: the block on the nodes its target names, stopping at the first failure.
run_block() {
  local file=$1 target=${1##*.} n nodes=()
  case "$target" in
    first) nodes=("${NODES[0]}") ;;
    others) nodes=("${NODES[@]:1}") ;;
    each) nodes=("${NODES[@]}") ;;
  esac
  for n in "${nodes[@]}"; do
    echo "### $(basename "$file") on $n"
    # The block as an argument, not on stdin: its own commands (ssh) would read the rest of it.
    lab_exec "$n" bash -euo pipefail -c "$(cat "$file")" < /dev/null 2>&1 || { echo "### $(basename "$file") failed on $n (exit $?)"; return 1; }
  done
}

@test "the guide has a config block and marked blocks for every step" {
  [[ -s $BLOCKS/cluster_config.yaml ]]
  run ls "$BLOCKS"
  assert_output --partial ".first"
  assert_output --partial ".others"
  assert_output --partial ".each"
  local blocks=("$BLOCKS"/[0-9]*)
  (( ${#blocks[@]} >= 7 ))
}

@test "every marked block of QUICK_START.md runs as written, in order" {
  local f
  for f in "$BLOCKS"/[0-9]*; do
    run run_block "$f"
    if (( status != 0 )); then
      echo "$output" | tail -n 40
      return 1
    fi
  done
}

@test "afterwards: Galera Synced with 2 members, one VIP holder, and the first snapshot on both nodes" {
  local n
  for n in "${NODES[@]}"; do
    run lab_exec "$n" mariadb -N -B -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_local_state_comment')"
    assert_output --partial "wsrep_cluster_size	2"
    assert_output --partial "Synced"
  done
  local holders=0
  for n in "${NODES[@]}"; do
    if lab_exec "$n" ip -4 -o addr show dev eth0 | grep -qF " 10.213.0.100/"; then holders=$(( holders + 1 )); fi
  done
  assert_equal "$holders" 1
  run lab_exec n1 sh -c 'ls /data/system_backup/snapshots'
  assert_success
  [[ -n $output ]]
  run lab_exec n2 sh -c 'ls /data/system_backup/replicas/node1'
  assert_success
  [[ -n $output ]]
}
