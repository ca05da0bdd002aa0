# shellcheck shell=bash
# lib/lock.sh - one lock per operation, so two runs never overlap.

# lock::dir: the toolkit's runtime directory, /run/hpc-cluster, root's alone (0700). Not /run/lock or
# /tmp: they are world-writable, and a "lock file" a local user planted there as a symlink to
# /etc/shadow would be opened and written by root. Refuses a directory that is a link or not ours.
lock::dir() {
  local dir
  dir="$(path::of /run/hpc-cluster)"
  [[ -d $dir || -L $dir ]] || { mkdir -p "$(dirname "$dir")" && mkdir -m 0700 "$dir"; } 2>/dev/null || true
  if [[ -L $dir || ! -d $dir || ! -O $dir ]]; then
    die "$dir is not a directory of this user (a link, or someone else's): remove it; the toolkit recreates it 0700" "$EXIT_REFUSED"
  fi
  chmod 0700 "$dir"
  printf '%s\n' "$dir"
}

# lock::acquire NAME [WAIT_S]: take the lock, or exit 4 naming the holder: at once, or after waiting up
# to WAIT_S seconds for it (a short run of the same kind that is about to finish).
lock::acquire() {
  local name=$1 wait=${2:-0} dir file holder
  dir="$(lock::dir)"
  file="$dir/hpc-cluster-$name.lock"
  exec {HPC_LOCK_FD}<>"$file"
  if ! flock -n "$HPC_LOCK_FD" && { (( wait == 0 )) || ! flock -w "$wait" "$HPC_LOCK_FD"; }; then
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
