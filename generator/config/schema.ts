// The single source of truth for cluster_config.yaml.
// Shape rules live here (one field, one rule); rules that relate several fields live in rules.ts.
// Every object is strict, so a typo is an error and not a silently ignored key.
import { z } from "zod";
// The health check names come from the service registry (one list for the schema and the bash).
import { HEALTH_CHECKS } from "../model/services.js";

/** A `${VAR}` reference: the only form a secret may take in the config. */
export const SECRET_REF = /^\$\{([A-Z][A-Z0-9_]*)\}$/;

const ipv4 = z
  .string()
  .refine(
    (s) => /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(s) && s.split(".").every((o) => Number(o) <= 255 && String(Number(o)) === o),
    { message: "must be an IPv4 address like 192.168.1.101" },
  );

// RFC 1123 host label: letters, digits and '-', not starting or ending with '-', at most 63 characters.
const hostname = z
  .string()
  .regex(/^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/, { message: "must be an RFC 1123 host name (letters, digits, '-'; 1-63 characters; no leading or trailing '-')" });

const name = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, { message: "must start with a letter and use only letters, digits, '_', '.', '-' (at most 64 characters)" });

const identifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, { message: "must be letters, digits and '_' (at most 64 characters, not starting with a digit)" });

const absPath = z
  .string()
  .regex(/^\/[A-Za-z0-9._@+\/-]*$/, { message: "must be an absolute path made of letters, digits and . _ @ + - /" })
  .refine((p) => !p.split("/").includes(".."), { message: "must not contain '..'" });

const port = z.number().int({ message: "must be a whole number" }).min(1, { message: "must be a port number 1-65535" }).max(65535, { message: "must be a port number 1-65535" });

// No leading '-': the name reaches command lines (ip, keepalived), where it would read as an option.
const iface = z.string().regex(/^[A-Za-z0-9_.:@][A-Za-z0-9_.:@-]{0,14}$/, { message: "must be a network interface name (1-15 characters: letters, digits, '_', '.', ':', '@', '-'; not starting with '-')" });

/** A secret: must be a `${VAR}` reference, resolved on the node at run time from the secrets file. */
const secret = z.string().regex(SECRET_REF, {
  message: "secrets must be a ${VAR} reference (upper-case name), e.g. ${REDIS_PASSWORD}; put the value in the secrets file on each node",
});

const cronField = "(\\*|\\d+(-\\d+)?)(\\/\\d+)?(,(\\*|\\d+(-\\d+)?)(\\/\\d+)?)*";
const cronFieldRe = new RegExp(`^${cronField}$`);
const CRON_RANGES: Array<[number, number, string]> = [
  [0, 59, "minute"],
  [0, 23, "hour"],
  [1, 31, "day of month"],
  [1, 12, "month"],
  [0, 7, "day of week"],
];
const cron = z.string().superRefine((s, ctx) => {
  // The schedule is written into a crontab line: a newline would start a second (root) entry, and a
  // non-ASCII space is a field separator here but not for cron.
  const bad = /[^0-9*,\/ -]/.exec(s);
  if (bad) {
    const code = bad[0].codePointAt(0)!;
    const shown = code >= 0x21 && code <= 0x7e ? `'${bad[0]}'` : `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a cron schedule made of digits, '*', ',', '-', '/' and ASCII spaces only (found ${shown})` });
    return;
  }
  const fields = s.trim().split(/ +/);
  if (fields.length !== 5) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a cron schedule of 5 fields (minute hour day month weekday), got ${fields.length}` });
    return;
  }
  fields.forEach((f, i) => {
    const [lo, hi, what] = CRON_RANGES[i];
    const numbers = (f.match(/\d+/g) ?? []).map(Number);
    const stepless = f.replace(/\/\d+/g, "");
    const bounded = (stepless.match(/\d+/g) ?? []).map(Number);
    if (!cronFieldRe.test(f) || bounded.some((n) => n < lo || n > hi) || numbers.some((n) => !Number.isFinite(n))) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `invalid cron ${what} field '${f}' (allowed ${lo}-${hi}, '*', ranges, lists and steps)` });
    }
  });
});

const node = z
  .object({
    ip: ipv4.describe("The node's address in the cluster subnet: not a network, broadcast, loopback, multicast or 0.x address."),
    hostname: hostname.describe("Must be the server's own short hostname (start_multi_complete.sh's Hostname preflight check; --set-hostname sets it) and resolve to ip (NodeNames check): Slurm and Galera use it."),
    priority: z.number().int({ message: "must be a whole number" }).min(1, { message: "must be 1-254" }).max(254, { message: "must be 1-254" })
      .describe("1-254, unique: the higher, the earlier the node is chosen (Slurm primary controller, Prometheus, last-resort VIP holder, the member that takes the scheduled backup)."),
    role: z
      .enum(["master", "worker"])
      .refine((r) => r !== "worker", {
        message: "role 'worker' is not supported yet: every node runs the whole stack (storage, database, Redis, a Slurm controller, the VIP); set role: master or leave the key out",
      })
      .default("master")
      .describe("master: the node runs every service. worker (a Slurm compute node only) is refused until the toolkit supports it."),
  })
  .strict();

const arbitrator = z
  .object({
    ip: ipv4.describe("The witness host's address (runs garbd, glusterd without a brick and the third Redis sentinel)."),
    hostname: hostname.describe("The witness host's name: informational only (the toolkit reaches the arbitrator by ip); must differ from every node's."),
  })
  .strict()
  .describe("A small host (witness) that, while the member count is even (2, 4, ...), runs garbd and is a brick-less GlusterFS peer (server quorum), so losing half the members or an even split keeps the database and the shared volume writable on the side with the witness; and a Redis sentinel.");


const vip = z
  .object({
    address: ipv4.describe("The virtual IP: inside the nodes' /network_prefix subnet, not a node's address, not its network or broadcast address."),
    interface: iface.describe("The network interface keepalived adds the VIP to (e.g. eth0)."),
    vrrp_router_id: z.number().int().min(1, { message: "must be 1-255" }).max(255, { message: "must be 1-255" })
      .describe("VRRP virtual router id (1-255): unique among the keepalived instances of this network segment."),
    auth_password: z
      .string()
      .superRefine((s, ctx) => {
        if (SECRET_REF.test(s)) return;
        if (s.length > 8) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `is ${s.length} characters; keepalived uses at most 8 and silently truncates the rest` });
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: "secrets must be a ${VAR} reference (upper-case name), e.g. ${VRRP_PASSWORD}; put the value (at most 8 characters) in the secrets file on each node" });
      })
      .optional()
      .describe("VRRPv2 only (VRRPv3 has no authentication); at most 8 characters, checked on the node."),
    advert_int: z.number().min(0.01, { message: "must be 0.01-255 seconds" }).max(255, { message: "must be 0.01-255 seconds" }).default(0.1)
      .describe("Seconds between VRRP adverts; sub-second values need vrrp_version 3. Failover takes about 3 adverts."),
    vrrp_version: z.union([z.literal(2), z.literal(3)]).default(3).describe("VRRP protocol version: 3 allows sub-second adverts; 2 allows auth_password."),
    check_interval: z.number().min(0.5, { message: "must be 0.5-60 seconds" }).max(60, { message: "must be 0.5-60 seconds" }).default(1)
      .describe("Seconds between keepalived's runs of the health check (check_all_services.sh)."),
    track_checks: z.array(z.enum(HEALTH_CHECKS)).default([...HEALTH_CHECKS])
      .describe("Health checks that can move the VIP: a failing critical one (health.critical_checks) moves it at once, the others count. When every node fails at once (e.g. Galera down everywhere) and all of them can be asked, the highest-priority node holds the VIP anyway (last resort) until another one is fit."),
    noncritical_failures_to_move: z.number().int().min(1, { message: "must be 1-100" }).max(100, { message: "must be 1-100" }).default(2)
      .describe("How many non-critical checks must fail at the same time before the VIP moves."),
  })
  .strict();

const storage = z
  .object({
    type: z.enum(["glusterfs", "nfs"]).default("glusterfs").describe("glusterfs: a replica volume with a brick on every node; nfs: mount an existing export (nfs_export) instead."),
    mount_point: absPath.default("/mnt/gluster").describe("Where every node mounts the shared volume. Not a system directory, not over a daemon's data directory, apart from brick_path, backup_path and state_dir."),
    backup_path: absPath.default("/data/system_backup").describe("Each node's local snapshot directory: not under mount_point, not a system or world-writable directory."),
    brick_path: absPath.default("/data/glusterfs/shared").describe("The GlusterFS brick on each node (written only through the mount): separate from mount_point and backup_path."),
    volume_name: identifier.default("shared_data").describe("Name of the GlusterFS volume."),
    replica_count: z.union([z.literal("auto"), z.number().int().min(1, { message: "must be 'auto' or a whole number >= 1" })]).default("auto")
      .describe("Copies of every file: auto = one per member (the volume grows replica N+1 as nodes join)."),
    arbiter: z
      .boolean()
      .refine((a) => a === false, {
        message: "a GlusterFS arbiter brick is not supported yet: the toolkit creates none (the arbitrator runs garbd and a Redis sentinel only); leave storage.arbiter false",
      })
      .default(false)
      .describe("Reserved: a GlusterFS arbiter brick on the arbitrator host. Only false is accepted today (the toolkit creates no arbiter brick)."),
    tls: z.boolean().default(false)
      .describe("GlusterFS I/O over TLS: every brick and client proves itself with a certificate from the cluster's own CA (created at bootstrap, copied to each joining node), and the bricks accept only the members' names (auth.ssl-allow, kept in step on join/remove). Decided when the volume is created: a live volume keeps its setting (see docs/security.md)."),
    nfs_export: z.string().regex(/^[A-Za-z0-9.][A-Za-z0-9.-]*:\/[A-Za-z0-9._@+\/-]*$/, { message: "must be HOST:/path (the host not starting with '-')" }).optional()
      .describe("The NFS export mounted at mount_point when type is nfs (HOST:/path)."),
  })
  .strict();

const databaseEntry = z
  .object({
    name: identifier.describe("The database to create (slurm_acct_db makes slurmdbd run)."),
    user: identifier.describe("Its user, created with all privileges on it; never root, never the SST user."),
    password: secret.describe("The user's password."),
  })
  .strict();

const database = z
  .object({
    type: z.literal("mariadb-galera").default("mariadb-galera").describe("The only database engine: MariaDB with Galera synchronous replication."),
    port: port.default(3306).describe("MariaDB client port on every node."),
    cluster_name: identifier.default("hpc_portal_cluster").describe("wsrep_cluster_name: nodes with another name refuse to join."),
    sst_method: z.enum(["rsync", "mariabackup"]).default("rsync").describe("How a joining node gets a full copy (SST): rsync blocks the donor during the copy; mariabackup does not and needs sst_password."),
    sst_user: identifier.default("sst_user").describe("The user mariabackup state transfers log in as (not root)."),
    sst_password: secret.optional().describe("Needed for sst_method mariabackup."),
    tls: z.boolean().default(false)
      .describe("Galera replication, IST and SST over TLS with the cluster's own CA (socket.ssl; the SST through stunnel for rsync, socat for mariabackup; garbd too). All members must agree: set it before the bootstrap (see docs/security.md)."),
    galera_port: port.default(4567).describe("Galera replication port."),
    ist_port: port.default(4568).describe("Incremental state transfer (IST) port."),
    sst_port: port.default(4444).describe("State snapshot transfer (SST) port."),
    innodb_buffer_pool_size: z.string().regex(/^[1-9][0-9]*[KMG]$/, { message: "must be a size like 512M or 2G" }).default("1G")
      .describe("InnoDB buffer pool per node (labs and tests lower it, e.g. 32M)."),
    gcache_size: z.string().regex(/^[1-9][0-9]*[KMG]$/, { message: "must be a size like 512M or 2G" }).default("1G")
      .describe("Galera write-set cache: a returning node within this much history rejoins by IST instead of a full SST."),
    suspect_timeout: z.number().min(0.5, { message: "must be at least 0.5 (seconds)" }).max(30, { message: "must be at most 30 (seconds)" }).default(1.5)
      .describe("Seconds of silence before the other members suspect a node dead and evict it (Galera's evs.suspect_timeout; default PT5S there): while a peer that lost power is still a member, every write on the survivors waits, so a power loss stalls writes about this long plus 0.15 s (bench/galera-stall: 1.66 s at 1.5). Raise it on a lossy or overloaded network, where a lower value evicts healthy nodes."),
    databases: z.array(databaseEntry).default([]).describe("Databases and their users to create (idempotent) once the cluster runs."),
  })
  .strict();

const redis = z
  .object({
    type: z.enum(["cluster", "sentinel"]).default("cluster").describe("cluster: Redis Cluster with slots spread over the members; sentinel: one master, the others replicas, Sentinels fail over."),
    port: port.default(6379).describe("Redis port; with type cluster at most 55535 (the cluster bus is port + 10000; replicas: 1 also uses port + 1)."),
    sentinel_port: port.default(26379).describe("Sentinel port (redis.type sentinel, and the arbitrator's witness)."),
    password: secret.describe("Password of every Redis instance (requirepass and masterauth)."),
    replicas: z.number().int().min(0, { message: "must be 0 or 1" }).max(1, { message: "must be 0 or 1" }).default(0)
      .describe("Redis Cluster: 1 runs a replica instance (port + 1) per node, on another node than its master, so a lost node loses no keys."),
  })
  .strict();

const slurm = z
  .object({
    mode: z
      .enum(["multi-master", "ha"])
      .refine((m) => m !== "ha", {
        message: "slurm.mode 'ha' (two controllers) is not supported yet: the toolkit runs slurmctld on every member (multi-master); use multi-master",
      })
      .default("multi-master")
      .describe("multi-master: every member runs slurmctld (highest priority first is the primary, the others take over in order). 'ha' (two controllers only) is refused until the toolkit supports it."),
    cluster_name: z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, { message: "must be lower-case letters, digits and '_' (Slurm cluster names are lower case)" }).default("hpc")
      .describe("Slurm ClusterName (registered in slurmdbd)."),
    state_location: absPath.default("/mnt/gluster/slurm/state").describe("StateSaveLocation: must be on the shared mount so every controller reads the same state."),
    log_location: absPath.default("/var/log/slurm")
      .describe("Directory of each node's Slurm logs (slurmctld.log, slurmd.log, slurmdbd.log), on the node's local disk: not under the shared mount point."),
    spool_location: absPath.default("/var/spool/slurmd").describe("SlurmdSpoolDir on each node's local disk."),
    controller_timeout: z.number().int().min(3).max(600).default(10).describe("SlurmctldTimeout: seconds before a backup controller takes over."),
    slurmctld_port: port.default(6817).describe("SlurmctldPort."),
    slurmd_port: port.default(6818).describe("SlurmdPort."),
    slurmdbd_port: port.default(6819).describe("DbdPort (slurmdbd, accounting in MariaDB slurm_acct_db)."),
  })
  .strict();

// Upper bounds keep "keep forever" values out of the bash arithmetic (days * 86400 must not overflow)
// and make a typo (7000 instead of 7) an error instead of a disk that fills up.
const keep = (max: number, unit: string) =>
  z.number().int({ message: "must be a whole number" }).min(0, { message: `must be 0-${max}` }).max(max, { message: `must be 0-${max} ${unit}` });

const retentionPolicy = z
  .object({
    daily: keep(366, "days").default(7).describe("Keep every snapshot younger than this many days (0-366)."),
    weekly: keep(260, "weeks").default(4).describe("Keep the newest snapshot of each of the last this many ISO weeks (0-260)."),
    monthly: keep(120, "months").default(12).describe("Keep the first snapshot of each of the last this many calendar months (0-120)."),
  })
  .strict();

const backup = z
  .object({
    enabled: z.boolean().default(true).describe("false: backup_scheduler.sh --install refuses and no schedule is installed (backup.sh by hand still works)."),
    schedule: cron.default("0 2 * * *").describe("Cron schedule (5 fields, digits and * , - / only) of the full backup."),
    incremental_schedule: cron.optional().describe("When set, an incremental backup also runs on this schedule (e.g. hourly)."),
    retention_days: z
      .number()
      .int({ message: "must be a whole number" })
      .min(1, { message: "must be 1-3650 days" })
      .max(3650, { message: "must be 1-3650 days" })
      .optional()
      .describe("Hard cap on top of retention_policy: no snapshot older than this many days is kept, whatever the policy says (the newest snapshot is always kept). Unset: the policy alone decides."),
    retention_policy: retentionPolicy.default({}).describe("Which snapshots backup_scheduler.sh --prune keeps (grandfather-father-son)."),
    backup_items: z
      .array(z.enum(["configs", "databases", "slurm_state", "redis_rdb", "shared_storage"]))
      .default(["configs", "databases", "slurm_state", "redis_rdb", "shared_storage"])
      .describe("shared_storage: the files of the shared volume (storage.mount_point: uploads, frontend builds, shared config) in each snapshot."),
    shared_excludes: z
      .array(z.string().regex(/^[^\s'"]+$/, { message: "must be an rsync pattern without spaces or quotes" }))
      .default([])
      .describe("rsync exclude patterns, relative to storage.mount_point ('/scratch/', '*.tmp'), for files no snapshot copies."),
    replicate: z.boolean().default(true)
      .describe("Copy every verified snapshot to the other members' backup_path (hard links to the previous copy)."),
    // Neither the user nor the host may start with '-': USER@HOST reaches ssh's command line.
    offsite: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9.-]*:\/[A-Za-z0-9._\/-]*$/, { message: "must be USER@HOST:/path (an rsync-over-SSH destination; user and host not starting with '-' or '.')" }).optional()
      .describe("An off-site copy of every snapshot: USER@HOST:/path, reached over SSH with root's key."),
  })
  .strict();

const alertReceiver = z
  .object({
    name: name.describe("The receiver's name in alertmanager.yml."),
    webhook_url: z.string().regex(/^https?:\/\/[A-Za-z0-9.:\/_?=&%-]+$/, { message: "must be an http(s) URL without spaces or quotes" }).optional()
      .describe("Alertmanager webhook receiver: POSTs the alert group as JSON."),
    email: z.string().regex(/^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$/, { message: "must be an e-mail address" }).optional()
      .describe("Send alerts to this address through monitoring.smtp."),
    slack_api_url: secret.optional().describe("Slack incoming-webhook URL, as a ${SECRET} reference (resolved on the node into a 0640 file)."),
    slack_channel: z.string().regex(/^[#@]?[A-Za-z0-9._-]{1,80}$/, { message: "must be a Slack channel like #hpc-alerts" }).optional().describe("Slack channel for slack_api_url."),
  })
  .strict();

const smtp = z
  .object({
    smarthost: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]*:\d{1,5}$/, { message: "must be HOST:PORT, e.g. mail.example.org:587 (the host not starting with '-')" }).describe("SMTP server, HOST:PORT."),
    from: z.string().regex(/^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$/, { message: "must be an e-mail address" }).describe("Sender address of alert mails."),
    auth_username: z.string().regex(/^[A-Za-z0-9._%+@-]{1,128}$/, { message: "must be a user name without spaces or quotes" }).optional().describe("SMTP login (with auth_password)."),
    auth_password: secret.optional().describe("SMTP password."),
    require_tls: z.boolean().default(true).describe("Refuse to send mail without STARTTLS."),
  })
  .strict();

const monitoring = z
  .object({
    enabled: z.boolean().default(true).describe("Set up exporters, Prometheus and Alertmanager (setup/phase5_monitoring_setup.sh)."),
    prometheus_port: port.default(9090).describe("Prometheus port (every member answers on it: the others forward it)."),
    node_exporter_port: port.default(9100).describe("node_exporter port."),
    alertmanager_port: port.default(9093).describe("Alertmanager port."),
    alertmanager_cluster_port: port.default(9094).describe("Alertmanager gossip port (every member runs one Alertmanager; they form one cluster)."),
    mysqld_exporter_port: port.default(9104).describe("mysqld-exporter port."),
    redis_exporter_port: port.default(9121).describe("redis-exporter port."),
    prometheus_nodes: z.number().int().min(1).max(16).default(2)
      .describe("Prometheus runs on this many members, highest priority first; the others forward the Prometheus port to them."),
    scrape_interval: z.number().int().min(1).max(300).default(5).describe("Seconds between scrapes (and rule evaluations)."),
    node_down_seconds: z.number().int().min(5).max(3600).default(30).describe("A node that does not answer this long is reported down."),
    cpu_alert_percent: z.number().int().min(1).max(100).default(90).describe("HostHighCpu fires when CPU use stays at or above this for 5 minutes (percent)."),
    disk_alert_percent: z.number().int().min(1).max(100).default(80).describe("HostDiskFull fires when a filesystem is at least this full (percent)."),
    group_wait: z.number().int().min(0).max(600).default(5).describe("Seconds Alertmanager waits to group the first alerts of a group."),
    repeat_interval: z.string().regex(/^\d+[smhd]$/, { message: "must be a duration like 4h" }).default("4h").describe("Alertmanager resends a firing alert this often."),
    exporter_user: identifier.default("hpc_exporter").describe("MariaDB user of mysqld-exporter (PROCESS, REPLICATION CLIENT, SELECT on performance_schema)."),
    exporter_password: secret.optional()
      .describe("Password of exporter_user (0600 my.cnf on the node). Without it the exporter logs in over the socket as its Unix user (unix_socket auth, no password)."),
    textfile_dir: absPath.default("/var/lib/prometheus/node-exporter").describe("node_exporter's textfile collector directory (the toolkit's own metrics)."),
    retention: z.string().regex(/^\d+[hdw]$/, { message: "must be a duration like 15d" }).default("15d").describe("Prometheus TSDB retention."),
    smtp: smtp.optional().describe("Mail server for e-mail receivers."),
    alert_receivers: z.array(alertReceiver).default([]).describe("Where Alertmanager sends alerts (webhook, e-mail, Slack); none: alerts are only visible in Alertmanager."),
  })
  .strict();

const health = z
  .object({
    port: port.default(8430).describe("Port of the node's GET /health endpoint."),
    disk_warning_percent: z.number().int().min(1).max(100).default(80).describe("The disk health check warns at this use of / or the shared mount (percent); it fails at 95 %."),
    memory_warning_percent: z.number().int().min(1).max(100).default(90).describe("The memory health check warns at this use (percent)."),
    critical_checks: z.array(z.enum(HEALTH_CHECKS)).default(["mariadb", "redis", "glusterfs"])
      .describe("Checks whose failure makes /health answer 503 and moves the VIP; the others only count."),
    drain_file: absPath.default("/etc/hpc-cluster/drain").describe("While this file exists the node reports unhealthy (the VIP moves away). Not in a world-writable directory."),
  })
  .strict();

// ---- the web tier (nginx on every node, the portal's services, the shared environment file) ----
// A URL prefix nginx routes: '/', or segments between slashes ('/api/auth/').
const urlLocation = z
  .string()
  .regex(/^\/([A-Za-z0-9._~-]+\/)*$/, { message: "must be a URL prefix that starts and ends with '/' (letters, digits, '.', '_', '~', '-' between slashes), e.g. /api/auth/" });

const PORTAL_ROOT = "/opt/hpc-dashboard";

// A service folder: an absolute path below /opt/hpc-dashboard/ (one message, whichever part is wrong).
const portalDir = z.string().superRefine((p, ctx) => {
  const abs = absPath.safeParse(p);
  if (!abs.success || !p.startsWith(`${PORTAL_ROOT}/`) || p.length <= PORTAL_ROOT.length + 1) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an absolute folder under ${PORTAL_ROOT}/ (letters, digits and . _ @ + - /, no '..')` });
  }
});

const webFrontend = z
  .object({
    location: urlLocation.describe("URL prefix nginx serves the build under, e.g. /auth/."),
    build: name.describe("Folder of the built frontend under <storage.mount_point>/frontend_builds/ (built once, served by every node)."),
    spa: z.boolean().default(false).describe("Single-page app: unknown paths under location answer its index.html instead of 404."),
  })
  .strict();

const web = z
  .object({
    listen_port: port.default(80).describe("Port nginx listens on, on every node (and so on the VIP)."),
    listen_tls_port: port.optional().describe("HTTPS port (default 443 when tls_cert is set)."),
    tls_cert: absPath.optional().describe("PEM certificate (chain) for HTTPS; the same path on every node. Needs tls_key."),
    tls_key: absPath.optional().describe("PEM private key for tls_cert; the same path on every node (root only)."),
    env_file: absPath.default("/mnt/gluster/config/global.env")
      .describe("The shared environment file (no secrets) on the shared volume; every web_services[].dir gets .env linked to it."),
    secrets_env_file: absPath.default("/etc/hpc-cluster/web-secrets.env")
      .describe("Per-node root-only file (0600) with the passwords (REDIS_PASSWORD, DB_PASSWORD, DB_<NAME>_PASSWORD), rendered from the secrets file; HPC_SECRETS_ENV in env_file names it."),
    database: identifier.optional().describe("The database (a database.databases[].name) behind DB_NAME / DB_USER / DB_PASSWORD in the environment files."),
    client_max_body_size: z.string().regex(/^[1-9][0-9]*[kmg]?$/, { message: "must be an nginx size like 100m, 512k or 1g" }).default("100m")
      .describe("Largest request body (uploads) nginx accepts."),
    max_fails: z.number().int().min(1, { message: "must be 1-100" }).max(100, { message: "must be 1-100" }).default(1)
      .describe("Passive health check: failed attempts on a backend within fail_timeout before nginx stops sending it requests."),
    fail_timeout: z.number().int().min(1, { message: "must be 1-3600 seconds" }).max(3600, { message: "must be 1-3600 seconds" }).default(5)
      .describe("Seconds a backend that reached max_fails is left out (and the window in which failures count)."),
    connect_timeout: z.number().min(0.1, { message: "must be 0.1-60 seconds" }).max(60, { message: "must be 0.1-60 seconds" }).default(1)
      .describe("Seconds nginx waits to connect to a backend before trying the next node (a powered-off node never answers)."),
    worker_connections: z.number().int().min(512, { message: "must be 512-65536" }).max(65536, { message: "must be 512-65536" }).default(4096)
      .describe("nginx worker_connections (set in /etc/nginx/nginx.conf; worker_rlimit_nofile twice that): a proxied request holds two, so at least twice the concurrent clients per worker."),
    websocket_timeout: z.number().int().min(10, { message: "must be 10-86400 seconds" }).max(86400, { message: "must be 10-86400 seconds" }).default(3600)
      .describe("Seconds an idle WebSocket connection stays open."),
    start_script: absPath.default(`${PORTAL_ROOT}/dashboard/start_complete.sh`)
      .describe("The portal's own start script, run (as the unit hpc-portal on systemd) once nginx is up; reported clearly when absent."),
    frontends: z.array(webFrontend).default([]).describe("Built frontends served from the shared volume by every node."),
  })
  .strict()
  .describe("The web tier: nginx on every node proxies each web service to every node and serves the frontends; without this section no nginx is set up.");

const webService = z
  .object({
    name: name.describe("The service's name (in health checks, discovery and the nginx upstream hpc_<name>)."),
    port: port.describe("Port the service listens on, on every node."),
    health_path: z.string().regex(/^\/[A-Za-z0-9._\/-]*$/, { message: "must be a URL path like /health" }).default("/health")
      .describe("Path of the service's own health URL (http://127.0.0.1:<port><health_path>)."),
    critical: z.boolean().default(false).describe("A failing health URL makes this node unfit for the VIP (otherwise it only counts)."),
    dir: portalDir.optional()
      .describe(`The service's folder (under ${PORTAL_ROOT}/); it gets .env linked to web.env_file.`),
    location: urlLocation.optional().describe("URL prefix nginx proxies to this port on every healthy node (needs cluster.web)."),
    websocket: z.boolean().default(false).describe("Sticky upstream (the same client address always reaches the same node) and WebSocket Upgrade headers."),
  })
  .strict();

const discovery = z
  .object({
    ssh_timeout: z.number().int().min(1).max(60).default(5).describe("SSH ConnectTimeout (seconds) for every command run on a peer."),
    probe_timeout: z.number().int().min(1).max(60).default(3).describe("Deadline (seconds) of one discovery probe; a node that does not answer in time is inactive (reason timeout)."),
    ssh_user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, { message: "must be a Unix user name" }).default("root").describe("User the toolkit logs in as on peers (key-based, BatchMode); the scripts need root there."),
  })
  .strict();

export const clusterSchema = z
  .object({
    name: name.describe("The cluster's name (reports, metrics labels)."),
    nodes: z.array(node).min(1, { message: "at least one node is required" }).describe("Every member server (1 to a handful); each runs the whole stack."),
    network_prefix: z.number().int().min(8).max(30).default(24).describe("Prefix length of the nodes' subnet; the VIP must lie in it."),
    arbitrator: arbitrator.optional(),
    vip: vip.describe("The virtual IP clients use; keepalived moves it to a fit node."),
    storage: storage.default({}).describe("The shared volume every node mounts."),
    database: database.default({}).describe("MariaDB Galera on every node."),
    redis: redis.describe("Redis (Cluster or Sentinel) on every node."),
    slurm: slurm.default({}).describe("Slurm: munge, slurmctld on every member, slurmd, slurmdbd."),
    backup: backup.default({}).describe("Snapshots (backup/backup.sh), their schedule, replication and retention."),
    monitoring: monitoring.default({}).describe("Exporters, Prometheus, Alertmanager and the generated alert rules (docs/TROUBLESHOOTING.md)."),
    health: health.default({}).describe("The node health checks (utils/health_check.sh, GET /health) and the drain file."),
    web: web.optional(),
    web_services: z.array(webService).default([]).describe("The portal's services on every node: health URLs, folders and (with cluster.web) where nginx routes them."),
    discovery: discovery.default({}).describe("How nodes are probed and reached over SSH."),
    secrets_file: absPath.default("/etc/hpc-cluster/secrets.env").describe("Root-only NAME=value file on each node holding the secrets the config references. Not in a world-writable directory."),
    state_dir: absPath.default("/var/lib/hpc-cluster").describe("Per-node toolkit state (cluster id, markers). Not a system or world-writable directory, not on the shared mount."),
  })
  .strict();

export const configSchema = z
  .object({
    cluster: clusterSchema.describe("Everything lives under this one key."),
  })
  .strict();

export type ClusterConfig = z.infer<typeof configSchema>;
export type Cluster = ClusterConfig["cluster"];
export type ConfigInput = z.input<typeof configSchema>;

/** Paths (dot form, `*` for array items) whose values are secrets. */
export const SECRET_FIELDS = [
  "cluster.vip.auth_password",
  "cluster.database.sst_password",
  "cluster.database.databases.*.password",
  "cluster.redis.password",
  "cluster.monitoring.exporter_password",
  "cluster.monitoring.smtp.auth_password",
  "cluster.monitoring.alert_receivers.*.slack_api_url",
];
