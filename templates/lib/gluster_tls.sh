# shellcheck shell=bash
# lib/gluster_tls.sh - storage.tls: GlusterFS I/O over TLS (setup/phase0_storage_setup.sh). Every brick,
# every mount and the self-heal daemon present this node's certificate from the cluster CA (lib/tls.sh)
# and accept only peers whose certificate that CA signed; the bricks also accept only the members'
# names (auth.ssl-allow, beside auth.allow's addresses). glusterd's own management traffic stays plain:
# it hands out volume files, and the bricks refuse whoever uses one without a member's certificate.

# storage::tls_files: this node's TLS identity where GlusterFS looks for it. The volume names the paths
# (ssl.own-cert, ...): the built-in default follows OpenSSL's directory, /usr/lib/ssl on Debian 12 and
# /etc/ssl elsewhere.
storage::tls_files() {
  [[ $STORAGE_TLS == true ]] || return 0
  tls::install_copy "$(tls::node_crt)" "$(path::of /etc/ssl/glusterfs.pem)" 0644
  tls::install_copy "$(tls::node_key)" "$(path::of /etc/ssl/glusterfs.key)" 0600
  tls::install_copy "$(tls::ca_crt)" "$(path::of /etc/ssl/glusterfs.ca)" 0644
}

# storage::member_names: the members' configured hostnames (storage::member_indexes), comma separated:
# the certificate names the bricks accept.
storage::member_names() {
  local i out=""
  # shellcheck disable=SC2153 # NODE_HOSTNAMES comes from config.sh
  for i in $(storage::member_indexes); do out+="${NODE_HOSTNAMES[i]},"; done
  printf '%s\n' "${out%,}"
}

# storage::tls_new_volume: a volume just created (not started) speaks TLS from its first start.
storage::tls_new_volume() {
  [[ $STORAGE_TLS == true ]] || return 0
  log::info "volume $STORAGE_VOLUME_NAME: I/O over TLS (client.ssl, server.ssl), certificates of the cluster CA"
  storage::set_options 'ssl.own-cert /etc/ssl/glusterfs.pem' 'ssl.private-key /etc/ssl/glusterfs.key' \
    'ssl.ca-list /etc/ssl/glusterfs.ca' 'client.ssl on' 'server.ssl on'
}

# storage::tls_check_volume: say so when the live volume's TLS differs from storage.tls. Switching it
# means stopping the volume on every node at once (every mount, Slurm's state with it), so a rerun
# never does that by itself (docs/security.md has the procedure).
storage::tls_check_volume() {
  local server
  server="$(gluster::option_value server.ssl)"
  if [[ $STORAGE_TLS == true && $server != on ]]; then
    log::warn "storage.tls is on but volume $STORAGE_VOLUME_NAME was created without TLS; it stays plain (to switch it, follow docs/security.md: every node unmounts, the volume is stopped, set, started)"
  elif [[ $STORAGE_TLS != true && $server == on ]]; then
    log::warn "volume $STORAGE_VOLUME_NAME speaks TLS but storage.tls is off; it stays TLS (set storage.tls: true to match)"
  fi
}

# storage::allow_member_names: auth.ssl-allow = the members' names, in step with auth.allow.
storage::allow_member_names() {
  local want
  [[ "$(gluster::option_value server.ssl)" == on ]] || return 0
  want="$(storage::member_names)"
  [[ -n $want ]] || return 0
  if [[ "$(gluster::option_value auth.ssl-allow)" != "$want" ]]; then
    log::info "volume $STORAGE_VOLUME_NAME: only members' certificates are accepted (auth.ssl-allow $want)"
    gluster::run volume set "$STORAGE_VOLUME_NAME" auth.ssl-allow "$want"
  fi
}
