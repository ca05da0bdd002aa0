// Property: any config the schema accepts generates scripts that pass `bash -n` and shellcheck.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadConfigText } from "../generator/config/index.js";
import { writeTree } from "../generator/render/writer.js";
import { listTree, renderText, REPO, tempDir } from "./helpers.js";

const hostname = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
const secretName = fc.stringMatching(/^[A-Z][A-Z0-9_]{0,12}$/);
const port = fc.integer({ min: 1024, max: 65000 });

const config = fc
  .record({
    name: fc.stringMatching(/^[a-z][a-z0-9_.-]{0,20}$/),
    subnet: fc.tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })),
    hostnames: fc.uniqueArray(hostname, { minLength: 1, maxLength: 6, selector: (h) => h.toLowerCase() }),
    withArbitrator: fc.boolean(),
    redisType: fc.constantFrom("cluster", "sentinel"),
    redisPort: port,
    storageType: fc.constantFrom("glusterfs", "nfs"),
    sst: fc.constantFrom("rsync", "mariabackup"),
    secret: secretName,
    dbs: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/), { maxLength: 3 }),
    web: fc.uniqueArray(fc.record({ name: fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/), port }), { maxLength: 2, selector: (w) => w.name }),
    advert: fc.constantFrom(0.1, 0.5, 1, 2),
    schedule: fc.constantFrom("0 2 * * *", "*/15 * * * 1-5", "30 3 1,15 * *"),
  })
  .map((r) => {
    const [a, b, c] = r.subnet;
    const cluster: Record<string, unknown> = {
      name: r.name,
      nodes: r.hostnames.map((h, i) => ({ ip: `${a}.${b}.${c}.${10 + i}`, hostname: h, priority: 200 - i })),
      vip: { address: `${a}.${b}.${c}.100`, interface: "eth0", vrrp_router_id: 42, advert_int: r.advert },
      storage: r.storageType === "nfs" ? { type: "nfs", nfs_export: "nfs1:/export/shared" } : {},
      database: {
        sst_method: r.sst,
        ...(r.sst === "mariabackup" ? { sst_password: `\${${r.secret}}` } : {}),
        databases: r.dbs.map((d) => ({ name: d, user: d, password: `\${${r.secret}}` })),
      },
      redis: { type: r.redisType, port: r.redisPort, password: `\${${r.secret}}` },
      backup: { schedule: r.schedule },
      web_services: r.web,
    };
    if (r.withArbitrator) cluster.arbitrator = { ip: `${a}.${b}.${c}.250`, hostname: "witness-host" };
    return stringify({ cluster });
  });

const baseline = new Map(renderText(readFileSync(join(REPO, "cluster_config.yaml"), "utf8")).map((f) => [f.path, f.content]));

describe("property: accepted configs generate clean bash", () => {
  it("bash -n and shellcheck pass for every accepted config", () => {
    let checked = 0;
    fc.assert(
      fc.property(config, (text) => {
        const r = loadConfigText(text);
        fc.pre(r.config !== undefined);
        const out = tempDir();
        writeTree(renderText(text), out);
        const root = join(out, "cluster");
        const scripts = listTree(root).filter((p) => p.endsWith(".sh"));
        for (const s of scripts) execFileSync("bash", ["-n", join(root, s)]);
        // Files identical to the bundled config's output are shellchecked by the main gate; here
        // only what this config changed (always lib/config.sh) is checked, to keep the run short.
        const changed = renderText(text)
          .filter((f) => f.path.endsWith(".sh") && baseline.get(f.path) !== f.content)
          .map((f) => f.path.replace(/^cluster\//, ""));
        expect(changed).toContain("lib/config.sh");
        execFileSync("shellcheck", ["-x", "-P", "SCRIPTDIR", ...changed], { cwd: root, stdio: "pipe" });
        checked++;
      }),
      { numRuns: 25, seed: 20261126 },
    );
    expect(checked).toBeGreaterThan(0);
  });
});
