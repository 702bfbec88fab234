#!/bin/sh
# Prepares a Temporal cluster for promptback, the same way in docker-compose.yml and in `npm run test:cluster`:
#   setup.sh schema               create and migrate the persistence and visibility databases (Postgres)
#   setup.sh namespace NS [NS…]   create the namespaces and register promptback's search attributes
# Every failure stops with a non-zero exit: a cluster without its search attributes must not look ready.
# Environment: SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD (schema); TEMPORAL_ADDRESS (namespace).
set -eu
SQL_TOOL=${TEMPORAL_SQL_TOOL:-temporal-sql-tool}
CLI=${TEMPORAL_CLI:-temporal}
export SQL_PLUGIN=postgres12

case "${1:-}" in
schema)
  for pair in temporal:postgresql/v12/temporal temporal_visibility:postgresql/v12/visibility; do
    db=${pair%%:*}
    schema=${pair#*:}
    # An existing database is fine (a restart); anything else fails at setup-schema below.
    "$SQL_TOOL" --database "$db" create-database 2>/dev/null || echo "database $db exists"
    "$SQL_TOOL" --database "$db" setup-schema -v 0.0
    "$SQL_TOOL" --database "$db" update-schema --schema-name "$schema"
  done
  ;;
namespace)
  shift
  [ $# -gt 0 ] || { echo "usage: setup.sh namespace NS [NS…]" >&2; exit 2; }
  tries=0
  until "$CLI" operator cluster health >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 120 ] || { echo "Temporal at ${TEMPORAL_ADDRESS:-127.0.0.1:7233} is not healthy" >&2; exit 1; }
    sleep 1
  done
  for ns in "$@"; do
    "$CLI" operator namespace describe --namespace "$ns" >/dev/null 2>&1 || "$CLI" operator namespace create --namespace "$ns" --retention 720h
    # A new namespace takes a moment to reach every service: retry, then fail loudly.
    tries=0
    until "$CLI" operator search-attribute create --namespace "$ns" \
      --name PromptName --type Keyword --name RollbackSeverity --type Keyword --name RollbackState --type Keyword; do
      tries=$((tries + 1))
      [ "$tries" -lt 30 ] || { echo "could not register promptback's search attributes in namespace $ns" >&2; exit 1; }
      sleep 1
    done
    for attr in PromptName RollbackSeverity RollbackState; do
      "$CLI" operator search-attribute list --namespace "$ns" | grep -q "$attr" || { echo "search attribute $attr missing in $ns" >&2; exit 1; }
    done
  done
  ;;
*)
  echo "usage: setup.sh schema | namespace NS [NS…]" >&2
  exit 2
  ;;
esac
