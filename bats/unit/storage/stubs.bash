# Stubs for the storage and Slurm unit tests: a toolkit generated once per file, a temp ROOT_PREFIX,
# and PATH stubs for gluster, glusterd, mount, findmnt, ssh ... that record every call in $STUB_LOG and
# answer from small state files under $STUB_STATE (so a test sets the world up by creating files).
load "${HPC_REPO_ROOT}/bats/helpers/unit.bash"

# stubs_generate FIXTURE: the toolkit for this .bats file (once, in setup_file).
stubs_generate() {
  toolkit_generate "$(toolkit_fixture "$1")" "$BATS_FILE_TMPDIR/gen"
}

stubs_setup() {
  export TK="$BATS_FILE_TMPDIR/gen/cluster"
  export ROOT_PREFIX="$BATS_TEST_TMPDIR/root"
  export STUB_DIR="$BATS_TEST_TMPDIR/stubs"
  export STUB_STATE="$BATS_TEST_TMPDIR/state"
  export HPC_NODE_IP=10.213.0.11 HPC_INIT=sysv HPC_LOG_FILE="$BATS_TEST_TMPDIR/tool.log"
  export HPC_SECRETS_FILE="$BATS_TEST_TMPDIR/secrets.env" HPC_SECRETS_ANY_OWNER=1
  mkdir -p "$ROOT_PREFIX"/{etc,dev,run,var/lib} "$STUB_STATE"
  stub_init
  : > "$ROOT_PREFIX/dev/fuse"
  printf 'DB_SLURM_PASSWORD=pw\nREDIS_PASSWORD=x\n' > "$HPC_SECRETS_FILE"
  chmod 600 "$HPC_SECRETS_FILE"
  local name
  # Commands that only need to exist and succeed (their calls are recorded).
  for name in glusterd mount.glusterfs mount umount mountpoint-never uuidgen-fixed munged slurmctld slurmd sacctmgr sinfo scontrol; do
    stub "$name" 'exit 0'
  done
  stub uuidgen 'echo 11111111-2222-3333-4444-555555555555'
  stub mountpoint 'exit 1'
  # findmnt: the shared mount exists when $STUB_STATE/mounted does; --target answers the mount point
  # for paths below it unless $STUB_STATE/state_local exists (then "/").
  stub findmnt '
    mp="$ROOT_PREFIX/mnt/gluster"
    case " $* " in
      *" --mountpoint "*) [ -f "$STUB_STATE/mounted" ] && echo "${STUB_FSTYPE:-fuse.glusterfs}"; exit 0 ;;
      *" --target "*)
        for a in "$@"; do t=$a; done
        if [ -f "$STUB_STATE/mounted" ] && [ ! -f "$STUB_STATE/state_local" ] && case "$t" in "$mp"|"$mp"/*) true ;; *) false ;; esac; then echo "$mp"; else echo /; fi
        exit 0 ;;
    esac'
  # ssh: answers from $STUB_STATE/ssh_out and $STUB_STATE/ssh_rc (default: fails like a node without glusterd).
  stub ssh 'cat "$STUB_STATE/ssh_out" 2>/dev/null || echo "Connection failed. Please check if gluster daemon is operational."; exit "$(cat "$STUB_STATE/ssh_rc" 2>/dev/null || echo 1)"'
  stub gluster "$(gluster_stub)"
}


# gluster: a volume exists when $STUB_STATE/volume holds its bricks (one per line); started when
# $STUB_STATE/started exists; peers are the lines of $STUB_STATE/peers; heal summary from $STUB_STATE/heal.
gluster_stub() {
  cat <<'BODY'
shift  # --mode=script
vol="$STUB_STATE/volume"
case "$1 $2" in
  "pool list") echo "UUID Hostname State"; exit 0 ;;
  "peer status")
    n=0; [ -f "$STUB_STATE/peers" ] && n=$(grep -c . "$STUB_STATE/peers")
    echo "Number of Peers: $n"
    [ -f "$STUB_STATE/peers" ] && while read -r p; do printf '\nHostname: %s\nUuid: x\nState: Peer in Cluster (Connected)\n' "$p"; done < "$STUB_STATE/peers"
    exit 0 ;;
  "peer probe") echo "$3" >> "$STUB_STATE/peers"; exit 0 ;;
  "peer detach") grep -vxF "$3" "$STUB_STATE/peers" > "$STUB_STATE/peers.new"; mv "$STUB_STATE/peers.new" "$STUB_STATE/peers"; exit 0 ;;
  "volume info")
    [ -f "$vol" ] || { echo "Volume $3 does not exist" >&2; exit 1; }
    n=$(grep -c . "$vol"); r=${STUB_REPLICA:-$n}
    if [ "$4" = --xml ]; then echo "<replicaCount>$r</replicaCount>"; exit 0; fi
    echo "Volume Name: $3"
    if [ -f "$STUB_STATE/started" ]; then echo "Status: Started"; else echo "Status: Created"; fi
    i=0; while read -r b; do i=$((i+1)); echo "Brick$i: $b"; done < "$vol"
    exit 0 ;;
  "volume create") echo "$4" > "$vol"; exit 0 ;;
  "volume start") : > "$STUB_STATE/started"; exit 0 ;;
  "volume get") printf 'Option Value\n------ -----\n%s default (DEFAULT)\n' "$4"; exit 0 ;;
  "volume set") exit 0 ;;
  "volume add-brick") echo "$6" >> "$vol"; exit 0 ;;
  "volume remove-brick") grep -vxF "$6" "$vol" > "$vol.new"; mv "$vol.new" "$vol"; exit 0 ;;
  "volume heal")
    if [ "$4" = info ]; then cat "$STUB_STATE/heal" 2>/dev/null || printf 'Brick a\nStatus: Connected\nTotal Number of entries: 0\n'; fi
    exit 0 ;;
esac
echo "gluster stub: unhandled: $*" >&2
exit 1
BODY
}

