"""One run of the whole local-mode flow (python -m local_mode), shared by the local_mode tests.

The flow runs as the README runs it, in a subprocess, with a private TMPDIR so the tests can
check that it left no temporary file, and a run id so they can look for its containers. The
two comparison trainings (script mode, two hosts) and the SDK v3 one use a 20,000-digit subset
to keep CI short; the estimator's model, which is deployed and batch-transformed, trains on all
60,000 digits.
"""
import sys

import pytest

from images import require_engine_and_images
from local_mode_run import run_flow

COMPARISON_DIGITS = 20000


@pytest.fixture(scope="session", autouse=True)
def _images_built():
    require_engine_and_images()


@pytest.fixture(scope="session")
def flow(tmp_path_factory):
    run = run_flow(tmp_path_factory.mktemp("local-mode-flow"), "--comparison-digits", str(COMPARISON_DIGITS))
    # The console output is the best diagnosis when a later assertion fails.
    sys.stdout.write(run.output[-5000:])
    return run
