// The generated toolkit: the plan's tree, deterministic bytes, fresh dist-scripts/, modes, no secrets.
import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { manifestContent, writeTree } from "../generator/render/writer.js";
import { fixture, listTree, renderText, REPO, tempDir } from "./helpers.js";

const bundled = readFileSync(join(REPO, "cluster_config.yaml"), "utf8");

const PLAN_TREE = [
  "cluster_config.yaml",
  "start_multi_complete.sh",
  "discovery/check_cluster_status.sh",
  "discovery/auto_discovery.sh",
  "discovery/join_cluster.sh",
  "setup/phase0_storage_setup.sh",
  "setup/phase1_database_setup.sh",
  "setup/phase2_redis_setup.sh",
  "setup/phase3_slurm_setup.sh",
  "setup/phase4_keepalived_setup.sh",
  "backup/backup.sh",
  "backup/restore.sh",
  "backup/backup_scheduler.sh",
  "utils/health_check.sh",
  "utils/cluster_info.sh",
  "utils/node_add.sh",
  "utils/node_remove.sh",
  "lib/common.sh",
  "lib/config.sh",
  "secrets.env.example",
];

describe("generate", () => {
  it("writes the plan's tree", () => {
    const paths = renderText(bundled).map((f) => f.path.replace(/^cluster\//, ""));
    for (const p of PLAN_TREE) expect(paths).toContain(p);
  });

  it("is deterministic: two renders give identical bytes", () => {
    expect(renderText(bundled)).toEqual(renderText(bundled));
  });

  it("dist-scripts/ is a fresh generate of cluster_config.yaml (run `npm run generate` if this fails)", () => {
    const files = renderText(bundled);
    const dir = join(REPO, "dist-scripts");
    const onDisk = listTree(join(dir, "cluster")).filter((p) => p !== ".hpc-cluster-manifest");
    expect(onDisk.sort()).toEqual(files.map((f) => f.path.replace(/^cluster\//, "")).sort());
    for (const f of files) {
      const p = join(dir, f.path);
      expect(readFileSync(p, "utf8"), `${f.path} is stale`).toBe(f.content);
      expect(statSync(p).mode & 0o777, `${f.path} mode`).toBe(f.mode);
    }
    expect(readFileSync(join(dir, "cluster", ".hpc-cluster-manifest"), "utf8")).toBe(manifestContent(files));
  });

  it("makes scripts executable and configs 0644", () => {
    for (const f of renderText(bundled)) {
      const script = f.path.endsWith(".sh") && !f.path.startsWith("cluster/lib/");
      expect(f.mode, f.path).toBe(script ? 0o755 : 0o644);
    }
  });

  it("every script has the header, strict mode, --help and sources the library", () => {
    for (const f of renderText(bundled).filter((x) => x.mode === 0o755)) {
      expect(f.content, f.path).toMatch(/^#!\/usr\/bin\/env bash\n# Usage: /);
      expect(f.content, f.path).toContain("\nset -Eeuo pipefail\n");
      expect(f.content, f.path).toMatch(/source "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)\/(\.\.\/)?lib\/common\.sh"/);
      expect(f.content, f.path).toMatch(/\nmain "\$@"\n$/);
    }
  });

  it("never resolves a secret: values in the environment never reach the output", () => {
    const env = { ...process.env, REDIS_PASSWORD: "s3cr3t-redis-value", DB_SLURM_PASSWORD: "s3cr3t-db-value", DB_AUTH_PASSWORD: "s3cr3t-auth" };
    const out = tempDir();
    execFileSync(join(REPO, "node_modules/.bin/tsx"), [join(REPO, "generator/cli/main.ts"), "generate", "-c", join(REPO, "cluster_config.yaml"), "-o", out], { env, stdio: "pipe" });
    for (const p of listTree(out)) {
      const text = readFileSync(join(out, p), "utf8");
      expect(text, p).not.toMatch(/s3cr3t/);
    }
    const example = readFileSync(join(out, "cluster/secrets.env.example"), "utf8");
    expect(example).toMatch(/^REDIS_PASSWORD=$/m);
    expect(example).toMatch(/^DB_SLURM_PASSWORD=$/m);
    const config = readFileSync(join(out, "cluster/lib/config.sh"), "utf8");
    expect(config).toContain("REDIS_PASSWORD_SECRET='REDIS_PASSWORD'");
  });

  it("renders every valid fixture", () => {
    for (const name of ["valid/minimal.yaml", "valid/standalone.yaml", "valid/two-nodes-witness.yaml", "valid/four-nodes-witness.yaml", "lab/lab3.yaml"]) {
      expect(renderText(fixture(name)).length).toBeGreaterThan(20);
    }
  });
});

describe("writer", () => {
  const files = () => renderText(fixture("valid/minimal.yaml"));

  it("removes files it generated before and no longer generates, keeps hand-added ones", () => {
    const out = tempDir();
    const first = [...files(), { path: "cluster/old/gone.sh", content: "#!/bin/sh\n", mode: 0o755 }];
    writeTree(first, out);
    execFileSync("sh", ["-c", `echo mine > ${out}/cluster/admin-notes.txt`]);
    const plan = writeTree(files(), out);
    expect(plan.removed).toEqual(["cluster/old/gone.sh"]);
    expect(plan.kept).toEqual(["cluster/admin-notes.txt"]);
    const tree = listTree(join(out, "cluster"));
    expect(tree).not.toContain("old/gone.sh");
    expect(tree).toContain("admin-notes.txt");
  });

  it("a second identical write changes nothing", () => {
    const out = tempDir();
    writeTree(files(), out);
    const plan = writeTree(files(), out);
    expect(plan.created).toEqual([]);
    expect(plan.changed).toEqual([]);
    expect(plan.unchanged.length).toBe(files().length);
  });

  it("--dry-run writes nothing and lists the plan", () => {
    const out = tempDir();
    const stdout = execFileSync(join(REPO, "node_modules/.bin/tsx"), [join(REPO, "generator/cli/main.ts"), "generate", "--dry-run", "-c", join(REPO, "test/fixtures/valid/minimal.yaml"), "-o", out], { stdio: "pipe" }).toString();
    expect(stdout).toMatch(/^would create {2}cluster\/start_multi_complete\.sh$/m);
    expect(listTree(out)).toEqual([]);
  });

  it("an invalid config writes nothing and exits 2", () => {
    const out = tempDir();
    let code = 0;
    try {
      execFileSync(join(REPO, "node_modules/.bin/tsx"), [join(REPO, "generator/cli/main.ts"), "generate", "-c", join(REPO, "test/fixtures/invalid/duplicate-ip.yaml"), "-o", out], { stdio: "pipe" });
    } catch (e) {
      code = (e as { status: number }).status;
    }
    expect(code).toBe(2);
    expect(listTree(out)).toEqual([]);
  });
});
