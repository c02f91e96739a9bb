#!/usr/bin/env bash
# A real Consul agent for the registry-consul tests: built from the Go module proxy (no Debian
# package carries Consul and no Docker engine runs here), cached outside the clone, started on
# loopback only.
#
#   bash scripts/servers/consul.sh build     build the agent unless the cache has it; prints its path
#   bash scripts/servers/consul.sh path      the cached binary's path, exit 1 when it is not built
#   bash scripts/servers/consul.sh start     start a -dev agent on 127.0.0.1 unless one answers there
#   bash scripts/servers/consul.sh stop      stop the agent `start` started (by its recorded PID)
#   bash scripts/servers/consul.sh status    exit 0 when the agent answers with a leader
#
# Progress goes to stderr; `build` and `path` print the binary's path on stdout. Non-zero exit,
# with the reason, on failure.
#
# The recipe: Consul v1.14.8 (MPL-2.0; 1.17 and every release after 2023-08-10 are BUSL, which
# this project must not use, and 1.15/1.16 link the BUSL modules envoyextensions/troubleshoot).
# `go install ...@v1.14.8` fails because its go.mod replaces api, sdk and proto-public with local
# folders, so a wrapper module requires them at the versions of the release/1.14 branch: api
# v1.18.1 (the v1.18.0 consul's go.mod names lacks RaftServer.LastIndex), sdk v0.13.0,
# proto-public v0.2.1; reflect2 v1.0.2 and json-iterator v1.1.12, since reflect2 v1.0.1 segfaults
# on current Go. The cache folder's name carries a hash of the recipe and the Go version, so a
# changed recipe builds anew and a second run with the same one builds nothing.
#
# Environment (all optional):
#   MICRO_CACHE_DIR           cache root (default $HOME/.cache/micro-ts)
#   MICRO_CONSUL_HTTP_PORT    the shared agent's HTTP port (default 8500); its server, serf LAN
#                             and serf WAN ports are 8300, 8301, 8302 unless given below
#   MICRO_CONSUL_SERVER_PORT, MICRO_CONSUL_SERF_LAN_PORT, MICRO_CONSUL_SERF_WAN_PORT
#   MICRO_CONSUL_DATA_DIR     where `start` keeps its PID file and log (default /tmp/micro-ci-consul)
#   MICRO_BACKENDS_WAIT       seconds `start` waits for the agent (default 90)
set -euo pipefail

CONSUL_VERSION=v1.14.8
GO_MOD=$(
  cat <<'EOF'
module micro-ts.local/consul-build

go 1.21

require (
	github.com/hashicorp/consul v1.14.8
	github.com/hashicorp/consul/api v1.18.1
	github.com/hashicorp/consul/sdk v0.13.0
	github.com/hashicorp/consul/proto-public v0.2.1
	github.com/modern-go/reflect2 v1.0.2
	github.com/json-iterator/go v1.1.12
)
EOF
)
BUILD_FLAGS=(-mod=mod)

CACHE_ROOT=${MICRO_CACHE_DIR:-$HOME/.cache/micro-ts}
HTTP_PORT=${MICRO_CONSUL_HTTP_PORT:-8500}
SERVER_PORT=${MICRO_CONSUL_SERVER_PORT:-8300}
SERF_LAN_PORT=${MICRO_CONSUL_SERF_LAN_PORT:-8301}
SERF_WAN_PORT=${MICRO_CONSUL_SERF_WAN_PORT:-8302}
DATA_DIR=${MICRO_CONSUL_DATA_DIR:-/tmp/micro-ci-consul}
WAIT_SECONDS=${MICRO_BACKENDS_WAIT:-90}

log() { echo "consul: $*" >&2; }
die() {
  echo "consul: FAILED: $*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || die "no Go toolchain (go) on PATH or at /usr/local/go/bin"
command -v go >/dev/null 2>&1 || PATH=/usr/local/go/bin:$PATH

# The key: the wrapper go.mod, the build flags, this Go's version and platform.
cache_key() {
  { printf '%s\n' "$GO_MOD" "${BUILD_FLAGS[*]}" "CGO_ENABLED=0"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16
}
CACHE_DIR="$CACHE_ROOT/consul-$(cache_key)"
BIN="$CACHE_DIR/bin/consul"

# Licence and version gate on the linked modules of a built binary.
check_binary() {
  local bin=$1 info
  info=$(go version -m "$bin") || die "go version -m $bin failed"
  if grep -Eq 'github\.com/hashicorp/consul/(envoyextensions|troubleshoot)[[:space:]]' <<<"$info"; then
    die "$bin links a BUSL module (consul/envoyextensions or consul/troubleshoot)"
  fi
  # The agent is the main package of the consul module itself: go records that module as `mod`.
  grep -Eq "^[[:space:]]+mod[[:space:]]+github\.com/hashicorp/consul[[:space:]]+$CONSUL_VERSION([[:space:]]|$)" <<<"$info" ||
    die "$bin is not built from github.com/hashicorp/consul $CONSUL_VERSION"
  grep -Eq '^[[:space:]]+build[[:space:]]+CGO_ENABLED=0' <<<"$info" || die "$bin was not built with CGO_ENABLED=0"
}

build() {
  if [ -x "$BIN" ]; then
    check_binary "$BIN"
    log "cached: $BIN"
    echo "$BIN"
    return
  fi
  mkdir -p "$CACHE_ROOT"
  # One build at a time per recipe; a second caller waits, then finds the binary.
  exec 9>"$CACHE_ROOT/consul-build.lock"
  flock 9
  if [ -x "$BIN" ]; then
    check_binary "$BIN"
    log "cached: $BIN"
    echo "$BIN"
    return
  fi
  local work started=$SECONDS
  work=$(mktemp -d "$CACHE_ROOT/consul-build.XXXXXX")
  printf '%s\n' "$GO_MOD" >"$work/go.mod"
  log "building Consul $CONSUL_VERSION from the Go module proxy in $work (cold: ~8 minutes on 2 cores)"
  (cd "$work" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
    go build "${BUILD_FLAGS[@]}" -o "$work/bin/consul" github.com/hashicorp/consul) >&2 ||
    {
      rm -rf "$work"
      die "go build of github.com/hashicorp/consul $CONSUL_VERSION failed"
    }
  (check_binary "$work/bin/consul") || {
    rm -rf "$work"
    exit 1
  }
  # Keep go.mod/go.sum beside the binary: they say exactly what it was built from.
  rm -rf "$CACHE_DIR"
  mv "$work" "$CACHE_DIR"
  log "built $BIN in $((SECONDS - started))s"
  echo "$BIN"
}

agent_ok() {
  local leader
  leader=$(curl -fsS --max-time 2 "http://127.0.0.1:$HTTP_PORT/v1/status/leader" 2>/dev/null) || return 1
  [ -n "$leader" ] && [ "$leader" != '""' ]
}

start() {
  agent_ok && {
    log "Consul already answers on 127.0.0.1:$HTTP_PORT"
    return
  }
  command -v curl >/dev/null 2>&1 || die "curl is needed to check the agent"
  build >/dev/null
  mkdir -p "$DATA_DIR"
  log "starting Consul $CONSUL_VERSION -dev on 127.0.0.1:$HTTP_PORT (log $DATA_DIR/consul.log)"
  # Loopback only, every port explicit, DNS/gRPC/HTTPS off, no call home (update check).
  nohup "$BIN" agent -dev -bind 127.0.0.1 -client 127.0.0.1 -advertise 127.0.0.1 -node micro-ci \
    -hcl "ports { http = $HTTP_PORT, https = -1, grpc = -1, grpc_tls = -1, dns = -1, server = $SERVER_PORT, serf_lan = $SERF_LAN_PORT, serf_wan = $SERF_WAN_PORT }" \
    -hcl 'disable_update_check = true' -hcl 'disable_anonymous_signature = true' \
    >"$DATA_DIR/consul.log" 2>&1 </dev/null 9>&- &
  echo $! >"$DATA_DIR/consul.pid"
  local deadline=$((SECONDS + WAIT_SECONDS))
  until agent_ok; do
    kill -0 "$(cat "$DATA_DIR/consul.pid")" 2>/dev/null || die "the agent exited (see $DATA_DIR/consul.log)"
    [ $SECONDS -ge $deadline ] && die "Consul did not elect a leader within ${WAIT_SECONDS}s (see $DATA_DIR/consul.log)"
    sleep 0.2
  done
  log "Consul is up (pid $(cat "$DATA_DIR/consul.pid"))"
}

stop() {
  local pidfile="$DATA_DIR/consul.pid" pid
  [ -f "$pidfile" ] || {
    log "no agent started by this script (no $pidfile)"
    return
  }
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    log "stopped pid $pid"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
build) build ;;
path)
  [ -x "$BIN" ] || die "not built yet ($BIN); run: bash scripts/servers/consul.sh build"
  echo "$BIN"
  ;;
start) start ;;
stop) stop ;;
status) agent_ok ;;
*) die "usage: consul.sh build|path|start|stop|status" ;;
esac
