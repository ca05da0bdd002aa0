# shellcheck shell=bash
# lib/tls.sh - the cluster's own certificate authority (storage.tls, database.tls): one CA per
# cluster, created by the first node; every member holds a copy (so any member can take a new node in)
# and a certificate of its own, CN = its configured hostname, signed by it. GlusterFS and Galera read
# copies of these files in the places and with the owners they need (lib/gluster_tls.sh, lib/galera.sh).
# Needs lib/remote.sh. Private keys never pass through a command line or a log: they are written by
# openssl into a root-only directory and copied with run::write_file (content not shown in a dry run).

TLS_DIR="$(path::of /etc/hpc-cluster/tls)"
# Ten years: a certificate that expires takes the storage and the database down with it, and the CA
# never leaves the members. Renewal is a rerun after removing node.crt (docs/security.md).
TLS_DAYS=3650

tls::wanted() { [[ $STORAGE_TLS == true || $DB_TLS == true ]]; }

tls::ca_crt() { printf '%s\n' "$TLS_DIR/ca.crt"; }
tls::ca_key() { printf '%s\n' "$TLS_DIR/ca.key"; }
tls::node_crt() { printf '%s\n' "$TLS_DIR/node.crt"; }
tls::node_key() { printf '%s\n' "$TLS_DIR/node.key"; }

# tls::ensure [PEER]: the CA and this node's certificate. Only a bootstrap (or standalone) run creates a
# missing CA; any other run copies it from PEER, or from the first member that has one: a joining node
# never makes a second CA, whose certificates the members would refuse.
tls::ensure() {
  tls::wanted || return 0
  run::mkdir "$TLS_DIR" 0700
  if [[ -s "$(tls::ca_crt)" && -s "$(tls::ca_key)" ]]; then
    log::info "the cluster CA is here ($(tls::ca_crt))"
  elif [[ ${MODE:-} == bootstrap || ${MODE:-} == standalone ]]; then
    tls::create_ca
  else
    tls::fetch_ca "${1:-}"
  fi
  tls::ensure_cert "$SELF_HOSTNAME" "$SELF_IP" "$(tls::node_crt)" "$(tls::node_key)"
}

# tls::create_ca: a new CA for this cluster (CN names the cluster; key root-only).
tls::create_ca() {
  log::info "creating the cluster CA (CN=hpc-cluster-kit CA $CLUSTER_NAME)"
  if run::is_dry; then
    printf '[dryrun] would create %s and %s (RSA 3072, %s days, key mode 0600)\n' "$(tls::ca_crt)" "$(tls::ca_key)" "$TLS_DAYS"
    return 0
  fi
  local tmp
  tmp="$(mktemp -d "$TLS_DIR/.ca.XXXXXX")"
  openssl req -x509 -newkey rsa:3072 -nodes -sha256 -days "$TLS_DAYS" -subj "/CN=hpc-cluster-kit CA $CLUSTER_NAME" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null || { rm -rf -- "$tmp"; die "openssl could not create the cluster CA"; }
  SECRET_CONTENT=1 run::write_file "$(tls::ca_key)" 0600 < "$tmp/ca.key"
  run::write_file "$(tls::ca_crt)" 0644 < "$tmp/ca.crt"
  rm -rf -- "$tmp"
}

# tls::fetch_ca [PEER]: the CA from PEER (else the first peer that has one) over SSH, checked (a
# certificate, a key, and the key is the certificate's) before anything is written.
tls::fetch_ca() {
  local peer=${1:-} ip tmp
  if run::is_dry; then
    printf '[dryrun] would copy %s and %s from %s\n' "$(tls::ca_crt)" "$(tls::ca_key)" "${peer:-the first member that has them}"
    return 0
  fi
  tmp="$(mktemp -d "$TLS_DIR/.ca.XXXXXX")"
  if [[ -z $peer ]]; then
    while IFS= read -r ip; do
      if remote::run "$ip" test -s "$(tls::ca_key)" < /dev/null 2>/dev/null; then peer=$ip; break; fi
    done < <(node::peer_ips)
  fi
  log::info "copying the cluster CA from ${peer:-?}"
  if [[ -z $peer ]] || ! remote::run "$peer" cat "$(tls::ca_crt)" > "$tmp/ca.crt" < /dev/null \
    || ! remote::run "$peer" cat "$(tls::ca_key)" > "$tmp/ca.key" < /dev/null; then
    rm -rf -- "$tmp"
    die "[ERROR ClusterCA]: ${peer:-no member that answers} has no cluster CA in $TLS_DIR (fix: set storage.tls and database.tls alike on every node before the bootstrap; see docs/security.md)" "$EXIT_PREFLIGHT"
  fi
  if ! tls::key_matches "$tmp/ca.crt" "$tmp/ca.key"; then
    rm -rf -- "$tmp"
    die "[ERROR ClusterCA]: what $peer sent is not a certificate and its key; nothing was written" "$EXIT_PREFLIGHT"
  fi
  SECRET_CONTENT=1 run::write_file "$(tls::ca_key)" 0600 < "$tmp/ca.key"
  run::write_file "$(tls::ca_crt)" 0644 < "$tmp/ca.crt"
  rm -rf -- "$tmp"
}

# tls::key_matches CRT KEY: KEY is the private key of certificate CRT.
tls::key_matches() {
  local a b
  a="$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null)" && [[ -n $a ]] || return 1
  b="$(openssl pkey -in "$2" -pubout 2>/dev/null)" && [[ $a == "$b" ]]
}

# tls::cert_ok CN CRT KEY: CRT is signed by the cluster CA, names CN and belongs to KEY.
tls::cert_ok() {
  local cn=$1 crt=$2 key=$3
  [[ -s $crt && -s $key ]] || return 1
  openssl verify -CAfile "$(tls::ca_crt)" "$crt" >/dev/null 2>&1 || return 1
  [[ "$(openssl x509 -in "$crt" -noout -subject -nameopt multiline 2>/dev/null | awk -F' = ' '/commonName/ { print $2 }')" == "$cn" ]] || return 1
  tls::key_matches "$crt" "$key"
}

# tls::ensure_cert CN IP CRT KEY: a certificate for CN (SAN: the name and IP) signed by the cluster CA,
# for TLS servers and clients alike; kept when it is already valid for that CA and name.
tls::ensure_cert() {
  local cn=$1 ip=$2 crt=$3 key=$4 tmp
  if tls::cert_ok "$cn" "$crt" "$key"; then
    log::info "the certificate of $cn is valid ($crt)"
    return 0
  fi
  log::info "issuing a certificate for $cn ($ip), signed by the cluster CA"
  if run::is_dry; then
    printf '[dryrun] would write %s and %s (CN=%s, %s days)\n' "$crt" "$key" "$cn" "$TLS_DAYS"
    return 0
  fi
  tmp="$(mktemp -d "$TLS_DIR/.cert.XXXXXX")"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:%s,IP:%s\n' \
    "$cn" "$ip" > "$tmp/ext.cnf"
  if ! openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$tmp/node.key" -out "$tmp/node.csr" 2>/dev/null \
    || ! openssl x509 -req -sha256 -days "$TLS_DAYS" -in "$tmp/node.csr" -CA "$(tls::ca_crt)" -CAkey "$(tls::ca_key)" \
      -set_serial "0x$(openssl rand -hex 16)" -extfile "$tmp/ext.cnf" -out "$tmp/node.crt" 2>/dev/null; then
    rm -rf -- "$tmp"
    die "openssl could not issue the certificate of $cn"
  fi
  SECRET_CONTENT=1 run::write_file "$key" 0600 < "$tmp/node.key"
  run::write_file "$crt" 0644 < "$tmp/node.crt"
  rm -rf -- "$tmp"
}

# tls::install_copy SRC DEST MODE [OWNER]: a copy of one of the files above where a daemon reads it
# (a private key keeps SECRET_CONTENT: a dry run never shows it).
tls::install_copy() {
  local src=$1 dest=$2 mode=$3 owner=${4:-} secret=0
  [[ $src == *.key ]] && secret=1
  if run::is_dry && [[ ! -f $src ]]; then
    printf '[dryrun] would copy %s to %s (mode %s%s)\n' "$src" "$dest" "$mode" "${owner:+, owner $owner}"
    return 0
  fi
  SECRET_CONTENT=$secret run::write_file "$dest" "$mode" "$owner" < "$src"
}
