// docs/API_REFERENCE.md is generated (`npm run docs`): stale copies, empty descriptions, and flags a
// script accepts but neither its --help nor the reference names all fail here.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { apiReferenceMarkdown, ENVIRONMENT, FILES, scriptDocs } from "../generator/docs/api.js";
import { configRows } from "../generator/docs/reference.js";
import { readTemplatesFromDisk } from "../generator/render/templates.js";
import { REPO, listTree } from "./helpers.js";

const md = apiReferenceMarkdown();
const scripts = scriptDocs();
const templates = readTemplatesFromDisk();

describe("API reference (run `npm run docs` if these fail)", () => {
  it("docs/API_REFERENCE.md is fresh", () => {
    expect(readFileSync(join(REPO, "docs/API_REFERENCE.md"), "utf8")).toBe(md);
  });

  it("every config key has a description", () => {
    const empty = configRows().filter((r) => !r.description?.trim()).map((r) => r.key);
    expect(empty).toEqual([]);
    for (const r of configRows()) expect(md).toContain(`| \`${r.key}\` |`);
  });

  it("covers every generated script (dist-scripts/cluster)", () => {
    const generated = listTree(join(REPO, "dist-scripts/cluster")).filter((f) => f.endsWith(".sh") && !f.startsWith("lib/") && !f.startsWith("configs/") && !f.startsWith("clients/"));
    expect(scripts.map((s) => s.path).sort()).toEqual(generated.sort());
    for (const s of scripts) {
      expect(s.summary, s.path).not.toBe("");
      expect(s.exitCodes, s.path).not.toBe("");
      expect(md).toContain(`### ${s.path}\n`);
    }
  });

  it("every flag a script accepts is in its --help and in the reference", () => {
    const missing = scripts.flatMap((s) => s.accepted.filter((f) => !s.documented.includes(f)).map((f) => `${s.path} ${f}`));
    expect(missing).toEqual([]);
    for (const s of scripts) {
      const section = md.slice(md.indexOf(`### ${s.path}\n`)).split("\n### ")[0];
      for (const f of s.accepted) expect(section, `${s.path} ${f}`).toContain(`\`${f}\``);
    }
  });

  it("the flag parser finds the flags of the shared parsers", () => {
    const byPath = Object.fromEntries(scripts.map((s) => [s.path, s.accepted]));
    expect(byPath["setup/phase1_database_setup.sh"]).toEqual(expect.arrayContaining(["--bootstrap", "--add-node", "--peer", "--include", "--leave", "--dry-run", "--yes"]));
    expect(byPath["utils/node_add.sh"]).toEqual(expect.arrayContaining(["--service", "--dry-run", "--yes"]));
    expect(byPath["discovery/auto_discovery.sh"]).toEqual(expect.arrayContaining(["--json", "--timeout", "--self-json"]));
    expect(byPath["backup/restore_mariadb.sh"]).toEqual(expect.arrayContaining(["--src", "--test"]));
    expect(byPath["start_multi_complete.sh"]).toEqual(expect.arrayContaining(["--ignore-preflight-errors", "--set-hostname", "--list-services"]));
  });

  it("every environment variable listed is read by the toolkit, and every one a help names is listed", () => {
    const code = Object.entries(templates).filter(([k]) => k.startsWith("lib/") || k.startsWith("scripts/")).map(([, v]) => v).join("\n");
    for (const [name] of ENVIRONMENT) expect(code, name).toMatch(new RegExp(`\\$\\{${name}[:}]|\\$${name}\\b`));
    const named = scripts.flatMap((s) => [...s.help.matchAll(/^Environment: (.*)$/gm)].flatMap((m) => m[1].match(/\b[A-Z][A-Z0-9_]{3,}\b/g) ?? []));
    for (const n of named) expect(ENVIRONMENT.map(([x]) => x)).toContain(n);
  });

  it("lists the files the scripts name as their logs", () => {
    const listed = FILES.map(([p, , w]) => `${p} ${w}`).join("\n");
    for (const s of scripts) for (const m of s.help.matchAll(/^Log: (\/\S+)/gm)) expect(listed).toContain(m[1]);
  });
});
