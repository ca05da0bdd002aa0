#!/usr/bin/env bats
# Smoke: munged + slurmctld + slurmd run inside nodes (Debian init scripts), slurmd finds the cgroup
# hierarchy the lab mounts, and a job runs on both nodes.

load helpers

setup_file() {
  lab_setup 2
}

teardown_file() {
  lab_teardown
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

write_slurm_conf() {
  lab_exec "$1" sh -c 'cat >/etc/slurm/slurm.conf <<CONF
ClusterName=lab
SlurmctldHost=node1
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
NodeName=node[1-2] State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
chown slurm: /var/spool/slurmctld /var/log/slurm'
}

both_idle() {
  [[ $(lab_exec n2 sinfo -h -N -o '%N %t' | sort | tr '\n' ' ') == "node1 idle node2 idle " ]]
}

@test "munged, slurmctld and slurmd run inside nodes; scontrol ping, sinfo and srun work" {
  local k
  for k in 1 2; do
    write_slurm_conf "n$k"
    run lab_exec "n$k" /etc/init.d/munge start
    assert_success
  done
  run lab_exec n1 /etc/init.d/slurmctld start
  assert_success
  wait_until 20 lab_port_open client 10.213.0.11 6817
  for k in 1 2; do
    run lab_exec "n$k" /etc/init.d/slurmd start
    assert_success
  done
  wait_until 30 lab_exec n2 scontrol ping
  run lab_exec n2 scontrol ping
  assert_output --partial "Slurmctld(primary) at node1 is UP"
  wait_until 30 both_idle
  run lab_exec n1 timeout 30 srun -N2 hostname
  assert_success
  assert_line node1
  assert_line node2
  run lab_exec n2 pgrep -x slurmd
  assert_success
  run lab_exec n2 pgrep -x slurmctld
  assert_failure
  run lab_exec n1 ls /sys/fs/cgroup
  assert_output --partial memory
}
