// The web tier: the shared environment file (strict format, read the same by both parsers) and the
// nginx configuration (accepted by the real `nginx -t`, identical upstreams on every node).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ENV_LINE } from "../generator/model/web.js";
import { fixture, renderText, tempDir } from "./helpers.js";

const file = (files: ReturnType<typeof renderText>, path: string) => {
  const f = files.find((x) => x.path === path);
  if (!f) throw new Error(`${path} not rendered`);
  return f.content;
};

const WEB = fixture("valid/web.yaml");
const TLS = WEB.replace("    listen_port: 80\n", "    listen_port: 80\n    tls_cert: @CERT@\n    tls_key: @KEY@\n");

function envPairs(text: string): Array<[string, string]> {
  return text
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]);
}

const hasNginx = spawnSync("sh", ["-c", "command -v nginx || test -x /usr/sbin/nginx"]).status === 0;
const PY = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3"; // Debian's, with python3-dotenv
const hasDotenv = spawnSync(PY, ["-c", "import dotenv"]).status === 0;

describe("global.env (the shared environment file)", () => {
  const files = renderText(WEB);
  const env = file(files, "cluster/configs/global.env");

  it("has only comments and strict KEY=value lines, every key once", () => {
    for (const line of env.split("\n")) if (line !== "" && !line.startsWith("#")) expect(line).toMatch(ENV_LINE);
    const keys = envPairs(env).map(([k]) => k);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("holds the connection settings and no secret", () => {
    const kv = Object.fromEntries(envPairs(env));
    expect(kv).toMatchObject({
      MOCK_MODE: "false",
      REDIS_MODE: "cluster",
      REDIS_NODES: "10.0.0.11:6379,10.0.0.12:6379,10.0.0.13:6379",
      DB_HOST: "127.0.0.1",
      DB_PORT: "3306",
      DB_NAME: "auth_portal",
      DB_USER: "auth_user",
      HPC_SECRETS_ENV: "/etc/hpc-cluster/web-secrets.env",
      UPLOAD_DIR: "/mnt/gluster/uploads",
    });
    expect(env).not.toMatch(/PASSWORD/);
  });

  it("lists the sentinel set for type: sentinel", () => {
    const kv = Object.fromEntries(envPairs(file(renderText(WEB.replace("  redis:\n", "  redis:\n    type: sentinel\n")), "cluster/configs/global.env")));
    expect(kv.REDIS_MODE).toBe("sentinel");
    expect(kv.REDIS_SENTINELS).toBe("10.0.0.11:26379,10.0.0.12:26379,10.0.0.13:26379");
    expect(kv.REDIS_SENTINEL_MASTER).toBe("test-cluster-redis");
  });

  it.skipIf(!hasDotenv)("python-dotenv reads exactly the same pairs", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "global.env"), env);
    const out = execFileSync(PY, ["-c", "import json,sys,dotenv; print(json.dumps(dotenv.dotenv_values(sys.argv[1])))", join(dir, "global.env")], { encoding: "utf8" });
    expect(JSON.parse(out)).toEqual(Object.fromEntries(envPairs(env)));
  });

  it("names the secrets in lib/config.sh, never their values", () => {
    const config = file(files, "cluster/lib/config.sh");
    expect(config).toContain("WEB_SECRETS_ENV_KEYS=('REDIS_PASSWORD' 'DB_PASSWORD' 'DB_AUTH_PORTAL_PASSWORD')");
    expect(config).toContain("WEB_SECRETS_ENV_SECRETS=('REDIS_PASSWORD' 'DB_AUTH_PASSWORD' 'DB_AUTH_PASSWORD')");
    expect(config).toContain("WEB_ENABLED='true'");
  });
});

describe("nginx configuration", () => {
  const conf = file(renderText(WEB), "cluster/configs/nginx/hpc-cluster.conf");

  it("proxies each service to every node with passive health checks, over kept-alive HTTP/1.1 connections", () => {
    expect(conf).toContain(
      ["upstream hpc_auth_portal {", ...["10.0.0.11", "10.0.0.12", "10.0.0.13"].map((ip) => `    server ${ip}:4430 max_fails=1 fail_timeout=5s;`)].join("\n"),
    );
    const api = conf.slice(conf.indexOf("upstream hpc_auth_portal"));
    expect(api.slice(0, api.indexOf("}"))).toMatch(/^    keepalive 32;$/m);
    expect(conf).toMatch(/^    proxy_http_version 1\.1;\n    proxy_set_header Connection "";$/m);
    expect(conf).toContain("proxy_next_upstream error timeout http_502 http_503 http_504;");
    expect(conf).toContain("proxy_connect_timeout 1000ms;");
  });

  it("makes WebSocket services sticky by the full client address and passes the Upgrade headers", () => {
    const ws = conf.slice(conf.indexOf("upstream hpc_dashboard_ws"));
    expect(ws.slice(0, ws.indexOf("}"))).toContain("hash $remote_addr consistent;");
    expect(conf).not.toMatch(/^\s*ip_hash;/m);
    const loc = conf.slice(conf.indexOf("location /ws/ {"));
    expect(loc.slice(0, loc.indexOf("}"))).toMatch(/proxy_set_header Upgrade \$http_upgrade;\n\s+proxy_set_header Connection \$hpc_connection_upgrade;/);
    // Its own proxy_set_header lines replace the server's: Host and the forwarding headers are repeated.
    expect(loc.slice(0, loc.indexOf("}"))).toContain("proxy_set_header Host $host;");
    expect(loc.slice(0, loc.indexOf("}"))).toContain("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;");
    const api = conf.slice(conf.indexOf("upstream hpc_auth_portal"));
    expect(api.slice(0, api.indexOf("}"))).not.toContain("hash");
  });

  it("serves the frontends from the shared volume, the SPA with its index.html fallback", () => {
    expect(conf).toContain("location /auth/ {\n        alias /mnt/gluster/frontend_builds/auth_frontend/;\n        error_page 404 = /auth/index.html;\n    }");
    expect(conf).toContain("location / {\n        alias /mnt/gluster/frontend_builds/dashboard_frontend/;\n    }");
  });

  it("has only @NODE_IP@ as a node-specific token (the upstreams are the same on every node)", () => {
    expect([...new Set(conf.match(/@[A-Z_]+@/g))]).toEqual(["@NODE_IP@"]);
  });

  for (const [what, text] of [["plain HTTP", WEB], ["with TLS", TLS]] as const) {
    it.skipIf(!hasNginx)(`passes the real nginx -t (${what})`, () => {
      const dir = tempDir("hpc-nginx-");
      // the config names paths a node would use (a temp dir is refused: world-writable); the rendered
      // site is pointed at this run's throwaway pair
      const [cert, key] = ["/etc/ssl/hpc-portal/cert.pem", "/etc/ssl/hpc-portal/key.pem"];
      if (text.includes("@CERT@")) {
        execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=portal", "-days", "2", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
      }
      const site = file(renderText(text.replace("@CERT@", cert).replace("@KEY@", key)), "cluster/configs/nginx/hpc-cluster.conf")
        .replaceAll("@NODE_IP@", "10.0.0.11").replaceAll(cert, join(dir, "cert.pem")).replaceAll(key, join(dir, "key.pem"));
      writeFileSync(join(dir, "hpc-cluster.conf"), site);
      mkdirSync(join(dir, "temp"));
      const mime = existsSync("/etc/nginx/mime.types") ? "include /etc/nginx/mime.types;" : "";
      writeFileSync(
        join(dir, "nginx.conf"),
        [
          `pid ${dir}/nginx.pid;`,
          `error_log ${dir}/error.log;`,
          "events {}",
          `http { ${mime} access_log off; client_body_temp_path ${dir}/temp/body; proxy_temp_path ${dir}/temp/proxy;`,
          `  fastcgi_temp_path ${dir}/temp/fastcgi; uwsgi_temp_path ${dir}/temp/uwsgi; scgi_temp_path ${dir}/temp/scgi;`,
          `  include ${dir}/hpc-cluster.conf; }`,
          "",
        ].join("\n"),
      );
      const nginx = existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
      const r = spawnSync(nginx, ["-t", "-q", "-p", `${dir}/`, "-e", `${dir}/error.log`, "-c", join(dir, "nginx.conf")], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    });
  }
});

describe("clients/python/hpc_cluster.py", () => {
  it("is shipped in the toolkit", () => {
    const files = renderText(WEB);
    expect(file(files, "cluster/clients/python/hpc_cluster.py")).toContain("def redis_client(");
  });

  it.skipIf(!hasDotenv)("reads the shared file and the secrets file it names as python-dotenv does (secrets literal)", () => {
    const dir = tempDir();
    const secrets = join(dir, "web-secrets.env");
    writeFileSync(secrets, "# root only\nREDIS_PASSWORD='r3dis pw#1 $HOME {X} \"q\"'\nDB_PASSWORD='a=b'\n");
    const env = file(renderText(WEB), "cluster/configs/global.env").replace("HPC_SECRETS_ENV=/etc/hpc-cluster/web-secrets.env", `HPC_SECRETS_ENV=${secrets}`);
    writeFileSync(join(dir, "global.env"), env);
    const script = [
      "import json, sys, dotenv",
      `sys.path.insert(0, ${JSON.stringify(join(__dirname, "..", "clients", "python"))})`,
      "import hpc_cluster",
      "mine = hpc_cluster.settings(sys.argv[1])",
      "theirs = dict(dotenv.dotenv_values(sys.argv[1])); theirs.update(dotenv.dotenv_values(sys.argv[2]))",
      "print(json.dumps([mine, theirs]))",
    ].join("\n");
    const [mine, theirs] = JSON.parse(execFileSync(PY, ["-c", script, join(dir, "global.env"), secrets], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } }));
    expect(mine).toEqual(theirs);
    expect(mine.REDIS_PASSWORD).toBe('r3dis pw#1 $HOME {X} "q"');
    expect(mine.REDIS_NODES).toBe("10.0.0.11:6379,10.0.0.12:6379,10.0.0.13:6379");
  });
});
