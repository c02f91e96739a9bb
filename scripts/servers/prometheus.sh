#!/usr/bin/env bash
# A real Prometheus server for the metrics tests: built from the Go module proxy (Debian's
# package is years older and no Docker engine runs here), cached outside the clone, listening on
# loopback only.
#
#   bash scripts/servers/prometheus.sh build     build Prometheus unless the cache has it; prints its path
#   bash scripts/servers/prometheus.sh path      the cached binary's path, exit 1 when it is not built
#   bash scripts/servers/prometheus.sh start     start one on 127.0.0.1 unless it answers there
#   bash scripts/servers/prometheus.sh stop      stop the one `start` started (by its recorded PID)
#   bash scripts/servers/prometheus.sh status    exit 0 when it answers /-/ready
#
# Progress goes to stderr; `build` and `path` print the binary's path on stdout. Non-zero exit,
# with the reason, on failure. Tests start private servers of their own on free ports, with the
# scrape targets they need (conformance/src/testing/servers/prometheus.ts).
#
# The recipe: github.com/prometheus/prometheus v0.316.0 (Apache-2.0; the Go module's version of
# the 3.x release line) cmd/prometheus, built as a `go get -tool` of a wrapper module,
# CGO_ENABLED=0. Without the `builtinassets` tag the web UI is not embedded; the HTTP API, which
# is all the tests use, is unaffected.
#
# Environment (all optional):
#   MICRO_CACHE_DIR               cache root (default $HOME/.cache/micro-ts)
#   MICRO_PROMETHEUS_PORT         the HTTP API's port (default 9090)
#   MICRO_PROMETHEUS_TARGETS      comma separated host:port list `start` scrapes at /metrics every second
#   MICRO_PROMETHEUS_DATA_DIR     where `start` keeps its PID file, config, data and log (default /tmp/micro-ci-prometheus)
#   MICRO_BACKENDS_WAIT           seconds `start` waits for it (default 90)
set -euo pipefail

NAME=prometheus
MODULE=github.com/prometheus/prometheus
PACKAGE=github.com/prometheus/prometheus/cmd/prometheus
VERSION=v0.316.0
# Without its service-discovery plugins (cloud SDKs and client-go: most of the build's time on
# 2 cores); the tests scrape static targets only.
BUILD_TAGS=remove_all_sd
# shellcheck source=lib/go-program.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-program.sh"

PORT=${MICRO_PROMETHEUS_PORT:-9090}
TARGETS=${MICRO_PROMETHEUS_TARGETS:-}
DATA_DIR=${MICRO_PROMETHEUS_DATA_DIR:-/tmp/micro-ci-prometheus}

ready_ok() { curl -fsS --max-time 2 "http://127.0.0.1:$PORT/-/ready" >/dev/null 2>&1; }

start() {
  ready_ok && {
    log "Prometheus already answers on 127.0.0.1:$PORT"
    return
  }
  command -v curl >/dev/null 2>&1 || die "curl is needed to check Prometheus"
  build >/dev/null
  mkdir -p "$DATA_DIR/data"
  local targets="" t
  IFS=, read -ra list <<<"$TARGETS"
  for t in "${list[@]}"; do [ -n "$t" ] && targets+="'$t', "; done
  cat >"$DATA_DIR/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: micro
    static_configs:
      - targets: [${targets%, }]
YAML
  log "starting Prometheus $VERSION on 127.0.0.1:$PORT (log $DATA_DIR/prometheus.log)"
  nohup "$BIN" --config.file="$DATA_DIR/prometheus.yml" --storage.tsdb.path="$DATA_DIR/data" \
    --web.listen-address="127.0.0.1:$PORT" >"$DATA_DIR/prometheus.log" 2>&1 </dev/null 9>&- &
  echo $! >"$DATA_DIR/prometheus.pid"
  wait_pid_until "$DATA_DIR/prometheus.pid" ready_ok "Prometheus (log $DATA_DIR/prometheus.log)"
  log "Prometheus is up (pid $(cat "$DATA_DIR/prometheus.pid"))"
}

case "${1:-}" in
build) build ;;
path) path ;;
start) start ;;
stop) stop_pidfile "$DATA_DIR/prometheus.pid" ;;
status) ready_ok ;;
*) die "usage: prometheus.sh build|path|start|stop|status" ;;
esac
