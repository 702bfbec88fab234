#!/usr/bin/env bash
# The production Temporal server and its SQL schema tool, built from the Go module proxy for the cluster test
# profile (npm run test:cluster). Several minutes on 2 cores the first time; cached under ~/.cache afterwards, and
# linked into the git-ignored .tools/bin.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=1.29.1
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/promptback-temporal/v$VERSION/bin"
mkdir -p "$CACHE" .tools/bin
log() { printf '[setup:cluster] %s\n' "$*"; }

command -v go >/dev/null 2>&1 || { echo '[setup:cluster] Go is needed to build the Temporal server' >&2; exit 1; }
if [ ! -x "$CACHE/server" ]; then
  log "building go.temporal.io/server/cmd/server@v$VERSION (several minutes the first time)"
  GOBIN="$CACHE" go install "go.temporal.io/server/cmd/server@v$VERSION"
fi
if [ ! -x "$CACHE/sql" ]; then
  log "building go.temporal.io/server/cmd/tools/sql@v$VERSION"
  GOBIN="$CACHE" go install "go.temporal.io/server/cmd/tools/sql@v$VERSION"
fi
ln -sf "$CACHE/server" .tools/bin/temporal-server
ln -sf "$CACHE/sql" .tools/bin/temporal-sql-tool
log "temporal-server: $(.tools/bin/temporal-server --version 2>/dev/null || echo built)"

# Debian's PostgreSQL for the persistence and visibility stores (also used by the store contract tests).
bash scripts/setup.sh >/dev/null
log ready
