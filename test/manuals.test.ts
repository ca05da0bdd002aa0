// The operator manuals name real scripts with real flags, and the quick start installs every package a
// service needs (the lab suite bats/lab/docs/quick_start.bats runs the guide itself).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfigText } from "../generator/config/index.js";
import { scriptDocs } from "../generator/docs/api.js";
import { SERVICE_DEFS } from "../generator/model/services.js";
import { REPO, fixture, fixtureNames } from "./helpers.js";

const MANUALS = ["docs/QUICK_START.md", "docs/CLUSTER_MANAGEMENT.md", "docs/TROUBLESHOOTING.md", "DISASTER_RECOVERY.md"];
const scripts = new Map(scriptDocs().map((s) => [s.path, s]));

/** Every `script --flag ...` use in a text: the script's toolkit path and the flags of that command. */
function uses(text: string): Array<{ script: string; flags: string[]; line: string }> {
  const out: Array<{ script: string; flags: string[]; line: string }> = [];
  for (const line of text.split("\n")) {
    for (const m of line.matchAll(/(?<![\w/.-])(?:\.\/)?((?:utils|setup|backup|discovery)\/[a-z0-9_]+\.sh|start_multi_complete\.sh)([^`|;#)\n]*)/g)) {
      const flags = (m[2].match(/(?<=^|\s)--[a-z][a-z0-9-]*/g) ?? []);
      out.push({ script: m[1], flags, line });
    }
  }
  return out;
}

describe("operator manuals", () => {
  for (const file of MANUALS) {
    it(`${file}: every script it names exists and takes the flags it is shown with`, () => {
      const text = readFileSync(join(REPO, file), "utf8");
      const bad: string[] = [];
      for (const u of uses(text)) {
        const s = scripts.get(u.script);
        if (!s) { bad.push(`no script ${u.script}: ${u.line}`); continue; }
        for (const f of u.flags) if (!s.accepted.includes(f)) bad.push(`${u.script} does not take ${f}: ${u.line}`);
      }
      expect(bad).toEqual([]);
    });
  }

  it("QUICK_START's apt-get line installs every package of every service, for every fixture cluster", () => {
    const guide = readFileSync(join(REPO, "docs/QUICK_START.md"), "utf8");
    const block = /```bash\napt-get update\napt-get install -y ([^`]*)```/.exec(guide)?.[1] ?? "";
    const listed = new Set(block.replace(/\\\n/g, " ").split(/\s+/).filter(Boolean));
    const missing = new Set<string>();
    for (const dir of ["valid", "lab"]) {
      for (const f of fixtureNames(dir)) {
        const r = loadConfigText(fixture(`${dir}/${f}`), f);
        if (!r.config) continue;
        for (const d of SERVICE_DEFS) for (const p of d.packages(r.config.cluster)) if (!listed.has(p.split("=")[1])) missing.add(p);
      }
    }
    expect([...missing]).toEqual([]);
  });
});
