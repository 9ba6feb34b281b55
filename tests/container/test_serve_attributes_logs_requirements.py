"""The inference image under a real Docker engine, as SageMaker runs it: custom attributes through
a model's own code, SAGEMAKER_MNIST_LOG_FORMAT=json (every line of `docker logs` one JSON object,
a request's lines with its id, no /ping), and a model's code/requirements.txt: one that cannot be
installed stops the container within seconds with pip's reason, and the endpoint's PIP_INDEX_URL
and PIP_EXTRA_INDEX_URL reach pip. No network: the indexes are folders in the model (file://)."""
import json
import textwrap
import time

import pytest

from custom_attributes_code import ATTRIBUTES, CODE, REQUEST, check_answer
from images import docker, wait_for
from serve_container import readable, running
from serving_fixtures import json_body, trained_model  # noqa: F401
from wheels import index

pytestmark = pytest.mark.container

NAMED = """
    from digit_names import NAMES
    from sagemaker_mnist.inference import model_fn, input_fn, predict_fn

    def output_fn(prediction, accept):
        return " ".join(NAMES[i] for i in prediction.argmax(1)), "text/plain"
"""
MISSING = "no-such-package-h18s"
CODE_IN_IMAGE = "file:///opt/ml/model/code/"


def _model(trained_model, directory, code, requirements=None):  # noqa: F811
    model_dir = trained_model.copy_to(directory / "model")
    (model_dir / "code" / "inference.py").write_text(textwrap.dedent(code))
    (model_dir / "code" / "empty-index").mkdir()
    if requirements is not None:
        (model_dir / "code" / "requirements.txt").write_text(requirements)
        index(model_dir / "code" / "index")
    return readable(model_dir)


def _objects(logs):
    return [json.loads(line) for line in logs.splitlines() if line.strip()]


def test_custom_attributes_and_json_logs(trained_model, tmp_path):  # noqa: F811
    model_dir = _model(trained_model, tmp_path, CODE)
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "SAGEMAKER_MNIST_LOG_FORMAT": "json"}
    with running({model_dir: "/opt/ml/model"}, env) as container:
        container.wait_healthy()
        for _ in range(3):
            assert container.ping().status_code == 200
        images = trained_model.images[:3]
        response = container.invoke(json_body(images), "application/json", headers={ATTRIBUTES: REQUEST})
        check_answer(response, trained_model)
        assert container.invoke(b"{", "application/json").status_code == 400

        def user_line():
            lines = _objects(container.logs())
            the_400_logged = any(line["logger"] == "ACCESS_LOG" and " 400 " in line["message"] for line in lines)
            return the_400_logged and [line for line in lines if line["logger"] == "user.code"]
        (line,) = wait_for(user_line, 30, 0.3, "the user's line and the access log's")
        assert line["message"] == "answering 3 digits for trace=7;v=2"
        assert line["request_id"] == response.headers["x-request-id"] and line["level"] == "INFO"
        docker("stop", container.id, timeout=60)
        assert container.state()["ExitCode"] == 0
        logs = container.logs()
    # Every line, from serve's first to the stop's last, is one object with the four fields.
    lines = _objects(logs)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line["message"] for line in lines if line["logger"] == "ACCESS_LOG"]
    assert access and not [message for message in access if "/ping" in message], access
    assert {"serve", "preload", "com.amazonaws.ml.mms.ModelServer"} <= {line["logger"] for line in lines}


@pytest.mark.parametrize("requirements, env", [
    ("%s==1.0\n" % MISSING, {"PIP_INDEX_URL": CODE_IN_IMAGE + "empty-index"}),
    ("--no-index\n%s\n" % MISSING, {}),
])
def test_requirements_that_cannot_be_installed_stop_the_container_within_seconds(
        trained_model, tmp_path, requirements, env):  # noqa: F811
    model_dir = _model(trained_model, tmp_path, NAMED, requirements)
    started = time.monotonic()
    with running({model_dir: "/opt/ml/model"}, env) as container:
        wait_for(lambda: not container.state()["Running"], 60, 0.2, "the container to exit")
        seconds = time.monotonic() - started
        state, logs = container.state(), container.logs()
    assert state["ExitCode"] == 1, logs
    assert seconds < 30, (seconds, logs)
    assert "No matching distribution found for %s" % MISSING in logs
    (line,) = [line for line in logs.splitlines() if "cannot start:" in line]
    assert "/opt/ml/model/code/requirements.txt could not be installed" in line and MISSING in line
    # Nothing else started, and no traceback.
    assert "imported torch" not in logs and "Traceback" not in logs


def test_the_endpoints_index_settings_reach_pip(trained_model, tmp_path):  # noqa: F811
    # The package is in the extra index only; the main one is empty. Installed once, by serve.
    model_dir = _model(trained_model, tmp_path, NAMED, "digit-names==1.0\n")
    env = {"PIP_INDEX_URL": CODE_IN_IMAGE + "empty-index", "PIP_EXTRA_INDEX_URL": CODE_IN_IMAGE + "index",
           "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    with running({model_dir: "/opt/ml/model"}, env) as container:
        container.wait_healthy()
        chosen = trained_model.correct[:3]
        response = container.invoke(json_body(trained_model.images[chosen]), "application/json")
        assert response.status_code == 200, response.text
        names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        assert response.text == " ".join(names[trained_model.labels[i]] for i in chosen)
        logs = container.logs()
    assert logs.count("Looking in indexes: %sempty-index, %sindex" % (CODE_IN_IMAGE, CODE_IN_IMAGE)) == 1, logs
    assert "installing packages from requirements.txt" not in logs  # the toolkit's own install


def test_a_failed_load_in_the_json_format_is_json_to_the_last_line(trained_model, tmp_path):  # noqa: F811
    # serve exits at once after a failed load: what the model server wrote last must still come out.
    model_dir = trained_model.copy_to(tmp_path / "model")
    (model_dir / "model.json").write_text('{"width": "not a number"}')
    readable(model_dir)
    with running({model_dir: "/opt/ml/model"}, {"SAGEMAKER_MNIST_LOG_FORMAT": "json"}) as container:
        wait_for(lambda: not container.state()["Running"], 120, 0.5, "the container to exit")
        state, logs = container.state(), container.logs()
    assert state["ExitCode"] == 1, logs[-3000:]
    lines = _objects(logs)
    reasons = [line for line in lines if line["logger"] == "serve" and line["level"] == "ERROR"]
    assert reasons and "the model in /opt/ml/model: ModelLoadError" in reasons[0]["message"], logs[-3000:]
    # The worker's own account of the failure, relayed by MMS, is there too.
    assert [line for line in lines if line["logger"] != "serve" and "ModelLoadError" in line["message"]], logs[-3000:]
