// Render the whole toolkit in memory: { path -> content, mode }. Nothing touches the disk here.
import Handlebars from "handlebars";
import type { Model } from "../model/index.js";
import { shellAssignments, shq } from "./shell.js";
import { loadTemplates } from "./templates.js";

export interface OutputFile {
  path: string; // relative to the output root, e.g. cluster/lib/common.sh
  content: string;
  mode: number;
}

const ROOT = "cluster";

function handlebars(partials: Record<string, string>): typeof Handlebars {
  const hb = Handlebars.create();
  hb.registerHelper("shq", (v: unknown) => shq(String(v)));
  hb.registerHelper("json", (v: unknown) => JSON.stringify(v));
  hb.registerHelper("join", (v: unknown[], sep: unknown) => v.join(typeof sep === "string" ? sep : " "));
  hb.registerHelper("eq", (a: unknown, b: unknown) => a === b);
  for (const [name, body] of Object.entries(partials)) hb.registerPartial(name, body);
  return hb;
}

/**
 * Script sources under templates/scripts/ are plain bash (so editors, shellcheck and `duplicates` read
 * the real thing); the renderer adds the generated-file marker and the prelude (strict mode, source
 * lib/common.sh) right after the header comment: the leading comment lines, up to the first
 * `# shellcheck` directive or code line.
 */
function withPrelude(path: string, body: string, hb: typeof Handlebars): string {
  const depth = path.split("/").length - 2; // scripts/x.sh -> 0, scripts/setup/x.sh -> 1
  const lib = depth === 0 ? "lib" : `${"../".repeat(depth)}lib`;
  const prelude = hb.compile("{{> prelude}}", { noEscape: true, strict: true })({ lib });
  const lines = body.split("\n");
  if (!lines[0].startsWith("#!")) throw new Error(`${path}: a script source must start with a #! line`);
  let at = 1;
  while (at < lines.length && lines[at].startsWith("#") && !lines[at].startsWith("# shellcheck")) at += 1;
  return [...lines.slice(0, at), prelude.replace(/\n$/, ""), ...lines.slice(at)].join("\n");
}

function modeFor(path: string): number {
  return path.endsWith(".sh") && !path.startsWith(`${ROOT}/lib/`) ? 0o755 : 0o644;
}

export function renderToolkit(model: Model, templates = loadTemplates()): OutputFile[] {
  const partials: Record<string, string> = {};
  for (const [p, body] of Object.entries(templates)) {
    const m = /^partials\/(.+)\.hbs$/.exec(p);
    if (m) partials[m[1]] = body;
  }
  const hb = handlebars(partials);
  const context = { ...model, shellAssignments: shellAssignments(model.shellVars) };
  const files: OutputFile[] = [];
  for (const [p, body] of Object.entries(templates)) {
    if (p.startsWith("partials/") || p.endsWith(".md")) continue;
    let out = p.replace(/^scripts\//, "").replace(/\.hbs$/, "");
    out = `${ROOT}/${out}`;
    let content = p.endsWith(".hbs") ? hb.compile(body, { noEscape: true, strict: true })(context) : body;
    if (p.startsWith("scripts/")) content = withPrelude(p, content, hb);
    files.push({ path: out, content, mode: modeFor(out) });
  }
  files.push({ path: `${ROOT}/cluster_config.yaml`, content: model.configYaml, mode: 0o644 });
  files.push({ path: `${ROOT}/secrets.env.example`, content: secretsExample(model), mode: 0o644 });
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

function secretsExample(model: Model): string {
  const lines = [
    "# Secrets for hpc-cluster-kit. Copy to the secrets file on every node and fill in the values:",
    `#   install -m 0600 -o root -g root secrets.env.example ${model.cluster.secrets_file}`,
    "# One NAME=value per line; the value is taken literally (no quotes, no expansion).",
    "# The toolkit refuses to read this file unless it is owned by root and not readable by others.",
    "",
  ];
  for (const s of model.secretNames) lines.push(`# ${s.usedBy}`, `${s.name}=`, "");
  return lines.join("\n");
}
