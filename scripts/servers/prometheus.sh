#!/usr/bin/env bash
# A real Prometheus server for the metrics tests: built from the Go module proxy (Debian's
# package is years older and no Docker engine runs here), cached outside the clone.
#
#   bash scripts/servers/prometheus.sh build     build Prometheus unless the cache has it; prints its path
#   bash scripts/servers/prometheus.sh path      the cached binary's path, exit 1 when it is not built
#
# Progress goes to stderr, the binary's path to stdout. Non-zero exit, with the reason, on
# failure. Nothing is started here: tests start private servers on free loopback ports with the
# scrape targets they need (PrometheusServer, conformance/src/testing/servers/prometheus.ts).
#
# The recipe: github.com/prometheus/prometheus v0.316.0 (Apache-2.0; the Go module's version of
# the 3.x release line) cmd/prometheus, built as a `go get -tool` of a wrapper module,
# CGO_ENABLED=0, tag remove_all_sd (no service-discovery plugins: a much shorter build; the
# tests use file_sd, which stays). Without the `builtinassets` tag the web UI is not embedded;
# the HTTP API, which is all the tests use, is unaffected.
#
# Environment (optional): MICRO_CACHE_DIR, the cache root (default $HOME/.cache/micro-ts).
set -euo pipefail

NAME=prometheus
MODULE=github.com/prometheus/prometheus
PACKAGE=github.com/prometheus/prometheus/cmd/prometheus
VERSION=v0.316.0
# Without its service-discovery plugins (cloud SDKs and client-go: most of the build's time on
# 2 cores); file_sd, which the tests use, is built in and stays.
BUILD_TAGS=remove_all_sd
# shellcheck source=lib/go-program.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-program.sh"

case "${1:-}" in
build) build ;;
path) path ;;
*) die "usage: prometheus.sh build|path" ;;
esac
