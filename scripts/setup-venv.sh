#!/usr/bin/env bash
# Creates the host's Python environments for tests, benchmarks and the local-mode flow.
#
# Usage: scripts/setup-venv.sh
#
#   .venv        torch, both SageMaker toolkits, multi-model-server, SageMaker SDK v2, pytest
#   .venv-sdk3   SageMaker SDK v3 alone (it cannot share an environment with v2)
#
# Re-running installs only what changed in requirements/. PYTHON picks the interpreter
# (default python3; 3.11 or newer).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=${PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || { echo "setup-venv: $python not found" >&2; exit 1; }
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "setup-venv: need Python 3.11 or newer, $python is $("$python" -V)" >&2; exit 1; }
java -version >/dev/null 2>&1 || echo "setup-venv: no java on PATH: the server tests (MMS) will be skipped; install openjdk-17-jre-headless" >&2

make_venv() {  # DIR REQUIREMENTS
    local dir=$1 req=$2 stamp="$1/.requirements.sha"
    local want
    want=$(cat requirements/*.txt | sha256sum | cut -c1-16)
    [[ -x $dir/bin/python ]] || "$python" -m venv "$dir"
    if [[ $(cat "$stamp" 2>/dev/null) == "$want" ]]; then
        echo "setup-venv: $dir is up to date" >&2
        return
    fi
    echo "setup-venv: installing $req into $dir" >&2
    "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
}

# Both are mostly downloads and unpacking: side by side they take as long as the larger one.
make_venv .venv-sdk3 requirements/sdk3.txt &
sdk3=$!
make_venv .venv requirements/dev.txt
wait "$sdk3" || { echo "setup-venv: installing .venv-sdk3 failed" >&2; exit 1; }
