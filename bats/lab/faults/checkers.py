#!/usr/bin/python3
"""Clients that count acknowledged writes for the fault suites (bats/lab/faults), run inside a lab node.

  checkers.py set DIR NODE           INSERT (scenario, node, id) into auth_portal.fault_set, one every 20 ms;
                                     an id goes to DIR/acked only once its COMMIT returned
  checkers.py bank DIR NODE          transfers between the 10 accounts of auth_portal.bank (one transaction
                                     each); ok/failed counts to DIR/bank.NODE
  checkers.py redis DIR HOST...      SET through redis-py's RedisCluster; a key goes to DIR/redis.acked once
                                     the SET returned
  checkers.py redis-verify DIR HOST...  GET every acknowledged key; prints "checked N missing M" and the
                                     first missing keys; exit 1 when one is missing

Each loop runs until DIR/stop exists. A failure is counted and logged (DIR/*.log), never retried with the
same id, so an id in an acked file was acknowledged exactly once. Connections are to the node's own
server (the local socket) for MariaDB, as the portal's services use it. The Redis password is in the
environment (REDISCLI_AUTH), never on a command line.
"""
import os
import random
import sys
import time

SOCK = "/run/mysqld/mysqld.sock"


def stopped(d):
    return os.path.exists(os.path.join(d, "stop"))


def mysql():
    import pymysql
    return pymysql.connect(unix_socket=SOCK, user="root", database="auth_portal", autocommit=True,
                           connect_timeout=5, read_timeout=10, write_timeout=10)


def set_writer(d, node):
    scen = os.path.basename(d)
    acked = open(os.path.join(d, "acked"), "a", buffering=1)
    log = open(os.path.join(d, "set.log"), "a", buffering=1)
    conn, i = None, 0
    while not stopped(d):
        i += 1
        try:
            if conn is None:
                conn = mysql()
            conn.cursor().execute("INSERT INTO fault_set VALUES (%s, %s, %s)", (scen, node, i))
            acked.write("%d\n" % i)
        except Exception as e:  # noqa: BLE001 - every failure is an unacknowledged write, counted
            log.write("failed %d %s %s\n" % (i, type(e).__name__, str(e)[:120]))
            conn = None
            time.sleep(0.2)
        time.sleep(0.02)


def bank(d, node):
    out = os.path.join(d, "bank." + node)
    ok = failed = 0
    conn = None
    while not stopped(d):
        a, b = random.sample(range(1, 11), 2)
        amount = random.randint(1, 50)
        try:
            if conn is None:
                conn = mysql()
            cur = conn.cursor()
            cur.execute("BEGIN")
            cur.execute("UPDATE bank SET bal = bal - %s WHERE id = %s", (amount, a))
            cur.execute("UPDATE bank SET bal = bal + %s WHERE id = %s", (amount, b))
            cur.execute("COMMIT")
            ok += 1
        except Exception:  # noqa: BLE001 - a failed transfer is rolled back (or never started)
            failed += 1
            try:
                conn.rollback()
            except Exception:  # noqa: BLE001
                conn = None
            conn = None
            time.sleep(0.2)
        with open(out + ".tmp", "w") as f:
            f.write("%d %d\n" % (ok, failed))
        os.replace(out + ".tmp", out)
        time.sleep(0.03)


def redis_cluster(hosts):
    from redis.cluster import RedisCluster, ClusterNode
    return RedisCluster(startup_nodes=[ClusterNode(h, 6379) for h in hosts], password=os.environ["REDISCLI_AUTH"],
                        socket_timeout=3, socket_connect_timeout=3, cluster_error_retry_attempts=1)


def redis_writer(d, hosts):
    scen = os.path.basename(d)
    acked = open(os.path.join(d, "redis.acked"), "a", buffering=1)
    log = open(os.path.join(d, "redis.log"), "a", buffering=1)
    rc, i = None, 0
    while not stopped(d):
        i += 1
        key = "fault:%s:%d" % (scen, i)
        try:
            if rc is None:
                rc = redis_cluster(hosts)
            if rc.set(key, str(i)):
                acked.write(key + "\n")
        except Exception as e:  # noqa: BLE001
            log.write("failed %s %s %s\n" % (key, type(e).__name__, str(e)[:120]))
            rc = None
            time.sleep(0.2)
        time.sleep(0.02)


def redis_verify(d, hosts):
    rc = redis_cluster(hosts)
    keys = [k.strip() for k in open(os.path.join(d, "redis.acked")) if k.strip()]
    missing = [k for k in keys if rc.get(k) != k.rsplit(":", 1)[1].encode()]
    print("checked %d missing %d %s" % (len(keys), len(missing), " ".join(missing[:5])))
    return 1 if missing else 0


def main(argv):
    cmd, d = argv[1], argv[2]
    os.makedirs(d, exist_ok=True)
    if cmd == "set":
        set_writer(d, argv[3])
    elif cmd == "bank":
        bank(d, argv[3])
    elif cmd == "redis":
        redis_writer(d, argv[3:])
    elif cmd == "redis-verify":
        return redis_verify(d, argv[3:])
    else:
        print("unknown command", cmd, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
