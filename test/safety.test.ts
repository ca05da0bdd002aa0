// Values that validate field by field and would still harm a node (issue 17): the classes with
// properties of their own beyond the fixtures in test/fixtures/invalid (time bounds, escaping).
import { describe, expect, it } from "vitest";
import { escapeControls, formatDiagnostic, loadConfigText } from "../generator/config/index.js";
import { fixture } from "./helpers.js";

const minimal = fixture("valid/minimal.yaml");

describe("values that validate and then harm are refused", () => {
  it("a YAML alias bomb fails fast with a position, not an exception or a hang", () => {
    const bomb = [
      'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
      "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]",
      "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]",
      "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]",
      "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]",
      "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]",
      "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]",
      "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]",
      "cluster: *h",
      "",
    ].join("\n");
    const t0 = performance.now();
    const r = loadConfigText(bomb, "bomb.yaml");
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(1000);
    expect(r.config).toBeUndefined();
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      "bomb.yaml:2:8: error: (root): YAML: Excessive alias count indicates a resource exhaustion attack (too many aliases: at most 100 expansions)",
    ]);
  });

  it("terminal escape codes in a value or key are shown escaped in the diagnostic", () => {
    const text = minimal.replace("  vip:\n", '  vip:\n    "\\e[2J\\e]0;owned\\a": 1\n').replace("interface: eth0", 'interface: "e\\e[31mth0"');
    const lines = loadConfigText(text, "x.yaml").diagnostics.map(formatDiagnostic);
    expect(lines.join("")).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
    expect(lines).toContain("x.yaml:14:5: error: cluster.vip.\\x1b[2J\\x1b]0;owned\\x07: unknown key '\\x1b[2J\\x1b]0;owned\\x07' (allowed: address, interface, vrrp_router_id, auth_password, advert_int, vrrp_version, check_interval, track_checks, noncritical_failures_to_move)");
  });

  it("escapeControls keeps printable text and names newlines", () => {
    expect(escapeControls("a\nb\tc\r\u009b\u2028é")).toBe("a\\nb\\tc\\r\\x9b\\u2028é");
  });

  it("every bundled and lab fixture config stays valid", () => {
    for (const name of ["../../cluster_config.yaml", "valid/minimal.yaml", "valid/standalone.yaml", "valid/two-nodes-witness.yaml"]) {
      expect(loadConfigText(fixture(name), name).config, name).toBeDefined();
    }
  });
});
