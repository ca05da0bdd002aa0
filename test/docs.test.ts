// The config reference and JSON Schema are generated from the schema; stale copies fail here.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configJsonSchema, configReferenceMarkdown } from "../generator/docs/reference.js";
import { REPO } from "./helpers.js";

describe("docs (run `npm run docs` if these fail)", () => {
  it("docs/config-reference.md is fresh and names every section", () => {
    const md = configReferenceMarkdown();
    expect(readFileSync(join(REPO, "docs/config-reference.md"), "utf8")).toBe(md);
    for (const key of ["cluster.nodes[].priority", "cluster.vip.vrrp_router_id", "cluster.storage.replica_count", "cluster.redis.password", "cluster.backup.retention_policy.daily", "cluster.monitoring.alertmanager_port"]) {
      expect(md).toContain(`\`${key}\``);
    }
  });

  it("docs/cluster_config.schema.json is fresh and rejects unknown keys", () => {
    const json = configJsonSchema();
    expect(readFileSync(join(REPO, "docs/cluster_config.schema.json"), "utf8")).toBe(json);
    expect(JSON.parse(json).definitions.ClusterConfig.additionalProperties).toBe(false);
  });
});
