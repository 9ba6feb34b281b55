#!/usr/bin/env bash
# The whole test suite, as CI runs it: sets up the engine, builds both real images, then runs
# unit, contract, server, container and local-mode tests.
#
# Usage: scripts/test.sh [pytest args...]     e.g. scripts/test.sh -m unit
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

start=$SECONDS
scripts/prepare.sh --with-test-tools
printf '\n== tests (%s; set-up took %d s)\n' "$(date +%T)" $((SECONDS - start)) >&2
# A test whose prerequisite is missing (Java, a tool) fails here instead of skipping: this is the
# run that must test everything (tests/prerequisites.py).
MNIST_TESTS_REQUIRE_ALL=1 .venv/bin/python -m pytest "$@"
