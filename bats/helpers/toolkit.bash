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

# toolkit_deploy CONFIG NODE...: (lab suites) generate the toolkit from CONFIG, mesh ssh, push it
# to every node, and on each NODE create /data and the root-only secrets file, as an admin would.
# LAB_SECRETS replaces the default NAME=value lines.
toolkit_deploy() {
  local config=$1 n out secrets
  shift
  out="$BATS_FILE_TMPDIR/tk"
  toolkit_generate "$config" "$out"
  lab ssh-mesh >/dev/null 2>&1
  lab_push "$out/cluster" >/dev/null 2>&1
  secrets="${LAB_SECRETS:-$'DB_SLURM_PASSWORD=slurm-secret-1\nDB_AUTH_PASSWORD=auth-secret-2\nREDIS_PASSWORD=redis-secret-3'}"
  for n in "$@"; do
    lab_exec "$n" sh -c 'mkdir -p /etc/hpc-cluster /data && umask 077 && cat > /etc/hpc-cluster/secrets.env' <<< "$secrets"
  done
}
