// The esbuild bundle runs with plain node and no node_modules, carrying its templates inside.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { listTree, REPO, tempDir } from "./helpers.js";

describe("bundled CLI (npm run build)", () => {
  const away = tempDir("hpc-bundle-");
  const cli = join(away, "hpc-cluster.cjs");
  const config = join(away, "cluster_config.yaml");

  beforeAll(() => {
    execFileSync("npm", ["run", "--silent", "build"], { cwd: REPO, stdio: "pipe" });
    // Copied away from the checkout: no node_modules, no templates/ beside it.
    copyFileSync(join(REPO, "dist/hpc-cluster.cjs"), cli);
    copyFileSync(join(REPO, "cluster_config.yaml"), config);
  });

  const run = (...args: string[]) => spawnSync("node", [cli, ...args], { cwd: away, encoding: "utf8" });

  it("validates, lists nodes and the VIP", () => {
    expect(run("validate").status).toBe(0);
    const nodes = JSON.parse(run("list-nodes", "--json").stdout);
    expect(nodes.map((n: { hostname: string }) => n.hostname)).toEqual(["server1", "server2", "server3", "server4"]);
    expect(JSON.parse(run("get-vip", "--json").stdout).address).toBe("192.168.1.100");
    expect(run("get-vip").stdout).toBe("192.168.1.100\n");
  });

  it("generates the same tree as the checkout's generator", () => {
    const r = run("generate", "-o", join(away, "out"));
    expect(r.status, r.stderr).toBe(0);
    const files = listTree(join(away, "out", "cluster"));
    for (const f of files) {
      expect(readFileSync(join(away, "out", "cluster", f), "utf8"), f).toBe(readFileSync(join(REPO, "dist-scripts", "cluster", f), "utf8"));
    }
  });

  it("answers --help on every command and documents exit codes", () => {
    for (const cmd of ["validate", "generate", "list-nodes", "get-vip", "docs"]) {
      const r = run(cmd, "--help");
      expect(r.status, cmd).toBe(0);
      expect(r.stdout, cmd).toMatch(/^Usage: hpc-cluster /);
    }
    expect(run("--help").stdout).toContain("Exit codes: 0 ok, 1 runtime error, 2 invalid config or usage.");
  });

  it("exits 2 on an unknown command or option, and on an invalid config", () => {
    expect(run("frobnicate").status).toBe(2);
    expect(run("validate", "--bogus").status).toBe(2);
    const bad = join(REPO, "test/fixtures/invalid/duplicate-ip.yaml");
    const r = run("validate", "-c", bad);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${bad}:7:11: error: cluster.nodes[1].ip: duplicate IP address '10.0.0.11'`);
  });
});
