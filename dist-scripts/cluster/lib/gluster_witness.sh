# shellcheck shell=bash
# lib/gluster_witness.sh - the arbitrator as a GlusterFS vote (setup/phase0_storage_setup.sh). With an
# even number of members, garbd's vote lets the database side with the witness keep writing after an even
# split (2|2); GlusterFS' own quorum cannot see garbd. So, exactly when garbd runs:
# - the witness joins the trusted pool as a peer without a brick (its glusterd is the vote);
# - server quorum (cluster.server-quorum-type server: glusterd stops the bricks of the side that sees
#   half of the pool or less) stops the bricks on the side without the witness;
# - client quorum stays auto (a majority of the bricks, or half of them with the first): only one side
#   can ever write. It was off (quorum-type none) for one stop, so that the witness's side of a 2|2
#   split could write; a 1|3 split then left files that both sides had written unreadable (EIO on
#   Slurm's job_state, bats/lab/faults LAB_LONG run of 2026-12-03), most likely because the cut-off
#   node wrote to its own brick until glusterd noticed it was alone. With auto, neither side of a 2|2
#   split writes the volume until it ends (and, measured, no node is fit for the VIP meanwhile).
# With an odd member count the witness leaves the pool (a majority of the bricks decides, like garbd,
# which does not run then either).

WITNESS_QUORUM_ON=('cluster.server-quorum-type server' 'cluster.quorum-type auto')
WITNESS_QUORUM_OFF=('cluster.server-quorum-type none' 'cluster.quorum-type auto')

# storage::witness_wanted: an arbitrator is configured and the volume has an even number of bricks.
storage::witness_wanted() {
  [[ -n ${ARBITRATOR_IP:-} ]] || return 1
  local replica
  replica="$(gluster::replica_count)"
  (( replica >= 2 && replica % 2 == 0 ))
}

# storage::ensure_witness: the pool and the quorum settings for the current member count (idempotent).
storage::ensure_witness() {
  [[ -n ${ARBITRATOR_IP:-} && $STORAGE_TYPE != nfs ]] || return 0
  if storage::witness_wanted; then
    storage::witness_join || { log::warn "the arbitrator $ARBITRATOR_IP is no GlusterFS vote: an even split stops the shared storage on both sides"; return 0; }
    storage::set_options "${WITNESS_QUORUM_ON[@]}"
  else
    storage::set_options "${WITNESS_QUORUM_OFF[@]}"
    if gluster::peer_known "$ARBITRATOR_IP"; then
      log::info "$(gluster::replica_count) bricks (odd): the arbitrator $ARBITRATOR_IP leaves the trusted pool (a majority of bricks decides)"
      gluster::run peer detach "$ARBITRATOR_IP" || gluster::run peer detach "$ARBITRATOR_IP" force
    fi
  fi
}

# storage::witness_join: glusterd runs on the witness and it is a connected peer of the pool.
storage::witness_join() {
  if gluster::peer_connected "$ARBITRATOR_IP"; then return 0; fi
  if ! remote::run "$ARBITRATOR_IP" sh -c 'command -v glusterd' > /dev/null 2>&1 < /dev/null; then
    log::warn "the arbitrator $ARBITRATOR_IP has no glusterd (fix: apt-get install glusterfs-server there, then rerun)"
    return 1
  fi
  log::info "$(gluster::replica_count) bricks (even): the arbitrator $ARBITRATOR_IP joins the trusted pool as a vote without a brick"
  # systemd where it runs (enabled, so the vote returns after a reboot), else glusterd itself (a daemon).
  # shellcheck disable=SC2016 # expanded by the witness's shell
  run::cmd remote::run "$ARBITRATOR_IP" sh -c \
    'pidof glusterd >/dev/null && exit 0; if [ -d /run/systemd/system ]; then systemctl enable --now glusterd; else glusterd; fi' < /dev/null
  run::is_dry && return 0
  run::wait_until 60 "glusterd on the arbitrator to answer" remote::run "$ARBITRATOR_IP" gluster --mode=script pool list < /dev/null > /dev/null
  gluster::peer_known "$ARBITRATOR_IP" || gluster::run peer probe "$ARBITRATOR_IP"
  run::wait_until 60 "the arbitrator $ARBITRATOR_IP to be a connected pool member" gluster::peer_connected "$ARBITRATOR_IP"
}
