# Shared setup for the backup unit tests: one toolkit generated per file, a root prefix per test, and
# PATH stubs for the daemons' clients (mariadb, mariadb-dump, pgrep) that record their calls.
load "${HPC_REPO_ROOT}/bats/helpers/toolkit.bash"
bats_load_library bats-support
bats_load_library bats-assert

# backup_generate: once per file (setup_file). The Redis and Slurm backup scripts (other issues) are
# removed from this copy, so "missing script" is tested deterministically; fake_service adds fakes.
backup_generate() {
  export BKP_TOOLKIT="$BATS_FILE_TMPDIR/gen/cluster"
  if [[ ! -d $BKP_TOOLKIT ]]; then
    toolkit_generate "$(toolkit_fixture lab/backup-unit.yaml)" "$BATS_FILE_TMPDIR/gen"
    rm -f "$BKP_TOOLKIT"/backup/{backup,restore}_{redis,slurm}.sh
  fi
}

# fake_service ACTION SVC BODY: a per-service contract script in a private copy of the toolkit.
fake_service() {
  if [[ $BKP_TOOLKIT != "$BATS_TEST_TMPDIR"/* ]]; then
    cp -a "$BKP_TOOLKIT" "$BATS_TEST_TMPDIR/toolkit"
    BKP_TOOLKIT="$BATS_TEST_TMPDIR/toolkit"
  fi
  printf '#!/usr/bin/env bash
echo "%s_%s $*" >> "$STUB_LOG"
%s
' "$1" "$2" "$3" > "$BKP_TOOLKIT/backup/$1_$2.sh"
  chmod +x "$BKP_TOOLKIT/backup/$1_$2.sh"
}

# backup_setup: a fresh root with a few config trees, stubs first in PATH.
backup_setup() {
  export ROOT_PREFIX="$BATS_TEST_TMPDIR/root"
  export HPC_NODE_IP=10.213.0.11 HPC_INIT=sysv TZ=UTC NO_COLOR=1
  export STUB_LOG="$BATS_TEST_TMPDIR/calls.log"
  mkdir -p "$ROOT_PREFIX"/etc/mysql/conf.d "$ROOT_PREFIX"/etc/redis "$ROOT_PREFIX"/run/lock \
    "$ROOT_PREFIX"/etc/init.d "$ROOT_PREFIX/var/lib/hpc-cluster" "$BATS_TEST_TMPDIR/bin"
  printf '[mysqld]\nbind-address=10.213.0.11\n' > "$ROOT_PREFIX/etc/mysql/conf.d/60-galera.cnf"
  printf 'port 6379\n' > "$ROOT_PREFIX/etc/redis/redis.conf"
  head -c 200000 /dev/urandom > "$ROOT_PREFIX/etc/redis/big.bin"
  # the key of the snapshots' metadata HMAC (lib/backup_integrity.sh)
  mkdir -p "$ROOT_PREFIX/etc/hpc-cluster"
  (umask 077; printf 'BACKUP_HMAC_KEY=unit-hmac-key\n' > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env")
  : > "$STUB_LOG"
  stub pgrep 'exit 1'
  # the shared volume (backup item shared_storage in the unit fixture) is "mounted"
  stub findmnt 'echo fuse.glusterfs'
  mkdir -p "$ROOT_PREFIX/mnt/gluster/home"
  echo shared > "$ROOT_PREFIX/mnt/gluster/home/file.txt"
  # MariaDB stubs: a server that answers, is not Galera, and has one user database.
  stub mariadb 'case "$*" in
  *"SELECT 1"*) echo 1 ;;
  *"@@wsrep_on"*) echo 0 ;;
  *schemata*) echo app ;;
  *VERSION*) echo 10.11.19-MariaDB ;;
  *) cat >/dev/null ;;
esac'
  stub mariadb-dump 'if [[ $* == *--system=users* ]]; then echo "CREATE USER IF NOT EXISTS u;"; else echo "CREATE DATABASE app; -- ${STUB_DUMP_TEXT:-rows}"; fi'
  export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
}

# stub NAME BODY: a command in front of PATH that logs its arguments and runs BODY.
stub() {
  printf '#!/usr/bin/env bash\nprintf "%%s %%s\\n" %q "$*" >> "$STUB_LOG"\n%s\n' "$1" "$2" > "$BATS_TEST_TMPDIR/bin/$1"
  chmod +x "$BATS_TEST_TMPDIR/bin/$1"
}

snaps() {
  printf '%s\n' "$ROOT_PREFIX/data/system_backup/snapshots"
}

# fake_init NAME: an init script under the root prefix that records start/stop; pgrep says it runs.
fake_init() {
  local state="$BATS_TEST_TMPDIR/$1.running"
  printf '#!/usr/bin/env bash\necho "init %s $1" >> "%s"\ncase $1 in start) touch %q ;; stop) rm -f %q ;; esac\n' \
    "$1" "$STUB_LOG" "$state" "$state" > "$ROOT_PREFIX/etc/init.d/$1"
  chmod +x "$ROOT_PREFIX/etc/init.d/$1"
  touch "$state"
  stub pgrep "[[ \$* == *$1* && -e $(printf %q "$state") ]]"
}

# resign DIR: authenticate DIR/metadata.json again after a test edited it (as a backup taken with
# that content would have), with openssl as the reference HMAC-SHA256.
resign() {
  openssl dgst -sha256 -hmac unit-hmac-key -r "$1/metadata.json" | cut -c1-64 > "$1/metadata.hmac"
}
