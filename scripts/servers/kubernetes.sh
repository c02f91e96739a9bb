#!/usr/bin/env bash
# A real Kubernetes API server on loopback, for the registry-kubernetes tests and the greeter's
# manifests: kube-apiserver and etcd built from the Go module proxy (no kind, minikube or envtest
# download works on these machines), cached outside the clone keyed by version and recipe, so only
# the first run builds.
#
#   bash scripts/servers/kubernetes.sh build          build (or find) the binaries; prints their folder
#   bash scripts/servers/kubernetes.sh start [DIR]    start etcd + kube-apiserver (idempotent); prints exports
#   bash scripts/servers/kubernetes.sh stop [DIR]     stop the two servers that `start` left in DIR
#   bash scripts/servers/kubernetes.sh status [DIR]   exit 0 when the apiserver in DIR answers /readyz
#   bash scripts/servers/kubernetes.sh env [DIR]      print the exports for DIR without starting anything
#   bash scripts/servers/kubernetes.sh exec-etcd DIR       run etcd in the foreground (exec: same PID)
#   bash scripts/servers/kubernetes.sh exec-apiserver DIR  run kube-apiserver in the foreground (exec)
#   bash scripts/servers/kubernetes.sh credentials DIR     make the certificates and admin token in DIR
#
# The exec-* forms are how tests run private servers they kill and restart by PID; `start` runs
# the same two commands in the background.
#
# DIR (default $MICRO_KUBERNETES_DIR or /tmp/micro-kubernetes) holds the certificates, the token
# file, etcd's data, the logs and the pid files. Ports: MICRO_KUBERNETES_PORT (apiserver, 6443),
# MICRO_KUBERNETES_ETCD_PORT (2479) and MICRO_KUBERNETES_ETCD_PEER_PORT (its port + 1). 2379/2380
# belong to the shared etcd of registry-etcd's suite, so this etcd never uses them.
#
# Progress goes to stderr, `export NAME=value` lines to stdout, non-zero exit with the reason on
# failure.
set -euo pipefail

KUBE_VERSION=v1.37.2
# The staging modules (k8s.io/api, apimachinery, ...) are published as v0.<minor>.<patch>.
STAGING_VERSION=v0.37.2
# The etcd that kubernetes v1.37.2 pins.
ETCD_VERSION=v3.7.0
# Bump when the way the binaries are built changes, so a stale cache is never reused.
RECIPE=2
KEY="${KUBE_VERSION}-etcd-${ETCD_VERSION}-r${RECIPE}"
CACHE_ROOT=${MICRO_CACHE_DIR:-$HOME/.cache/micro-ts}
CACHE_DIR="$CACHE_ROOT/kubernetes-$KEY"
BIN_DIR="$CACHE_DIR/bin"

WAIT_SECONDS=${MICRO_BACKENDS_WAIT:-90}
API_PORT=${MICRO_KUBERNETES_PORT:-6443}
ETCD_PORT=${MICRO_KUBERNETES_ETCD_PORT:-2479}
ETCD_PEER_PORT=${MICRO_KUBERNETES_ETCD_PEER_PORT:-$((ETCD_PORT + 1))}
HOST=127.0.0.1
SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"

log() { echo "kubernetes: $*" >&2; }
die() {
  echo "kubernetes: FAILED: $*" >&2
  exit 1
}

# ---- build --------------------------------------------------------------------------------
binaries_ok() { [ -x "$BIN_DIR/kube-apiserver" ] && [ -x "$BIN_DIR/etcd" ] && [ -f "$CACHE_DIR/complete" ]; }

build() {
  if binaries_ok; then
    log "binaries cached in $BIN_DIR"
    return
  fi
  command -v go >/dev/null 2>&1 || die "go is not installed (needed once, to build kube-apiserver and etcd)"
  mkdir -p "$CACHE_DIR"
  # One build at a time, even when two test runs ask at once. The servers `start` launches get
  # `9>&-`: a server that inherited the lock would hold it for its lifetime and block every
  # later `build` forever.
  exec 9>"$CACHE_DIR/build.lock"
  flock 9
  if binaries_ok; then
    log "binaries cached in $BIN_DIR (built by another run)"
    return
  fi
  local started=$SECONDS src="$CACHE_DIR/src"
  rm -rf "$src" "$CACHE_DIR/bin.tmp"
  mkdir -p "$src" "$CACHE_DIR/bin.tmp"
  log "building kube-apiserver $KUBE_VERSION and etcd $ETCD_VERSION (once; 9-15 min on 2 cores, 2.4 GB memory at link, 3.4 GB disk)"
  (
    cd "$src"
    export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local
    go mod init micro-ts.local/kubernetes-servers >&2 2>&1
    # `go install k8s.io/kubernetes/cmd/kube-apiserver@...` is refused: kubernetes' go.mod replaces
    # its staging modules with local folders. A wrapper module requires kubernetes and replaces each
    # staging module it requires (at v0.0.0) with the published release instead.
    go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >download.json
    local gomod
    gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' download.json)
    [ -f "$gomod" ] || die "no go.mod for k8s.io/kubernetes@$KUBE_VERSION in the module cache"
    # Staging modules: required at v0.0.0 and replaced with ./staging/... (sample-controller and
    # sample-cli-plugin are replaced but not required, and not served, so they drop out here).
    local staging=()
    mapfile -t staging < <(awk '
      /^require[[:space:]]*\(/ { inreq = 1; next }
      inreq && /^\)/ { inreq = 0; next }
      inreq && $2 == "v0.0.0" { print $1 }
      /^require[[:space:]]+[^(]/ && $3 == "v0.0.0" { print $2 }
    ' "$gomod" | sort -u)
    [ "${#staging[@]}" -eq 31 ] || die "expected 31 staging modules in kubernetes' go.mod, found ${#staging[@]}: ${staging[*]}"
    local edits=(-require "k8s.io/kubernetes@$KUBE_VERSION" -require "go.etcd.io/etcd/server/v3@$ETCD_VERSION")
    for m in "${staging[@]}"; do edits+=(-replace "$m=$m@$STAGING_VERSION"); done
    go mod edit "${edits[@]}"
    log "wrapper module: ${#staging[@]} staging modules replaced at $STAGING_VERSION"
    go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" >&2
    go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
    # go get may move kubernetes or etcd; the versions asked for are the ones this key names.
    grep -q "k8s.io/kubernetes $KUBE_VERSION" go.mod || die "go get moved k8s.io/kubernetes off $KUBE_VERSION"
    grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" go.mod || die "go get moved etcd off $ETCD_VERSION"
    # What `make` would stamp: without it the server reports v0.0.0-master.
    local minor=${KUBE_VERSION#v1.}
    minor=${minor%%.*}
    local stamp="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1"
    stamp="$stamp -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
    go build -trimpath -ldflags "-s -w $stamp" -o "$CACHE_DIR/bin.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
    go build -trimpath -ldflags "-s -w" -o "$CACHE_DIR/bin.tmp/etcd" go.etcd.io/etcd/server/v3 >&2
  ) || die "building the binaries failed (see above)"
  rm -rf "$BIN_DIR"
  mv "$CACHE_DIR/bin.tmp" "$BIN_DIR"
  "$BIN_DIR/kube-apiserver" --version >&2 || die "the built kube-apiserver does not run"
  "$BIN_DIR/etcd" --version >&2 || die "the built etcd does not run"
  date -u +%FT%TZ >"$CACHE_DIR/complete"
  log "built in $((SECONDS - started))s into $BIN_DIR"
}

# ---- run ----------------------------------------------------------------------------------
DIR=${MICRO_KUBERNETES_DIR:-/tmp/micro-kubernetes}
set_dir() { [ -n "${1:-}" ] && DIR=$1; mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd); }

token() { cut -d, -f1 "$DIR/tokens.csv"; }

api_ok() {
  [ -f "$DIR/tokens.csv" ] || return 1
  curl -fsS --max-time 2 --cacert "$DIR/ca.crt" -H "Authorization: Bearer $(token)" \
    "https://$HOST:$API_PORT/readyz" 2>/dev/null | grep -q '^ok$'
}
etcd_ok() { curl -fsS --max-time 2 "http://$HOST:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }

wait_for() {
  local name=$1 check=$2 logfile=$3 deadline=$((SECONDS + WAIT_SECONDS))
  until "$check"; do
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$logfile" >&2 || true
      die "$name did not answer within ${WAIT_SECONDS}s (log: $logfile)"
    fi
    sleep 0.5
  done
  log "$name is up"
}

# A CA, a serving certificate for 127.0.0.1/localhost signed by it, the service-account key pair
# and a static admin token: made once per DIR.
make_credentials() {
  [ -f "$DIR/tokens.csv" ] && [ -f "$DIR/apiserver.crt" ] && [ -f "$DIR/sa.key" ] && return
  command -v openssl >/dev/null 2>&1 || die "openssl is not installed"
  log "making certificates, the service-account key pair and the admin token in $DIR"
  (
    cd "$DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=micro-ts-test-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    # token,user,uid,"groups": system:masters is bound to cluster-admin.
    printf '%s,micro-admin,micro-admin,"system:masters"\n' "$(openssl rand -hex 24)" >tokens.csv.tmp
    mv tokens.csv.tmp tokens.csv
  ) || die "making the credentials failed"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# etcd for this API server only, in the foreground.
exec_etcd() {
  binaries_ok || die "the binaries are not built yet: run \`$0 build\` first"
  mkdir -p "$DIR/etcd"
  local unset_etcd=()
  # etcd reads every ETCD_<FLAG> variable as a flag.
  for v in $(compgen -e | grep '^ETCD_' || true); do unset_etcd+=(-u "$v"); done
  exec env "${unset_etcd[@]}" "$BIN_DIR/etcd" --name micro-kube --data-dir "$DIR/etcd" \
    --listen-client-urls "http://$HOST:$ETCD_PORT" --advertise-client-urls "http://$HOST:$ETCD_PORT" \
    --listen-peer-urls "http://$HOST:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://$HOST:$ETCD_PEER_PORT" \
    --initial-cluster "micro-kube=http://$HOST:$ETCD_PEER_PORT" --listen-metrics-urls "" --log-level warn
}

# kube-apiserver on loopback, in the foreground. --endpoint-reconciler-type none: with a loopback
# advertise address the default reconciler refuses to start. No controller-manager runs, so the
# ServiceAccount admission plugin (which waits for token controllers) is off; RBAC is on so the
# tests can prove what the registry's Role allows and forbids.
exec_apiserver() {
  binaries_ok || die "the binaries are not built yet: run \`$0 build\` first"
  make_credentials
  token >"$DIR/admin.token"
  exec "$BIN_DIR/kube-apiserver" \
    --bind-address "$HOST" --advertise-address "$HOST" --secure-port "$API_PORT" \
    --etcd-servers "http://$HOST:$ETCD_PORT" \
    --endpoint-reconciler-type none \
    --service-cluster-ip-range 127.100.0.0/24 \
    --disable-admission-plugins ServiceAccount \
    --authorization-mode RBAC \
    --token-auth-file "$DIR/tokens.csv" \
    --client-ca-file "$DIR/ca.crt" \
    --tls-cert-file "$DIR/apiserver.crt" --tls-private-key-file "$DIR/apiserver.key" \
    --service-account-key-file "$DIR/sa.pub" --service-account-signing-key-file "$DIR/sa.key" \
    --service-account-issuer "https://kubernetes.default.svc" \
    --api-audiences "https://kubernetes.default.svc" \
    --cert-dir "$DIR/certs"
}

start_etcd() {
  etcd_ok && { log "etcd already answers on $HOST:$ETCD_PORT"; return; }
  alive "$DIR/etcd.pid" && die "etcd (pid $(cat "$DIR/etcd.pid")) runs but does not answer on $HOST:$ETCD_PORT"
  log "starting etcd on $HOST:$ETCD_PORT (data in $DIR/etcd)"
  nohup bash "$SELF" exec-etcd "$DIR" >"$DIR/etcd.log" 2>&1 </dev/null 9>&- &
  echo $! >"$DIR/etcd.pid"
  wait_for etcd etcd_ok "$DIR/etcd.log"
}

start_apiserver() {
  api_ok && { log "kube-apiserver already answers on https://$HOST:$API_PORT"; return; }
  alive "$DIR/apiserver.pid" && die "kube-apiserver (pid $(cat "$DIR/apiserver.pid")) runs but is not ready on $HOST:$API_PORT"
  log "starting kube-apiserver on https://$HOST:$API_PORT"
  nohup bash "$SELF" exec-apiserver "$DIR" >"$DIR/apiserver.log" 2>&1 </dev/null 9>&- &
  echo $! >"$DIR/apiserver.pid"
  wait_for kube-apiserver api_ok "$DIR/apiserver.log"
}

print_env() {
  cat <<EOF
export MICRO_TEST_KUBERNETES_ADDRESS=https://$HOST:$API_PORT
export MICRO_TEST_KUBERNETES_TOKEN_FILE=$DIR/admin.token
export MICRO_TEST_KUBERNETES_CA_FILE=$DIR/ca.crt
EOF
}

start() {
  build
  make_credentials
  token >"$DIR/admin.token"
  start_etcd
  start_apiserver
  print_env
}

stop_pid() {
  local name=$1 file=$2
  alive "$file" || { rm -f "$file"; return; }
  local pid
  pid=$(cat "$file")
  log "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}

stop() {
  stop_pid kube-apiserver "$DIR/apiserver.pid"
  stop_pid etcd "$DIR/etcd.pid"
}

cmd=${1:-start}
shift || true
case "$cmd" in
build)
  build
  echo "$BIN_DIR"
  ;;
start)
  set_dir "${1:-}"
  start
  ;;
stop)
  set_dir "${1:-}"
  stop
  ;;
status)
  set_dir "${1:-}"
  api_ok
  ;;
env)
  set_dir "${1:-}"
  print_env
  ;;
exec-etcd)
  set_dir "${1:?exec-etcd needs a DIR}"
  exec_etcd
  ;;
exec-apiserver)
  set_dir "${1:?exec-apiserver needs a DIR}"
  exec_apiserver
  ;;
credentials)
  set_dir "${1:?credentials needs a DIR}"
  make_credentials
  token >"$DIR/admin.token"
  ;;
*) die "unknown command '$cmd' (build, start, stop, status, env, exec-etcd, exec-apiserver, credentials)" ;;
esac
