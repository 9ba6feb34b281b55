#!/usr/bin/env bash
# Everything the main flow and the tests need on this machine: a Docker engine, both images,
# the host's Python environments. Idempotent: a second run only rebuilds what changed.
#
# Usage: scripts/prepare.sh [--with-test-tools]
#   --with-test-tools  also a local registry (docker-registry), Java for the server tests, and the
#                      CPU inference image (./build.sh --cpu) for the tests that run on both builds
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

test_tools=0
build_args=()
case ${1:-} in
    --with-test-tools) test_tools=1; build_args=(--cpu) ;;
    "") ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "prepare: unknown option '$1'" >&2; exit 2 ;;
esac

step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)" >&2; }

step "Docker engine"
scripts/install-docker-engine.sh

if ((test_tools)); then
    missing=()
    command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
    command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
    if ((${#missing[@]})); then
        step "test tools: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
fi

# The image build and the Python environments are independent: run them side by side.
step "images (./build.sh ${build_args[*]}) and Python environments (scripts/setup-venv.sh), in parallel"
log=$(mktemp)
./build.sh "${build_args[@]}" >"$log" 2>&1 &
build_pid=$!
venv_status=0
scripts/setup-venv.sh 2>&1 | grep -v "^WARNING: Location" >&2 || venv_status=$?
build_status=0
wait "$build_pid" || build_status=$?
grep -E '^.*build.sh:.* (built|error|making|falling)' "$log" >&2 || true
if ((build_status)); then tail -40 "$log" >&2; echo "prepare: ./build.sh failed" >&2; exit 1; fi
rm -f "$log"
((venv_status == 0)) || { echo "prepare: scripts/setup-venv.sh failed" >&2; exit 1; }
