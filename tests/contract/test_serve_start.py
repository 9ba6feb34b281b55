"""What `serve` (its real entry point, without Docker) does before anything else starts: a log
setting it cannot use stops it with exit 2 and the variable's name; a model's code/requirements.txt
that cannot be installed stops it within seconds, exit 1, with pip's reason; PIP_INDEX_URL and
PIP_EXTRA_INDEX_URL from the environment reach pip. No network: the indexes are folders
(file://), one empty, one with a tiny wheel (wheels.py)."""
import json
import os
import subprocess
import sys
import time

import pytest

from sagemaker_mnist_container import requirements
from support import REPO
from wheels import index

pytestmark = pytest.mark.contract

MISSING = "no-such-package-h18s"


def _serve(tmp_path, requirements_text, env):
    code = tmp_path / "ml" / "model" / "code"
    code.mkdir(parents=True)
    (code / "requirements.txt").write_text(requirements_text)
    (tmp_path / "empty-index").mkdir()
    environ = {**os.environ, "SAGEMAKER_BASE_DIR": str(tmp_path / "ml"), "PIP_TARGET": str(tmp_path / "target"),
               "PYTHONPATH": os.pathsep.join([str(REPO / "code"), str(REPO / "container")]), **env}
    for name in ("PIP_CONFIG_FILE", "PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL"):
        if name not in env:
            environ.pop(name, None)
    environ["PIP_CONFIG_FILE"] = os.devnull  # the host's own pip configuration stays out of it
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "sagemaker_mnist_container.serving"], env=environ,
                          capture_output=True, text=True, timeout=120)
    return done, time.monotonic() - started, done.stdout + done.stderr


@pytest.mark.parametrize("requirements_text, index_setting", [
    ("%s==1.0\n" % MISSING, "PIP_INDEX_URL"),
    ("--no-index\n%s\n" % MISSING, None),
])
def test_requirements_that_cannot_be_installed_stop_serve_within_seconds(tmp_path, requirements_text, index_setting):
    env = {"PIP_INDEX_URL": (tmp_path / "empty-index").as_uri()} if index_setting else {}
    done, seconds, output = _serve(tmp_path, requirements_text, env)
    assert done.returncode == 1, output
    assert seconds < 30, (seconds, output)
    if index_setting:
        assert "Looking in indexes: %s" % env["PIP_INDEX_URL"] in output
    assert "No matching distribution found for %s" % MISSING in output
    (line,) = [line for line in output.splitlines() if "cannot start:" in line]
    assert "requirements.txt could not be installed (pip exited 1" in line and MISSING in line
    # Nothing else was started: no preloader, no model server.
    assert "serving one model" not in output and "preload" not in output


def test_in_the_json_format_pips_lines_and_the_reason_are_json_too(tmp_path):
    env = {"PIP_INDEX_URL": (tmp_path / "empty-index").as_uri(), "SAGEMAKER_MNIST_LOG_FORMAT": "json"}
    done, _, output = _serve(tmp_path, "%s\n" % MISSING, env)
    assert done.returncode == 1, output
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert {line["logger"] for line in lines} == {"pip", "serve"}
    (reason,) = [line for line in lines if line["logger"] == "serve"]
    assert reason["level"] == "ERROR" and MISSING in reason["message"] and "cannot start" in reason["message"]


def test_the_extra_index_from_the_environment_reaches_pip(tmp_path):
    # The package is only in the extra index; the main index is empty.
    (tmp_path / "empty-index").mkdir()
    extra = index(tmp_path / "extra-index")
    path = tmp_path / "requirements.txt"
    path.write_text("digit-names==1.0\n")
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_TARGET": str(tmp_path / "target"),
           "PIP_INDEX_URL": (tmp_path / "empty-index").as_uri(), "PIP_EXTRA_INDEX_URL": extra.as_uri()}
    env.pop("PIP_FIND_LINKS", None)
    requirements.install(str(path), env)
    assert (tmp_path / "target" / "digit_names.py").is_file()


def test_the_toolkit_install_step_that_serve_replaces_is_still_there():
    # serve replaces sagemaker-inference's _install_requirements (serving.py); a toolkit without it
    # would install the file a second time.
    from sagemaker_inference import model_server

    assert callable(model_server._install_requirements)
    assert model_server.REQUIREMENTS_PATH.endswith("/model/code/requirements.txt")


@pytest.mark.parametrize("name, value", [("SAGEMAKER_CONTAINER_LOG_LEVEL", "loud"),
                                         ("SAGEMAKER_MNIST_LOG_FORMAT", "xml")])
def test_a_log_setting_serve_cannot_use_stops_it_naming_the_variable(tmp_path, name, value):
    done, seconds, output = _serve(tmp_path, "%s\n" % MISSING, {name: value})
    assert done.returncode == 2, output
    (line,) = [line for line in output.splitlines() if "cannot start:" in line]
    assert "%s=%r" % (name, value) in line
    assert "pip" not in output  # before the requirements
