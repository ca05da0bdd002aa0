#!/usr/bin/env bats
# lib/tls.sh: the cluster CA and the node certificates (storage.tls, database.tls), with the real
# openssl under a temporary ROOT_PREFIX; ssh is a stub that records calls and answers as a peer would.

setup_file() {
  load lib_helpers
  lib_setup_file
}

setup() {
  load lib_helpers
  lib_setup
}

# tls_run CODE: CODE with lib/tls.sh loaded, as node1 of the fixture with both TLS options on.
tls_run() {
  in_lib "source \"\$HPC_LIB_DIR/tls.sh\"; STORAGE_TLS=true DB_TLS=true SELF_HOSTNAME=node1 SELF_IP=10.0.0.11; $1"
}

@test "a bootstrap creates the CA and a certificate for this node, keys root-only; a rerun keeps both" {
  tls_run 'MODE=bootstrap tls::ensure'
  assert_success
  assert_output --partial "creating the cluster CA"
  local d=$ROOT_PREFIX/etc/hpc-cluster/tls
  run stat -c '%a %n' "$d" "$d/ca.key" "$d/node.key" "$d/ca.crt" "$d/node.crt"
  assert_output "700 $d
600 $d/ca.key
600 $d/node.key
644 $d/ca.crt
644 $d/node.crt"
  run openssl verify -CAfile "$d/ca.crt" "$d/node.crt"
  assert_success
  run openssl x509 -in "$d/node.crt" -noout -subject -ext subjectAltName -nameopt RFC2253
  assert_output --partial "subject=CN=node1"
  assert_output --partial "DNS:node1, IP Address:10.0.0.11"
  local before
  before="$(cat "$d/ca.crt" "$d/node.crt" | sha256sum)"
  tls_run 'MODE=bootstrap tls::ensure'
  assert_success
  assert_output --partial "the certificate of node1 is valid"
  refute_output --partial "creating"
  assert_equal "$(cat "$d/ca.crt" "$d/node.crt" | sha256sum)" "$before"
}

@test "a join never creates a CA: no member has one, so it stops and writes nothing" {
  stub ssh 'exit 1'
  tls_run 'MODE=join tls::ensure'
  assert_failure 5
  assert_output --partial "[ERROR ClusterCA]"
  [[ ! -e $ROOT_PREFIX/etc/hpc-cluster/tls/ca.key && ! -e $ROOT_PREFIX/etc/hpc-cluster/tls/node.crt ]]
}

@test "a join copies the peer's CA (checked) and issues its own certificate with it" {
  local peer=$BATS_TEST_TMPDIR/peer
  mkdir -p "$peer"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=peer CA" -keyout "$peer/ca.key" -out "$peer/ca.crt" 2>/dev/null
  # The stub serves "cat /etc/hpc-cluster/tls/FILE" from the peer's directory.
  stub ssh "f=\"\${!#}\"; f=\"\${f##* }\"; cat \"$peer/\${f##*/}\""
  tls_run 'MODE=join tls::ensure 10.0.0.12'
  assert_success
  assert_output --partial "copying the cluster CA from 10.0.0.12"
  run cmp "$peer/ca.crt" "$ROOT_PREFIX/etc/hpc-cluster/tls/ca.crt"
  assert_success
  run openssl verify -CAfile "$peer/ca.crt" "$ROOT_PREFIX/etc/hpc-cluster/tls/node.crt"
  assert_success
}

@test "a CA whose key is not the certificate's is refused before anything is written" {
  local peer=$BATS_TEST_TMPDIR/peer
  mkdir -p "$peer"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=peer CA" -keyout "$peer/other.key" -out "$peer/ca.crt" 2>/dev/null
  openssl genrsa -out "$peer/ca.key" 2048 2>/dev/null
  stub ssh "f=\"\${!#}\"; f=\"\${f##* }\"; cat \"$peer/\${f##*/}\""
  tls_run 'MODE=join tls::ensure 10.0.0.12'
  assert_failure 5
  assert_output --partial "is not a certificate and its key"
  [[ ! -e $ROOT_PREFIX/etc/hpc-cluster/tls/ca.crt ]]
}

@test "a node certificate from another CA, or for another name, is issued again" {
  tls_run 'MODE=bootstrap tls::ensure'
  local d=$ROOT_PREFIX/etc/hpc-cluster/tls
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=node1" -keyout "$d/node.key" -out "$d/node.crt" 2>/dev/null
  tls_run 'MODE=bootstrap tls::ensure'
  assert_success
  assert_output --partial "issuing a certificate for node1"
  run openssl verify -CAfile "$d/ca.crt" "$d/node.crt"
  assert_success
  tls_run 'SELF_HOSTNAME=node9; MODE=bootstrap tls::ensure'
  assert_output --partial "issuing a certificate for node9"
}

@test "--dry-run prints the plan, writes nothing and shows no key" {
  tls_run 'export DRY_RUN=1; MODE=bootstrap tls::ensure'
  assert_success
  assert_output --partial "[dryrun] would create"
  refute_output --partial "PRIVATE KEY"
  [[ ! -e $ROOT_PREFIX/etc/hpc-cluster/tls/ca.key ]]
}

@test "with neither storage.tls nor database.tls nothing is created" {
  in_lib 'source "$HPC_LIB_DIR/tls.sh"; MODE=bootstrap SELF_HOSTNAME=node1 SELF_IP=10.0.0.11 tls::ensure'
  assert_success
  [[ ! -e $ROOT_PREFIX/etc/hpc-cluster/tls ]]
}
