#!/usr/bin/env bash
# The whole test suite: builds the service binaries that the end-to-end tests start as
# processes, then runs every test in the workspace on SQLite, and once more on
# PostgreSQL when OMBUDS_TEST_DATABASE_URL names a server (.ci/run sets it when one
# is reachable). Extra arguments go to the test runner (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ] && [ -z "${NATS_SERVER_BIN:-}" ]; then
    echo "nats-server is needed by the tests: sudo apt-get install nats-server (or bash .ci/run, which installs it)" >&2
    exit 1
fi

cargo build --workspace --bins

run_suite() {
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --no-fail-fast "$@"
    else
        echo "cargo-nextest not installed; using cargo test"
        cargo test --workspace --no-fail-fast "$@"
    fi
}

pg_url="${OMBUDS_TEST_DATABASE_URL:-}"
echo "== test suite on SQLite =="
OMBUDS_TEST_DATABASE_URL= run_suite "$@"
if [ -n "$pg_url" ]; then
    echo "== test suite on PostgreSQL ($pg_url) =="
    OMBUDS_TEST_DATABASE_URL="$pg_url" run_suite "$@"
else
    echo "== PostgreSQL pass SKIPPED: OMBUDS_TEST_DATABASE_URL is not set =="
fi
