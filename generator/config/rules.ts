// Rules that relate several fields, run after the schema accepted every field on its own.
// Each rule has a stable message that the fixtures in test/fixtures/invalid assert.
import type { ClusterConfig } from "./schema.js";
import { SECRET_FIELDS } from "./schema.js";
import { webPorts, webRules } from "./web.js";

export interface Finding {
  path: (string | number)[];
  severity: "error" | "warning";
  message: string;
}

export function ipToInt(ip: string): number {
  return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function sameSubnet(a: string, b: string, prefix: number): boolean {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return ((ipToInt(a) & mask) >>> 0) === ((ipToInt(b) & mask) >>> 0);
}

function duplicates<T>(items: T[], key: (t: T) => string | number, field: string, what: string, base: (string | number)[]): Finding[] {
  const seen = new Map<string | number, number>();
  const out: Finding[] = [];
  items.forEach((item, i) => {
    const k = key(item);
    const first = seen.get(k);
    if (first !== undefined) {
      out.push({ path: [...base, i, field], severity: "error", message: `duplicate ${what} '${k}' (already used by ${base[base.length - 1]}[${first}])` });
    } else seen.set(k, i);
  });
  return out;
}

/** Rules over the raw document, run even when the schema rejected it: `${VAR}` only in secret fields. */
export function rawRules(raw: unknown): Finding[] {
  const out: Finding[] = [];
  const secretPatterns = SECRET_FIELDS.map((f) => new RegExp(`^${f.replace(/\./g, "\\.").replace(/\\\.\*/g, "\\.\\d+")}$`));
  const walk = (v: unknown, path: (string | number)[]) => {
    if (typeof v === "string") {
      const dotted = path.join(".");
      if (v.includes("${") && !secretPatterns.some((re) => re.test(dotted))) {
        out.push({ path, severity: "error", message: `\${VAR} references are allowed only in secret fields (${SECRET_FIELDS.join(", ")})` });
      }
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(raw, []);
  return out;
}

/**
 * @param written tells whether a path is written in the file (not a default): a clash between a
 * default and a written value is reported at the written one, where the user can fix it.
 */
export function crossFieldRules(config: ClusterConfig, written: (path: (string | number)[]) => boolean = () => true): Finding[] {
  const c = config.cluster;
  const out: Finding[] = [];
  const base = ["cluster"];
  const nodesPath = [...base, "nodes"];

  out.push(...duplicates(c.nodes, (n) => n.ip, "ip", "IP address", nodesPath));
  out.push(...duplicates(c.nodes, (n) => n.hostname.toLowerCase(), "hostname", "hostname", nodesPath));
  out.push(...duplicates(c.nodes, (n) => n.priority, "priority", "priority", nodesPath));
  out.push(...duplicates(c.database.databases, (d) => d.name, "name", "database name", [...base, "database", "databases"]));
  out.push(...duplicates(c.web_services, (w) => w.name, "name", "web service name", [...base, "web_services"]));

  out.push(...webRules(config));

  // The VIP
  const vipPath = [...base, "vip"];
  const owner = c.nodes.findIndex((n) => n.ip === c.vip.address);
  const outside = c.nodes.filter((n) => !sameSubnet(n.ip, c.vip.address, c.network_prefix)).map((n) => n.ip);
  if (owner >= 0) {
    out.push({ path: [...vipPath, "address"], severity: "error", message: `the VIP must not be a node address (nodes[${owner}] ${c.nodes[owner].hostname} has it)` });
  } else if (outside.length > 0) {
    out.push({ path: [...vipPath, "address"], severity: "error", message: `the VIP ${c.vip.address} is not in the /${c.network_prefix} subnet of ${outside.join(", ")} (set cluster.network_prefix if the subnet is larger)` });
  }
  if (c.vip.vrrp_version === 2 && c.vip.advert_int < 1) {
    out.push({ path: [...vipPath, "advert_int"], severity: "error", message: "a sub-second advert_int needs vrrp_version 3 (VRRPv2 rounds it to whole seconds)" });
  }
  if (c.vip.vrrp_version === 3 && c.vip.auth_password !== undefined) {
    out.push({ path: [...vipPath, "auth_password"], severity: "warning", message: "VRRPv3 has no authentication: auth_password is ignored (set vrrp_version: 2 to use it)" });
  }

  // The arbitrator
  if (c.arbitrator) {
    const a = c.arbitrator;
    if (c.nodes.some((n) => n.ip === a.ip) || a.ip === c.vip.address) {
      out.push({ path: [...base, "arbitrator", "ip"], severity: "error", message: "the arbitrator must be a separate host (its IP is a node's or the VIP)" });
    }
    if (c.nodes.some((n) => n.hostname.toLowerCase() === a.hostname.toLowerCase())) {
      out.push({ path: [...base, "arbitrator", "hostname"], severity: "error", message: "the arbitrator's hostname is already a node's" });
    }
  }

  // Storage
  const st = c.storage;
  if (typeof st.replica_count === "number" && st.replica_count > c.nodes.length) {
    out.push({ path: [...base, "storage", "replica_count"], severity: "error", message: `must be 'auto' or 1..${c.nodes.length} (the number of nodes)` });
  }
  if (st.type === "nfs" && st.tls) {
    out.push({ path: [...base, "storage", "tls"], severity: "error", message: "storage.tls is GlusterFS' own TLS; an NFS export is secured on the NFS server (leave storage.tls false with type nfs)" });
  }
  if (st.type === "nfs" && !st.nfs_export) {
    out.push({ path: [...base, "storage", "type"], severity: "error", message: "storage type nfs needs storage.nfs_export (HOST:/path)" });
  }
  const replicas = st.replica_count === "auto" ? c.nodes.length : st.replica_count;
  if (st.type === "glusterfs" && replicas === 2 && !st.arbiter) {
    out.push({ path: [...base, "storage", "replica_count"], severity: "warning", message: "replica 2 without an arbiter is prone to split-brain (a third node makes it replica 3)" });
  }
  if (st.type === "glusterfs") {
    if (!isUnder(c.slurm.state_location, st.mount_point)) {
      out.push({ path: [...base, "slurm", "state_location"], severity: "error", message: `must be on the shared storage (under ${st.mount_point}) so a backup controller can take over` });
    }
  }
  if (isUnder(c.slurm.log_location, st.mount_point)) {
    out.push({
      path: [...base, "slurm", "log_location"],
      severity: "error",
      message: `must be on each node's local disk, not under the shared mount point ${st.mount_point}: every controller would append to the same slurmctld.log, and a storage stall would block the daemons on their log writes (e.g. /var/log/slurm)`,
    });
  }
  if (isUnder(st.backup_path, st.mount_point)) {
    out.push({ path: [...base, "storage", "backup_path"], severity: "error", message: "backups must stay on each node's local disk, not under the shared mount point" });
  }

  // Database
  if (c.database.sst_method === "mariabackup" && !c.database.sst_password) {
    out.push({ path: [...base, "database", "sst_method"], severity: "error", message: "sst_method mariabackup needs database.sst_password (a ${VAR} reference)" });
  }

  // Two nodes are special in every service.
  if (c.nodes.length === 2 && !c.arbitrator) {
    out.push({ path: nodesPath, severity: "warning", message: "2 nodes without an arbitrator: an even split leaves no quorum (add cluster.arbitrator)" });
  } else if (c.nodes.length % 2 === 0 && c.nodes.length > 2 && !c.arbitrator) {
    out.push({ path: nodesPath, severity: "warning", message: `${c.nodes.length} nodes: losing ${c.nodes.length / 2} of them, or an even split (${c.nodes.length / 2}|${c.nodes.length / 2}), stops every write (no quorum): add cluster.arbitrator (a small host running garbd, whose vote makes ${c.nodes.length + 1}) or an odd number of nodes` });
  }

  // Backup retention: retention_days caps whatever the policy keeps.
  const rd = c.backup.retention_days;
  if (rd !== undefined) {
    const rp = c.backup.retention_policy;
    const span = Math.max(rp.daily, rp.weekly * 7, rp.monthly * 31);
    if (rd < span) {
      out.push({
        path: [...base, "backup", "retention_days"],
        severity: "warning",
        message: `retention_days ${rd} deletes every snapshot older than ${rd} days, so retention_policy (daily ${rp.daily}, weekly ${rp.weekly}, monthly ${rp.monthly}: up to ${span} days) is cut short`,
      });
    }
  }
  if (c.redis.type === "sentinel" && c.nodes.length === 2 && !c.arbitrator) {
    out.push({ path: [...base, "redis", "type"], severity: "warning", message: "2-node Redis Sentinel without a third sentinel can never fail over (add cluster.arbitrator)" });
  }

  // Ports: no two services on one port.
  const ports: Array<[(string | number)[], number]> = [
    [[...base, "database", "port"], c.database.port],
    [[...base, "database", "galera_port"], c.database.galera_port],
    [[...base, "database", "ist_port"], c.database.ist_port],
    [[...base, "database", "sst_port"], c.database.sst_port],
    [[...base, "redis", "port"], c.redis.port],
    [[...base, "redis", "sentinel_port"], c.redis.sentinel_port],
    [[...base, "slurm", "slurmctld_port"], c.slurm.slurmctld_port],
    [[...base, "slurm", "slurmd_port"], c.slurm.slurmd_port],
    [[...base, "slurm", "slurmdbd_port"], c.slurm.slurmdbd_port],
    [[...base, "monitoring", "prometheus_port"], c.monitoring.prometheus_port],
    [[...base, "monitoring", "node_exporter_port"], c.monitoring.node_exporter_port],
    [[...base, "monitoring", "alertmanager_port"], c.monitoring.alertmanager_port],
    [[...base, "health", "port"], c.health.port],
    ...c.web_services.map((w, i): [(string | number)[], number] => [[...base, "web_services", i, "port"], w.port]),
    ...webPorts(config),
  ];
  // Redis Cluster also listens on port + 10000 (the cluster bus).
  if (c.redis.type === "cluster") ports.push([[...base, "redis", "port"], c.redis.port + 10000]);
  // replicas: 1 runs a second instance per node on port + 1 (and its bus on port + 10001).
  if (c.redis.type === "cluster" && c.redis.replicas === 1) {
    ports.push([[...base, "redis", "port"], c.redis.port + 1], [[...base, "redis", "port"], c.redis.port + 10001]);
  }
  const portOwner = new Map<number, { name: string; path: (string | number)[] }>();
  for (const [path, p] of ports) {
    const name = path.slice(1).join(".");
    const prev = portOwner.get(p);
    if (prev === undefined) portOwner.set(p, { name, path });
    else if (prev.name !== name) {
      const [at, other] = !written(path) && written(prev.path) ? [prev.path, name] : [path, prev.name];
      out.push({ path: at, severity: "error", message: `port ${p} is already used by ${other}` });
    }
  }
  return out.filter((f, i, all) => all.findIndex((g) => g.path.join(".") === f.path.join(".") && g.message === f.message) === i);
}

function isUnder(path: string, dir: string): boolean {
  const d = dir.endsWith("/") ? dir : `${dir}/`;
  return path === dir || path.startsWith(d);
}
