// Shared helpers for the generator tests.
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { loadConfigText, type ClusterConfig } from "../generator/config/index.js";
import { buildModel } from "../generator/model/index.js";
import { renderToolkit, type OutputFile } from "../generator/render/render.js";

export const REPO = join(__dirname, "..");

export function tempDir(prefix = "hpc-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function fixture(path: string): string {
  return readFileSync(join(REPO, "test", "fixtures", path), "utf8");
}

export function fixtureNames(dir: string): string[] {
  return readdirSync(join(REPO, "test", "fixtures", dir)).filter((f) => f.endsWith(".yaml")).sort();
}

/** Validate YAML text and render the toolkit in memory; throws with the diagnostics if invalid. */
export function renderText(text: string, file = "cluster_config.yaml"): OutputFile[] {
  const r = loadConfigText(text, file);
  if (!r.config) throw new Error(r.diagnostics.map((d) => `${d.line}:${d.col} ${d.path} ${d.message}`).join("\n"));
  return renderToolkit(buildModel(r.config as ClusterConfig, text));
}

/** Every file below dir, relative, sorted. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push(relative(dir, full));
    }
  };
  walk(dir);
  return out;
}
