// Values that pass every field rule and would still harm a node once the toolkit runs as root:
// system or world-writable directories, paths that overlap each other or a daemon's data, addresses
// that are not a host's, ports whose Redis cluster bus does not exist, a database user called root.
import type { ClusterConfig } from "./schema.js";
import { ipToInt } from "./rules.js";

export interface SafetyFinding {
  path: (string | number)[];
  severity: "error";
  message: string;
}

/** Directories a path must never be (the toolkit would chmod/chown/rsync --delete them). */
const SYSTEM_DIRS = new Set([
  "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media", "/mnt", "/opt", "/proc",
  "/root", "/run", "/sbin", "/srv", "/sys", "/usr", "/usr/bin", "/usr/lib", "/usr/local", "/usr/sbin", "/usr/share",
  "/var", "/var/lib", "/var/log", "/var/spool", "/var/cache", "/var/backups", "/data",
]);

/** Trees no root-owned state may live in: world-writable (another local user can plant links) or virtual. */
const UNSAFE_TREES: Array<[string, string]> = [
  ["/tmp", "world-writable"],
  ["/var/tmp", "world-writable"],
  ["/dev/shm", "world-writable"],
  ["/run/lock", "world-writable"],
  ["/proc", "a virtual filesystem"],
  ["/sys", "a virtual filesystem"],
  ["/dev", "a device filesystem"],
];

/** Data directories of the daemons the toolkit runs: a mount, brick, backup or state path must not overlap them. */
const SERVICE_DATA_DIRS: Array<[string, string]> = [
  ["/var/lib/mysql", "MariaDB"],
  ["/var/lib/redis", "Redis"],
  ["/var/lib/glusterd", "GlusterFS"],
  ["/var/lib/munge", "munge"],
  ["/etc/munge", "munge"],
  ["/etc/slurm", "Slurm"],
  ["/var/lib/slurm", "Slurm"],
  ["/var/spool/slurmctld", "Slurm"],
  ["/var/lib/prometheus", "Prometheus"],
  ["/etc/keepalived", "keepalived"],
];

export function isUnder(path: string, dir: string): boolean {
  const d = dir.endsWith("/") ? dir : `${dir}/`;
  return path === dir || path.startsWith(d);
}

function norm(p: string): string {
  const n = p.replace(/\/+/g, "/").replace(/\/\.(?=\/|$)/g, "");
  return n.length > 1 ? n.replace(/\/$/, "") : n;
}

/** @param written whether a path is written in the file (a clash with a default is reported at the written value). */
export function safetyRules(config: ClusterConfig, written: (path: (string | number)[]) => boolean = () => true): SafetyFinding[] {
  const c = config.cluster;
  const out: SafetyFinding[] = [];
  const err = (path: (string | number)[], message: string) => out.push({ path: ["cluster", ...path], severity: "error", message });

  // ---- paths ----
  const dirs: Array<[(string | number)[], string, string]> = [
    [["storage", "backup_path"], c.storage.backup_path, "the backup directory"],
    [["state_dir"], c.state_dir, "the state directory"],
    [["storage", "mount_point"], c.storage.mount_point, "the shared mount point"],
    [["storage", "brick_path"], c.storage.brick_path, "the GlusterFS brick"],
  ];
  const files: Array<[(string | number)[], string, string]> = [
    [["health", "drain_file"], c.health.drain_file, "the drain file"],
    [["secrets_file"], c.secrets_file, "the secrets file"],
  ];
  // Other paths root writes, chowns or keeps secrets in: only the system-directory and
  // world-writable-tree rules apply to them (they may sit on the mount or in /var/log).
  const others: Array<[(string | number)[], string, string]> = [
    [["monitoring", "textfile_dir"], c.monitoring.textfile_dir, "node_exporter's textfile folder"],
    [["slurm", "state_location"], c.slurm.state_location, "the Slurm state folder"],
    [["slurm", "log_location"], c.slurm.log_location, "the Slurm log folder"],
    [["slurm", "spool_location"], c.slurm.spool_location, "the slurmd spool folder"],
  ];
  if (c.web) {
    others.push([["web", "secrets_env_file"], c.web.secrets_env_file, "the web secrets file"]);
    others.push([["web", "env_file"], c.web.env_file, "the shared environment file"]);
    // nginx (root) reads them at every reload: a key another local user can swap is their certificate
    if (c.web.tls_cert) others.push([["web", "tls_cert"], c.web.tls_cert, "the HTTPS certificate"]);
    if (c.web.tls_key) others.push([["web", "tls_key"], c.web.tls_key, "the HTTPS private key"]);
  }
  const reported = new Set<string>();
  for (const [path, raw] of [...dirs, ...files, ...others]) {
    const p = norm(raw);
    const tree = UNSAFE_TREES.find(([t]) => isUnder(p, t));
    if (SYSTEM_DIRS.has(p) || tree) reported.add(path.join("."));
    if (SYSTEM_DIRS.has(p)) err(path, `must not be the system directory ${p}: the toolkit creates, chmods and cleans this path as root; use a directory of its own (e.g. ${p === "/" ? "/data/hpc" : `${p}/hpc-cluster`})`);
    else if (tree) err(path, `must not be under ${tree[0]} (${tree[1]}): a root-owned path there can be replaced or linked by another local user, or vanishes at reboot`);
  }
  for (const [path, raw] of [...dirs, ...files]) {
    const p = norm(raw);
    const data = SERVICE_DATA_DIRS.find(([d]) => isUnder(p, d) || isUnder(d, p));
    if (data && !SYSTEM_DIRS.has(p)) {
      err(path, `overlaps ${data[1]}'s data directory ${data[0]}: ${isUnder(data[0], p) && p !== data[0] ? "a mount or cleanup there would hide or delete it" : "the daemon owns that directory"}`);
    }
  }
  // Mount point, brick, backup and state must be four separate trees. backup_path under mount_point
  // has its own, older rule (rules.ts), so that pair is left to it.
  for (let i = 0; i < dirs.length; i++) {
    for (let j = i + 1; j < dirs.length; j++) {
      const [pa, a, na] = dirs[i];
      const [pb, b, nb] = dirs[j];
      const [x, y] = [norm(a), norm(b)];
      if (pa.join(".") === "storage.backup_path" && pb.join(".") === "storage.mount_point" && isUnder(x, y)) continue;
      if (reported.has(pa.join(".")) || reported.has(pb.join("."))) continue;
      if (isUnder(x, y) || isUnder(y, x)) {
        const rel = x === y ? "is the same path as" : isUnder(x, y) ? "is inside" : "contains";
        const at = written(["cluster", ...pb]) || !written(["cluster", ...pa]) ? pb : pa;
        err(at, `${nb} ${y} and ${na} ${x} must not overlap (${na} ${rel} ${nb}): the brick is written only through the mount, backups must survive the shared volume, state is per node`);
      }
    }
  }

  // ---- addresses ----
  const addrs: Array<[(string | number)[], string]> = [
    ...c.nodes.map((n, i): [(string | number)[], string] => [["nodes", i, "ip"], n.ip]),
    [["vip", "address"], c.vip.address],
  ];
  if (c.arbitrator) addrs.push([["arbitrator", "ip"], c.arbitrator.ip]);
  const prefix = c.network_prefix;
  for (const [path, ip] of addrs) {
    const v = ipToInt(ip);
    const first = v >>> 24;
    const hostBits = 32 - prefix;
    const host = hostBits === 32 ? v : v % 2 ** hostBits;
    let why = "";
    if (first === 0) why = "is in 0.0.0.0/8 ('this network'), not a host address";
    else if (first === 127) why = "is a loopback address: other nodes cannot reach it";
    else if (first >= 224 && first <= 239) why = "is a multicast address";
    else if (first >= 240) why = "is a reserved or broadcast address";
    else if (first === 169 && (v >>> 16) % 256 === 254) why = "is a link-local address (169.254.0.0/16)";
    else if (hostBits >= 2 && host === 0) why = `is the network address of its /${prefix} subnet (cluster.network_prefix)`;
    else if (hostBits >= 2 && host === 2 ** hostBits - 1) why = `is the broadcast address of its /${prefix} subnet (cluster.network_prefix)`;
    if (why) err(path, `${ip} ${why}`);
  }

  // ---- ports ----
  if (c.redis.type === "cluster") {
    const max = c.redis.replicas === 1 ? 55534 : 55535;
    if (c.redis.port > max) {
      err(["redis", "port"], `must be at most ${max} with redis.type cluster: the cluster bus listens on port + 10000${c.redis.replicas === 1 ? " (and the replica instance on port + 1)" : ""}, which must stay a valid port`);
    }
  }

  // ---- users ----
  c.database.databases.forEach((d, i) => {
    if (d.user.toLowerCase() === "root") err(["database", "databases", i, "user"], "must not be root: the toolkit would set the administrator's password and grants from this entry; use an application user");
  });
  if (c.database.sst_user.toLowerCase() === "root") err(["database", "sst_user"], "must not be root: the SST user's password sits in the Galera config; use a dedicated user");
  if (c.database.databases.some((d) => d.user === c.database.sst_user)) {
    const i = c.database.databases.findIndex((d) => d.user === c.database.sst_user);
    err(["database", "databases", i, "user"], `must not be the SST user ${c.database.sst_user}: each gets its own grants and password`);
  }
  return out;
}
