// database.tls / storage.tls in what the generator writes: Galera's provider options and the [sst]
// section the SST scripts read (checked with MariaDB's own my_print_defaults when it is installed), and
// the switches the bash library reads.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixture, renderText, tempDir } from "./helpers.js";

const file = (files: ReturnType<typeof renderText>, path: string) => {
  const f = files.find((x) => x.path === path);
  if (!f) throw new Error(`${path} not rendered`);
  return f.content;
};

const PLAIN = fixture("valid/two-nodes-witness.yaml");
const TLS = PLAIN.replace("  database:\n", "  storage: { tls: true }\n  database:\n    tls: true\n");
const hasPrintDefaults = spawnSync("sh", ["-c", "command -v my_print_defaults"]).status === 0;

describe("database.tls", () => {
  const galera = file(renderText(TLS), "cluster/configs/galera.cnf");

  it("puts the node's certificate, key and the cluster CA in the provider options (replication and IST)", () => {
    const line = galera.split("\n").find((l) => l.startsWith("wsrep_provider_options="));
    expect(line).toMatch(/;socket\.ssl_key=\/etc\/mysql\/hpc-tls\/node\.key;socket\.ssl_cert=\/etc\/mysql\/hpc-tls\/node\.crt;socket\.ssl_ca=\/etc\/mysql\/hpc-tls\/ca\.crt"$/);
  });

  it.skipIf(!hasPrintDefaults)("gives the SST scripts the same files with ssl-mode VERIFY_CA (my_print_defaults reads them)", () => {
    const dir = tempDir();
    const cnf = join(dir, "galera.cnf");
    writeFileSync(cnf, galera);
    const out = spawnSync("my_print_defaults", ["--defaults-file=" + cnf, "sst"], { encoding: "utf8" });
    expect(out.status).toBe(0);
    expect(out.stdout.trim().split("\n")).toEqual([
      "--tca=/etc/mysql/hpc-tls/ca.crt",
      "--tcert=/etc/mysql/hpc-tls/node.crt",
      "--tkey=/etc/mysql/hpc-tls/node.key",
      "--ssl-mode=VERIFY_CA",
    ]);
  });

  it("is off by default: no TLS option, no [sst] section", () => {
    const plain = file(renderText(PLAIN), "cluster/configs/galera.cnf");
    expect(plain).not.toMatch(/socket\.ssl|\[sst\]/);
  });

  it("needs stunnel4 for an rsync SST (the preflight and --install-packages know it)", () => {
    const config = file(renderText(TLS.replace("sst_method: mariabackup", "sst_method: rsync")), "cluster/lib/config.sh");
    expect(config).toMatch(/rsync=rsync stunnel=stunnel4/);
    expect(file(renderText(TLS), "cluster/lib/config.sh")).not.toMatch(/stunnel4/);
  });

  it("reaches the bash library as DB_TLS and STORAGE_TLS", () => {
    const config = file(renderText(TLS), "cluster/lib/config.sh");
    expect(config).toMatch(/^DB_TLS='true'$/m);
    expect(config).toMatch(/^STORAGE_TLS='true'$/m);
    expect(file(renderText(PLAIN), "cluster/lib/config.sh")).toMatch(/^DB_TLS='false'$/m);
  });
});
