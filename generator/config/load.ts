// Load cluster_config.yaml keeping source positions, validate it, and report every problem at once
// as `FILE:LINE:COL: error: PATH: message` (warnings the same way with `warning:`).
import { readFileSync } from "node:fs";
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import { z } from "zod";
import { configSchema, type ClusterConfig } from "./schema.js";
import { crossFieldRules, rawRules, type Finding } from "./rules.js";
import { safetyRules } from "./safety.js";

export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  severity: "error" | "warning";
  path: string;
  message: string;
}

export interface LoadResult {
  config?: ClusterConfig;
  diagnostics: Diagnostic[];
  source: string;
}

/** Control characters (ESC, CR, newline, C1 codes...) shown escaped: a value from the config must never
 * drive the terminal that prints the diagnostic, or forge a second line. */
export function escapeControls(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (ch) => {
    const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
    const code = ch.charCodeAt(0);
    return named[ch] ?? (code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, "0")}`);
  });
}

export function formatDiagnostic(d: Diagnostic): string {
  return escapeControls(`${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.path || "(root)"}: ${d.message}`);
}

export function hasErrors(r: LoadResult): boolean {
  return r.diagnostics.some((d) => d.severity === "error");
}

export function loadConfigFile(file: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return { source: "", diagnostics: [{ file, line: 1, col: 1, severity: "error", path: "", message: `cannot read the file: ${(e as Error).message}` }] };
  }
  return loadConfigText(text, file);
}

export function loadConfigText(text: string, file = "cluster_config.yaml"): LoadResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const diagnostics: Diagnostic[] = [];
  const at = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };

  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      diagnostics.push({ file, ...at(e.pos[0]), severity: "error", path: "", message: `YAML syntax: ${e.message.split("\n")[0]}` });
    }
    return { source: text, diagnostics };
  }

  // An alias bomb ("billion laughs") expands exponentially: yaml refuses past maxAliasCount, reported
  // at the first alias instead of an exception.
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    const alias = /\*[A-Za-z0-9_-]+/.exec(text);
    const pos = alias ? at(alias.index) : { line: 1, col: 1 };
    diagnostics.push({ file, ...pos, severity: "error", path: "", message: `YAML: ${(e as Error).message.split("\n")[0]} (too many aliases: at most 100 expansions)` });
    return { source: text, diagnostics };
  }
  const positions = new Positions(doc, at);
  const refs = rawRules(raw);
  const refPaths = new Set(refs.map((f) => dotted(f.path)));
  for (const f of refs) diagnostics.push(findingToDiagnostic(f, positions, file));
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      // A misplaced ${VAR} already has its own, clearer message.
      if (!refPaths.has(dotted(issue.path))) diagnostics.push(...issueToDiagnostics(issue, positions, file));
    }
  } else {
    for (const f of [...crossFieldRules(parsed.data, (p) => doc.hasIn(p)), ...safetyRules(parsed.data, (p) => doc.hasIn(p))]) diagnostics.push(findingToDiagnostic(f, positions, file));
  }
  diagnostics.sort((a, b) => a.line - b.line || a.col - b.col || a.message.localeCompare(b.message));
  const ok = !diagnostics.some((d) => d.severity === "error");
  return { source: text, diagnostics, config: ok && parsed.success ? parsed.data : undefined };
}

/** Finds the source position of a config path (the value's node, or its key, or the nearest parent). */
class Positions {
  constructor(
    private doc: Document,
    private at: (offset: number) => { line: number; col: number },
  ) {}

  value(path: (string | number)[]): { line: number; col: number } {
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n), true) as Node | undefined;
      if (node && (node as { range?: [number, number, number] }).range) {
        // A missing key reports at its parent's first key, which is where it would be written.
        return this.at(node.range![0]);
      }
    }
    return { line: 1, col: 1 };
  }

  key(path: (string | number)[], key: string): { line: number; col: number } {
    const parent = path.length === 0 ? this.doc.contents : (this.doc.getIn(path, true) as Node | undefined);
    if (parent && isMap(parent)) {
      for (const item of parent.items) {
        if (isPair(item) && isScalar(item.key) && String(item.key.value) === key && item.key.range) {
          return this.at(item.key.range[0]);
        }
      }
    }
    return this.value(path);
  }

  isSeq(path: (string | number)[]): boolean {
    return isSeq(this.doc.getIn(path, true));
  }
}

function dotted(path: (string | number)[]): string {
  return path.map((p) => (typeof p === "number" ? `[${p}]` : p)).join(".").replace(/\.\[/g, "[");
}

function issueToDiagnostics(issue: z.ZodIssue, pos: Positions, file: string): Diagnostic[] {
  if (issue.code === z.ZodIssueCode.unrecognized_keys) {
    return issue.keys.map((key) => {
      const known = knownKeys(issue.path);
      const guess = closest(key, known);
      const hint = guess ? ` (did you mean '${guess}'?)` : known.length ? ` (allowed: ${known.join(", ")})` : "";
      return {
        file,
        ...pos.key(issue.path, key),
        severity: "error" as const,
        path: dotted([...issue.path, key]),
        message: `unknown key '${key}'${hint}`,
      };
    });
  }
  let message = issue.message;
  if (issue.code === z.ZodIssueCode.invalid_type && issue.received === "undefined") message = "is required";
  else if (issue.code === z.ZodIssueCode.invalid_type) message = `must be ${article(issue.expected)}, got ${issue.received}`;
  else if (issue.code === z.ZodIssueCode.invalid_enum_value) message = `must be one of ${issue.options.map((o) => `'${String(o)}'`).join(", ")}`;
  else if (issue.code === z.ZodIssueCode.invalid_literal) message = `must be '${String(issue.expected)}'`;
  else if (issue.code === z.ZodIssueCode.invalid_union) message = unionMessage(issue);
  return [{ file, ...pos.value(issue.path), severity: "error", path: dotted(issue.path), message }];
}

function unionMessage(issue: z.ZodInvalidUnionIssue): string {
  const inner = issue.unionErrors.flatMap((e) => e.issues);
  const literals = inner.flatMap((i) => (i.code === z.ZodIssueCode.invalid_literal ? [`'${String(i.expected)}'`] : []));
  const other = inner.find((i) => i.code !== z.ZodIssueCode.invalid_literal && i.code !== z.ZodIssueCode.invalid_type);
  if (other) return other.message;
  return literals.length ? `must be ${literals.join(" or ")} or a whole number` : (issue.message ?? "is invalid");
}

function article(t: string): string {
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

function findingToDiagnostic(f: Finding, pos: Positions, file: string): Diagnostic {
  return { file, ...pos.value(f.path), severity: f.severity, path: dotted(f.path), message: f.message };
}

/** The keys the schema allows at a path, for "did you mean" hints. */
export function knownKeys(path: (string | number)[]): string[] {
  let s: z.ZodTypeAny = configSchema;
  for (const p of path) {
    s = unwrap(s);
    if (s instanceof z.ZodObject) s = s.shape[p as string];
    else if (s instanceof z.ZodArray) s = s.element;
    if (!s) return [];
  }
  s = unwrap(s);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function unwrap(s: z.ZodTypeAny): z.ZodTypeAny {
  for (;;) {
    if (s instanceof z.ZodDefault) s = s._def.innerType;
    else if (s instanceof z.ZodOptional) s = s._def.innerType;
    else if (s instanceof z.ZodEffects) s = s._def.schema;
    else return s;
  }
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  return best !== undefined && bestDist <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
