"""The inference image under a real Docker engine, run as SageMaker runs it (`docker run IMAGE serve`
with the model at /opt/ml/model, or models under /opt/ml/models): one model, batch transform,
multi-model endpoints, a model's own code and requirements, a model that cannot load, the port
setting, the serving user and `docker stop`. Predictions are checked on real MNIST test digits.
The one-model endpoint, batch transform and multi-model tests run on both images, the CUDA one and
the CPU one (the `serve_image` fixture); the rest, about code above torch, on the CUDA one."""
import collections
import re
import shutil
import textwrap

import numpy as np
import pytest
import requests

from answers import decode_output
from images import docker, wait_for
from serve_container import STARTUP_TIMEOUT, readable, running
from prerequisites import require
from sagemaker_mnist_container import plugin
from serving_fixtures import csv_body, json_body, jsonlines_body, npy_body, picture, trained_model  # noqa: F401
from wheels import wheel

pytestmark = pytest.mark.container


def _labels(response):
    assert response.status_code == 200, response.text
    return decode_output(response.content, response.headers["Content-Type"])[0]


# --- One model: the artifact exactly as the trainer writes it

@pytest.fixture(scope="module")
def endpoint(trained_model, tmp_path_factory, serve_image):  # noqa: F811
    model_dir = readable(trained_model.copy_to(tmp_path_factory.mktemp("endpoint") / "model"))
    with running({model_dir: "/opt/ml/model"}, {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"},
                 image=serve_image) as container:
        container.wait_healthy()
        yield container


def test_endpoint_predicts_real_digits_in_each_format(endpoint, trained_model):  # noqa: F811
    images = trained_model.images[:20]
    for body, content_type in [(json_body(images), "application/json"), (csv_body(images), "text/csv"),
                               (npy_body(images), "application/x-npy")]:
        for accept in (None, "text/csv", "application/jsonlines"):
            np.testing.assert_array_equal(_labels(endpoint.invoke(body, content_type, accept)),
                                          trained_model.predicted[:20])
    index = int(trained_model.correct[0])
    drawn = picture(trained_model.images[index], size=(240, 180), fmt="JPEG")
    assert _labels(endpoint.invoke(drawn, "image/jpeg")).tolist() == [trained_model.labels[index]]


def test_endpoint_answers_bad_requests_with_4xx_json(endpoint, trained_model):  # noqa: F811
    for body, content_type, status in [(b"{", "application/json", 400), (b"x", "text/plain", 415),
                                       (b"\x89PNG broken", "image/png", 400), (b"", "text/csv", 400)]:
        response = endpoint.invoke(body, content_type)
        assert response.status_code == status and response.json()["accepted"]
    assert endpoint.invoke(json_body(trained_model.images[:1]), "application/json").status_code == 200


def test_endpoint_runs_as_the_serving_user(endpoint):
    assert docker("exec", endpoint.id, "id", "-un").stdout.strip() == "model-server"
    # Every process of the container: serve, the JVM, the workers.
    uids = {line.split()[0] for line in docker("top", endpoint.id, "-eo", "uid,pid").stdout.splitlines()[1:]}
    assert uids == {"1000"}


def _wait_for_two_ready_workers(endpoint):
    # One worker starts first; the second joins once the model is loaded.
    def workers_ready():
        description = requests.get(endpoint.url + "/models/model", timeout=10).json()
        return [worker["status"] for worker in description["workers"]] == ["READY", "READY"]
    wait_for(workers_ready, STARTUP_TIMEOUT, 0.5, "2 workers ready")


def test_endpoint_runs_the_configured_workers(endpoint):
    _wait_for_two_ready_workers(endpoint)


_BACKEND_RESPONSE = re.compile(r"\] (W-\d+-\S+) com\.amazonaws\.ml\.mms\.wlm\.WorkerThread - Backend response time")


def _answers_by_worker(logs):
    return collections.Counter(_BACKEND_RESPONSE.findall(logs))


def test_endpoint_keeps_one_request_at_a_time_on_one_worker(endpoint, trained_model):  # noqa: F811
    _wait_for_two_ready_workers(endpoint)
    assert "mnist worker affinity: on" in endpoint.logs()
    before = _answers_by_worker(endpoint.logs())
    body = json_body(trained_model.images[:1])
    for _ in range(20):
        assert endpoint.invoke(body, "application/json").status_code == 200

    def logged():  # MMS logs asynchronously
        return sum((_answers_by_worker(endpoint.logs()) - before).values()) >= 20
    wait_for(logged, 30, 0.3, "20 backend responses in the log")
    # MMS alone alternates its two workers (about 10 each); with the plugin the worker idle last
    # answers each. (A worker thread descheduled between its answer and its next wait is not idle
    # yet; the other one then rightly takes a request, hence not all 20.)
    answered = _answers_by_worker(endpoint.logs()) - before
    assert answered.most_common(1)[0][1] >= 18, answered


def test_endpoint_ping_is_healthy_json(endpoint):
    assert endpoint.ping().json() == {"status": "Healthy"}


def test_endpoint_answers_wrong_methods_paths_and_sizes_in_json(endpoint, trained_model):  # noqa: F811
    # The plugin's front door in the real image (each case in detail: tests/server/test_http_front.py).
    put = requests.put(endpoint.url + "/ping", timeout=10)
    assert put.status_code == 405 and put.headers["Allow"] == "GET, HEAD" and put.json()["message"]
    get = requests.get(endpoint.url + "/invocations", timeout=10)
    assert get.status_code == 405 and get.headers["Allow"] == "POST"
    head = requests.head(endpoint.url + "/ping", timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert requests.get(endpoint.url + "/no-such-path", timeout=10).status_code == 404
    # Twice the default 6 MB limit is where the server stops reading.
    too_large = endpoint.invoke(b"0," * (7 * 2**20), "text/csv")
    assert too_large.status_code == 413 and too_large.json()["accepted"] == {"max_payload_mb": 6}
    assert endpoint.invoke(json_body(trained_model.images[:1]), "application/json").status_code == 200


# --- Batch transform: bind-to-port, execution parameters, MultiRecord; an artifact without code

def test_batch_transform_on_another_port(trained_model, tmp_path, serve_image):  # noqa: F811
    bare = readable(trained_model.copy_to(tmp_path / "model", with_code=False))
    env = {"SAGEMAKER_BIND_TO_PORT": "9090", "SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "3",
           "SAGEMAKER_BATCH_STRATEGY": "MULTI_RECORD", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "2"}
    with running({bare: "/opt/ml/model"}, env, container_port=9090, image=serve_image) as container:
        container.wait_healthy()
        parameters = requests.get(container.url + "/execution-parameters", timeout=10).json()
        assert parameters == {"MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 2}
        images = trained_model.images
        for make_body, content_type in [(csv_body, "text/csv"), (jsonlines_body, "application/jsonlines")]:
            response = container.invoke(make_body(images), content_type, accept=content_type)
            assert response.content.decode().count("\n") == len(images)
            np.testing.assert_array_equal(_labels(response), trained_model.predicted)
        # `docker stop` sends SIGTERM to serve, which stops the server and exits at once: 0. Had it
        # not exited within the 10 s grace, the engine would have killed it (exit code 137).
        docker("stop", "-t", "10", container.id)
        assert container.state()["ExitCode"] == 0


# --- Multi-model endpoints

CUSTOM_OUTPUT = """
    import json
    from sagemaker_mnist.inference import input_fn, model_fn, predict_fn
    def output_fn(prediction, accept):
        return json.dumps({"digits": prediction.argmax(1).tolist()}), "application/json"
"""


def test_multi_model_endpoint(trained_model, tmp_path, serve_image):  # noqa: F811
    models = tmp_path / "models"
    trained_model.copy_to(models / "plain" / "model")
    broken = trained_model.copy_to(models / "broken" / "model")
    (broken / "model.pth").write_bytes(b"these bytes are not a state dict")
    custom = trained_model.copy_to(models / "custom" / "model", with_code=False)
    (custom / "code").mkdir()
    (custom / "code" / "inference.py").write_text(textwrap.dedent(CUSTOM_OUTPUT))
    readable(models)
    images = trained_model.images[:10]
    with running({models: "/opt/ml/models"}, {"SAGEMAKER_MULTI_MODEL": "true"}, image=serve_image) as container:
        container.wait_healthy()
        models_url = container.url + "/models"
        for name in ("plain", "custom"):
            response = requests.post(models_url, json={"model_name": name, "url": "/opt/ml/models/%s/model" % name},
                                     timeout=180)
            assert response.status_code == 200, response.text + container.logs()[-3000:]
        assert requests.post(models_url, json={"model_name": "plain", "url": "/opt/ml/models/plain/model"},
                             timeout=60).status_code == 409
        assert {m["modelName"] for m in requests.get(models_url, timeout=10).json()["models"]} == {"plain", "custom"}

        def invoke(name):
            return container.invoke(json_body(images), "application/json", path="/models/%s/invoke" % name,
                                    headers={"X-Amzn-SageMaker-Target-Model": name})

        np.testing.assert_array_equal(_labels(invoke("plain")), trained_model.predicted[:10])
        assert invoke("custom").json() == {"digits": trained_model.predicted[:10].tolist()}
        broken = requests.post(models_url, json={"model_name": "broken", "url": "/opt/ml/models/broken/model"},
                               timeout=180)
        assert broken.status_code == 400, broken.text
        assert broken.json()["message"].startswith("model broken failed to load: ModelLoadError")
        malformed = requests.post(models_url, data=b'{"model_name": ', headers={"Content-Type": "application/json"},
                                  timeout=10)
        assert malformed.status_code == 400 and "not valid JSON" in malformed.json()["message"]
        np.testing.assert_array_equal(_labels(invoke("plain")), trained_model.predicted[:10])
        assert requests.delete(models_url + "/plain", timeout=60).status_code == 200
        assert invoke("plain").status_code == 404
        assert requests.delete(models_url + "/plain", timeout=60).status_code == 404
        assert invoke("custom").status_code == 200


# --- A model's own code, with its requirements installed at start by the serving user

NAMED_OUTPUT = """
    from digit_names import NAMES
    from sagemaker_mnist.inference import input_fn, model_fn, predict_fn, output_fn as default_output

    def output_fn(prediction, accept):
        if accept == "text/plain":
            return " ".join(NAMES[i] for i in prediction.argmax(1)), "text/plain"
        return default_output(prediction, accept)
"""


def test_model_code_and_requirements(trained_model, tmp_path):  # noqa: F811
    model_dir = trained_model.copy_to(tmp_path / "model")
    code = model_dir / "code"
    (code / "named.py").write_text(textwrap.dedent(NAMED_OUTPUT))
    package = wheel(code)
    (code / "requirements.txt").write_text("--no-index\n/opt/ml/model/code/%s\n" % package.name)
    readable(model_dir)
    with running({model_dir: "/opt/ml/model"}, {"SAGEMAKER_PROGRAM": "named.py"}) as container:
        container.wait_healthy()
        chosen = trained_model.correct[:3]
        response = container.invoke(json_body(trained_model.images[chosen]), "application/json", accept="text/plain")
        assert response.status_code == 200, response.text
        names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        assert response.text == " ".join(names[trained_model.labels[i]] for i in chosen)
        np.testing.assert_array_equal(_labels(container.invoke(json_body(trained_model.images[chosen]),
                                                               "application/json")), trained_model.labels[chosen])
        installed = docker("exec", container.id, "ls", "/opt/mnist/site-packages").stdout.split()
        assert "digit_names.py" in installed


# --- A model that cannot load stops the container, with the reason in its log

def test_a_model_that_cannot_load_stops_the_container(trained_model, tmp_path):  # noqa: F811
    model_dir = trained_model.copy_to(tmp_path / "model")
    (model_dir / "model.json").write_text('{"width": "not a number"}')
    readable(model_dir)
    with running({model_dir: "/opt/ml/model"}) as container:
        wait_for(lambda: not container.state()["Running"], STARTUP_TIMEOUT, 0.5, "the container to exit")
        assert container.state()["ExitCode"] == 1
        logs = container.logs()
        assert "stopping the server" in logs
        assert "the model in /opt/ml/model: ModelLoadError: cannot load the model in /opt/ml/model" in logs


def test_a_model_server_the_plugin_cannot_rewrite_stops_the_container(trained_model, tmp_path):  # noqa: F811
    # Another MMS, as the agent sees it: a Model class without the lock and queue it renames,
    # found first (the boot class path comes before MMS's jar).
    require(shutil.which("java") is not None, "a Java runtime", "apt-get install openjdk-17-jre-headless")
    source = tmp_path / "src" / "Model.java"
    source.parent.mkdir()
    source.write_text("package com.amazonaws.ml.mms.wlm;\npublic class Model {}\n")
    classes = tmp_path / "classes"
    classes.mkdir()
    plugin.javac([source], classes, [])
    model_dir = readable(trained_model.copy_to(tmp_path / "model"))
    readable(classes)
    env = {"SAGEMAKER_MODEL_SERVER_VMARGS": "-XX:-UseContainerSupport -Xbootclasspath/a:/opt/other-mms"}
    with running({model_dir: "/opt/ml/model", classes: "/opt/other-mms"}, env) as container:
        wait_for(lambda: not container.state()["Running"], STARTUP_TIMEOUT, 0.5, "the container to exit")
        state, logs = container.state(), container.logs()
    assert state["ExitCode"] == 1, logs[-3000:]
    assert "ERROR mnist worker affinity: NOT APPLIED" in logs, logs[-3000:]
    assert "the model server does not start without [mnist worker affinity]" in logs
    assert "without being asked to stop" in logs, logs[-3000:]
