// The config reference (markdown) and the JSON Schema for editors, both derived from the zod schema.
import { z } from "zod";
import { zodToJsonSchema } from "zod-to-json-schema";
import { configSchema, SECRET_FIELDS } from "../config/schema.js";

interface Row {
  key: string;
  type: string;
  required: boolean;
  def?: string;
  description?: string;
}

function describeType(s: z.ZodTypeAny): string {
  if (s instanceof z.ZodString) return "string";
  if (s instanceof z.ZodNumber) return s.isInt ? "integer" : "number";
  if (s instanceof z.ZodBoolean) return "boolean";
  if (s instanceof z.ZodEnum) return (s.options as string[]).map((o) => `\`${o}\``).join(" \\| ");
  if (s instanceof z.ZodLiteral) return `\`${String(s.value)}\``;
  if (s instanceof z.ZodUnion) return (s.options as z.ZodTypeAny[]).map(describeType).join(" \\| ");
  if (s instanceof z.ZodArray) return `list of ${describeType(unwrapAll(s.element).inner)}`;
  if (s instanceof z.ZodObject) return "mapping";
  if (s instanceof z.ZodEffects) return describeType(s._def.schema);
  return "value";
}

function unwrapAll(s: z.ZodTypeAny): { inner: z.ZodTypeAny; optional: boolean; def?: unknown; description?: string } {
  let optional = false;
  let def: unknown;
  let description = s.description;
  for (;;) {
    if (s instanceof z.ZodDefault) {
      def = s._def.defaultValue();
      optional = true;
      s = s._def.innerType;
    } else if (s instanceof z.ZodOptional) {
      optional = true;
      s = s._def.innerType;
    } else break;
    description ??= s.description;
  }
  return { inner: s, optional, def, description };
}

function collect(s: z.ZodTypeAny, prefix: string, rows: Row[]): void {
  const { inner } = unwrapAll(s);
  let obj = inner;
  let p = prefix;
  if (obj instanceof z.ZodArray) {
    obj = unwrapAll(obj.element).inner;
    p = `${prefix}[]`;
  }
  if (!(obj instanceof z.ZodObject)) return;
  for (const [key, child] of Object.entries(obj.shape as Record<string, z.ZodTypeAny>)) {
    const u = unwrapAll(child);
    const full = p ? `${p}.${key}` : key;
    const isObj = u.inner instanceof z.ZodObject;
    const simpleDefault = u.def !== undefined && (typeof u.def !== "object" || Array.isArray(u.def)) ? JSON.stringify(u.def) : undefined;
    rows.push({ key: full, type: describeType(u.inner), required: !u.optional, def: isObj ? undefined : simpleDefault, description: u.description });
    collect(child, full, rows);
  }
}

/** Every key of the config (dot form, `[]` for list items) with its type, default and description. */
export function configRows(): Array<Row & { secret: boolean }> {
  const rows: Row[] = [];
  collect(configSchema, "", rows);
  const secret = new Set(SECRET_FIELDS.map((f) => f.replace(/\.\*/g, "[]")));
  return rows.map((r) => ({ ...r, secret: secret.has(r.key) }));
}

export function configReferenceMarkdown(): string {
  const rows = configRows();
  const lines = [
    "# cluster_config.yaml reference",
    "",
    "Generated from `generator/config/schema.ts` by `npm run docs` — edit the schema, not this file.",
    "Unknown keys are errors. Secret fields take only a `${VAR}` reference; the value lives in the",
    "secrets file on each node (`cluster.secrets_file`).",
    "",
    "| key | type | required | default | notes |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const r of rows) {
    const notes = [r.secret ? "**secret** (`${VAR}` only)" : "", r.description ?? ""].filter(Boolean).join(" ");
    lines.push(`| \`${r.key}\` | ${r.type} | ${r.required ? "yes" : "no"} | ${r.def !== undefined ? `\`${r.def}\`` : ""} | ${notes.replace(/\|/g, "\\|")} |`);
  }
  lines.push("", "Cross-field rules (unique IPs, hostnames and priorities; the VIP in the nodes' subnet; ports used once;", "Slurm state on the shared mount; warnings for 2-node and even-sized clusters) live in `generator/config/rules.ts`.", "");
  return lines.join("\n");
}

export function configJsonSchema(): string {
  const schema = zodToJsonSchema(configSchema, { name: "ClusterConfig", $refStrategy: "none", target: "jsonSchema7" });
  return `${JSON.stringify(schema, null, 2)}\n`;
}
