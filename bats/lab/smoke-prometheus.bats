#!/usr/bin/env bats
# Smoke: prometheus runs inside a node, scrapes itself on the node's address, answers the client.

load helpers

setup_file() {
  lab_setup 1
}

teardown_file() {
  lab_teardown
}

setup() {
  bats_load_library bats-support
  bats_load_library bats-assert
}

up_is_1() {
  lab_client curl -fsS 'http://10.213.0.11:9090/api/v1/query?query=up' \
    | jq -e '.data.result[] | select(.metric.instance == "10.213.0.11:9090") | .value[1] == "1"'
}

@test "prometheus inside n1 scrapes itself on n1's address; the client queries it" {
  lab_exec n1 sh -c 'cat >/etc/prometheus/lab.yml <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["10.213.0.11:9090"]
YML
mkdir -p /var/lib/prometheus/lab && chown prometheus: /var/lib/prometheus/lab
setsid runuser -u prometheus -- prometheus --config.file=/etc/prometheus/lab.yml \
  --storage.tsdb.path=/var/lib/prometheus/lab --web.listen-address=10.213.0.11:9090 \
  </dev/null >/var/log/prometheus/lab.log 2>&1 &'
  wait_until 30 up_is_1
  # (CI once saw an empty ss listing right after the first answer: wait for it, and show the log if not)
  wait_until 10 eval 'lab_exec n1 ss -Hltn "sport = :9090" | grep -qF 10.213.0.11:9090' \
    || { lab_exec n1 ss -Hltnp >&3; lab_exec n1 tail -n 20 /var/log/prometheus/lab.log >&3; false; }
  run lab_exec n1 pgrep -u prometheus -x prometheus
  assert_success
}
