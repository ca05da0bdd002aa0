#!/usr/bin/env node
// hpc-cluster: validate cluster_config.yaml and generate the cluster toolkit.
// Exit codes: 0 ok, 1 runtime error, 2 invalid config or usage.
import { Command, CommanderError } from "commander";
import { registerCommands } from "./commands.js";

const program = new Command();
program
  .name("hpc-cluster")
  .description("Validate cluster_config.yaml and generate the bash toolkit that builds the HA cluster.")
  .addHelpText("after", "\nExit codes: 0 ok, 1 runtime error, 2 invalid config or usage.")
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });
registerCommands(program);

// `hpc-cluster list-nodes | head -1` must not crash when the reader goes away.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
    } else {
      process.stderr.write(`hpc-cluster: error: ${(e as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}

void main();
