// Monitoring: the generated Prometheus/Alertmanager files pass the daemons' own checkers, and the
// alert rules pass their generated promtool tests for clusters of 1, 2, 3 and 4 nodes.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cronMaxGapSeconds } from "../generator/model/monitoringRules.js";
import { dashboardPanels } from "../generator/model/monitoringDashboards.js";
import { loadConfigText, type ClusterConfig } from "../generator/config/index.js";
import { renderText, tempDir } from "./helpers.js";

const has = (bin: string) => spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0;
const TOOLS = has("promtool") && has("amtool");
if (!TOOLS) console.warn("promtool/amtool missing (apt-get install prometheus prometheus-alertmanager): their checks are skipped");

function config(n: number, extra = ""): string {
  const nodes = Array.from({ length: n }, (_, i) => `    - { ip: 10.213.0.${11 + i}, hostname: node${i + 1}, priority: ${100 - i} }`).join("\n");
  return `cluster:
  name: mon-${n}
  nodes:
${nodes}
  vip: { address: 10.213.0.100, interface: eth0, vrrp_router_id: 60 }
  database:
    databases:
      - { name: portal, user: portal, password: "\${DB_PORTAL_PASSWORD}" }
  redis:
    type: ${n >= 3 ? "cluster" : "sentinel"}
    password: \${REDIS_PASSWORD}
  backup:
    schedule: "0 2 * * *"
${extra}`;
}

const RECEIVERS = `  monitoring:
    exporter_password: \${MON_EXPORTER_PASSWORD}
    smtp: { smarthost: "mail.example.org:587", from: "hpc@example.org", auth_username: hpc, auth_password: "\${SMTP_PASSWORD}" }
    alert_receivers:
      - { name: ops-hook, webhook_url: "http://10.213.0.200:8099/hook" }
      - { name: ops-mail, email: "ops@example.org" }
      - { name: ops-slack, slack_api_url: "\${SLACK_URL}", slack_channel: "#hpc-alerts" }
`;

function files(text: string): Record<string, string> {
  return Object.fromEntries(renderText(text).map((f) => [f.path, f.content]));
}

const MON = "cluster/configs/monitoring";

/** Write the monitoring files to a temp dir (the rule file path pointed at the copy). */
function writeMonitoring(out: Record<string, string>): string {
  const dir = tempDir("hpc-mon-");
  mkdirSync(join(dir, "targets"));
  writeFileSync(join(dir, "prometheus.yml"), out[`${MON}/prometheus.yml`].replaceAll("/etc/prometheus/hpc/alert_rules.yml", join(dir, "alert_rules.yml")).replaceAll("/etc/prometheus/hpc/targets", join(dir, "targets")));
  for (const f of ["alert_rules.yml", "alert_rules.test.yml", "alertmanager.yml"]) writeFileSync(join(dir, f), out[`${MON}/${f}`]);
  return dir;
}

function run(bin: string, args: string[], cwd: string): string {
  try {
    return execFileSync(bin, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    throw new Error(`${bin} ${args.join(" ")} failed:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  }
}

describe.each([1, 2, 3, 4])("monitoring for %i node(s)", (n) => {
  const out = files(config(n, RECEIVERS));
  const rules = out[`${MON}/alert_rules.yml`];

  it.skipIf(!TOOLS)("promtool check config, check rules, test rules and amtool check-config pass", () => {
    const dir = writeMonitoring(out);
    expect(run("promtool", ["check", "config", "prometheus.yml"], dir)).toContain("SUCCESS");
    expect(run("promtool", ["check", "rules", "alert_rules.yml"], dir)).toContain("SUCCESS");
    expect(run("promtool", ["test", "rules", "alert_rules.test.yml"], dir)).toContain("SUCCESS");
    expect(run("amtool", ["check-config", "alertmanager.yml"], dir)).toContain("SUCCESS");
  });

  it("sizes the Galera and Redis rules from the cluster", () => {
    if (n > 1) expect(rules).toContain(`mysql_global_status_wsrep_cluster_size{job="mysqld"}) < ${n}`);
    else expect(rules).not.toContain("GaleraClusterSizeLow");
    expect(rules).toContain(`role="master"}) or vector(0)) < ${n >= 3 ? n : 1}`);
    expect(rules.includes("RedisClusterStateFail")).toBe(n >= 3);
    expect(rules.includes("VipSplitBrain")).toBe(n > 1);
    for (const alert of ["NodeDown", "HostHighCpu", "HostDiskFull", "GaleraNodeDisconnected", "GaleraNotPrimary", "RedisDown",
      "VipFailover", "VipNoOwner", "SlurmctldNoPrimary", "GlusterBrickDown", "GlusterHealPending", "BackupFailed", "BackupTooOld"]) {
      expect(rules).toContain(`alert: ${alert}`);
    }
    // every Galera condition has its absent() companion
    for (const m of ["wsrep_connected", "wsrep_cluster_status", "wsrep_cluster_size"]) expect(rules).toContain(`absent(mysql_global_status_${m}{job="mysqld"})`);
  });

  it("every dashboard is Grafana JSON and every panel has a query", () => {
    for (const d of ["overview", "galera", "redis", "glusterfs", "slurm", "backups"]) {
      const json = JSON.parse(out[`${MON}/grafana/${d}.json`]);
      expect(json.uid).toBe(`hpc-${d}`);
      expect(json.panels.length).toBeGreaterThan(0);
      for (const p of json.panels) expect(p.targets[0].expr).toMatch(/\S/);
    }
  });
});

describe("monitoring config", () => {
  const out = files(config(3, RECEIVERS));
  const am = out[`${MON}/alertmanager.yml`];

  it("routes to every receiver and keeps secrets as file references", () => {
    expect(am).toContain("url: http://10.213.0.200:8099/hook");
    expect(am).toContain("to: ops@example.org");
    expect(am).toContain("api_url_file: /etc/prometheus/hpc/secrets/SLACK_URL");
    expect(am).toContain("smtp_auth_password_file: /etc/prometheus/hpc/secrets/SMTP_PASSWORD");
    expect(am).toContain("smtp_smarthost: mail.example.org:587");
    for (const r of ["ops-hook", "ops-mail", "ops-slack"]) expect(am).toContain(`- receiver: ${r}\n      continue: true`);
    expect(am).not.toContain("${");
  });

  it("a node-down alert inhibits the other alerts of that node", () => {
    expect(am).toMatch(/source_matchers:\n\s+- alertname="NodeDown"\n\s+target_matchers:\n\s+- alertname!="NodeDown"\n\s+equal:\n\s+- node/);
  });

  it("names the monitoring secrets for the secrets file, never their values", () => {
    const cfg = out["cluster/lib/config.sh"];
    expect(cfg).toContain("MONITORING_EXPORTER_PASSWORD_SECRET='MON_EXPORTER_PASSWORD'");
    expect(cfg).toContain("MONITORING_FILE_SECRETS=('SMTP_PASSWORD' 'SLACK_URL')");
    for (const s of ["MON_EXPORTER_PASSWORD=", "SMTP_PASSWORD=", "SLACK_URL="]) expect(out["cluster/secrets.env.example"]).toContain(s);
  });

  it("rejects a Slack URL written in the config", () => {
    const bad = config(3, `  monitoring:\n    alert_receivers:\n      - { name: s, slack_api_url: "https://hooks.slack.com/services/T/B/x" }\n`);
    const r = loadConfigText(bad, "c.yaml");
    expect(r.config).toBeUndefined();
    expect(r.diagnostics.map((d) => `${d.line}:${d.col} ${d.message}`).join("\n")).toMatch(/^18:\d+ secrets must be a \$\{VAR\} reference/m);
  });

  it("the shared mount is not hidden from node_exporter's filesystem collector", () => {
    const c = loadConfigText(config(3), "c.yaml").config as ClusterConfig;
    expect(dashboardPanels(c.cluster).glusterfs.panels.some((p) => p.expr.includes(`mountpoint="${c.cluster.storage.mount_point}"`))).toBe(true);
  });
});

describe("toolkit version", () => {
  it("the metrics report package.json's version", async () => {
    const { TOOLKIT_VERSION } = await import("../generator/model/services.js");
    const { readFileSync } = await import("node:fs");
    expect(TOOLKIT_VERSION).toBe(JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")).version);
  });
});

describe("backup age threshold", () => {
  it("is the longest gap of the schedule", () => {
    expect(cronMaxGapSeconds("0 2 * * *")).toBe(86400);
    expect(cronMaxGapSeconds("0 * * * *")).toBe(3600);
    expect(cronMaxGapSeconds("*/15 * * * *")).toBe(900);
    expect(cronMaxGapSeconds("0 2 * * 1-5")).toBe(3 * 86400);
    expect(cronMaxGapSeconds("30 3 * * 0")).toBe(7 * 86400);
  });
});
