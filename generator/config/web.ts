// Cross-field rules of the web tier (cluster.web and cluster.web_services), called from rules.ts.
import type { ClusterConfig } from "./schema.js";
import type { Finding } from "./rules.js";

type Path = (string | number)[];

function under(path: string, dir: string): boolean {
  return path.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}

/** Ports the web tier listens on (for the cluster-wide port clash rule). */
export function webPorts(config: ClusterConfig): Array<[Path, number]> {
  const w = config.cluster.web;
  if (!w) return [];
  const out: Array<[Path, number]> = [[["cluster", "web", "listen_port"], w.listen_port]];
  if (w.tls_cert) out.push([["cluster", "web", "listen_tls_port"], w.listen_tls_port ?? 443]);
  return out;
}

export function webRules(config: ClusterConfig): Finding[] {
  const c = config.cluster;
  const out: Finding[] = [];
  const err = (path: Path, message: string) => out.push({ path: ["cluster", ...path], severity: "error", message });
  const w = c.web;

  // Every URL prefix nginx routes is unique (frontends and proxied services share one namespace).
  const seen = new Map<string, string>();
  const claim = (location: string, path: Path, what: string) => {
    const prev = seen.get(location);
    if (prev) err(path, `duplicate location '${location}' (already used by ${prev})`);
    else seen.set(location, what);
  };
  w?.frontends.forEach((f, i) => claim(f.location, ["web", "frontends", i, "location"], `web.frontends[${i}]`));
  c.web_services.forEach((s, i) => {
    if (s.location !== undefined) {
      if (!w) err(["web_services", i, "location"], "a proxied web service needs the cluster.web section (nginx on every node)");
      claim(s.location, ["web_services", i, "location"], `web_services[${i}]`);
    }
    if (s.websocket && s.location === undefined) err(["web_services", i, "websocket"], "a WebSocket service needs a location to be proxied under");
    if (s.dir !== undefined && !w) err(["web_services", i, "dir"], "dir gets .env linked to web.env_file: add the cluster.web section");
  });
  if (!w) return out;

  if (!under(w.env_file, c.storage.mount_point)) {
    err(["web", "env_file"], `must be on the shared storage (under ${c.storage.mount_point}) so every node reads the same file`);
  }
  if (under(w.secrets_env_file, c.storage.mount_point)) {
    err(["web", "secrets_env_file"], "holds passwords: it must stay on each node's local disk, not under the shared mount point");
  }
  if (w.tls_cert && !w.tls_key) err(["web", "tls_cert"], "tls_cert needs tls_key");
  if (w.tls_key && !w.tls_cert) err(["web", "tls_key"], "tls_key needs tls_cert");
  if (w.listen_tls_port !== undefined && !w.tls_cert) err(["web", "listen_tls_port"], "listen_tls_port needs tls_cert and tls_key");
  if (w.database !== undefined && !c.database.databases.some((d) => d.name === w.database)) {
    const known = c.database.databases.map((d) => d.name);
    err(["web", "database"], `no database '${w.database}' in database.databases${known.length ? ` (known: ${known.join(", ")})` : ""}`);
  }
  return out;
}
