# Helpers for the web tier lab suite (bats/lab/web) and bench/web: 3 nodes with the generated toolkit,
# stand-in backends (a test fixture, not part of the product: python3 http.server answering its node
# name, the Upgrade/Connection headers it received, and a Redis-backed session store through
# clients/python/hpc_cluster.py), and probes from the lab client through the VIP.
# Load after bats/lab/helpers.bash and bats/helpers/toolkit.bash.

WEB_VIP=10.213.0.100
WEB_TK=/opt/hpc-dashboard/cluster
WEB_FIXTURE="${HPC_REPO_ROOT}/test/fixtures/lab/web-3.yaml"
WEB_DIRS=(/opt/hpc-dashboard/dashboard/auth_portal_4430 /opt/hpc-dashboard/dashboard/ws_5011)

# web_tk nK SCRIPT ARGS...: a toolkit script on nK.
web_tk() {
  local n=$1 script=$2
  shift 2
  lab_exec "$n" "$WEB_TK/$script" "$@"
}

# step nK SCRIPT ARGS...: a toolkit script during setup; its output goes to a log (a daemon it starts
# must not hold bats' pipes) that is printed when it fails.
step() {
  local log="$BATS_FILE_TMPDIR/setup.log"
  printf '### %s\n' "$*" >> "$log"
  web_tk "$@" >> "$log" 2>&1 || { cat "$log" >&2; return 1; }
}

# web_standin_install nK: the stand-in backend program and the service folders on nK.
web_standin_install() {
  lab_exec "$1" sh -c 'mkdir -p "$@" && cat > /usr/local/bin/hpc-standin.py && chmod 0755 /usr/local/bin/hpc-standin.py' sh "${WEB_DIRS[@]}" <<'PY'
#!/usr/bin/python3
# Stand-in portal backend (lab fixture): GET /health -> ok; GET .../session/set?k=K&v=V and
# .../session/get?k=K through hpc_cluster.redis_client(); POST .../upload?name=N stores the body as
# UPLOAD_DIR/N (from the environment files); anything else -> "NODE upgrade=... connection=...".
import os, socket, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sys.path.insert(0, "/opt/hpc-dashboard/cluster/clients/python")
NODE = socket.gethostname()
_redis = None

def redis():
    global _redis
    if _redis is None:
        import hpc_cluster
        _redis = hpc_cluster.redis_client()
    return _redis

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path.endswith("/health"):
            body = "ok"
        elif u.path.endswith("/session/set"):
            redis().set("session:" + q["k"], q["v"], ex=600)
            body = f"{NODE} set"
        elif u.path.endswith("/session/get"):
            body = f"{NODE} {redis().get('session:' + q['k'])}"
        else:
            body = f"{NODE} upgrade={self.headers.get('Upgrade', '-')} connection={self.headers.get('Connection', '-')}"
        self.answer(body)

    def do_POST(self):
        import hpc_cluster
        u = urllib.parse.urlparse(self.path)
        name = os.path.basename(dict(urllib.parse.parse_qsl(u.query))["name"])
        data = self.rfile.read(int(self.headers["Content-Length"]))
        with open(os.path.join(hpc_cluster.settings()["UPLOAD_DIR"], name), "wb") as f:
            f.write(data)
        self.answer(f"{NODE} stored {len(data)}")

    def answer(self, body):
        data = (body + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 1024
ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
PY
}

# web_standin_start nK: both stand-in backends on nK (4430 in the auth folder, 5011 in the ws folder).
web_standin_start() {
  local n=$1
  # shellcheck disable=SC2016 # expanded inside the node
  lab_exec "$n" sh -c 'cd "$1" && setsid /usr/local/bin/hpc-standin.py 4430 </dev/null >/var/log/standin-4430.log 2>&1 &
                       cd "$2" && setsid /usr/local/bin/hpc-standin.py 5011 </dev/null >/var/log/standin-5011.log 2>&1 &' sh "${WEB_DIRS[@]}"
  wait_until 15 lab_exec "$n" curl -fsS -m 2 -o /dev/null http://127.0.0.1:4430/health
  wait_until 15 lab_exec "$n" curl -fsS -m 2 -o /dev/null http://127.0.0.1:5011/health
}

# web_vip_get PATH [CURL ARGS...]: GET http://VIP/PATH from the lab client (body on stdout).
web_vip_get() {
  local path=$1
  shift
  lab_client curl -fsS -m 5 "$@" "http://$WEB_VIP$path"
}

# web_vip_holder: the node holding the VIP (empty if none or several).
web_vip_holder() {
  local n out=()
  for n in n1 n2 n3; do
    lab_exec "$n" ip -o -4 addr show dev eth0 2>/dev/null | grep -qF " $WEB_VIP/" && out+=("$n")
  done
  (( ${#out[@]} == 1 )) && printf '%s\n' "${out[0]}"
}

web_one_holder() { [[ -n "$(web_vip_holder)" ]]; }

# web_vip_ready: exactly one node holds the VIP and nginx answers there (keepalived's track script can
# time out on a loaded machine and move the VIP for a moment).
web_vip_ready() {
  wait_until 60 web_one_holder
  wait_until 30 web_vip_get /.hpc/nginx -o /dev/null
}
