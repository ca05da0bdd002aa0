#!/usr/bin/env python3
"""A tiny Alertmanager webhook receiver for the lab: one JSON line per POST (arrival time + body).

Usage: webhook.py ADDRESS PORT LOGFILE PIDFILE
"""
import http.server
import json
import os
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[3], "a", encoding="utf-8") as log:
            log.write(json.dumps({"t": time.time(), "body": json.loads(body or b"{}")}) + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    with open(sys.argv[4], "w", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")
    http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
