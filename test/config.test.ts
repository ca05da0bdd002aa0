// Every schema rule has a fixture whose exact FILE:LINE:COL message is asserted (the expected lines
// are the "# expect:" comments at the end of each fixture, which do not move any line).
import { describe, expect, it } from "vitest";
import { formatDiagnostic, loadConfigText } from "../generator/config/index.js";
import { fixture, fixtureNames } from "./helpers.js";

function expectations(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("# expect: "))
    .map((l) => l.slice("# expect: ".length));
}

function diagnostics(text: string, file: string, severity?: "error" | "warning"): string[] {
  return loadConfigText(text, file)
    .diagnostics.filter((d) => !severity || d.severity === severity)
    .map((d) => formatDiagnostic(d).slice(file.length + 1));
}

describe("invalid configs fail with the right line, column and message", () => {
  const names = fixtureNames("invalid");
  it("has at least 25 invalid fixtures", () => expect(names.length).toBeGreaterThanOrEqual(25));
  for (const name of names) {
    it(name.replace(/\.yaml$/, ""), () => {
      const text = fixture(`invalid/${name}`);
      const want = expectations(text);
      expect(want.length, "fixture has no # expect: line").toBeGreaterThan(0);
      expect(diagnostics(text, name)).toEqual(want);
      expect(loadConfigText(text, name).config).toBeUndefined();
    });
  }
});

describe("footguns are warnings, not errors", () => {
  for (const name of fixtureNames("warning")) {
    it(name.replace(/\.yaml$/, ""), () => {
      const text = fixture(`warning/${name}`);
      expect(diagnostics(text, name)).toEqual(expectations(text));
      expect(loadConfigText(text, name).config).toBeDefined();
    });
  }
});

describe("valid configs", () => {
  for (const name of [...fixtureNames("valid").map((n) => `valid/${n}`), "../../cluster_config.yaml", "lab/lab3.yaml"]) {
    it(`${name} has no errors`, () => {
      const r = loadConfigText(fixture(name), name);
      expect(r.diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic)).toEqual([]);
      expect(r.config).toBeDefined();
    });
  }

  it("fills defaults", () => {
    const c = loadConfigText(fixture("valid/minimal.yaml")).config!.cluster;
    expect(c.storage.replica_count).toBe("auto");
    expect(c.database.port).toBe(3306);
    expect(c.vip.advert_int).toBe(0.1);
    expect(c.health.disk_warning_percent).toBe(80);
    expect(c.secrets_file).toBe("/etc/hpc-cluster/secrets.env");
  });

  it("reports every problem at once", () => {
    const text = fixture("valid/minimal.yaml").replace("priority: 99", "priority: 0").replace("ip: 10.0.0.13", "ip: 10.0.0.300").replace("vrrp_router_id: 51", "vrrp_router_id: 0");
    expect(diagnostics(text, "x.yaml", "error")).toHaveLength(3);
  });

  it("suggests the closest key for a typo", () => {
    const text = fixture("valid/minimal.yaml").replace("  vip:\n", "  vip:\n    advert_intt: 1\n");
    expect(diagnostics(text, "x.yaml")).toEqual(["14:5: error: cluster.vip.advert_intt: unknown key 'advert_intt' (did you mean 'advert_int'?)"]);
  });
});

describe("Galera failure detection and the witness", () => {
  it("derives the evs.* options from database.suspect_timeout, the membership round at Galera's 0.1 s floor", async () => {
    const { galeraFailureDetection } = await import("../generator/model/galera.js");
    const opts = (t: number) => galeraFailureDetection({ suspect_timeout: t } as never);
    expect(opts(1.5)).toBe("evs.keepalive_period=PT0.1S;evs.inactive_check_period=PT0.1S;evs.suspect_timeout=PT1.5S;evs.inactive_timeout=PT15S;evs.join_retrans_period=PT0.1S");
    expect(opts(0.5)).toBe("evs.keepalive_period=PT0.1S;evs.inactive_check_period=PT0.1S;evs.suspect_timeout=PT0.5S;evs.inactive_timeout=PT15S;evs.join_retrans_period=PT0.1S");
    expect(opts(5)).toBe("evs.keepalive_period=PT0.1S;evs.inactive_check_period=PT0.1S;evs.suspect_timeout=PT5S;evs.inactive_timeout=PT15S;evs.join_retrans_period=PT0.1S");
  });
});
