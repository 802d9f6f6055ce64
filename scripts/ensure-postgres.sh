#!/usr/bin/env bash
# Make sure PostgreSQL's server binaries (initdb, pg_ctl) are on this machine: install Debian's
# 'postgresql' package when they are missing. Tests start their own throwaway server.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
if [ -n "${CREDITPAY_PG_BIN:-}" ] && [ -x "${CREDITPAY_PG_BIN}/initdb" ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "PostgreSQL not found: installing Debian's postgresql package" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
# The package starts a cluster service on 5432; tests use their own servers, so stop it.
$SUDO service postgresql stop >/dev/null 2>&1 || true
