// Alert rules generated from the actual cluster (N nodes, Galera size N, the Redis masters), each with
// the promtool test case that proves it fires (and one that proves it stays quiet), so the test files
// for N = 1..4 come from the same definitions as the rules.
import type { Cluster } from "../config/schema.js";

export interface Series {
  series: string;
  values: string;
}

export interface RuleCase {
  /** Input series (scrape interval of the test: 5 s). */
  series: Series[];
  evalTime: string;
  /** Labels of the expected alert (alertname, severity and service are added). */
  labels?: Array<Record<string, string>>;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  severity: "critical" | "warning";
  service: string;
  summary: string;
  description: string;
  fires: RuleCase | null;
  quiet?: RuleCase;
}

export interface RuleNode {
  ip: string;
  hostname: string;
}

export const TEST_INTERVAL = "5s";

/** The expected Redis masters: every node in cluster mode (replicas 0), one with Sentinel. */
export function redisMasters(c: Cluster): number | null {
  if (c.redis.type === "sentinel") return 1;
  return c.redis.replicas === 0 ? c.nodes.length : null;
}

/** The longest gap between two runs of a 5-field cron schedule, in seconds (checked over 15 days). */
export function cronMaxGapSeconds(schedule: string): number {
  const fields = schedule.trim().split(/\s+/);
  const ranges: Array<[number, number]> = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 7]];
  const sets = fields.map((f, i) => {
    const [lo, hi] = ranges[i];
    const out = new Set<number>();
    for (const part of f.split(",")) {
      const [range, stepText] = part.split("/");
      const step = stepText ? Number(stepText) : 1;
      let [a, b] = [lo, hi];
      if (range !== "*") {
        const [x, y] = range.split("-").map(Number);
        a = x;
        b = y ?? (stepText ? hi : x);
      }
      for (let v = a; v <= b; v += step) out.add(i === 4 && v === 7 ? 0 : v);
    }
    return out;
  });
  const dayRestricted = fields[2] !== "*";
  const weekRestricted = fields[4] !== "*";
  // 2026-01-05 is a Monday; walk minute by minute in UTC (the schedule's own clock does not matter
  // for the gap).
  const start = Date.UTC(2026, 0, 5);
  let last = -1;
  let first = -1;
  let gap = 0;
  for (let m = 0; m < 15 * 24 * 60; m += 1) {
    const d = new Date(start + m * 60_000);
    const dayOk = sets[2].has(d.getUTCDate());
    const weekOk = sets[4].has(d.getUTCDay());
    const dateOk = dayRestricted && weekRestricted ? dayOk || weekOk : dayOk && weekOk;
    if (sets[0].has(d.getUTCMinutes()) && sets[1].has(d.getUTCHours()) && sets[3].has(d.getUTCMonth() + 1) && dateOk) {
      if (last >= 0) gap = Math.max(gap, m - last);
      if (first < 0) first = m;
      last = m;
    }
  }
  // Monthly schedules (no second run inside 15 days): assume a month.
  if (first < 0 || first === last) return 31 * 24 * 3600;
  return gap * 60;
}

/** Seconds after which the newest successful backup counts as too old: the schedule's gap + 1 h. */
export function backupMaxAgeSeconds(c: Cluster): number {
  const gaps = [cronMaxGapSeconds(c.backup.schedule)];
  if (c.backup.incremental_schedule) gaps.push(cronMaxGapSeconds(c.backup.incremental_schedule));
  return Math.min(...gaps) + 3600;
}

const up = (job: string, n: RuleNode, port: number, values: string): Series => ({
  series: `up{job="${job}",instance="${n.ip}:${port}",node="${n.hostname}"}`,
  values,
});

const metric = (name: string, job: string, n: RuleNode, port: number, values: string, extra = ""): Series => ({
  series: `${name}{job="${job}",instance="${n.ip}:${port}",node="${n.hostname}"${extra}}`,
  values,
});

const target = (job: string, n: RuleNode, port: number) => ({ job, instance: `${n.ip}:${port}`, node: n.hostname });

export function alertRules(c: Cluster): AlertRule[] {
  const m = c.monitoring;
  const nodes: RuleNode[] = [...c.nodes].sort((a, b) => b.priority - a.priority).map((x) => ({ ip: x.ip, hostname: x.hostname }));
  const n = nodes.length;
  const last = nodes[n - 1];
  const np = m.node_exporter_port;
  const dp = m.mysqld_exporter_port;
  const rp = m.redis_exporter_port;
  const each = (f: (x: RuleNode) => Series) => nodes.map(f);
  const rules: AlertRule[] = [];

  // ---- nodes -------------------------------------------------------------------------------------
  rules.push({
    alert: "NodeDown",
    expr: `up{job="node"} == 0`,
    for: `${m.node_down_seconds}s`,
    severity: "critical",
    service: "node",
    summary: "{{ $labels.node }} does not answer",
    description: `node_exporter on {{ $labels.instance }} has not answered for ${m.node_down_seconds} s: the node is down or cut off. Its service alerts are inhibited.`,
    fires: {
      series: nodes.map((x) => up("node", x, np, x === last ? "1 1 0x40" : "1x42")),
      evalTime: `${m.node_down_seconds + 20}s`,
      labels: [target("node", last, np)],
    },
    quiet: { series: nodes.map((x) => up("node", x, np, "1x20")), evalTime: "60s" },
  });
  rules.push({
    alert: "HostHighCpu",
    expr: `100 * (1 - avg by (node, instance) (rate(node_cpu_seconds_total{job="node",mode="idle"}[1m]))) >= ${m.cpu_alert_percent}`,
    for: "5m",
    severity: "warning",
    service: "node",
    summary: `{{ $labels.node }}: CPU busy >= ${m.cpu_alert_percent} % for 5 minutes`,
    description: "Every core of {{ $labels.node }} has been nearly saturated for 5 minutes.",
    fires: {
      series: nodes.map((x) => metric("node_cpu_seconds_total", "node", x, np, x === last ? "0+0.1x100" : "0+5x100", ',cpu="0",mode="idle"')),
      evalTime: "7m",
      labels: [{ instance: `${last.ip}:${np}`, node: last.hostname }],
    },
    quiet: { series: each((x) => metric("node_cpu_seconds_total", "node", x, np, "0+5x100", ',cpu="0",mode="idle"')), evalTime: "7m" },
  });
  const fsLabels = `,device="shared",fstype="fuse.glusterfs",mountpoint="${c.storage.mount_point}"`;
  rules.push({
    alert: "HostDiskFull",
    expr: `100 * (1 - node_filesystem_avail_bytes{job="node",fstype!~"tmpfs|ramfs"} / node_filesystem_size_bytes{job="node",fstype!~"tmpfs|ramfs"}) >= ${m.disk_alert_percent}`,
    for: "2m",
    severity: "warning",
    service: "node",
    summary: `{{ $labels.node }}: {{ $labels.mountpoint }} is at least ${m.disk_alert_percent} % full`,
    description: "Free space on {{ $labels.mountpoint }} ({{ $labels.device }}) of {{ $labels.node }} is running out.",
    fires: {
      series: [
        metric("node_filesystem_size_bytes", "node", last, np, "1000x40", fsLabels),
        metric("node_filesystem_avail_bytes", "node", last, np, "150x40", fsLabels),
      ],
      evalTime: "3m",
      labels: [{ ...target("node", last, np), device: "shared", fstype: "fuse.glusterfs", mountpoint: c.storage.mount_point }],
    },
    quiet: {
      series: [
        metric("node_filesystem_size_bytes", "node", last, np, "1000x40", fsLabels),
        metric("node_filesystem_avail_bytes", "node", last, np, "300x40", fsLabels),
      ],
      evalTime: "3m",
    },
  });
  rules.push({
    alert: "SharedStorageNotMounted",
    expr: `up{job="node"} == 1 unless on (node) node_filesystem_size_bytes{job="node",mountpoint="${c.storage.mount_point}"}`,
    for: "2m",
    severity: "critical",
    service: "storage",
    summary: `{{ $labels.node }}: shared storage ${c.storage.mount_point} is not mounted`,
    description: `node_exporter on {{ $labels.node }} sees no filesystem at ${c.storage.mount_point}; Slurm state and uploads are not shared there.`,
    fires: {
      series: [
        ...nodes.map((x) => up("node", x, np, "1x40")),
        ...nodes.filter((x) => x !== last).map((x) => metric("node_filesystem_size_bytes", "node", x, np, "1000x40", fsLabels)),
      ],
      evalTime: "3m",
      labels: [target("node", last, np)],
    },
    quiet: {
      series: [...nodes.map((x) => up("node", x, np, "1x40")), ...each((x) => metric("node_filesystem_size_bytes", "node", x, np, "1000x40", fsLabels))],
      evalTime: "3m",
    },
  });

  // ---- Galera --------------------------------------------------------------------------------------
  const gm = (name: string, x: RuleNode, values: string) => metric(name, "mysqld", x, dp, values);
  rules.push({
    alert: "GaleraNodeDisconnected",
    expr: `mysql_up{job="mysqld"} == 0 or mysql_global_status_wsrep_connected{job="mysqld"} == 0`,
    for: "15s",
    severity: "critical",
    service: "galera",
    summary: "{{ $labels.node }}: MariaDB is down or not connected to the Galera cluster",
    description: "mysqld_exporter on {{ $labels.node }} cannot reach MariaDB, or wsrep_connected is OFF.",
    fires: {
      series: nodes.flatMap((x) => [gm("mysql_up", x, x === last ? "1 1 0x20" : "1x22"), gm("mysql_global_status_wsrep_connected", x, "1 1")]),
      evalTime: "40s",
      labels: [target("mysqld", last, dp)],
    },
    quiet: { series: nodes.flatMap((x) => [gm("mysql_up", x, "1x20"), gm("mysql_global_status_wsrep_connected", x, "1x20")]), evalTime: "60s" },
  });
  rules.push({
    alert: "GaleraNotPrimary",
    expr: `mysql_global_status_wsrep_cluster_status{job="mysqld"} != 1`,
    for: "15s",
    severity: "critical",
    service: "galera",
    summary: "{{ $labels.node }}: not part of the Primary Galera component",
    description: "wsrep_cluster_status on {{ $labels.node }} is not Primary: it refuses queries (partition or lost quorum).",
    fires: {
      series: nodes.map((x) => gm("mysql_global_status_wsrep_cluster_status", x, x === last ? "1 0x20" : "1x20")),
      evalTime: "40s",
      labels: [target("mysqld", last, dp)],
    },
    quiet: { series: each((x) => gm("mysql_global_status_wsrep_cluster_status", x, "1x20")), evalTime: "40s" },
  });
  if (n > 1) {
    const byNode = (size: number) => nodes.map((x) => gm("mysql_global_status_wsrep_cluster_size", x, `${size}x20`));
    rules.push({
      alert: "GaleraClusterSizeLow",
      expr: `max without (instance, node) (mysql_global_status_wsrep_cluster_size{job="mysqld"}) < ${n}`,
      for: "30s",
      severity: "warning",
      service: "galera",
      summary: `Galera cluster has fewer than ${n} members`,
      description: `The largest Galera component has fewer than the ${n} configured nodes: the cluster tolerates fewer failures.`,
      fires: { series: byNode(n - 1), evalTime: "60s", labels: [{ job: "mysqld" }] },
      quiet: { series: byNode(n), evalTime: "60s" },
    });
  }
  rules.push({
    alert: "GaleraNotSynced",
    expr: `mysql_global_status_wsrep_local_state{job="mysqld"} != 4`,
    for: "1m",
    severity: "warning",
    service: "galera",
    summary: "{{ $labels.node }}: Galera node is not Synced",
    description: "wsrep_local_state on {{ $labels.node }} has not been Synced (4) for a minute (joining, donor or desynced).",
    fires: { series: nodes.map((x) => gm("mysql_global_status_wsrep_local_state", x, x === last ? "2x20" : "4x20")), evalTime: "90s", labels: [target("mysqld", last, dp)] },
    quiet: { series: each((x) => gm("mysql_global_status_wsrep_local_state", x, "4x20")), evalTime: "90s" },
  });
  for (const [alert, name] of [
    ["GaleraConnectedMetricAbsent", "mysql_global_status_wsrep_connected"],
    ["GaleraClusterStatusMetricAbsent", "mysql_global_status_wsrep_cluster_status"],
    ["GaleraClusterSizeMetricAbsent", "mysql_global_status_wsrep_cluster_size"],
  ]) {
    rules.push({
      alert,
      expr: `absent(${name}{job="mysqld"})`,
      for: "1m",
      severity: "critical",
      service: "galera",
      summary: `No node reports ${name}`,
      description: "No mysqld_exporter reports Galera status: every MariaDB (or every exporter) is down, or wsrep is off.",
      fires: { series: [], evalTime: "90s", labels: [{ job: "mysqld" }] },
      quiet: { series: [gm(name, nodes[0], "1x20")], evalTime: "90s" },
    });
  }

  // ---- Redis ---------------------------------------------------------------------------------------
  const rm = (name: string, x: RuleNode, values: string, extra = "") => metric(name, "redis", x, rp, values, extra);
  rules.push({
    alert: "RedisDown",
    expr: `redis_up{job="redis"} == 0`,
    for: "30s",
    severity: "critical",
    service: "redis",
    summary: "{{ $labels.node }}: Redis is down",
    description: "redis_exporter on {{ $labels.node }} cannot reach its Redis instance.",
    fires: { series: nodes.map((x) => rm("redis_up", x, x === last ? "1 0x20" : "1x20")), evalTime: "60s", labels: [target("redis", last, rp)] },
    quiet: { series: each((x) => rm("redis_up", x, "1x20")), evalTime: "60s" },
  });
  if (c.redis.type === "cluster") {
    rules.push({
      alert: "RedisClusterStateFail",
      expr: `redis_cluster_state{job="redis"} == 0`,
      for: "15s",
      severity: "critical",
      service: "redis",
      summary: "{{ $labels.node }}: Redis Cluster state is fail",
      description: "CLUSTER INFO on {{ $labels.node }} says cluster_state:fail (a slot range has no reachable master).",
      fires: { series: nodes.map((x) => rm("redis_cluster_state", x, x === last ? "1 0x20" : "1x20")), evalTime: "40s", labels: [target("redis", last, rp)] },
      quiet: { series: each((x) => rm("redis_cluster_state", x, "1x20")), evalTime: "40s" },
    });
  }
  const masters = redisMasters(c);
  if (masters !== null) {
    const info = (x: RuleNode, role: string) => rm("redis_instance_info", x, "1x20", `,role="${role}"`);
    rules.push({
      alert: "RedisMastersMissing",
      expr: `(count(redis_instance_info{job="redis",role="master"}) or vector(0)) < ${masters}`,
      for: "1m",
      severity: "critical",
      service: "redis",
      summary: `Fewer than ${masters} Redis master(s) answer`,
      description: `The cluster expects ${masters} Redis master(s); fewer are reachable.`,
      fires: {
        series: nodes.map((x) => info(x, c.redis.type === "sentinel" || x === last ? "slave" : "master")),
        evalTime: "90s",
        labels: [{}],
      },
      quiet: { series: nodes.map((x, i) => info(x, c.redis.type === "sentinel" && i > 0 ? "slave" : "master")), evalTime: "90s" },
    });
    if (masters === 1 && n > 1) {
      rules.push({
        alert: "RedisMultipleMasters",
        expr: `count(redis_instance_info{job="redis",role="master"}) > 1`,
        for: "30s",
        severity: "critical",
        service: "redis",
        summary: "More than one Redis master",
        description: "Sentinel mode has two masters at once (split brain): writes to one of them will be lost.",
        fires: { series: nodes.map((x) => info(x, "master")), evalTime: "60s", labels: [{}] },
        quiet: { series: nodes.map((x, i) => info(x, i > 0 ? "slave" : "master")), evalTime: "60s" },
      });
    }
  }

  // ---- VIP (the toolkit's metrics from utils/vip_notify.sh) ----------------------------------------
  const vm = (name: string, x: RuleNode, values: string) => metric(name, "node", x, np, values);
  rules.push({
    alert: "VipFailover",
    expr: `changes(hpc_vip_master_transitions_total{job="node"}[2m]) > 0`,
    for: "0s",
    severity: "warning",
    service: "vip",
    summary: `The VIP ${c.vip.address} moved to {{ $labels.node }}`,
    description: `keepalived on {{ $labels.node }} became MASTER for ${c.vip.address} within the last 2 minutes.`,
    fires: {
      series: nodes.map((x) => vm("hpc_vip_master_transitions_total", x, x === last ? "1 1 1 2x10" : "1x12")),
      evalTime: "30s",
      labels: [target("node", last, np)],
    },
    quiet: { series: each((x) => vm("hpc_vip_master_transitions_total", x, "1x30")), evalTime: "2m" },
  });
  const masterSeries = (holders: number) => nodes.map((x, i) => vm("hpc_vip_master", x, i < holders ? "1x20" : "0x20"));
  rules.push({
    alert: "VipNoOwner",
    expr: `sum(hpc_vip_master{job="node"}) == 0`,
    for: "10s",
    severity: "critical",
    service: "vip",
    summary: `No node holds the VIP ${c.vip.address}`,
    description: "Every answering node reports its keepalived as BACKUP, FAULT or stopped: the portal address does not answer.",
    fires: { series: masterSeries(0), evalTime: "30s", labels: [{}] },
    quiet: { series: masterSeries(1), evalTime: "30s" },
  });
  rules.push({
    alert: "VipOwnerMetricAbsent",
    expr: `absent(hpc_vip_master{job="node"})`,
    for: "1m",
    severity: "critical",
    service: "vip",
    summary: "No node reports its VIP state",
    description: "No node_exporter serves hpc_vip_master: every node is down, or the toolkit's metrics are missing.",
    fires: { series: [], evalTime: "90s", labels: [{ job: "node" }] },
    quiet: { series: masterSeries(1), evalTime: "90s" },
  });
  if (n > 1) {
    rules.push({
      alert: "VipSplitBrain",
      expr: `sum(hpc_vip_master{job="node"}) > 1`,
      for: "10s",
      severity: "critical",
      service: "vip",
      summary: `More than one node holds the VIP ${c.vip.address}`,
      description: "Two keepalived instances are MASTER at once (a partition): clients reach different nodes.",
      fires: { series: masterSeries(2), evalTime: "30s", labels: [{}] },
      quiet: { series: masterSeries(1), evalTime: "30s" },
    });
  }

  // ---- Slurm (scontrol ping, from utils/monitoring_collect.sh) --------------------------------------
  const ctl = (x: RuleNode, controller: string, role: string, values: string): Series => ({
    series: `hpc_slurm_controller_up{job="node",instance="${x.ip}:${np}",node="${x.hostname}",controller="${controller}",role="${role}"}`,
    values,
  });
  const ctlSeries = (primaryUp: boolean, backupUp: boolean) =>
    nodes.flatMap((x) => [ctl(x, nodes[0].hostname, "primary", primaryUp ? "1x40" : "0x40"), ...(n > 1 ? [ctl(x, nodes[1].hostname, "backup", backupUp ? "1x40" : "0x40")] : [])]);
  rules.push({
    alert: "SlurmctldNoPrimary",
    expr: `max(hpc_slurm_controller_up{job="node"}) == 0`,
    for: "1m",
    severity: "critical",
    service: "slurm",
    summary: "No slurmctld is in control",
    description: "scontrol ping on every answering node reports every configured controller DOWN: no job can be scheduled.",
    fires: { series: ctlSeries(false, false), evalTime: "90s", labels: [{}] },
    quiet: { series: ctlSeries(n === 1, true), evalTime: "90s" },
  });
  if (n > 1) {
    rules.push({
      alert: "SlurmctldPrimaryDown",
      expr: `max by (controller) (hpc_slurm_controller_up{job="node",role="primary"}) == 0`,
      for: "2m",
      severity: "warning",
      service: "slurm",
      summary: "Primary slurmctld {{ $labels.controller }} is down",
      description: "The primary controller does not answer scontrol ping; a backup controller is (or should be) in control.",
      fires: { series: ctlSeries(false, true), evalTime: "3m", labels: [{ controller: nodes[0].hostname }] },
      quiet: { series: ctlSeries(true, true), evalTime: "3m" },
    });
  }

  // ---- GlusterFS -------------------------------------------------------------------------------------
  if (c.storage.type === "glusterfs") {
    const vol = c.storage.volume_name;
    const brick = (x: RuleNode, name: string, values: string, host: RuleNode) => ({
      series: `${name}{job="node",instance="${x.ip}:${np}",node="${x.hostname}",volume="${vol}",brick="${host.hostname}:${c.storage.brick_path}",host="${host.hostname}"}`,
      values,
    });
    const brickLabels = { volume: vol, brick: `${last.hostname}:${c.storage.brick_path}`, host: last.hostname, node: last.hostname };
    const bricks = (downHost: RuleNode | null) => nodes.flatMap((x) => nodes.map((h) => brick(x, "hpc_gluster_brick_online", h === downHost ? "0x40" : "1x40", h)));
    rules.push({
      alert: "GlusterBrickDown",
      expr: `label_replace(max by (volume, brick, host) (hpc_gluster_brick_online{job="node"}), "node", "$1", "host", "(.*)") == 0`,
      for: "1m",
      severity: "critical",
      service: "storage",
      summary: "GlusterFS brick {{ $labels.brick }} is offline",
      description: "No node sees the brick process of {{ $labels.brick }} (volume {{ $labels.volume }}) online.",
      fires: { series: bricks(last), evalTime: "90s", labels: [brickLabels] },
      quiet: { series: bricks(null), evalTime: "90s" },
    });
    const heal = (pending: number) => nodes.flatMap((x) => nodes.map((h) => brick(x, "hpc_gluster_heal_pending", h === last ? `${pending}x200` : "0x200", h)));
    rules.push({
      alert: "GlusterHealPending",
      expr: `label_replace(max by (volume, brick, host) (hpc_gluster_heal_pending{job="node"}), "node", "$1", "host", "(.*)") > 0`,
      for: "10m",
      severity: "warning",
      service: "storage",
      summary: "GlusterFS brick {{ $labels.brick }} has entries waiting to heal",
      description: "Files on {{ $labels.brick }} have not been healed for 10 minutes (a brick was down, or split brain).",
      fires: { series: heal(5), evalTime: "11m", labels: [brickLabels] },
      quiet: { series: heal(0), evalTime: "11m" },
    });
    if (n > 1) {
      const peers = (connected: number) => nodes.flatMap((x) => [vm("hpc_gluster_peers_connected", x, `${x === last ? connected : n - 1}x40`), vm("hpc_gluster_peers_total", x, `${n - 1}x40`)]);
      rules.push({
        alert: "GlusterPeerDisconnected",
        expr: `hpc_gluster_peers_connected{job="node"} < hpc_gluster_peers_total{job="node"}`,
        for: "1m",
        severity: "warning",
        service: "storage",
        summary: "{{ $labels.node }}: a GlusterFS peer is disconnected",
        description: "gluster peer status on {{ $labels.node }} shows a peer that is not connected.",
        fires: { series: peers(n - 2), evalTime: "90s", labels: [target("node", last, np)] },
        quiet: { series: peers(n - 1), evalTime: "90s" },
      });
    }
  }

  // ---- backups (written by backup/backup.sh through lib/monitoring.sh) ---------------------------------
  if (c.backup.enabled) {
    const maxAge = backupMaxAgeSeconds(c);
    rules.push({
      alert: "BackupFailed",
      expr: `hpc_backup_last_ok{job="node"} == 0`,
      for: "0s",
      severity: "critical",
      service: "backup",
      summary: "The last backup on {{ $labels.node }} failed",
      description: "backup/backup.sh on {{ $labels.node }} failed its last run; see /var/log/hpc-cluster/backup.log there.",
      fires: { series: [vm("hpc_backup_last_ok", last, "1 1 0x10")], evalTime: "30s", labels: [target("node", last, np)] },
      quiet: { series: [vm("hpc_backup_last_ok", last, "1x10")], evalTime: "30s" },
    });
    rules.push({
      alert: "BackupTooOld",
      expr: `time() - max(hpc_backup_last_success_timestamp_seconds{job="node"}) > ${maxAge}`,
      for: "5m",
      severity: "warning",
      service: "backup",
      summary: "No successful backup for longer than the schedule allows",
      description: `The newest successful backup is older than ${maxAge} s (the longest gap of the backup schedule plus an hour).`,
      fires: { series: [vm("hpc_backup_last_success_timestamp_seconds", last, `-${maxAge}x100`)], evalTime: "6m", labels: [{}] },
      quiet: { series: [vm("hpc_backup_last_success_timestamp_seconds", last, "0+5x100")], evalTime: "6m" },
    });
    rules.push({
      alert: "BackupNeverSucceeded",
      expr: `absent(hpc_backup_last_success_timestamp_seconds{job="node"})`,
      for: `${maxAge}s`,
      severity: "warning",
      service: "backup",
      summary: "No node reports a successful backup",
      description: "No node has recorded a successful backup/backup.sh run (or the node that ran it is down).",
      // Its `for` is about a day: a promtool test would evaluate every rule every 5 s for that day
      // (~50 s per file), so only the quiet case is tested here.
      fires: null,
      quiet: { series: [vm("hpc_backup_last_success_timestamp_seconds", last, "0x20")], evalTime: "60s" },
    });
  }

  // ---- the toolkit itself ------------------------------------------------------------------------------
  const info = (ids: string[]) => nodes.map((x, i) => ({
    series: `hpc_toolkit_info{job="node",instance="${x.ip}:${np}",node="${x.hostname}",cluster_id="${ids[i % ids.length]}",config_sha256="abc"}`,
    values: "1x40",
  }));
  if (n > 1) {
    rules.push({
      alert: "ClusterIdMismatch",
      expr: `count(count by (cluster_id) (hpc_toolkit_info{job="node",cluster_id!=""})) > 1`,
      for: "1m",
      severity: "critical",
      service: "cluster",
      summary: "Nodes report different cluster ids",
      description: "A node of another cluster (or an old restore) is among the monitored nodes: compare /var/lib/hpc-cluster/cluster_id.",
      fires: { series: info(["id-a", "id-b"]), evalTime: "90s", labels: [{}] },
      quiet: { series: info(["id-a"]), evalTime: "90s" },
    });
  }
  rules.push({
    alert: "MonitoringTargetDown",
    expr: `up{job=~"mysqld|redis|prometheus|alertmanager"} == 0`,
    for: "1m",
    severity: "warning",
    service: "monitoring",
    summary: "{{ $labels.node }}: {{ $labels.job }} endpoint does not answer",
    description: "Prometheus cannot scrape {{ $labels.job }} on {{ $labels.instance }} (the exporter or daemon is stopped).",
    fires: { series: [up("redis", last, rp, "0x20")], evalTime: "90s", labels: [target("redis", last, rp)] },
    quiet: { series: [up("redis", last, rp, "1x20")], evalTime: "90s" },
  });
  return rules;
}
