# shellcheck shell=bash
# Build one Go program from the Go module proxy into a cache outside the clone, the way the
# jaeger and prometheus scripts share it. Sourced, not run. The caller sets, before sourcing:
#
#   NAME       short name: messages, the cache folder <NAME>-<key>/ and the binary bin/<NAME>
#   MODULE     the program's module path              (github.com/prometheus/prometheus)
#   PACKAGE    the main package                        (github.com/prometheus/prometheus/cmd/prometheus)
#   VERSION    the module version                      (v0.316.0)
#   WRAPPER_EXTRA  optional go.mod lines for the wrapper module (replace directives the program's
#              own go.mod has: a dependency's replaces do not apply in another module)
#   BUILD_TAGS optional comma separated Go build tags (prometheus: remove_all_sd)
#
# `go get -tool` records the program as a tool of a throwaway wrapper module, so its own go.mod
# chooses every dependency version and `go build` then needs no network. The key hashes the
# recipe (module, package, version, extra lines, flags) and this Go's version and platform: a
# changed recipe builds anew, a second run with the same one builds nothing.

CACHE_ROOT=${MICRO_CACHE_DIR:-$HOME/.cache/micro-ts}
WRAPPER_EXTRA=${WRAPPER_EXTRA:-}
BUILD_ENV=(CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false)
BUILD_FLAGS=(-trimpath -ldflags=-s\ -w ${BUILD_TAGS:+-tags=$BUILD_TAGS})

log() { echo "$NAME: $*" >&2; }
die() {
  echo "$NAME: FAILED: $*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || die "no Go toolchain (go) on PATH or at /usr/local/go/bin"
command -v go >/dev/null 2>&1 || PATH=/usr/local/go/bin:$PATH

wrapper_go_mod() {
  printf 'module micro-ts.local/%s-build\n\ngo %s\n' "$NAME" "$(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')"
  [ -z "$WRAPPER_EXTRA" ] || printf '\n%s\n' "$WRAPPER_EXTRA"
}

cache_key() {
  { printf '%s\n' "$MODULE" "$PACKAGE" "$VERSION" "$WRAPPER_EXTRA" "${BUILD_ENV[*]}" "${BUILD_FLAGS[*]}"; go env GOVERSION GOOS GOARCH; } |
    sha256sum | cut -c1-16
}
CACHE_DIR="$CACHE_ROOT/$NAME-$(cache_key)"
BIN="$CACHE_DIR/bin/$NAME"

# The binary must be the program at the recipe's version, built without cgo.
check_binary() {
  local bin=$1 info
  info=$(go version -m "$bin") || die "go version -m $bin failed"
  grep -Eq "^[[:space:]]+path[[:space:]]+$PACKAGE([[:space:]]|$)" <<<"$info" || die "$bin is not $PACKAGE"
  grep -Eq "^[[:space:]]+(mod|dep)[[:space:]]+$MODULE[[:space:]]+$VERSION([[:space:]]|$)" <<<"$info" ||
    die "$bin is not built from $MODULE $VERSION"
  grep -Eq '^[[:space:]]+build[[:space:]]+CGO_ENABLED=0' <<<"$info" || die "$bin was not built with CGO_ENABLED=0"
}

cached() {
  [ -x "$BIN" ] || return 1
  check_binary "$BIN"
  log "cached: $BIN"
  echo "$BIN"
}

# Prints the binary's path on stdout; builds it first unless the cache has it.
build() {
  cached && return
  mkdir -p "$CACHE_ROOT"
  # One build at a time per program; a second caller waits, then finds the binary.
  exec 9>"$CACHE_ROOT/$NAME-build.lock"
  flock 9
  cached && return
  # Under the lock no other build of this program runs: a work folder left beside the cache is
  # from a build that was killed (it has no binary); it would only take space.
  find "$CACHE_ROOT" -maxdepth 1 -type d -name "$NAME-build.*" -exec rm -rf {} +
  local work started=$SECONDS
  work=$(mktemp -d "$CACHE_ROOT/$NAME-build.XXXXXX")
  wrapper_go_mod >"$work/go.mod"
  log "building $PACKAGE $VERSION from the Go module proxy in $work (cold: several minutes on 2 cores)"
  (cd "$work" && env "${BUILD_ENV[@]}" go get -tool "$PACKAGE@$VERSION") >&2 || {
    rm -rf "$work"
    die "go get -tool $PACKAGE@$VERSION failed"
  }
  (cd "$work" && env "${BUILD_ENV[@]}" go build "${BUILD_FLAGS[@]}" -o "$work/bin/$NAME" "$PACKAGE") >&2 || {
    rm -rf "$work"
    die "go build of $PACKAGE $VERSION failed"
  }
  (check_binary "$work/bin/$NAME") || {
    rm -rf "$work"
    exit 1
  }
  # go.mod/go.sum stay beside the binary: they say exactly what it was built from.
  rm -rf "$CACHE_DIR"
  mv "$work" "$CACHE_DIR"
  log "built $BIN in $((SECONDS - started))s"
  echo "$BIN"
}

path() {
  [ -x "$BIN" ] || die "not built yet ($BIN); run: bash scripts/servers/$NAME.sh build"
  echo "$BIN"
}
