// The service registry: everything the toolkit knows about each service, in one entry per service.
// The bash reads it from lib/config.sh (SERVICES and the SERVICE_* arrays, through lib/registry.sh)
// instead of keeping its own lists, so adding a service is: one entry here, its lib/<svc>.sh and its
// phase script (docs/toolkit-conventions.md, "Adding a service").
import type { ClusterConfig } from "../config/schema.js";
import type { ShellVar } from "./index.js";
import pkg from "../../package.json" with { type: "json" };

type Cluster = ClusterConfig["cluster"];

/** The version every generated toolkit reports to its peers (discovery, join). */
export const TOOLKIT_VERSION: string = pkg.version;

/** What one service is, before the config says anything: the static part of an entry. */
export interface ServiceDef {
  /** The one name: --only, node_add/node_remove --service, logs ("services/NAME"), registry::get. */
  name: string;
  /** Old or other names a user may have typed; they keep working (registry::canonical). */
  aliases: string[];
  /** Its phase script, relative to the toolkit root ("" = no phase script in this toolkit yet). */
  phase: string;
  /** Services that must be set up before this one (the registry is ordered so they come first). */
  after: string[];
  /** Health checks of lib/health.sh (health::check_NAME) that watch this service on a node. */
  health: string[];
  /** Whether a failed health check of this service makes the node unfit for the VIP by default. */
  criticalByDefault: boolean;
  /** Its key under "services" in the discovery JSON ("" = discovery does not report it). */
  discoveryKey: string;
  /** Its fact: discovery::fact_NAME in lib/discovery.sh, and its object's key in the discovery JSON. */
  discoveryFact: string;
  /** backup.backup_items item holding its data ("" = none). */
  backupItem: string;
  /** backup/backup_HOOK.sh and backup/restore_HOOK.sh ("" = none), and where they write in a snapshot. */
  backupHook: string;
  backupDir: string;
  description: string;
  /** Config-dependent facts. Its name in human output ("MariaDB Galera", "Redis Cluster"). */
  label: (c: Cluster) => string;
  ports: (c: Cluster) => number[];
  /** Processes that may hold its ports (our own daemon on a rerun is not a conflict). A service
   *  without any (its daemons are not started by this toolkit) has its ports listed, not checked. */
  processes: (c: Cluster) => string[];
  /** "command=package" (or "/path=package") the node needs: preflight's Packages check. */
  packages: (c: Cluster) => string[];
  /** The service is part of this cluster (default: always). */
  enabled?: (c: Cluster) => boolean;
}

/** A registry entry with the config applied: what lib/config.sh carries. */
export interface Service {
  name: string;
  aliases: string[];
  phase: string;
  after: string[];
  ports: number[];
  processes: string[];
  packages: string[];
  health: string[];
  critical: boolean;
  discoveryKey: string;
  discoveryFact: string;
  backupItem: string;
  backupHook: string;
  backupDir: string;
  description: string;
  label: string;
}

/** Node-level health checks that belong to no service (the `vip` one judges the whole cluster). */
export const NODE_HEALTH_CHECKS = ["disk", "memory"] as const;
export const CLUSTER_HEALTH_CHECKS = ["vip"] as const;

// The registry, in dependency order. To add a service (monitoring, the portal's web tier), add its
// entry where its dependencies are already listed; the bash picks it up from lib/config.sh.
export const SERVICE_DEFS: readonly ServiceDef[] = [
  {
    name: "storage",
    aliases: ["glusterfs", "gluster", "nfs", "shared_storage"],
    phase: "setup/phase0_storage_setup.sh",
    after: [],
    health: ["glusterfs"],
    criticalByDefault: true,
    discoveryKey: "glusterfs",
    discoveryFact: "glusterfs",
    backupItem: "shared_storage",
    backupHook: "",
    backupDir: "",
    description: "shared storage (GlusterFS replica volume, or an NFS mount) at storage.mount_point",
    label: (c) => (c.storage.type === "glusterfs" ? "GlusterFS" : "NFS storage"),
    ports: (c) => (c.storage.type === "glusterfs" ? [24007] : []),
    processes: (c) => (c.storage.type === "glusterfs" ? ["glusterd"] : []),
    packages: (c) => (c.storage.type === "glusterfs" ? ["glusterd=glusterfs-server", "/sbin/mount.glusterfs=glusterfs-client"] : []),
  },
  {
    name: "database",
    aliases: ["mariadb", "galera", "mysql", "databases"],
    phase: "setup/phase1_database_setup.sh",
    after: ["storage"],
    health: ["mariadb"],
    criticalByDefault: true,
    discoveryKey: "mariadb",
    discoveryFact: "galera",
    backupItem: "databases",
    backupHook: "mariadb",
    backupDir: "databases/mariadb",
    description: "MariaDB Galera, every node a writable member",
    label: () => "MariaDB Galera",
    ports: (c) => [c.database.port, c.database.galera_port, c.database.ist_port, c.database.sst_port],
    processes: () => ["mariadbd", "rsync"],
    packages: (c) => [
      "mariadbd=mariadb-server",
      "/usr/lib/galera/libgalera_smm.so=galera-4",
      ...(c.database.sst_method === "rsync" ? ["rsync=rsync"] : ["mariabackup=mariadb-backup"]),
      // database.tls: an rsync SST goes through stunnel (a mariabackup one through socat, needed anyway).
      ...(c.database.tls && c.database.sst_method === "rsync" ? ["stunnel=stunnel4"] : []),
    ],
  },
  {
    name: "redis",
    aliases: ["cache", "redis_rdb"],
    phase: "setup/phase2_redis_setup.sh",
    after: ["storage"],
    health: ["redis"],
    criticalByDefault: true,
    discoveryKey: "redis",
    discoveryFact: "redis",
    backupItem: "redis_rdb",
    backupHook: "redis",
    backupDir: "databases/redis",
    description: "Redis Cluster, or master + replica with Sentinel (redis.type)",
    label: (c) => (c.redis.type === "sentinel" ? "Redis Sentinel" : "Redis Cluster"),
    ports: (c) => {
      if (c.redis.type === "sentinel") return [c.redis.port, c.redis.sentinel_port];
      const ports = [c.redis.port, c.redis.port + 10000];
      if (c.redis.replicas === 1) ports.push(c.redis.port + 1, c.redis.port + 10001);
      return ports;
    },
    processes: (c) => (c.redis.type === "sentinel" ? ["redis-server", "redis-sentinel"] : ["redis-server"]),
    packages: (c) => ["redis-server=redis-server", "redis-cli=redis-tools", ...(c.redis.type === "sentinel" ? ["redis-sentinel=redis-sentinel"] : [])],
  },
  {
    name: "slurm",
    aliases: ["scheduler", "slurmctld", "slurm_state"],
    phase: "setup/phase3_slurm_setup.sh",
    after: ["storage", "database"],
    health: ["slurmctld", "slurmdbd"],
    criticalByDefault: false,
    discoveryKey: "slurm",
    discoveryFact: "slurm",
    backupItem: "slurm_state",
    backupHook: "slurm",
    backupDir: "state/slurm",
    description: "Slurm controllers (slurmctld), slurmd and slurmdbd, state on the shared storage",
    label: () => "Slurm",
    ports: (c) => [c.slurm.slurmctld_port, c.slurm.slurmd_port, c.slurm.slurmdbd_port],
    processes: () => ["slurmctld", "slurmd", "slurmdbd"],
    packages: () => ["slurmctld=slurmctld", "slurmd=slurmd", "slurmdbd=slurmdbd", "munged=munge"],
  },
  // monitoring (Prometheus, exporters, Alertmanager) goes here: after storage, before web.
  {
    name: "web",
    aliases: ["portal", "nginx"],
    phase: "setup/phase6_web_setup.sh",
    after: ["storage", "database", "redis"],
    // nginx: critical whenever cluster.web is set (health::is_critical in lib/health.sh, lib/web.sh).
    health: ["web", "nginx"],
    criticalByDefault: false,
    discoveryKey: "web",
    discoveryFact: "web",
    backupItem: "",
    backupHook: "",
    backupDir: "",
    description: "the portal behind the VIP: nginx on every node (cluster.web), the shared environment file, the portal's services (web_services)",
    label: () => "Web Services",
    ports: (c) => [...(c.web ? [c.web.listen_port, ...(c.web.tls_cert ? [c.web.listen_tls_port ?? 443] : [])] : []), ...c.web_services.map((w) => w.port)],
    processes: (c) => (c.web ? ["nginx"] : []),
    packages: (c) => (c.web ? ["nginx=nginx"] : []),
  },
  {
    name: "vip",
    aliases: ["keepalived"],
    phase: "setup/phase4_keepalived_setup.sh",
    after: ["storage", "database", "redis", "slurm"],
    health: [],
    criticalByDefault: false,
    discoveryKey: "",
    discoveryFact: "",
    backupItem: "",
    backupHook: "",
    backupDir: "",
    description: "keepalived VRRP: the VIP on the fittest node (last, once every service it tracks runs)",
    label: () => "VIP",
    ports: () => [],
    processes: () => [],
    packages: () => ["keepalived=keepalived"],
  },
  {
    name: "monitoring",
    aliases: ["prometheus", "alertmanager"],
    phase: "setup/phase5_monitoring_setup.sh",
    after: ["vip"],
    health: [],
    criticalByDefault: false,
    discoveryKey: "",
    discoveryFact: "",
    backupItem: "",
    backupHook: "",
    backupDir: "",
    description: "exporters on every member, Prometheus on the top members, one Alertmanager cluster (after the VIP)",
    label: () => "Monitoring",
    ports: (c) => [c.monitoring.prometheus_port, c.monitoring.node_exporter_port, c.monitoring.alertmanager_port,
      c.monitoring.alertmanager_cluster_port, c.monitoring.mysqld_exporter_port, c.monitoring.redis_exporter_port],
    processes: () => [],
    packages: () => ["prometheus-node-exporter=prometheus-node-exporter", "prometheus-alertmanager=prometheus-alertmanager",
      "prometheus=prometheus", "prometheus-mysqld-exporter=prometheus-mysqld-exporter", "prometheus-redis-exporter=prometheus-redis-exporter"],
    enabled: (c) => c.monitoring.enabled,
  },
];

/** Every health check a node can run, services' first (registry order), then the node's own. */
export function healthCheckNames(defs: readonly ServiceDef[] = SERVICE_DEFS): string[] {
  return [...defs.flatMap((d) => d.health), ...NODE_HEALTH_CHECKS];
}

/** The checks cluster_config.yaml may name (health.critical_checks, vip.track_checks). */
export const HEALTH_CHECKS = healthCheckNames() as [string, ...string[]];

/** "phase2_redis_setup.sh" -> ["phase2_redis_setup", "phase2_redis"]: the names logs and locks show. */
function phaseNames(phase: string): string[] {
  const base = phase.replace(/^.*\//, "").replace(/\.sh$/, "");
  if (!base) return [];
  const short = base.replace(/_setup$/, "");
  return short === base ? [base] : [base, short];
}

/**
 * Check the registry itself: unique names and aliases, known dependencies listed before their
 * dependants, shell-safe words. Throws: a broken registry is a bug in the generator, not in a config.
 */
export function checkRegistry(defs: readonly ServiceDef[]): void {
  const word = /^[a-z][a-z0-9_]*$/;
  const seen = new Map<string, string>();
  defs.forEach((d, i) => {
    for (const n of [d.name, ...d.aliases, ...phaseNames(d.phase)]) {
      if (!word.test(n)) throw new Error(`service registry: '${n}' (${d.name}) must be a lower-case word`);
      const other = seen.get(n);
      if (other) throw new Error(`service registry: '${n}' names both ${other} and ${d.name}`);
      seen.set(n, d.name);
    }
    for (const dep of d.after) {
      const at = defs.findIndex((x) => x.name === dep);
      if (at < 0) throw new Error(`service registry: ${d.name} comes after unknown service '${dep}'`);
      if (at >= i) throw new Error(`service registry: ${d.name} must be listed after ${dep}, which it depends on`);
    }
    if (d.phase && !/^[a-z]+\/[a-z0-9_]+\.sh$/.test(d.phase)) throw new Error(`service registry: bad phase path '${d.phase}'`);
  });
}

/** The registry with the config applied, in dependency order (disabled services left out). */
export function buildServices(c: Cluster, defs: readonly ServiceDef[] = SERVICE_DEFS): Service[] {
  checkRegistry(defs);
  const critical = new Set<string>(c.health.critical_checks);
  const webCritical = c.web_services.some((w) => w.critical);
  return defs
    .filter((d) => (d.enabled ? d.enabled(c) : true))
    .map((d) => ({
      name: d.name,
      aliases: [...d.aliases, ...phaseNames(d.phase)],
      phase: d.phase,
      after: d.after,
      ports: d.ports(c),
      processes: d.processes(c),
      packages: d.packages(c),
      health: d.health,
      critical: d.health.some((h) => critical.has(h) || (h === "web" && webCritical)),
      discoveryKey: d.discoveryKey,
      discoveryFact: d.discoveryFact,
      backupItem: d.backupItem,
      backupHook: d.backupHook,
      backupDir: d.backupDir,
      description: d.description,
      label: d.label(c),
    }));
}

/**
 * The registry as lib/config.sh variables: SERVICES in dependency order, then one array per field,
 * parallel to it (element i describes SERVICES[i]; lists are space-separated words in one element).
 * SERVICE_ALIASES is "alias=name" pairs. lib/registry.sh is the one reader.
 */
export function serviceShellVars(services: Service[]): ShellVar[] {
  const col = (f: (s: Service) => string) => services.map(f);
  const words = (xs: Array<string | number>) => xs.join(" ");
  const v = (name: string, value: string[], comment?: string): ShellVar => ({ name, value, comment });
  return [
    v("SERVICES", col((s) => s.name), "the service registry (generator/model/services.ts), in dependency order; read it through lib/registry.sh"),
    v("SERVICE_PHASES", col((s) => s.phase)),
    v("SERVICE_AFTER", col((s) => words(s.after))),
    v("SERVICE_PORTS", col((s) => words(s.ports))),
    v("SERVICE_PROCESSES", col((s) => words(s.processes))),
    v("SERVICE_PACKAGES", col((s) => words(s.packages))),
    v("SERVICE_HEALTH", col((s) => words(s.health))),
    v("SERVICE_CRITICAL", col((s) => String(s.critical))),
    v("SERVICE_DISCOVERY_KEYS", col((s) => s.discoveryKey)),
    v("SERVICE_DISCOVERY_FACTS", col((s) => s.discoveryFact)),
    v("SERVICE_BACKUP_ITEMS", col((s) => s.backupItem)),
    v("SERVICE_BACKUP_HOOKS", col((s) => s.backupHook)),
    v("SERVICE_BACKUP_DIRS", col((s) => s.backupDir)),
    v("SERVICE_DESCRIPTIONS", col((s) => s.description)),
    v("SERVICE_LABELS", col((s) => s.label)),
    v("SERVICE_ALIASES", services.flatMap((s) => s.aliases.map((a) => `${a}=${s.name}`)), "alias=name"),
    v("HEALTH_CHECKS", [...services.flatMap((s) => s.health), ...NODE_HEALTH_CHECKS, ...CLUSTER_HEALTH_CHECKS], "every check of utils/health_check.sh"),
    { name: "TOOLKIT_VERSION", value: TOOLKIT_VERSION, comment: "package.json's version: peers running another one are reported and refused by a join" },
  ];
}
