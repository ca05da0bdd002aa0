# shellcheck shell=bash
# lib/lock.sh - one lock per operation, so two runs never overlap.

# lock::acquire NAME: take the lock or exit 4 at once, naming the holder.
lock::acquire() {
  local name=$1 dir file holder
  dir="$(path::of /run/lock)"
  [[ -d $dir ]] || dir="${TMPDIR:-/tmp}"
  file="$dir/hpc-cluster-$name.lock"
  exec {HPC_LOCK_FD}<>"$file"
  if ! flock -n "$HPC_LOCK_FD"; then
    holder="$(cat "$file" 2>/dev/null || true)"
    die "another '$name' run is in progress${holder:+ (pid $holder)}; lock file $file. Wait for it to finish." "$EXIT_LOCKED"
  fi
  printf '%s\n' "$$" > "$file"
  # shellcheck disable=SC2034 # for callers that report the lock
  HPC_LOCK_FILE=$file
}

# lock::release: normally the lock goes with the process; this is for long-lived callers.
lock::release() {
  [[ -n "${HPC_LOCK_FD:-}" ]] || return 0
  flock -u "$HPC_LOCK_FD"
  exec {HPC_LOCK_FD}>&-
  HPC_LOCK_FD=""
}
