// The service registry (generator/model/services.ts): its own rules, what the config changes in it,
// and the shape it takes in lib/config.sh.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfigText, type ClusterConfig } from "../generator/config/index.js";
import {
  buildServices,
  checkRegistry,
  HEALTH_CHECKS,
  SERVICE_DEFS,
  serviceShellVars,
  TOOLKIT_VERSION,
  type ServiceDef,
} from "../generator/model/services.js";
import { fixture, renderText, REPO } from "./helpers.js";

function cluster(text: string): ClusterConfig["cluster"] {
  const r = loadConfigText(text, "c.yaml");
  if (!r.config) throw new Error(JSON.stringify(r.diagnostics));
  return (r.config as ClusterConfig).cluster;
}

const minimal = () => cluster(fixture("valid/minimal.yaml"));
const configSh = (text: string) => renderText(text).find((f) => f.path === "cluster/lib/config.sh")!.content;

describe("service registry", () => {
  it("lists every service once, in dependency order", () => {
    expect(buildServices(minimal()).map((s) => s.name)).toEqual(["storage", "database", "redis", "slurm", "web", "vip", "monitoring"]);
  });

  it("every phase script it names exists as a template", () => {
    for (const d of SERVICE_DEFS) {
      if (d.phase) expect(existsSync(join(REPO, "templates", "scripts", d.phase)), d.phase).toBe(true);
    }
  });

  it("every health check, discovery fact and backup hook it names exists in the bash", () => {
    const health = ["health.sh", "web.sh"].map((f) => readFileSync(join(REPO, "templates/lib", f), "utf8")).join("\n");
    const discovery = ["discovery.sh", "discovery_facts.sh"].map((f) => readFileSync(join(REPO, "templates/lib", f), "utf8")).join("\n");
    for (const d of SERVICE_DEFS) {
      for (const h of d.health) expect(health, h).toContain(`health::check_${h}()`);
      if (d.discoveryFact) expect(discovery, d.discoveryFact).toContain(`discovery::fact_${d.discoveryFact}()`);
      if (d.backupHook) {
        expect(existsSync(join(REPO, "templates/scripts/backup", `backup_${d.backupHook}.sh`))).toBe(true);
        expect(existsSync(join(REPO, "templates/scripts/backup", `restore_${d.backupHook}.sh`))).toBe(true);
      }
    }
  });

  it("keeps the old names as aliases (node_remove's mariadb, the orchestrator's cache and scheduler)", () => {
    const alias = new Map(buildServices(minimal()).flatMap((s) => s.aliases.map((a) => [a, s.name] as const)));
    expect(alias.get("mariadb")).toBe("database");
    expect(alias.get("galera")).toBe("database");
    expect(alias.get("cache")).toBe("redis");
    expect(alias.get("phase2_redis")).toBe("redis");
    expect(alias.get("redis_rdb")).toBe("redis");
    expect(alias.get("scheduler")).toBe("slurm");
    expect(alias.get("keepalived")).toBe("vip");
    expect(alias.get("glusterfs")).toBe("storage");
  });

  it("the schema's health checks are the registry's plus the node's own", () => {
    expect(HEALTH_CHECKS).toEqual(["glusterfs", "mariadb", "redis", "slurmctld", "slurmdbd", "web", "nginx", "disk", "memory"]);
  });

  it("refuses a broken registry: duplicate names, unknown or later dependencies", () => {
    const base = SERVICE_DEFS[0];
    const def = (over: Partial<ServiceDef>): ServiceDef => ({ ...base, ...over });
    expect(() => checkRegistry([def({ name: "a", aliases: [] }), def({ name: "b", aliases: ["a"] })])).toThrow(/'a' names both a and b/);
    expect(() => checkRegistry([def({ name: "a", aliases: [], after: ["zz"] })])).toThrow(/unknown service 'zz'/);
    expect(() => checkRegistry([def({ name: "a", aliases: [], after: ["b"] }), def({ name: "b", aliases: ["x"], phase: "" })])).toThrow(/after b/);
    expect(() => checkRegistry([def({ name: "Bad name", aliases: [] })])).toThrow(/lower-case word/);
  });

  it("a disabled entry is left out", () => {
    const defs = [...SERVICE_DEFS, { ...SERVICE_DEFS[5], name: "extra", aliases: [], phase: "", after: ["vip"], enabled: () => false }];
    expect(buildServices(minimal(), defs).map((s) => s.name)).not.toContain("extra");
  });

  it("ports, packages and criticality follow the config", () => {
    const text = fixture("valid/minimal.yaml").replace(
      "  redis:\n    password: ${REDIS_PASSWORD}",
      "  redis:\n    type: sentinel\n    password: ${REDIS_PASSWORD}\n  database:\n    port: 3307\n    sst_method: mariabackup\n    sst_password: ${SST_PW}\n  health:\n    critical_checks: [slurmctld]",
    );
    const s = new Map(buildServices(cluster(text)).map((x) => [x.name, x]));
    expect(s.get("redis")!.ports).toEqual([6379, 26379]);
    expect(s.get("database")!.ports[0]).toBe(3307);
    expect(s.get("database")!.packages).toContain("mariabackup=mariadb-backup");
    expect(s.get("slurm")!.critical).toBe(true);
    expect(s.get("database")!.critical).toBe(false);
    const d = new Map(buildServices(minimal()).map((x) => [x.name, x]));
    expect(d.get("redis")!.ports).toEqual([6379, 16379]);
    expect(d.get("database")!.critical).toBe(true);
  });

  it("reaches lib/config.sh as single-quoted parallel arrays, one element per service", () => {
    const vars = serviceShellVars(buildServices(minimal()));
    const services = vars.find((v) => v.name === "SERVICES")!.value as string[];
    for (const v of vars) {
      if (v.name.startsWith("SERVICE_") && v.name !== "SERVICE_ALIASES") expect((v.value as string[]).length, v.name).toBe(services.length);
    }
    const sh = configSh(fixture("valid/minimal.yaml"));
    expect(sh).toContain("SERVICES=('storage' 'database' 'redis' 'slurm' 'web' 'vip' 'monitoring')");
    expect(sh).toContain("'cache=redis'");
    expect(sh).toContain("SERVICE_PHASES=('setup/phase0_storage_setup.sh' 'setup/phase1_database_setup.sh'");
    expect(sh).toContain(`TOOLKIT_VERSION='${TOOLKIT_VERSION}'`);
    expect(sh).toContain("HEALTH_CHECKS=('glusterfs' 'mariadb' 'redis' 'slurmctld' 'slurmdbd' 'web' 'nginx' 'disk' 'memory' 'vip')");
  });

  it("the toolkit version is package.json's", () => {
    expect(TOOLKIT_VERSION).toBe(JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version);
  });
});
