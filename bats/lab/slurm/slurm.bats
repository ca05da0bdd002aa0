#!/usr/bin/env bats
# Lab: Slurm on the shared GlusterFS volume with real munged, slurmctld, slurmd and slurmdbd - bootstrap n1,
# join n2 and n3 as backup controllers, accounting through slurmdbd, a fresh join of n4, and a takeover
# after the primary crashes with a saved job that still finishes. About 4 minutes on an idle 2-core machine.
#
# The database phase (Galera) is another issue: one plain MariaDB on n4 stands in for it (n4 so that it
# survives the crash of n1), and n1-n3 reach it at 127.0.0.1:3306 through socat, as they would reach their
# local Galera member.

LAB_PREFIX=gls-slurm
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/lab/helpers.bash"
load "${HPC_REPO_ROOT:-$BATS_TEST_DIRNAME/../../..}/bats/helpers/toolkit.bash"
bats_load_library bats-support
bats_load_library bats-assert
bats_require_minimum_version 1.5.0

S=/opt/hpc-dashboard/cluster/setup
DB_PW='s3cr&t:pw'

setup_file() {
  export LAB_PREFIX
  lab_setup 4 >/dev/null
  lab ssh-mesh >/dev/null
  toolkit_generate "$(toolkit_fixture lab/storage-slurm3.yaml)" "$BATS_FILE_TMPDIR/gen"
  lab_push "$BATS_FILE_TMPDIR/gen/cluster" >/dev/null
  local k
  for k in 1 2 3 4; do
    lab_exec "n$k" sh -c 'mkdir -p /etc/hpc-cluster && umask 077 && printf "DB_SLURM_PASSWORD=%s\nREDIS_PASSWORD=x\n" "$1" > /etc/hpc-cluster/secrets.env' _ "$DB_PW"
  done
  start_database
  lab_exec n1 "$S/phase0_storage_setup.sh" --bootstrap --yes >/dev/null 2>&1
  lab_exec n2 "$S/phase0_storage_setup.sh" --join --peer "$(lab_ip n1)" --yes >/dev/null 2>&1
  lab_exec n3 "$S/phase0_storage_setup.sh" --join --peer "$(lab_ip n1)" --yes >/dev/null 2>&1
}

teardown_file() {
  lab_teardown >/dev/null 2>&1 || true
}

# start_database: MariaDB on n4 (all addresses, error log in a file), the slurm user allowed from the lab
# subnet (what the database phase does), and a socat forwarder on 127.0.0.1:3306 of every other node.
start_database() {
  lab_exec n4 sh -c '
    mkdir -p /var/log/mysql && chown mysql:adm /var/log/mysql
    printf "[mysqld_safe]\nskip-syslog\nlog-error=/var/log/mysql/error.log\n[mysqld]\nbind-address=0.0.0.0\nlog-error=/var/log/mysql/error.log\ninnodb_buffer_pool_size=32M\nperformance_schema=OFF\n" > /etc/mysql/mariadb.conf.d/99-lab.cnf
    /etc/init.d/mariadb start > /var/log/mysql/init.out 2>&1
    mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db; CREATE USER IF NOT EXISTS slurm@\"10.213.0.%\" IDENTIFIED BY \"$1\"; GRANT ALL ON slurm_acct_db.* TO slurm@\"10.213.0.%\";"' _ "$DB_PW"
  local k
  for k in 1 2 3; do
    lab_exec "n$k" sh -c 'setsid socat TCP-LISTEN:3306,bind=127.0.0.1,fork,reuseaddr "TCP:$1:3306" < /dev/null > /var/log/socat.log 2>&1 &' _ "$(lab_ip n4)"
  done
}

ping_has() {  # NODE LINE: `scontrol ping` on NODE shows LINE
  lab_exec "$1" scontrol ping 2>/dev/null | grep -qxF "$2"
}

dump_slurm() {  # JOBID: what the controllers say, for a failed test's output
  local k
  lab_exec n2 scontrol show job "$1" >&2 || true
  for k in 1 2 3; do
    printf '# --- node%s slurmctld.log\n' "$k" >&2
    lab_exec "n$k" tail -n 25 /var/log/slurm/slurmctld.log >&2 || true
  done
}

saved_after() {  # NODE EPOCH: the controller rewrote job_state after EPOCH (seconds, with fractions)
  awk -v m="$(lab_exec "$1" stat -c %.3Y /mnt/gluster/slurm/state/job_state)" -v t="$2" 'BEGIN { exit !(m > t) }'
}

job_is() {  # NODE JOBID STATE: scontrol on NODE reports the job in STATE
  [[ "$(lab_exec "$1" scontrol show job "$2" 2>/dev/null | grep -o 'JobState=[A-Z_]*')" == "JobState=$3" ]]
}

@test "Slurm refuses to start on a node whose shared storage is not mounted" {
  run lab_exec n4 "$S/phase3_slurm_setup.sh" --join --peer "$(lab_ip n1)" --yes
  assert_failure 5
  assert_output --partial "[ERROR SharedStorage]"
  run lab_exec n4 sh -c 'pgrep -x slurmctld || echo none'
  assert_output none
}

@test "bootstrap on n1: munge key root-only on the shared storage, slurm.conf linked, state dir slurm 0700" {
  run lab_exec n1 "$S/phase3_slurm_setup.sh" --bootstrap --yes
  assert_success
  run lab_exec n1 stat -c '%U %a' /mnt/gluster/config/munge.key /mnt/gluster/slurm/state
  assert_line -n 0 'root 400'
  assert_line -n 1 'slurm 700'
  run lab_exec n1 readlink /etc/slurm/slurm.conf
  assert_output /mnt/gluster/slurm/config/slurm.conf
  run lab_exec n1 scontrol ping
  assert_output --partial "Slurmctld(primary) at node1 is UP"
}

@test "n2 and n3 join: one primary and two backups, and a job runs on all three nodes" {
  run lab_exec n2 "$S/phase3_slurm_setup.sh" --join --peer "$(lab_ip n1)" --yes
  assert_success
  run lab_exec n3 "$S/phase3_slurm_setup.sh" --join --peer "$(lab_ip n2)" --yes
  assert_success
  run lab_exec n3 grep '^SlurmctldHost=' /mnt/gluster/slurm/config/slurm.conf
  assert_output "SlurmctldHost=node1(10.213.0.11)
SlurmctldHost=node2(10.213.0.12)
SlurmctldHost=node3(10.213.0.13)"
  wait_until 60 ping_has n3 "Slurmctld(backup2) at node3 is UP"
  run lab_exec n3 scontrol ping
  assert_line "Slurmctld(primary) at node1 is UP"
  assert_line "Slurmctld(backup1) at node2 is UP"
  run --separate-stderr lab_exec n2 timeout 120 srun -N3 hostname
  assert_success
  run sort <<< "$output"
  assert_output "node1
node2
node3"
}

@test "sacctmgr show cluster lists the cluster (slurmdbd on the first member)" {
  run lab_exec n3 sacctmgr -n -P show cluster format=cluster
  assert_success
  assert_output labslurm
}

@test "rerunning the join on a member changes nothing" {
  run lab_exec n2 "$S/phase3_slurm_setup.sh" --join --peer "$(lab_ip n1)" --yes
  assert_success
  assert_output --partial "already a Slurm member"
  refute_output --partial "restarting slurmctld"
}

@test "backup_slurm and restore_slurm bring back a cancelled job; a damaged backup is refused" {
  # Once intermittent (node1 came back with the job CANCELLED): the restore wrote through node2's
  # mount while node1's GlusterFS client still served the state its own slurmctld saved at stop.
  # restore_slurm.sh now fsyncs and waits until every member reads the restored files.
  local B=/opt/hpc-dashboard/cluster/backup
  run lab_exec n1 sbatch --parsable -H -J keep_me --wrap 'sleep 1'
  assert_success
  local job=$output
  wait_until 60 lab_exec n1 grep -aq keep_me /mnt/gluster/slurm/state/job_state
  run lab_exec n2 "$B/backup_slurm.sh" --dest /data/slurm-bk --json
  assert_success
  run jq -r '.cluster' <<< "$(grep '^{' <<< "$output")"
  assert_output labslurm
  lab_exec n1 scancel "$job"
  wait_until 30 job_is n1 "$job" CANCELLED
  lab_exec n2 sh -c 'cp -a /data/slurm-bk /data/slurm-bad && echo x >> /data/slurm-bad/config/slurm.conf'
  run lab_exec n2 "$B/restore_slurm.sh" --src /data/slurm-bad --yes
  assert_failure 6
  assert_output --partial "damaged"
  run lab_exec n2 "$B/restore_slurm.sh" --src /data/slurm-bk --yes
  assert_success
  if ! wait_until 90 job_is n1 "$job" PENDING; then
    dump_slurm "$job"
    false
  fi
  run lab_exec n3 scontrol ping
  assert_line "Slurmctld(primary) at node1 is UP"
  lab_exec n1 scancel "$job"
}

@test "a fresh node n4 joins as controller and compute node" {
  run lab_exec n4 "$S/phase0_storage_setup.sh" --join --peer "$(lab_ip n2)" --yes
  assert_success
  run lab_exec n4 "$S/phase3_slurm_setup.sh" --join --peer "$(lab_ip n2)" --yes
  assert_success
  wait_until 60 ping_has n4 "Slurmctld(backup3) at node4 is UP"
  run lab_exec n1 sinfo -h -N -n node4 -o '%T'
  assert_output --regexp '^(idle|mixed|allocated)'
  run lab_exec n4 "$S/phase3_slurm_setup.sh" --status --json
  assert_success
  run jq -r '"\(.ping) \(.controllers | length) \(.slurmd)"' <<< "$output"
  assert_output "UP 4 true"
}

@test "the primary crashes with a saved job: a backup takes over and the job finishes" {
  run lab_exec n2 sbatch --parsable -J takeover_probe -w node3 -o /tmp/takeover.out --wrap 'sleep 20; echo finished'
  assert_success
  local job=$output running_at
  wait_until 60 job_is n2 "$job" RUNNING
  running_at="$(lab_exec n2 date +%s.%N)"
  # The job must be saved as running on the shared storage before the crash: job_state is rewritten
  # after the job started (its name alone would also match the copy saved while it was pending).
  wait_until 60 saved_after n2 "$running_at"
  lab crash n1 >/dev/null
  wait_until 90 lab_exec n2 timeout 10 squeue -h -j "$job"
  run lab_exec n2 scontrol ping
  assert_line "Slurmctld(primary) at node1 is DOWN"
  if ! wait_until 120 job_is n2 "$job" COMPLETED; then
    dump_slurm "$job"
    false
  fi
  run lab_exec n3 cat /tmp/takeover.out
  assert_output finished
}

@test "removing the crashed primary from a survivor makes node2 the primary" {
  run lab_exec n2 "$S/phase3_slurm_setup.sh" --remove-node "$(lab_ip n1)" --yes
  assert_success
  assert_output --partial "could not stop Slurm on $(lab_ip n1)"
  run lab_exec n3 grep '^SlurmctldHost=' /mnt/gluster/slurm/config/slurm.conf
  assert_output "SlurmctldHost=node2(10.213.0.12)
SlurmctldHost=node3(10.213.0.13)
SlurmctldHost=node4(10.213.0.14)"
  wait_until 90 ping_has n3 "Slurmctld(primary) at node2 is UP"
  run --separate-stderr lab_exec n3 timeout 120 srun -N3 hostname
  assert_success
  run sort <<< "$output"
  assert_output "node2
node3
node4"
}
