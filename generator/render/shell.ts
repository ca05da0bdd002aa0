// Turning config values into bash that can never run them: single quotes only, arrays for lists.
import type { ShellValue, ShellVar } from "../model/index.js";

/** Quote a value for bash: everything inside single quotes is literal; `'` becomes `'\''`. */
export function shq(value: string | number | boolean): string {
  return `'${String(value).replace(/'/g, `'\\''`)}'`;
}

function bashValue(value: ShellValue): string {
  if (Array.isArray(value)) return `(${value.map((x) => shq(x)).join(" ")})`;
  return shq(value);
}

/** One `NAME='value'` (or `NAME=('a' 'b')`) line per variable, preceded by its comment. */
export function shellAssignments(vars: ShellVar[]): string {
  return vars
    .map((v) => {
      if (!/^[A-Z][A-Z0-9_]*$/.test(v.name)) throw new Error(`invalid shell variable name ${v.name}`);
      const comment = v.comment ? `# ${v.comment}\n` : "";
      return `${comment}${v.name}=${bashValue(v.value)}`;
    })
    .join("\n");
}
