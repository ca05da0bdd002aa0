// Bundle the CLI into one file (dist/hpc-cluster.cjs) that runs with plain `node` and no
// node_modules, carrying the templates inside it, so an admin can copy it to a server.
import { build } from "esbuild";
import { readTemplatesFromDisk } from "../generator/render/templates.ts";

const templates = readTemplatesFromDisk();
await build({
  entryPoints: ["generator/cli/main.ts"],
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  outfile: "dist/hpc-cluster.cjs",
  logOverride: { "empty-import-meta": "silent" }, // only used when not bundled
  define: { __HPC_TEMPLATES__: JSON.stringify(templates) },
  logLevel: "warning",
  legalComments: "none",
}).then(() => console.error(`built dist/hpc-cluster.cjs with ${Object.keys(templates).length} templates`));
