// docs/TROUBLESHOOTING.md has a runbook (Meaning, Impact, Diagnosis, Mitigation) for every alert the
// generator can produce (any of the fixtures' clusters), and each rule's runbook_url points at it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfigText } from "../generator/config/index.js";
import { runbookUrl } from "../generator/model/monitoring.js";
import { alertRules, type AlertRule } from "../generator/model/monitoringRules.js";
import { REPO, fixture, fixtureNames } from "./helpers.js";

const doc = readFileSync(join(REPO, "docs/TROUBLESHOOTING.md"), "utf8");

/** Every alert of every fixture cluster (rules depend on the size, Redis type, storage, backups). */
function everyAlert(): Map<string, AlertRule> {
  const out = new Map<string, AlertRule>();
  for (const dir of ["valid", "lab"]) {
    for (const f of fixtureNames(dir)) {
      const r = loadConfigText(fixture(`${dir}/${f}`), f);
      if (r.config) for (const a of alertRules(r.config.cluster)) out.set(a.alert, a);
    }
  }
  return out;
}

/** The markdown section under "### NAME" (to the next heading of level 2 or 3). */
function section(name: string): string | undefined {
  const i = doc.indexOf(`\n### ${name}\n`);
  if (i < 0) return undefined;
  return doc.slice(i + 1).split(/\n#{2,3} /)[0];
}

describe("TROUBLESHOOTING.md", () => {
  const alerts = everyAlert();

  it("sees the alerts of every kind of cluster", () => {
    for (const a of ["NodeDown", "RedisMultipleMasters", "RedisClusterStateFail", "GlusterBrickDown", "BackupFailed", "ClusterIdMismatch"]) expect([...alerts.keys()]).toContain(a);
  });

  it("has a runbook section for every generated alert", () => {
    const missing = [...alerts.keys()].filter((a) => section(a) === undefined);
    expect(missing).toEqual([]);
    for (const a of alerts.keys()) {
      const s = section(a)!;
      for (const part of ["**Meaning**", "**Impact**", "**Diagnosis**", "**Mitigation**"]) expect(s, `${a} ${part}`).toContain(part);
    }
  });

  it("every rule's runbook_url is its section's anchor (GitHub lower-cases the heading)", () => {
    for (const a of alerts.keys()) {
      expect(runbookUrl(a)).toBe(`docs/TROUBLESHOOTING.md#${a.toLowerCase()}`);
      expect(section(a)).toBeDefined();
    }
    const rules = readFileSync(join(REPO, "dist-scripts/cluster/configs/monitoring/alert_rules.yml"), "utf8");
    expect(rules.match(/runbook_url: docs\/TROUBLESHOOTING\.md#[a-z]+/g)?.length).toBe(rules.match(/- alert: /g)?.length);
  });

  it("links only to anchors that exist", () => {
    const anchors = new Set([...doc.matchAll(/^#{2,3} (.*)$/gm)].map((m) => m[1].toLowerCase().replace(/[^a-z0-9 _-]/g, "").replace(/ /g, "-")));
    for (const m of doc.matchAll(/\]\(#([a-z0-9_-]+)\)/g)) expect(anchors, m[1]).toContain(m[1]);
  });
});
