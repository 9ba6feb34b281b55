"""tests/prerequisites.py: a missing prerequisite skips on a developer's machine and fails where every
test must run (CI, scripts/test.sh)."""
import pytest

import prerequisites
from support import REPO

pytestmark = pytest.mark.unit

JAVA, HOW = "a Java runtime", "apt-get install openjdk-17-jre-headless"


@pytest.mark.parametrize("environ", [{"CI": "true"}, {"CI": "TRUE"}, {"CI": "1"},
                                     {prerequisites.REQUIRE_ALL_ENV: "1"}])
def test_a_missing_prerequisite_fails_where_every_test_must_run(environ):
    with pytest.raises(pytest.fail.Exception) as failed:
        prerequisites.require(False, JAVA, HOW, environ)
    assert str(failed.value).startswith("a Java runtime is missing on this machine "
                                        "(apt-get install openjdk-17-jre-headless); ")


@pytest.mark.parametrize("environ", [{}, {"CI": "false"}, {"CI": ""}, {prerequisites.REQUIRE_ALL_ENV: "0"}])
def test_a_missing_prerequisite_skips_elsewhere(environ):
    with pytest.raises(pytest.skip.Exception) as skipped:
        prerequisites.require(False, JAVA, HOW, environ)
    assert str(skipped.value) == "%s is missing on this machine (%s)" % (JAVA, HOW)


@pytest.mark.parametrize("environ", [{}, {"CI": "true"}])
def test_a_present_prerequisite_neither_skips_nor_fails(environ):
    assert prerequisites.require(True, JAVA, HOW, environ) is None


def test_the_test_script_makes_every_test_run():
    script = (REPO / "scripts" / "test.sh").read_text()
    assert "%s=1 .venv/bin/python -m pytest" % prerequisites.REQUIRE_ALL_ENV in script
