// Everything computed from the config, so templates only print values and never compute.
import type { ClusterConfig } from "../config/schema.js";
import { SECRET_REF } from "../config/schema.js";
import { buildServices, serviceShellVars, type Service } from "./services.js";
import { buildMonitoring, monitoringSecrets, monitoringShellVars, type MonitoringModel } from "./monitoring.js";
import { webModel, webShellVars, type WebModel } from "./web.js";
import { galeraFailureDetection } from "./galera.js";

export type ShellValue = string | number | boolean | Array<string | number>;

export interface ShellVar {
  name: string;
  value: ShellValue;
  comment?: string;
}

export interface Model {
  cluster: ClusterConfig["cluster"];
  nodesByPriority: ClusterConfig["cluster"]["nodes"];
  nodeCount: number;
  quorum: number;
  failuresTolerated: number;
  sizeWords: string;
  redisTopology: "cluster" | "sentinel";
  /** replicas: 1 runs a second Redis instance per node on this port (a replica of another node's master). */
  redisReplicaPort: number;
  redisSentinelMaster: string;
  redisPasswordSecret: string;
  secretNames: Array<{ name: string; usedBy: string }>;
  shellVars: ShellVar[];
  /** The service registry with the config applied (generator/model/services.ts). */
  services: Service[];
  configYaml: string;
  monitoring: MonitoringModel;
  web: WebModel;
  /** galera.cnf's evs.* failure-detection options (generator/model/galera.ts). */
  galeraFailureDetection: string;
}

const REDUNDANCY = ["Standalone", "Dual Redundancy", "Triple Redundancy", "Quad Redundancy"];

/** "4-node (Quad Redundancy)", as cluster_info.sh prints it. */
export function sizeInWords(n: number): string {
  return `${n}-node (${REDUNDANCY[n - 1] ?? `${n}-way Redundancy`})`;
}

/** The secret that authenticates every snapshot's metadata.json (lib/backup_integrity.sh). */
export const BACKUP_HMAC_SECRET = "BACKUP_HMAC_KEY";

export function secretName(ref: string | undefined): string {
  if (!ref) return "";
  const m = SECRET_REF.exec(ref);
  return m ? m[1] : "";
}

export function buildModel(config: ClusterConfig, configYaml: string): Model {
  const c = config.cluster;
  const nodesByPriority = [...c.nodes].sort((a, b) => b.priority - a.priority);
  const n = c.nodes.length;
  const quorum = Math.floor(n / 2) + 1;

  const secretNames: Model["secretNames"] = [];
  const addSecret = (ref: string | undefined, usedBy: string) => {
    const name = secretName(ref);
    if (name && !secretNames.some((s) => s.name === name)) secretNames.push({ name, usedBy });
  };
  addSecret(c.vip.auth_password, "keepalived VRRPv2 authentication (at most 8 characters)");
  addSecret(c.database.sst_password, `MariaDB SST user ${c.database.sst_user}`);
  c.database.databases.forEach((d) => addSecret(d.password, `MariaDB user ${d.user} (database ${d.name})`));
  addSecret(c.redis.password, "Redis requirepass/masterauth");
  monitoringSecrets(c).forEach((s) => addSecret(s.ref, s.usedBy));

  const web = webModel(c, nodesByPriority);
  const webUrls = c.web_services.map((w) => `http://127.0.0.1:${w.port}${w.health_path}`);
  const v = (name: string, value: ShellValue, comment?: string): ShellVar => ({ name, value, comment });
  const shellVars: ShellVar[] = [
    v("CLUSTER_NAME", c.name),
    v("NODE_IPS", nodesByPriority.map((x) => x.ip), "nodes, highest priority first"),
    v("NODE_HOSTNAMES", nodesByPriority.map((x) => x.hostname)),
    v("NODE_PRIORITIES", nodesByPriority.map((x) => x.priority)),
    v("NODE_COUNT", n),
    v("ARBITRATOR_IP", c.arbitrator?.ip ?? ""),
    v("ARBITRATOR_HOSTNAME", c.arbitrator?.hostname ?? ""),
    v("VIP_ADDRESS", c.vip.address),
    v("VIP_INTERFACE", c.vip.interface),
    v("VIP_VRRP_VERSION", c.vip.vrrp_version),
    v("VIP_AUTH_SECRET", secretName(c.vip.auth_password), "name of the secret, never its value"),
    v("VIP_TRACK_CHECKS", c.vip.track_checks),
    v("VIP_NONCRITICAL_FAILURES_TO_MOVE", c.vip.noncritical_failures_to_move),
    v("STORAGE_TYPE", c.storage.type),
    v("STORAGE_MOUNT_POINT", c.storage.mount_point),
    v("STORAGE_BACKUP_PATH", c.storage.backup_path),
    v("STORAGE_BRICK_PATH", c.storage.brick_path),
    v("STORAGE_VOLUME_NAME", c.storage.volume_name),
    v("STORAGE_REPLICA_COUNT", c.storage.replica_count),
    v("STORAGE_ARBITER", c.storage.arbiter),
    v("STORAGE_TLS", c.storage.tls),
    v("STORAGE_NFS_EXPORT", c.storage.nfs_export ?? ""),
    v("DB_TYPE", c.database.type),
    v("DB_PORT", c.database.port),
    v("DB_GALERA_PORT", c.database.galera_port),
    v("DB_IST_PORT", c.database.ist_port),
    v("GALERA_EVS_OPTIONS", galeraFailureDetection(c.database), "failure detection, the same for garbd as in galera.cnf"),
    v("DB_SST_PORT", c.database.sst_port),
    v("DB_CLUSTER_NAME", c.database.cluster_name),
    v("DB_SST_METHOD", c.database.sst_method),
    v("DB_TLS", c.database.tls),
    v("DB_SST_USER", c.database.sst_user),
    v("DB_SST_PASSWORD_SECRET", secretName(c.database.sst_password)),
    v("DB_NAMES", c.database.databases.map((d) => d.name)),
    v("DB_USERS", c.database.databases.map((d) => d.user)),
    v("DB_PASSWORD_SECRETS", c.database.databases.map((d) => secretName(d.password))),
    v("REDIS_TYPE", c.redis.type),
    v("REDIS_PORT", c.redis.port),
    v("REDIS_SENTINEL_PORT", c.redis.sentinel_port),
    v("REDIS_PASSWORD_SECRET", secretName(c.redis.password)),
    v("REDIS_REPLICAS", c.redis.replicas),
    v("REDIS_REPLICA_PORT", c.redis.port + 1, "the replica instance of replicas: 1 (cluster mode)"),
    v("REDIS_SENTINEL_MASTER", `${c.name}-redis`, "the master name Sentinel monitors"),
    v("SLURM_CLUSTER_NAME", c.slurm.cluster_name),
    v("SLURM_STATE_LOCATION", c.slurm.state_location),
    v("SLURM_LOG_LOCATION", c.slurm.log_location),
    v("SLURM_SPOOL_LOCATION", c.slurm.spool_location),
    v("SLURM_CONTROLLER_TIMEOUT", c.slurm.controller_timeout),
    v("SLURM_SLURMCTLD_PORT", c.slurm.slurmctld_port),
    v("SLURM_SLURMD_PORT", c.slurm.slurmd_port),
    v("SLURM_SLURMDBD_PORT", c.slurm.slurmdbd_port),
    v("BACKUP_ENABLED", c.backup.enabled),
    v("BACKUP_SCHEDULE", c.backup.schedule),
    v("BACKUP_INCREMENTAL_SCHEDULE", c.backup.incremental_schedule ?? ""),
    v("BACKUP_RETENTION_DAYS", c.backup.retention_days ?? "", "cap in days on top of the KEEP_* policy; empty = no cap"),
    v("BACKUP_KEEP_DAILY", c.backup.retention_policy.daily),
    v("BACKUP_KEEP_WEEKLY", c.backup.retention_policy.weekly),
    v("BACKUP_KEEP_MONTHLY", c.backup.retention_policy.monthly),
    v("BACKUP_ITEMS", c.backup.backup_items),
    v("BACKUP_SHARED_EXCLUDES", c.backup.shared_excludes),
    v("BACKUP_REPLICATE", c.backup.replicate),
    v("BACKUP_OFFSITE", c.backup.offsite ?? ""),
    ...monitoringShellVars(c, secretName).map(([name, value]) => v(name, typeof value === "boolean" ? value : Array.isArray(value) ? [...value] : value)),
    v("HEALTH_PORT", c.health.port),
    v("HEALTH_DISK_WARNING_PERCENT", c.health.disk_warning_percent),
    v("HEALTH_MEMORY_WARNING_PERCENT", c.health.memory_warning_percent),
    v("HEALTH_CRITICAL_CHECKS", c.health.critical_checks),
    v("HEALTH_DRAIN_FILE", c.health.drain_file),
    v("WEB_SERVICE_NAMES", c.web_services.map((w) => w.name)),
    v("WEB_SERVICE_URLS", webUrls),
    v("WEB_SERVICE_CRITICAL", c.web_services.map((w) => (w.critical ? "true" : "false"))),
    ...webShellVars(c, web),
    v("DISCOVERY_SSH_TIMEOUT", c.discovery.ssh_timeout),
    v("DISCOVERY_PROBE_TIMEOUT", c.discovery.probe_timeout),
    v("DISCOVERY_SSH_USER", c.discovery.ssh_user),
    v("SECRETS_FILE", c.secrets_file),
    v("STATE_DIR", c.state_dir),
    v("SECRET_NAMES", secretNames.map((s) => s.name)),
    v("BACKUP_HMAC_SECRET", BACKUP_HMAC_SECRET, "name of the secret keying the snapshots' metadata HMAC"),
  ];
  const services = buildServices(c);
  shellVars.push(...serviceShellVars(services));

  return {
    cluster: c,
    nodesByPriority,
    nodeCount: n,
    quorum,
    failuresTolerated: n - quorum,
    sizeWords: sizeInWords(n),
    redisTopology: c.redis.type,
    redisReplicaPort: c.redis.port + 1,
    redisSentinelMaster: `${c.name}-redis`,
    redisPasswordSecret: secretName(c.redis.password),
    // The backup scripts require the HMAC key themselves: it is not a preflight requirement of setup.
    secretNames: [...secretNames, { name: BACKUP_HMAC_SECRET, usedBy: "Backup metadata HMAC-SHA256 key: the same random value on every node (openssl rand -hex 32)" }],
    shellVars,
    services,
    configYaml,
    monitoring: buildMonitoring(c),
    web,
    galeraFailureDetection: galeraFailureDetection(c.database),
  };
}
