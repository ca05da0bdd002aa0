#!/usr/bin/env bats
# lib/registry.sh: the service registry as the bash reads it from lib/config.sh (names, aliases, fields).

setup_file() {
  load ../lib/lib_helpers
  lib_setup_file
}

setup() {
  load ../lib/lib_helpers
  lib_setup
}

@test "SERVICES lists every service once, in dependency order" {
  in_lib 'registry::each | paste -sd" "'
  assert_success
  assert_output "storage database redis slurm web vip monitoring"
}

@test "canonical: a name is itself, an old name gives its service" {
  in_lib 'for n in database mariadb galera cache redis_rdb phase2_redis scheduler keepalived glusterfs nfs; do registry::canonical "$n"; done | paste -sd" "'
  assert_success
  assert_output "database database database redis redis redis slurm vip storage storage"
}

@test "canonical: an unknown name fails and lists the valid names and the old ones" {
  in_lib 'registry::canonical nosuch'
  assert_failure 1
  assert_output --partial "unknown service 'nosuch' (services: storage,database,redis,slurm,web,vip"
  assert_output --partial "old names also accepted:"
  assert_output --partial "mariadb"
}

@test "has: true for names and aliases, false otherwise" {
  in_lib 'registry::has redis && registry::has cache && ! registry::has nosuch && echo ok'
  assert_output ok
}

@test "get: a field of a service, by its name or an alias; lists are space-separated" {
  in_lib 'registry::get redis phase; registry::get cache phase; registry::get database ports; registry::get slurm health; registry::get database critical; registry::get slurm critical'
  assert_success
  assert_output $'setup/phase2_redis_setup.sh\nsetup/phase2_redis_setup.sh\n3306 4567 4568 4444\nslurmctld slurmdbd\ntrue\nfalse'
}

@test "get aliases: every old name of a service" {
  in_lib 'registry::get database aliases'
  assert_output "mariadb galera mysql databases phase1_database_setup phase1_database"
}

@test "get: an unknown field or service is an error, not an empty answer" {
  in_lib 'registry::get redis nosuchfield'
  assert_failure 2
  assert_output --partial "registry: no field nosuchfield"
  in_lib 'registry::get nosuch phase'
  assert_failure 1
  assert_output --partial "unknown service 'nosuch'"
}

@test "each FIELD: only the services that have it, with the value" {
  in_lib 'registry::each backup_hook'
  assert_output $'database mariadb\nredis redis\nslurm slurm'
  in_lib 'registry::each critical | cut -d" " -f1 | paste -sd" "'
  assert_output "storage database redis"
  in_lib 'registry::each phase | cut -d" " -f1 | paste -sd" "'
  assert_output "storage database redis slurm web vip monitoring"
}

@test "select: names and aliases, once each, in dependency order; unknown ones fail" {
  in_lib 'registry::select vip,mariadb,storage,database | paste -sd" "'
  assert_success
  assert_output "storage database vip"
  in_lib 'registry::select "cache scheduler"  | paste -sd" "'
  assert_output "redis slurm"
  in_lib 'registry::select redis,nosuch'
  assert_failure 1
  assert_output --partial "unknown service 'nosuch'"
}

@test "of_check: the service a health check watches" {
  in_lib 'registry::of_check mariadb; registry::of_check slurmdbd; registry::of_check disk || echo none'
  assert_output $'database\nslurm\nnone'
}

@test "the parallel arrays have one element per service" {
  in_lib 'for v in SERVICE_PHASES SERVICE_AFTER SERVICE_PORTS SERVICE_PROCESSES SERVICE_PACKAGES SERVICE_HEALTH SERVICE_CRITICAL SERVICE_DISCOVERY_KEYS SERVICE_DISCOVERY_FACTS SERVICE_BACKUP_ITEMS SERVICE_BACKUP_HOOKS SERVICE_BACKUP_DIRS SERVICE_DESCRIPTIONS SERVICE_LABELS; do declare -n a=$v; [[ ${#a[@]} == "${#SERVICES[@]}" ]] || echo "$v"; unset -n a; done; echo done'
  assert_output "done"
}

@test "backup_items: hook, snapshot item and directory of every service with backup scripts" {
  in_lib 'registry::backup_items'
  assert_output $'mariadb databases databases/mariadb\nredis redis_rdb databases/redis\nslurm slurm_state state/slurm'
}
