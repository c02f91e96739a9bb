#!/usr/bin/env bash
# A real Jaeger (v2, the OpenTelemetry-collector based single binary) for the tracing tests:
# built from the Go module proxy (no Debian package carries Jaeger and no Docker engine runs
# here), cached outside the clone, listening on loopback only, traces kept in memory.
#
#   bash scripts/servers/jaeger.sh build     build Jaeger unless the cache has it; prints its path
#   bash scripts/servers/jaeger.sh path      the cached binary's path, exit 1 when it is not built
#   bash scripts/servers/jaeger.sh config    print the configuration `start` uses (ports below)
#   bash scripts/servers/jaeger.sh start     start one on 127.0.0.1 unless its query API answers there
#   bash scripts/servers/jaeger.sh stop      stop the one `start` started (by its recorded PID)
#   bash scripts/servers/jaeger.sh status    exit 0 when the query API answers
#
# Progress goes to stderr; `build` and `path` print the binary's path on stdout. Non-zero exit,
# with the reason, on failure. Tests start private instances of their own on free ports
# (conformance/src/testing/servers/jaeger.ts, which writes `config` with its ports).
#
# The recipe: github.com/jaegertracing/jaeger/cmd/jaeger v1.76.0 (Apache-2.0; the module's v1
# tags carry the v2 binary), built as a `go get -tool` of a wrapper module, CGO_ENABLED=0. Its
# go.mod pins github.com/Shopify/sarama with a replace, which the wrapper repeats.
#
# Environment (all optional):
#   MICRO_CACHE_DIR                 cache root (default $HOME/.cache/micro-ts)
#   MICRO_JAEGER_OTLP_GRPC_PORT     OTLP over gRPC (default 4317)
#   MICRO_JAEGER_OTLP_HTTP_PORT     OTLP over HTTP (default 4318)
#   MICRO_JAEGER_QUERY_PORT         the query API and UI over HTTP (default 16686)
#   MICRO_JAEGER_QUERY_GRPC_PORT    the query API over gRPC (default 16685)
#   MICRO_JAEGER_DATA_DIR           where `start` keeps its PID file, config and log (default /tmp/micro-ci-jaeger)
#   MICRO_BACKENDS_WAIT             seconds `start` waits for the query API (default 90)
set -euo pipefail

NAME=jaeger
MODULE=github.com/jaegertracing/jaeger
PACKAGE=github.com/jaegertracing/jaeger/cmd/jaeger
VERSION=v1.76.0
WRAPPER_EXTRA='replace github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0'
# shellcheck source=lib/go-program.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-program.sh"

OTLP_GRPC_PORT=${MICRO_JAEGER_OTLP_GRPC_PORT:-4317}
OTLP_HTTP_PORT=${MICRO_JAEGER_OTLP_HTTP_PORT:-4318}
QUERY_PORT=${MICRO_JAEGER_QUERY_PORT:-16686}
QUERY_GRPC_PORT=${MICRO_JAEGER_QUERY_GRPC_PORT:-16685}
DATA_DIR=${MICRO_JAEGER_DATA_DIR:-/tmp/micro-ci-jaeger}

# OTLP in, the query API out, memory storage; every other receiver and extension of the
# all-in-one default (Jaeger/Zipkin receivers, sampling, expvar, the collector's own metrics
# port) left out, so the only ports are the four above, all on 127.0.0.1.
config() {
  cat <<YAML
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:$QUERY_PORT
    grpc:
      endpoint: 127.0.0.1:$QUERY_GRPC_PORT
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$OTLP_GRPC_PORT
      http:
        endpoint: 127.0.0.1:$OTLP_HTTP_PORT
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
YAML
}

query_ok() { curl -fsS --max-time 2 "http://127.0.0.1:$QUERY_PORT/api/services" >/dev/null 2>&1; }

start() {
  query_ok && {
    log "Jaeger already answers on 127.0.0.1:$QUERY_PORT"
    return
  }
  command -v curl >/dev/null 2>&1 || die "curl is needed to check Jaeger"
  build >/dev/null
  mkdir -p "$DATA_DIR"
  config >"$DATA_DIR/jaeger.yaml"
  log "starting Jaeger $VERSION: OTLP 127.0.0.1:$OTLP_GRPC_PORT (gRPC) and :$OTLP_HTTP_PORT (HTTP), query API 127.0.0.1:$QUERY_PORT (log $DATA_DIR/jaeger.log)"
  nohup "$BIN" --config "file:$DATA_DIR/jaeger.yaml" >"$DATA_DIR/jaeger.log" 2>&1 </dev/null 9>&- &
  echo $! >"$DATA_DIR/jaeger.pid"
  wait_pid_until "$DATA_DIR/jaeger.pid" query_ok "Jaeger (log $DATA_DIR/jaeger.log)"
  log "Jaeger is up (pid $(cat "$DATA_DIR/jaeger.pid"))"
}

case "${1:-}" in
build) build ;;
path) path ;;
config) config ;;
start) start ;;
stop) stop_pidfile "$DATA_DIR/jaeger.pid" ;;
status) query_ok ;;
*) die "usage: jaeger.sh build|path|config|start|stop|status" ;;
esac
