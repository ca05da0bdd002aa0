"""Client helpers for the portal's Python backends on an hpc-cluster-kit cluster (plan section 7.2).

Copied into the toolkit as clients/python/hpc_cluster.py. Uses Debian's python3-redis (redis-py 4.x)
and python3-pymysql:

    import sys; sys.path.insert(0, "/opt/hpc-dashboard/cluster/clients/python")
    from hpc_cluster import redis_client, db_connect
    r = redis_client()              # RedisCluster, or a Sentinel-backed master client (type: sentinel)
    r.set("session:42", "...", ex=3600)
    db = db_connect("auth_portal")  # PyMySQL connection to this node's Galera member, retried on failover
    n = db_run(lambda cur: cur.execute("UPDATE t SET v = v + 1"), "auth_portal")  # one transaction, retried

Settings come from the shared environment file (.env in the service folder -> web.env_file, no secrets)
and the per-node root-only secrets file it names (HPC_SECRETS_ENV); variables already in the process
environment win (systemd EnvironmentFile= has set them). The Redis topology comes from the generated
connection file (configs/redis_connection.json).
"""

import json
import os
import threading
import time

TOOLKIT_DIR = os.environ.get("HPC_TOOLKIT_DIR", "/opt/hpc-dashboard/cluster")
DEFAULT_ENV_FILE = os.environ.get("HPC_ENV_FILE", "/mnt/gluster/config/global.env")

# MySQL/MariaDB errors a Galera failover produces: the server is gone or restarting (2002, 2003,
# 2006, 2013, 1053), the node left the Primary component and refuses work (1047 WSREP not ready) or
# could not replicate a commit when it left it (1180 "Got error 6 during COMMIT": rolled back), or a
# transaction lost a certification conflict with another node's (1213, reported as a deadlock).
RETRYABLE_DB_ERRORS = {1047, 1053, 1180, 1213, 2002, 2003, 2006, 2013}
# Of those, the ones after which the connection is gone (reconnect before the next attempt).
CONNECTION_LOST_DB_ERRORS = {1053, 2002, 2003, 2006, 2013}


def read_env_file(path):
    """KEY=value and KEY='value' lines of an hpc-cluster-kit environment file (comments skipped).

    The toolkit writes only these two forms (see docs/toolkit-conventions.md), so no shell or
    dotenv semantics are needed: a single-quoted value is taken literally.
    """
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]
            values[key] = value
    return values


def settings(env_file=None):
    """The cluster settings: the shared file, then the secrets file it names, then os.environ."""
    merged = {}
    candidates = [env_file] if env_file else [os.path.join(os.getcwd(), ".env"), DEFAULT_ENV_FILE]
    for path in candidates:
        if path and os.path.exists(path):
            merged.update(read_env_file(path))
            break
    secrets = os.environ.get("HPC_SECRETS_ENV") or merged.get("HPC_SECRETS_ENV")
    if secrets and os.access(secrets, os.R_OK):
        merged.update(read_env_file(secrets))
    merged.update({k: v for k, v in os.environ.items() if k in merged or k.startswith(("REDIS_", "DB_", "HPC_"))})
    return merged


def _connection_file(conf):
    return conf.get("HPC_REDIS_CONNECTION") or os.path.join(TOOLKIT_DIR, "configs", "redis_connection.json")


def redis_client(env_file=None, decode_responses=True, **kwargs):
    """A redis-py client for the cluster's Redis: RedisCluster (type: cluster) or the Sentinel master."""
    conf = settings(env_file)
    with open(_connection_file(conf), encoding="utf-8") as f:
        topo = json.load(f)
    password = conf.get("REDIS_PASSWORD") or None
    kwargs.setdefault("socket_timeout", 5)
    kwargs.setdefault("socket_connect_timeout", 2)
    if topo["mode"] == "sentinel":
        from redis.sentinel import Sentinel

        s = topo["sentinel"]
        # The sentinels require the same password as Redis (sentinel.conf: requirepass).
        sentinel = Sentinel(
            [(h, s["port"]) for h in s["hosts"]],
            sentinel_kwargs={"password": password, "socket_timeout": kwargs["socket_timeout"], "socket_connect_timeout": kwargs["socket_connect_timeout"]},
        )
        # master_for asks the sentinels for the master on every new connection, so after a failover
        # the next command (once the old connection fails) reaches the promoted replica.
        return sentinel.master_for(s["master_name"], password=password, decode_responses=decode_responses, **kwargs)
    import redis.cluster as rc

    nodes = [rc.ClusterNode(n["host"], n["port"]) for n in topo["nodes"]]
    # Slots of a failed master are unserved until it returns (replicas: 0): keep serving the others.
    kwargs.setdefault("require_full_coverage", False)
    kwargs.setdefault("cluster_error_retry_attempts", 5)
    # redis-py 4.3 (Debian 12) re-reads the topology through fresh copies of its connection settings
    # unless the startup nodes are kept; those copies fail ("cannot pickle '_thread.lock'"), so a
    # client could never recover from a node failure. Keeping the startup nodes avoids the copy.
    kwargs.setdefault("dynamic_startup_nodes", False)
    with _CLUSTER_LOCK:
        saved = rc.NodesManager
        rc.NodesManager = _live_default_manager(rc)
        try:
            return rc.RedisCluster(startup_nodes=nodes, password=password, decode_responses=decode_responses, **kwargs)
        finally:
            rc.NodesManager = saved


_CLUSTER_LOCK = __import__("threading").Lock()


def _answers(host, port, password, timeout=1.0):
    from redis import Redis

    try:
        return bool(Redis(host=host, port=port, password=password, socket_connect_timeout=timeout, socket_timeout=timeout).ping())
    except Exception:
        return False


def _live_default_manager(rc):
    """NodesManager whose default node (where redis-py 4.3 sends COMMAND and keyless commands) is a
    master that answers: it picks the first master of CLUSTER SLOTS even when that one is down."""

    class LiveDefaultNodesManager(rc.NodesManager):
        def initialize(self):
            super().initialize()
            for node in self.get_nodes_by_server_type(rc.PRIMARY):
                if _answers(node.host, node.port, self.connection_kwargs.get("password")):
                    self.default_node = node
                    break

    return LiveDefaultNodesManager


def db_connect(name=None, env_file=None, attempts=20, delay=0.5, **kwargs):
    """A PyMySQL connection to this node's Galera member (every node is a master: DB_HOST=127.0.0.1).

    name: a database.databases[].name (its DB_<NAME>_USER / _PASSWORD), default web.database.
    Retries for about attempts * delay seconds on the errors a failover produces, and only returns a
    connection whose node is ready (wsrep_ready ON), so the first query does not fail with 1047.
    """
    import pymysql

    conf = settings(env_file)
    prefix = f"DB_{name.upper().replace('-', '_').replace('.', '_')}_" if name else "DB_"
    database = conf.get(prefix + "NAME") or name
    user = conf.get(prefix + "USER")
    if not user:
        raise KeyError(f"no {prefix}USER in the environment files (is '{name}' in database.databases?)")
    params = dict(
        host=conf.get("DB_HOST", "127.0.0.1"),
        port=int(conf.get("DB_PORT", "3306")),
        user=user,
        password=conf.get(prefix + "PASSWORD", ""),
        database=database,
        connect_timeout=5,
        charset="utf8mb4",
    )
    params.update(kwargs)
    last = None
    for attempt in range(max(1, attempts)):
        try:
            conn = pymysql.connect(**params)
            with conn.cursor() as cur:
                cur.execute("SHOW VARIABLES LIKE 'wsrep_on'")
                galera = cur.fetchone()
                cur.execute("SHOW STATUS LIKE 'wsrep_ready'")
                row = cur.fetchone()
            # Without Galera (wsrep_on OFF) wsrep_ready reads OFF too: such a server is ready.
            if galera is None or str(galera[1]).upper() != "ON" or (row is not None and str(row[1]).upper() == "ON"):
                return conn
            conn.close()
            last = pymysql.err.OperationalError(1047, "WSREP has not yet prepared node for application use")
        except pymysql.err.OperationalError as e:
            if e.args and e.args[0] not in RETRYABLE_DB_ERRORS:
                raise
            last = e
        if attempt + 1 < attempts:
            time.sleep(delay)
    raise last


_DB_LOCAL = threading.local()


def db_run(work, name=None, env_file=None, attempts=20, delay=0.5, on_retry=None, **kwargs):
    """Run work(cursor) as one transaction on this node's Galera member, commit it, return its result.

    On an error a failover produces (RETRYABLE_DB_ERRORS) the transaction is rolled back and run again,
    up to attempts times: a certification conflict (1213) at once, a node outside the Primary
    component (1047) after delay, a lost connection (2006/2013...) on a new one from db_connect (which
    waits until the node is ready). One connection per thread and database is kept between calls.
    on_retry(error, attempt), when given, is called before each new attempt (to log it).
    work must be safe to run again: when the connection is lost during COMMIT, the first run may have
    been committed.
    """
    import pymysql

    key = (name, env_file, tuple(sorted(kwargs.items())))
    conns = getattr(_DB_LOCAL, "conns", None)
    if conns is None:
        conns = _DB_LOCAL.conns = {}
    last = None
    for attempt in range(max(1, attempts)):
        conn = conns.get(key)
        try:
            if conn is None:
                conn = conns[key] = db_connect(name, env_file=env_file, attempts=1, **kwargs)
            conn.begin()
            with conn.cursor() as cur:
                result = work(cur)
            conn.commit()
            return result
        except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as e:
            code = e.args[0] if e.args else 0
            if isinstance(e, pymysql.err.OperationalError) and code not in RETRYABLE_DB_ERRORS:
                raise
            last = e
            if isinstance(e, pymysql.err.InterfaceError) or code in CONNECTION_LOST_DB_ERRORS:
                conns.pop(key, None)
                try:
                    conn.close()
                except Exception:
                    pass
            else:
                try:
                    conn.rollback()
                except Exception:
                    conns.pop(key, None)
        if attempt + 1 < attempts:
            if on_retry is not None:
                on_retry(last, attempt + 1)
            time.sleep(0.01 * (attempt + 1) if last.args and last.args[0] == 1213 else delay)
    raise last
