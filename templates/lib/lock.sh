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

# Seconds a run waits for the leftovers of a killed run of its kind to let go of the lock.
HPC_LOCK_ORPHAN_WAIT="${HPC_LOCK_ORPHAN_WAIT:-120}"

# lock::acquire NAME [WAIT_S]: take the lock, or exit 4 naming the holder: at once, or after waiting up
# to WAIT_S seconds for it (a short run of the same kind that is about to finish).
# A run killed with SIGKILL (kill -9 of its process group, the OOM killer) can leave processes behind:
# `timeout CMD` makes itself a process group of its own, so a group kill misses it, and what it runs
# inherited the lock's descriptor. They end by themselves (they run under a timeout), so when the pid
# that took the lock is gone the lock is theirs: wait up to HPC_LOCK_ORPHAN_WAIT seconds for them.
lock::acquire() {
  local name=$1 wait=${2:-0} dir file holder
  dir="$(lock::dir)"
  file="$dir/hpc-cluster-$name.lock"
  exec {HPC_LOCK_FD}<>"$file"
  if flock -n "$HPC_LOCK_FD" || { (( wait > 0 )) && flock -w "$wait" "$HPC_LOCK_FD"; }; then
    :
  else
    holder="$(cat "$file" 2>/dev/null || true)"
    if [[ $holder =~ ^[0-9]+$ ]] && ! lock::alive "$holder"; then
      log::warn "the '$name' run that took the lock (pid $holder) is gone (killed?); processes it left still hold it: $(lock::holders "$file" {HPC_LOCK_FD}>&-). Waiting up to ${HPC_LOCK_ORPHAN_WAIT}s for them to end."
      flock -w "$HPC_LOCK_ORPHAN_WAIT" "$HPC_LOCK_FD" \
        || die "the lock file $file is still held by processes of the killed '$name' run (pid $holder): $(lock::holders "$file" {HPC_LOCK_FD}>&-). Let them finish or stop them (kill PID), then rerun." "$EXIT_LOCKED"
      log::info "the leftovers of run $holder ended; going on"
    else
      die "another '$name' run is in progress${holder:+ (pid $holder)}; lock file $file. Wait for it to finish." "$EXIT_LOCKED"
    fi
  fi
  printf '%s\n' "$$" > "$file"
  # shellcheck disable=SC2034 # for callers that report the lock
  HPC_LOCK_FILE=$file
}

# lock::alive PID: PID runs (a killed process its parent has not reaped yet is a zombie: gone).
lock::alive() {
  local state
  state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n $state && $state != Z ]]
}

# lock::holders FILE: "PID (COMMAND)" of every process with FILE open, comma-separated, this run aside
# (call it with the lock's descriptor closed, or its own commands hold the file too).
lock::holders() {
  local pid args out=()
  # /proc changes under find (processes end): its complaints and exit status mean nothing here
  while IFS= read -r pid; do
    [[ $pid != "$$" ]] || continue
    args="$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | cut -c1-60 | sed 's/ *$//')" || true
    [[ -z $args ]] || out+=("$pid ($args)")
  done < <({ find /proc/[0-9]*/fd -maxdepth 1 -lname "$1" 2>/dev/null || true; } | cut -d/ -f3 | sort -un)
  local IFS=,
  printf '%s\n' "${out[*]:-none found}"
}

# lock::release: normally the lock goes with the process; this is for long-lived callers.
lock::release() {
  [[ -n "${HPC_LOCK_FD:-}" ]] || return 0
  flock -u "$HPC_LOCK_FD"
  exec {HPC_LOCK_FD}>&-
  HPC_LOCK_FD=""
}
