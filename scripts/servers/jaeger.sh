#!/usr/bin/env bash
# A real Jaeger (v2, the OpenTelemetry-collector based single binary) for the tracing tests:
# built from the Go module proxy (no Debian package carries Jaeger and no Docker engine runs
# here), cached outside the clone.
#
#   bash scripts/servers/jaeger.sh build     build Jaeger unless the cache has it; prints its path
#   bash scripts/servers/jaeger.sh path      the cached binary's path, exit 1 when it is not built
#
# Progress goes to stderr, the binary's path to stdout. Non-zero exit, with the reason, on
# failure. Nothing is started here: tests start private instances on free loopback ports with
# the configuration they need (JaegerServer, conformance/src/testing/servers/jaeger.ts: OTLP in,
# memory storage, the query API and UI; `JaegerServer.start()` then `queryUrl` to look at traces
# by hand).
#
# The recipe: github.com/jaegertracing/jaeger/cmd/jaeger v1.76.0 (Apache-2.0; the module's v1
# tags carry the v2 binary), built as a `go get -tool` of a wrapper module, CGO_ENABLED=0. Its
# go.mod pins github.com/Shopify/sarama with a replace, which the wrapper repeats.
#
# Environment (optional): MICRO_CACHE_DIR, the cache root (default $HOME/.cache/micro-ts).
set -euo pipefail

NAME=jaeger
MODULE=github.com/jaegertracing/jaeger
PACKAGE=github.com/jaegertracing/jaeger/cmd/jaeger
VERSION=v1.76.0
WRAPPER_EXTRA='replace github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0'
# shellcheck source=lib/go-program.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-program.sh"

case "${1:-}" in
build) build ;;
path) path ;;
*) die "usage: jaeger.sh build|path" ;;
esac
