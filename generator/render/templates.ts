// Where templates come from: the templates/ folder in a checkout, or the copy that the esbuild
// bundle carries inside itself (so the bundled CLI runs on a server with nothing but node).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

declare const __HPC_TEMPLATES__: Record<string, string> | undefined;

export function templatesDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..", "templates");
}

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const full = join(dir, name);
      return statSync(full).isDirectory() ? walk(full) : [full];
    });
}

/** Every template file, keyed by its path relative to templates/ with '/' separators; the client
 * helpers of clients/ (next to templates/) ride along as clients/..., copied verbatim into the toolkit. */
export function readTemplatesFromDisk(dir = templatesDir()): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of walk(dir)) out[relative(dir, file).split(sep).join("/")] = readFileSync(file, "utf8");
  const clients = join(dir, "..", "clients");
  if (existsSync(clients)) for (const file of walk(clients).filter((f) => !f.includes("__pycache__"))) out[`clients/${relative(clients, file).split(sep).join("/")}`] = readFileSync(file, "utf8");
  return out;
}

export function loadTemplates(): Record<string, string> {
  if (typeof __HPC_TEMPLATES__ !== "undefined") return __HPC_TEMPLATES__;
  return readTemplatesFromDisk();
}
