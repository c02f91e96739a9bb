#!/usr/bin/env bash
# The CI backends harness: make sure every backend the plugin suites need answers on loopback,
# installing (Debian packages) and starting whatever is missing, then print the address
# variables the test suites read. Idempotent: a backend that already answers is left alone.
#
#   bash scripts/backends.sh                 all of them
#   bash scripts/backends.sh etcd redis      only these (etcd postgres mariadb redis rabbitmq nats compose consul kubernetes chromium jaeger prometheus)
#   eval "$(bash scripts/backends.sh)"       ...and export the variables into this shell
#
# Progress goes to stderr, `export NAME=value` lines to stdout. Exit status is non-zero, with the
# reason, when a backend cannot be installed or started or does not answer in time.
set -euo pipefail

# `compose` is no server: Debian's docker-compose, which the conformance tests use to validate
# conformance/docker-compose.yml statically (there is no Docker engine to run it here).
ALL=(etcd postgres mariadb redis rabbitmq nats compose consul kubernetes chromium jaeger prometheus)
if [ $# -gt 0 ]; then WANTED=("$@"); else WANTED=("${ALL[@]}"); fi
WAIT_SECONDS=${MICRO_BACKENDS_WAIT:-90}

# Where each suite finds its backend (the plugins' test helpers read these; these are also their defaults).
MICRO_TEST_ETCD_ADDRESS=${MICRO_TEST_ETCD_ADDRESS:-127.0.0.1:2379}
MICRO_TEST_POSTGRES_ADDRESS=${MICRO_TEST_POSTGRES_ADDRESS:-postgresql://postgres@127.0.0.1:5432/test}
MICRO_TEST_MYSQL_ADDRESS=${MICRO_TEST_MYSQL_ADDRESS:-mysql://root@127.0.0.1:3306/test}
MICRO_TEST_REDIS_ADDRESS=${MICRO_TEST_REDIS_ADDRESS:-redis://127.0.0.1:6379}
MICRO_TEST_RABBITMQ_ADDRESS=${MICRO_TEST_RABBITMQ_ADDRESS:-amqp://guest:guest@127.0.0.1:5672}
MICRO_TEST_NATS_ADDRESS=${MICRO_TEST_NATS_ADDRESS:-127.0.0.1:4222}

# (Not ETCD_*: etcd reads every ETCD_<FLAG> variable as a flag.)
MICRO_ETCD_DATA_DIR=${MICRO_ETCD_DATA_DIR:-/tmp/micro-ci-etcd}
MICRO_ETCD_LOG=${MICRO_ETCD_LOG:-/tmp/micro-ci-etcd.log}

log() { echo "backends: $*" >&2; }
die() {
  echo "backends: FAILED: $*" >&2
  exit 1
}

SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); else log "not root and no sudo: installing and starting services may fail"; fi
fi
as_root() { "${SUDO[@]}" "$@"; }

APT_UPDATED=0
# Install Debian packages that are missing (apt-get update at most once per run).
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "cannot install ${missing[*]}: no apt-get on this machine"
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "installing ${missing[*]}"
  # Packages must not start their services from their install scripts (no init system in
  # containers, and this script starts them itself): a policy-rc.d that says no, for the install only.
  local policy=/usr/sbin/policy-rc.d added=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod +x "$policy" && added=1
  fi
  local status=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || status=$?
  [ "$added" = 1 ] && as_root rm -f "$policy"
  [ "$status" = 0 ] || die "apt-get install ${missing[*]} failed"
}

# wait_for NAME CHECK-FUNCTION: poll until the check passes or WAIT_SECONDS pass.
wait_for() {
  local name=$1 check=$2 deadline=$((SECONDS + WAIT_SECONDS))
  until "$check"; do
    [ $SECONDS -ge $deadline ] && die "$name did not answer within ${WAIT_SECONDS}s (see its log)"
    sleep 1
  done
  log "$name is up"
}

host_of() { local a=${1#*://}; a=${a#*@}; a=${a%%/*}; echo "${a%:*}"; }
port_of() { local a=${1#*://}; a=${a#*@}; a=${a%%/*}; echo "${a##*:}"; }

# ---- etcd ---------------------------------------------------------------------------------
etcd_ok() {
  curl -fsS --max-time 2 "http://${MICRO_TEST_ETCD_ADDRESS}/health" 2>/dev/null | grep -q '"health":"true"'
}
start_etcd() {
  etcd_ok && { log "etcd already answers on $MICRO_TEST_ETCD_ADDRESS"; return; }
  ensure_packages etcd-server curl
  local host port
  host=$(host_of "$MICRO_TEST_ETCD_ADDRESS")
  port=$(port_of "$MICRO_TEST_ETCD_ADDRESS")
  mkdir -p "$MICRO_ETCD_DATA_DIR"
  log "starting etcd on $host:$port (data in $MICRO_ETCD_DATA_DIR, log $MICRO_ETCD_LOG)"
  # etcd treats ETCD_* variables as flags (ETCD_USERNAME among them): start it without any.
  local unset_etcd=()
  for v in $(compgen -e | grep '^ETCD_' || true); do unset_etcd+=(-u "$v"); done
  # Peer port: client port + 1, loopback only, a single-member cluster of its own.
  nohup env "${unset_etcd[@]}" etcd --name micro-ci --data-dir "$MICRO_ETCD_DATA_DIR" \
    --listen-client-urls "http://$host:$port" --advertise-client-urls "http://$host:$port" \
    --listen-peer-urls "http://$host:$((port + 1))" --initial-advertise-peer-urls "http://$host:$((port + 1))" \
    --initial-cluster "micro-ci=http://$host:$((port + 1))" >"$MICRO_ETCD_LOG" 2>&1 </dev/null &
  wait_for etcd etcd_ok
}

# ---- PostgreSQL (trust auth on loopback, database `test`) ------------------------------------
pg_ok() { psql "$MICRO_TEST_POSTGRES_ADDRESS" -Atqc 'SELECT 1' >/dev/null 2>&1; }
pg_server_ok() { pg_isready -q -h "$(host_of "$MICRO_TEST_POSTGRES_ADDRESS")" -p "$(port_of "$MICRO_TEST_POSTGRES_ADDRESS")" 2>/dev/null; }
start_postgres() {
  pg_ok && { log "PostgreSQL already answers at $MICRO_TEST_POSTGRES_ADDRESS"; return; }
  ensure_packages postgresql postgresql-client
  if ! pg_server_ok; then
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$version" ] || die "PostgreSQL is installed but has no cluster under /etc/postgresql"
    log "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || die "pg_ctlcluster $version main start failed"
    wait_for "PostgreSQL server" pg_server_ok
  fi
  local hba
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$hba" ] && ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    log "allowing trust auth from 127.0.0.1 in $hba"
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    as_root su postgres -c "psql -qc 'SELECT pg_reload_conf()'" >/dev/null || die "could not reload PostgreSQL's configuration"
  fi
  local db=${MICRO_TEST_POSTGRES_ADDRESS##*/}
  db=${db%%\?*}
  if ! pg_ok; then
    log "creating database $db"
    as_root su postgres -c "createdb '$db'" 2>/dev/null || true
  fi
  wait_for PostgreSQL pg_ok
}

# ---- MariaDB (root with an empty password, database `test`) ----------------------------------
mariadb_ok() {
  mariadb -h "$(host_of "$MICRO_TEST_MYSQL_ADDRESS")" -P "$(port_of "$MICRO_TEST_MYSQL_ADDRESS")" -uroot -e 'SELECT 1' >/dev/null 2>&1
}
mariadb_server_ok() { mariadb-admin -h "$(host_of "$MICRO_TEST_MYSQL_ADDRESS")" -P "$(port_of "$MICRO_TEST_MYSQL_ADDRESS")" -uroot ping >/dev/null 2>&1; }
start_mariadb() {
  local db=${MICRO_TEST_MYSQL_ADDRESS##*/}
  if mariadb_ok; then
    log "MariaDB already answers at $MICRO_TEST_MYSQL_ADDRESS"
  else
    ensure_packages mariadb-server mariadb-client
    if ! mariadb_server_ok; then
      log "starting MariaDB"
      as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
      as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >&2 || die "could not start mariadbd"
      wait_for "MariaDB server" mariadb_server_ok
    fi
    # A fresh install lets root in through the socket only: allow the empty password over TCP too.
    if ! mariadb_ok; then
      log "allowing root with an empty password on loopback"
      as_root mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;" >&2 ||
        die "could not configure MariaDB's root user"
    fi
    wait_for MariaDB mariadb_ok
  fi
  mariadb -h "$(host_of "$MICRO_TEST_MYSQL_ADDRESS")" -P "$(port_of "$MICRO_TEST_MYSQL_ADDRESS")" -uroot -e "CREATE DATABASE IF NOT EXISTS \`$db\`" ||
    die "could not create database $db"
}

# ---- Redis (nothing on disk) --------------------------------------------------------------
redis_ok() { [ "$(redis-cli -u "$MICRO_TEST_REDIS_ADDRESS" ping 2>/dev/null)" = PONG ]; }
start_redis() {
  redis_ok && { log "Redis already answers at $MICRO_TEST_REDIS_ADDRESS"; return; }
  ensure_packages redis-server redis-tools
  as_root mkdir -p /var/lib/redis /var/log/redis
  log "starting Redis on port $(port_of "$MICRO_TEST_REDIS_ADDRESS")"
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$(port_of "$MICRO_TEST_REDIS_ADDRESS")" \
    --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log >&2 || die "redis-server did not start"
  wait_for Redis redis_ok
}

# ---- RabbitMQ ---------------------------------------------------------------------------
# An AMQP 0-9-1 protocol header must be answered with a Connection.Start frame (type 1).
rabbitmq_ok() {
  local host port
  host=$(host_of "$MICRO_TEST_RABBITMQ_ADDRESS")
  port=$(port_of "$MICRO_TEST_RABBITMQ_ADDRESS")
  timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port && printf 'AMQP\x00\x00\x09\x01' >&3 && head -c 1 <&3 | od -An -tx1 | grep -q 01" 2>/dev/null
}
start_rabbitmq() {
  rabbitmq_ok && { log "RabbitMQ already answers at $(host_of "$MICRO_TEST_RABBITMQ_ADDRESS"):$(port_of "$MICRO_TEST_RABBITMQ_ADDRESS")"; return; }
  ensure_packages rabbitmq-server
  log "starting RabbitMQ (takes a while)"
  as_root rabbitmq-server -detached >&2 || die "rabbitmq-server -detached failed"
  wait_for RabbitMQ rabbitmq_ok
}

# ---- NATS with JetStream ------------------------------------------------------------------
# The server's INFO line says whether JetStream is on.
nats_ok() {
  local host port
  host=$(host_of "$MICRO_TEST_NATS_ADDRESS")
  port=$(port_of "$MICRO_TEST_NATS_ADDRESS")
  timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port && head -n 1 <&3" 2>/dev/null | grep -q '"jetstream":true'
}
nats_port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$(host_of "$MICRO_TEST_NATS_ADDRESS")/$(port_of "$MICRO_TEST_NATS_ADDRESS")" 2>/dev/null; }
start_nats() {
  nats_ok && { log "NATS with JetStream already answers on $MICRO_TEST_NATS_ADDRESS"; return; }
  nats_port_open && die "a server on $MICRO_TEST_NATS_ADDRESS answers without JetStream; restart it with -js"
  ensure_packages nats-server
  as_root mkdir -p /var/lib/nats-server
  log "starting NATS with JetStream on $MICRO_TEST_NATS_ADDRESS"
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a "$(host_of "$MICRO_TEST_NATS_ADDRESS")" -p "$(port_of "$MICRO_TEST_NATS_ADDRESS")" -js -sd /var/lib/nats-server \
    -l /var/log/nats-server.log >&2 || die "could not start nats-server"
  wait_for "NATS (JetStream)" nats_ok
}

# ---- docker-compose (a tool, not a server) ------------------------------------------------
ensure_compose() {
  if command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1; then
    log "docker compose is installed"
    return
  fi
  ensure_packages docker-compose
  command -v docker-compose >/dev/null 2>&1 || die "docker-compose did not install"
  log "docker-compose installed"
}

# ---- consul (a Consul v1.14.8 agent, built once from the Go module proxy) -------------------
# scripts/servers/consul.sh builds and caches the agent outside the clone (the first run takes
# 8+ minutes on 2 cores; later runs find the binary) and starts a -dev agent on loopback only
# (every port explicit, DNS, gRPC and HTTPS off). Its data lives in memory: a restart is empty.
MICRO_TEST_CONSUL_ADDRESS=${MICRO_TEST_CONSUL_ADDRESS:-127.0.0.1:8500}
CONSUL_SCRIPT="$(dirname "${BASH_SOURCE[0]}")/servers/consul.sh"
start_consul() {
  MICRO_CONSUL_HTTP_PORT=$(port_of "$MICRO_TEST_CONSUL_ADDRESS") MICRO_BACKENDS_WAIT=$WAIT_SECONDS \
    bash "$CONSUL_SCRIPT" start >/dev/null || die "the Consul agent did not start (see scripts/servers/consul.sh's messages above)"
}
# ---- end consul -------------------------------------------------------------------------------

# ---- kubernetes (kube-apiserver + its own etcd, built once from the Go module proxy) --------
# scripts/servers/kubernetes.sh builds and caches the binaries outside the clone (the first run
# takes 9-15 minutes on 2 cores, over an hour when the machine is busy; later runs find them),
# makes the certificates and the admin token, and starts both on loopback: the apiserver on
# 6443, its own etcd on 2479/2480, apart from the shared etcd above.
KUBERNETES_SCRIPT="$(dirname "${BASH_SOURCE[0]}")/servers/kubernetes.sh"
start_kubernetes() {
  bash "$KUBERNETES_SCRIPT" start >/dev/null || die "kube-apiserver did not start (see scripts/servers/kubernetes.sh's messages above)"
}
# ---- end kubernetes ---------------------------------------------------------------------------

# ---- chromium (a browser, not a server) -----------------------------------------------------
# The dashboard's browser test drives Debian's chromium with playwright-core (a test tool's own
# browser download cannot work here). Installed once; a chromium that starts is left alone.
MICRO_TEST_CHROMIUM=${MICRO_TEST_CHROMIUM:-/usr/bin/chromium}
chromium_ok() { [ -x "$MICRO_TEST_CHROMIUM" ] && "$MICRO_TEST_CHROMIUM" --headless --no-sandbox --version >/dev/null 2>&1; }
ensure_chromium() {
  chromium_ok && { log "chromium is installed ($MICRO_TEST_CHROMIUM)"; return; }
  ensure_packages chromium fonts-dejavu-core
  chromium_ok || die "chromium did not install at $MICRO_TEST_CHROMIUM"
  log "chromium installed"
}
# ---- end chromium -----------------------------------------------------------------------------

# ---- jaeger, prometheus (built once from the Go module proxy; nothing started here) ----------
# scripts/servers/jaeger.sh and prometheus.sh build and cache the binaries outside the clone
# (cold: tens of minutes each on 2 busy cores; later runs find them and build nothing). The
# tracing and metrics tests start private instances of their own on free loopback ports, so only
# the binaries are needed. Both builds start in the background before any other backend and run
# beside them; the script waits for them at the end and fails if either failed.
SERVERS_DIR="$(dirname "${BASH_SOURCE[0]}")/servers"
GO_PROGRAM_BUILDS=()
build_in_background() {
  local name=$1 out
  out=$(mktemp "${TMPDIR:-/tmp}/micro-build-$name.XXXXXX")
  bash "$SERVERS_DIR/$name.sh" build >"$out.path" 2>"$out" &
  GO_PROGRAM_BUILDS+=("$name:$!:$out")
  log "$name: building (or finding) the binary in the background (progress in $out)"
}
wait_for_builds() {
  local entry name pid out failed=()
  for entry in "${GO_PROGRAM_BUILDS[@]}"; do
    IFS=: read -r name pid out <<<"$entry"
    if wait "$pid"; then
      log "$name: $(cat "$out.path")"
      rm -f "$out" "$out.path"
    else
      cat "$out" >&2
      failed+=("$name")
    fi
  done
  [ ${#failed[@]} -eq 0 ] || die "building ${failed[*]} failed (the build's output is above)"
}
for backend in "${WANTED[@]}"; do
  case "$backend" in jaeger | prometheus) build_in_background "$backend" ;; esac
done
# ---- end jaeger, prometheus -------------------------------------------------------------------

for backend in "${WANTED[@]}"; do
  case "$backend" in
  etcd) start_etcd ;;
  postgres | postgresql) start_postgres ;;
  mariadb | mysql) start_mariadb ;;
  redis) start_redis ;;
  rabbitmq) start_rabbitmq ;;
  nats) start_nats ;;
  compose) ensure_compose ;;
  kubernetes) start_kubernetes ;;
  consul) start_consul ;;
  chromium) ensure_chromium ;;
  jaeger | prometheus) ;; # building since before this loop; waited for below
  *) die "unknown backend '$backend' (known: ${ALL[*]})" ;;
  esac
done

[ ${#GO_PROGRAM_BUILDS[@]} -eq 0 ] || wait_for_builds
log "every backend answers"
cat <<EOF
export MICRO_TEST_ETCD_ADDRESS=$MICRO_TEST_ETCD_ADDRESS
export MICRO_TEST_POSTGRES_ADDRESS=$MICRO_TEST_POSTGRES_ADDRESS
export MICRO_TEST_MYSQL_ADDRESS=$MICRO_TEST_MYSQL_ADDRESS
export MICRO_TEST_REDIS_ADDRESS=$MICRO_TEST_REDIS_ADDRESS
export MICRO_TEST_RABBITMQ_ADDRESS=$MICRO_TEST_RABBITMQ_ADDRESS
export MICRO_TEST_NATS_ADDRESS=$MICRO_TEST_NATS_ADDRESS
EOF
# consul: where the agent answers (scripts/servers/consul.sh start).
echo "export MICRO_TEST_CONSUL_ADDRESS=$MICRO_TEST_CONSUL_ADDRESS"
# kubernetes: MICRO_TEST_KUBERNETES_ADDRESS, _TOKEN_FILE (an admin token), _CA_FILE.
bash "$KUBERNETES_SCRIPT" env
