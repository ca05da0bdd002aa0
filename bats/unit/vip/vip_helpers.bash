# Shared setup for the VIP unit tests: toolkits generated once per file from the lab fixture (and
# variants of it), a root prefix per test, and PATH stubs that record their calls.
load "${HPC_REPO_ROOT}/bats/helpers/unit.bash"

# vip_generate_variant NAME SED_EXPR...: a toolkit from vip-lab3.yaml edited by sed; sets VIP_TK.
vip_generate_variant() {
  local dir="$BATS_FILE_TMPDIR/gen-$1" args=() e
  shift
  for e in "$@"; do args+=(-e "$e"); done
  if [[ ! -d $dir/cluster ]]; then
    mkdir -p "$dir"
    if (( ${#args[@]} )); then
      sed "${args[@]}" "$(toolkit_fixture lab/vip-lab3.yaml)" > "$dir/config.yaml"
    else
      cp "$(toolkit_fixture lab/vip-lab3.yaml)" "$dir/config.yaml"
    fi
    toolkit_generate "$dir/config.yaml" "$dir" 2>/dev/null
  fi
  VIP_TK="$dir/cluster"
}

vip_unit_setup() {
  export ROOT_PREFIX="$BATS_TEST_TMPDIR/root"
  export HPC_NODE_IP=10.213.0.11 HPC_INIT=sysv NO_COLOR=1 HPC_SECRETS_ANY_OWNER=1
  mkdir -p "$ROOT_PREFIX"/etc/hpc-cluster "$ROOT_PREFIX"/run/lock "$ROOT_PREFIX"/proc
  stub_init
  (umask 077; printf 'REDIS_PASSWORD=r\nVRRP_PASSWORD=abc12345\n' > "$ROOT_PREFIX/etc/hpc-cluster/secrets.env")
  printf 'MemTotal: 1000 kB\nMemAvailable: 800 kB\n' > "$ROOT_PREFIX/proc/meminfo"
  # A healthy node unless a test says otherwise: MariaDB without Galera, both web services up.
  stub mariadb 'exit 0'
  stub pidof 'exit 0'
  stub curl 'exit 0'
  stub pgrep 'exit 1'
  stub scontrol 'exit 0'
  stub ssh 'exit 255'
  # shellcheck disable=SC2016 # stub bodies run later
  stub ip 'case "$*" in
    *"link show"*) echo "2: eth0: <UP>";;
    *"addr show"*) printf "2: eth0    inet 10.213.0.11/24 scope global eth0\n${VIP_HELD:+2: eth0    inet 10.213.0.100/24 scope global secondary eth0\n}";;
  esac'
  stub keepalived 'case "$*" in --version) echo "Keepalived v2.2.7";; esac'
}


# in_lib CODE: run CODE with the generated library and lib/keepalived.sh loaded.
in_lib() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  bash -c 'source "$1/lib/common.sh"; source "$1/lib/keepalived.sh"; eval "$2"' in_lib "$VIP_TK" "$1"
}
