// All-or-nothing writing: the new tree is built in a temp dir beside the target, then swapped in
// with renames. A manifest of generated files lets the next run remove files no longer generated
// while keeping files an admin added by hand.
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { OutputFile } from "./render.js";

export const MANIFEST = ".hpc-cluster-manifest";

export interface Plan {
  created: string[];
  changed: string[];
  removed: string[];
  unchanged: string[];
  kept: string[]; // files in the target that we did not generate (kept as they are)
}

function sha256(s: string | Buffer): string {
  return createHash("sha256").update(s).digest("hex");
}

export function manifestContent(files: OutputFile[]): string {
  return `${files.map((f) => `${sha256(f.content)}  ${f.mode.toString(8)}  ${f.path}`).join("\n")}\n`;
}

function readManifest(outDir: string, root: string): string[] {
  const p = join(outDir, root, MANIFEST);
  if (!existsSync(p)) return [];
  return readFileSync(p, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(/\s+/)[2]);
}

function listFiles(dir: string, prefix: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const entry of readdirSorted(dir)) {
    const full = join(dir, entry.name);
    const rel = `${prefix}/${entry.name}`;
    if (entry.isDirectory()) listFiles(full, rel, out);
    else out.push(rel);
  }
  return out;
}

function readdirSorted(dir: string) {
  return readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
}

export function planWrite(files: OutputFile[], outDir: string, root = "cluster"): Plan {
  const previous = new Set(readManifest(outDir, root));
  const present = listFiles(join(outDir, root), root).filter((p) => p !== `${root}/${MANIFEST}`);
  const generated = new Set(files.map((f) => f.path));
  const plan: Plan = { created: [], changed: [], removed: [], unchanged: [], kept: [] };
  for (const f of files) {
    const target = join(outDir, f.path);
    if (!existsSync(target)) plan.created.push(f.path);
    else {
      const same = readFileSync(target).equals(Buffer.from(f.content)) && (statSync(target).mode & 0o777) === f.mode;
      (same ? plan.unchanged : plan.changed).push(f.path);
    }
  }
  for (const p of present) {
    if (generated.has(p)) continue;
    (previous.has(p) ? plan.removed : plan.kept).push(p);
  }
  return plan;
}

/** Write `files` under outDir/root atomically; returns what changed. */
export function writeTree(files: OutputFile[], outDir: string, root = "cluster"): Plan {
  const plan = planWrite(files, outDir, root);
  mkdirSync(outDir, { recursive: true });
  const tmp = mkdtempSync(join(outDir, `.${root}.new-`));
  const old = join(outDir, `.${root}.old-${process.pid}`);
  const target = join(outDir, root);
  try {
    for (const f of files) {
      const p = join(tmp, f.path.slice(root.length + 1));
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, f.content);
      chmodSync(p, f.mode);
    }
    for (const k of plan.kept) {
      const p = join(tmp, k.slice(root.length + 1));
      mkdirSync(dirname(p), { recursive: true });
      cpSync(join(outDir, k), p, { preserveTimestamps: true });
    }
    writeFileSync(join(tmp, MANIFEST), manifestContent(files));
    chmodSync(join(tmp, MANIFEST), 0o644);
    if (existsSync(target)) renameSync(target, old);
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(target) && existsSync(old)) renameSync(old, target);
    throw e;
  }
  rmSync(old, { recursive: true, force: true });
  return plan;
}

/** Write one file atomically (temp file + rename), for docs and other single outputs. */
export function writeFileAtomic(path: string, content: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}
