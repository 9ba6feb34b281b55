#!/usr/bin/env bash
# The main job: build both images and run the whole SageMaker local-mode flow on real MNIST
# (train three ways, deploy and predict, batch transform of the 10,000 test digits), offline.
#
# Usage: scripts/local.sh [local_mode options...]   (see: .venv/bin/python -m local_mode --help)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/prepare.sh
printf '\n== local-mode flow (%s)\n' "$(date +%T)" >&2
exec .venv/bin/python -m local_mode "$@"
