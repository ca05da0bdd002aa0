// Grafana dashboards as code, from the same model as the rules: overview, Galera, Redis, GlusterFS,
// Slurm and backups. Every panel query is run against the lab's Prometheus by bats/lab/monitoring.
import type { Cluster } from "../config/schema.js";

export interface PanelSpec {
  title: string;
  type: "timeseries" | "stat" | "table";
  expr: string;
  legend?: string;
  unit?: string;
}

const DS = { type: "prometheus", uid: "hpc-prometheus" };

/** "64M" -> bytes. */
export function sizeBytes(s: string): number {
  const m = /^(\d+)([KMG])$/.exec(s);
  if (!m) return 0;
  return Number(m[1]) * 1024 ** (" KMG".indexOf(m[2]));
}

export function dashboardPanels(c: Cluster): Record<string, { title: string; panels: PanelSpec[] }> {
  const fs = `job="node",fstype!~"tmpfs|ramfs"`;
  const gcache = sizeBytes(c.database.gcache_size);
  const out: Record<string, { title: string; panels: PanelSpec[] }> = {
    overview: {
      title: "Cluster overview",
      panels: [
        { title: "Active nodes", type: "stat", expr: `count(up{job="node"} == 1)` },
        { title: "Configured nodes", type: "stat", expr: `vector(${c.nodes.length})` },
        { title: "VIP owner", type: "table", expr: `hpc_vip_master{job="node"} == 1`, legend: "{{node}}" },
        { title: "VIP failovers (becoming MASTER, per node)", type: "timeseries", expr: `hpc_vip_master_transitions_total{job="node"}`, legend: "{{node}}" },
        { title: "Firing alerts", type: "stat", expr: `sum(ALERTS{alertstate="firing"}) or vector(0)` },
        { title: "CPU busy %", type: "timeseries", expr: `100 * (1 - avg by (node) (rate(node_cpu_seconds_total{job="node",mode="idle"}[1m])))`, legend: "{{node}}", unit: "percent" },
        { title: "Memory used %", type: "timeseries", expr: `100 * (1 - node_memory_MemAvailable_bytes{job="node"} / node_memory_MemTotal_bytes{job="node"})`, legend: "{{node}}", unit: "percent" },
        { title: "Disk used %", type: "timeseries", expr: `100 * (1 - node_filesystem_avail_bytes{${fs}} / node_filesystem_size_bytes{${fs}})`, legend: "{{node}} {{mountpoint}}", unit: "percent" },
        { title: "Toolkit version and cluster id", type: "table", expr: `hpc_toolkit_info{job="node"}`, legend: "{{node}} {{toolkit_version}} {{cluster_id}}" },
      ],
    },
    galera: {
      title: "MariaDB Galera",
      panels: [
        { title: "Cluster size", type: "stat", expr: `max(mysql_global_status_wsrep_cluster_size{job="mysqld"})` },
        { title: "Primary component (1 = Primary)", type: "timeseries", expr: `mysql_global_status_wsrep_cluster_status{job="mysqld"}`, legend: "{{node}}" },
        { title: "Local state (4 = Synced)", type: "timeseries", expr: `mysql_global_status_wsrep_local_state{job="mysqld"}`, legend: "{{node}}" },
        { title: "Flow control paused (fraction)", type: "timeseries", expr: `mysql_global_status_wsrep_flow_control_paused{job="mysqld"}`, legend: "{{node}}" },
        { title: "Receive queue", type: "timeseries", expr: `mysql_global_status_wsrep_local_recv_queue{job="mysqld"}`, legend: "{{node}}" },
        {
          title: `gcache time left before a full SST (gcache ${c.database.gcache_size})`,
          type: "timeseries",
          expr: `${gcache} / clamp_min(rate(mysql_global_status_wsrep_replicated_bytes{job="mysqld"}[5m]) + rate(mysql_global_status_wsrep_received_bytes{job="mysqld"}[5m]), 1)`,
          legend: "{{node}}",
          unit: "s",
        },
        { title: "Queries per second", type: "timeseries", expr: `rate(mysql_global_status_queries{job="mysqld"}[1m])`, legend: "{{node}}" },
      ],
    },
    redis: {
      title: "Redis",
      panels: [
        { title: "Redis up", type: "stat", expr: `sum(redis_up{job="redis"})` },
        { title: "Roles", type: "table", expr: `redis_instance_info{job="redis"}`, legend: "{{node}} {{role}}" },
        { title: "Keys", type: "timeseries", expr: `sum by (node) (redis_db_keys{job="redis"})`, legend: "{{node}}" },
        { title: "Memory used", type: "timeseries", expr: `redis_memory_used_bytes{job="redis"}`, legend: "{{node}}", unit: "bytes" },
        { title: "Connected clients", type: "timeseries", expr: `redis_connected_clients{job="redis"}`, legend: "{{node}}" },
        ...(c.redis.type === "cluster"
          ? [{ title: "Cluster state (1 = ok)", type: "timeseries" as const, expr: `redis_cluster_state{job="redis"}`, legend: "{{node}}" }]
          : []),
      ],
    },
    slurm: {
      title: "Slurm",
      panels: [
        { title: "Controllers up (scontrol ping)", type: "table", expr: `max by (controller, role) (hpc_slurm_controller_up{job="node"})`, legend: "{{role}} {{controller}}" },
        { title: "Jobs by state", type: "timeseries", expr: `max by (state) (hpc_slurm_jobs{job="node"})`, legend: "{{state}}" },
        { title: "Nodes by state", type: "timeseries", expr: `max by (state) (hpc_slurm_nodes{job="node"})`, legend: "{{state}}" },
      ],
    },
    backups: {
      title: "Backups",
      panels: [
        { title: "Age of the newest successful backup", type: "stat", expr: `time() - max(hpc_backup_last_success_timestamp_seconds{job="node"})`, unit: "s" },
        { title: "Size of the last backup", type: "timeseries", expr: `hpc_backup_last_size_bytes{job="node"}`, legend: "{{node}}", unit: "bytes" },
        { title: "Last outcome (1 = ok, 0 = failed)", type: "timeseries", expr: `hpc_backup_last_ok{job="node"}`, legend: "{{node}}" },
        { title: "Last failure", type: "table", expr: `hpc_backup_last_failure_timestamp_seconds{job="node"}`, legend: "{{node}}", unit: "dateTimeAsIso" },
      ],
    },
  };
  const mount: PanelSpec = { title: "Shared mount used %", type: "timeseries", expr: `100 * (1 - node_filesystem_avail_bytes{job="node",mountpoint="${c.storage.mount_point}"} / node_filesystem_size_bytes{job="node",mountpoint="${c.storage.mount_point}"})`, legend: "{{node}}", unit: "percent" };
  // One file name whatever the storage type: NFS shows only the shared mount.
  out.glusterfs = { title: "Shared storage (NFS)", panels: [mount] };
  if (c.storage.type === "glusterfs") {
    out.glusterfs = {
      title: "GlusterFS",
      panels: [
        { title: "Bricks online", type: "table", expr: `max by (volume, brick) (hpc_gluster_brick_online{job="node"})`, legend: "{{brick}}" },
        { title: "Entries waiting to heal", type: "timeseries", expr: `max by (brick) (hpc_gluster_heal_pending{job="node"})`, legend: "{{brick}}" },
        { title: "Peers connected", type: "timeseries", expr: `hpc_gluster_peers_connected{job="node"}`, legend: "{{node}}" },
        mount,
      ],
    };
  }
  return out;
}

export function dashboards(c: Cluster): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, d] of Object.entries(dashboardPanels(c))) {
    out[key] = {
      uid: `hpc-${key}`,
      title: `${c.name}: ${d.title}`,
      tags: ["hpc-cluster-kit", key],
      timezone: "browser",
      schemaVersion: 38,
      version: 1,
      editable: true,
      refresh: "10s",
      time: { from: "now-1h", to: "now" },
      panels: d.panels.map((p, i) => ({
        id: i + 1,
        type: p.type,
        title: p.title,
        datasource: DS,
        gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
        fieldConfig: { defaults: p.unit ? { unit: p.unit } : {}, overrides: [] },
        targets: [{ refId: "A", datasource: DS, expr: p.expr, legendFormat: p.legend ?? "__auto", ...(p.type === "table" ? { format: "table", instant: true } : {}) }],
      })),
    };
  }
  return out;
}
