#!/usr/bin/env bats
# Smoke: mariadbd runs inside a node (Debian init script, no systemd) and serves the node's address.

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

@test "mariadbd started by /etc/init.d/mariadb inside n1 answers on n1's address from n2 and the client" {
  # mysqld_safe needs skip-syslog and its own log-error (no syslog in a node); bind to the node address
  lab_exec n1 sh -c 'mkdir -p /var/log/mysql && chown mysql:adm /var/log/mysql
cat >/etc/mysql/mariadb.conf.d/99-lab.cnf <<CNF
[mysqld_safe]
skip-syslog
log-error = /var/log/mysql/error.log
[mysqld]
bind-address = 10.213.0.11
log-error = /var/log/mysql/error.log
innodb_buffer_pool_size = 32M
performance_schema = OFF
CNF'
  run lab_exec n1 /etc/init.d/mariadb start
  assert_success
  run lab_exec n1 pgrep -x mariadbd
  assert_success
  run lab_exec n1 ss -Hltn 'sport = :3306'
  assert_output --partial "10.213.0.11:3306"
  lab_exec n1 mariadb -e "CREATE USER 'lab'@'10.213.0.%' IDENTIFIED BY 'labpw'; GRANT ALL ON *.* TO 'lab'@'10.213.0.%'"
  run lab_client mariadb -h 10.213.0.11 -u lab -plabpw -N -B -e 'SELECT @@hostname, @@bind_address'
  assert_success
  assert_output $'node1\t10.213.0.11'
  run lab_exec n2 mariadb -h node1 -u lab -plabpw -N -B -e 'SELECT @@hostname'
  assert_output node1
  run lab_exec n2 pgrep -x mariadbd
  assert_failure
  run lab_exec n1 test -s /var/log/mysql/error.log
  assert_success
}
