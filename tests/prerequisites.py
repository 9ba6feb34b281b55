"""What a test needs from the machine (a Java runtime, a tool) and what happens when it is missing.

On a developer's machine a missing prerequisite skips the tests that need it. Where the whole
suite is meant to run, in CI (CI=true, as CI services set it) and under scripts/test.sh (which
sets REQUIRE_ALL_ENV), it fails them: a skip there would let a run pass that never tested them.
"""
import os

import pytest

# scripts/test.sh sets this to 1.
REQUIRE_ALL_ENV = "MNIST_TESTS_REQUIRE_ALL"


def every_test_must_run(environ=None):
    environ = os.environ if environ is None else environ
    return environ.get("CI", "").lower() in ("true", "1") or environ.get(REQUIRE_ALL_ENV) == "1"


def require(condition, what, how_to_install, environ=None):
    """Returns when `condition` holds; otherwise skips the calling test, or fails it where every
    test must run. `what` names the prerequisite, `how_to_install` says how to get it."""
    if condition:
        return
    message = "%s is missing on this machine (%s)" % (what, how_to_install)
    if every_test_must_run(environ):
        pytest.fail("%s; with CI=true or %s=1 every test must run, so this fails instead of skipping"
                    % (message, REQUIRE_ALL_ENV), pytrace=False)
    pytest.skip(message)
