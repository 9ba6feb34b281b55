"""HTTP as clients expect it, on the real multi-model-server with this image's plugin
(mms_plugin/HttpFront.java, FrontDoor.java, Routes.java): 405 with Allow for a wrong method,
HEAD /ping, 404 for a path the endpoint does not have, a JSON 413 past the request limit, a 400
for a malformed load request, and multi-model loads that fail with their reason."""
import http.client
import shutil
import textwrap

import pytest
import requests

from answers import decode_output
from serving_fixtures import ModelServer, json_body

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(trained_model, plugin_jar, tmp_path_factory):
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"}
    with ModelServer(tmp_path_factory.mktemp("server"), plugin_jar, trained_model.model_dir, env) as running:
        running.wait_healthy()
        yield running


def _error(response, status):
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] and body["message"], body
    return body


def _still_answers(server, trained_model):
    index = int(trained_model.correct[0])
    response = server.invoke(json_body(trained_model.images[index]), "application/json")
    assert response.status_code == 200, response.text
    assert decode_output(response.content, response.headers["Content-Type"])[0].tolist() == \
        [trained_model.labels[index]]


@pytest.mark.parametrize("method, path, allow", [
    ("PUT", "/ping", "GET, HEAD"),
    ("POST", "/ping", "GET, HEAD"),
    ("DELETE", "/ping", "GET, HEAD"),
    ("GET", "/invocations", "POST"),
    ("PUT", "/invocations", "POST"),
    ("POST", "/execution-parameters", "GET"),
    ("GET", "/batching", "PUT"),
    ("DELETE", "/models", "GET, POST"),
    ("POST", "/models/model", "GET, PUT, DELETE"),
    ("GET", "/models/model/invoke", "POST"),
    ("POST", "/", "OPTIONS"),
])
def test_a_wrong_method_is_a_405_with_allow(server, trained_model, method, path, allow):
    response = requests.request(method, server.url + path, data=b"{}", timeout=10)
    body = _error(response, 405)
    assert response.headers["Allow"] == allow
    assert method in body["message"] and path in body["message"]
    _still_answers(server, trained_model)


def test_head_ping_answers_as_get_without_a_body(server):
    get = requests.get(server.url + "/ping", timeout=10)
    assert get.status_code == 200 and get.content
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(2):  # the connection stays usable: no body is left on it
            connection.request("HEAD", "/ping")
            head = connection.getresponse()
            assert head.status == 200
            assert head.read() == b""
            assert int(head.getheader("Content-Length")) == len(get.content)
            assert head.getheader("Content-Type") == get.headers["Content-Type"]
        connection.request("GET", "/ping")
        again = connection.getresponse()
        assert again.status == 200 and again.read() == get.content
    finally:
        connection.close()


@pytest.mark.parametrize("path", ["/nothing-here", "/invocations/more", "/models/model/invoke/more",
                                  "/model/predict", "//ping"])
def test_a_path_the_endpoint_does_not_have_is_a_404(server, path):
    body = _error(requests.get(server.url + path, timeout=10), 404)
    assert "/invocations" in body["accepted"]["paths"]


def test_far_over_the_limit_is_a_json_413_and_the_server_keeps_answering(server, trained_model):
    # Twice the 1 MB limit is where MMS stops reading; the handler's own 413 answers below it.
    for send in (lambda body: server.invoke(body, "text/csv"),
                 # without a Content-Length: the limit is found while the body streams in
                 lambda body: requests.post(server.url + "/invocations", data=iter([body[:2**20], body[2**20:]]),
                                            headers={"Content-Type": "text/csv"}, timeout=60)):
        body = _error(send(b"0," * (3 * 2**19)), 413)
        assert "1 MB" in body["message"] and body["accepted"] == {"max_payload_mb": 1}
        _still_answers(server, trained_model)


@pytest.mark.parametrize("body, why", [
    (b'{"model_name": "digits", "url": ', "not valid JSON"),
    (b'["digits", "/opt/ml/models/digits"]', "not an object"),
    (b"", "not an object"),
])
def test_a_malformed_load_request_is_a_400(server, body, why):
    response = requests.post(server.url + "/models", data=body, headers={"Content-Type": "application/json"},
                             timeout=10)
    assert why in _error(response, 400)["message"]
    assert [m["modelName"] for m in requests.get(server.url + "/models", timeout=10).json()["models"]] == ["model"]


# --- A multi-model server's loads that fail

OUT_OF_MEMORY = """
    import torch
    from sagemaker_mnist.inference import input_fn, output_fn, predict_fn

    def model_fn(model_dir):
        return torch.empty(2**50, dtype=torch.uint8)  # a petabyte: no machine has it
"""


def test_failed_multi_model_loads_say_why_and_the_loaded_models_keep_answering(trained_model, plugin_jar,
                                                                               tmp_path):
    models = tmp_path / "models"
    plain = trained_model.copy_to(models / "plain" / "model")
    corrupt = trained_model.copy_to(models / "corrupt" / "model")
    (corrupt / "model.pth").write_bytes(b"these bytes are not a state dict")
    missing = trained_model.copy_to(models / "missing" / "model")
    (missing / "model.pth").unlink()
    huge = trained_model.copy_to(models / "huge" / "model", with_code=False)
    (huge / "code").mkdir()
    (huge / "code" / "inference.py").write_text(textwrap.dedent(OUT_OF_MEMORY))
    env = {"SAGEMAKER_MULTI_MODEL": "true", "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    with ModelServer(tmp_path / "server", plugin_jar, env=env, preload=True) as server:
        server.wait_healthy()
        models_url = server.url + "/models"

        def load(name, path):
            return requests.post(models_url, json={"model_name": name, "url": str(path)}, timeout=120)

        assert load("plain", plain).status_code == 200
        for name, path, status, words in (("corrupt", corrupt, 400, "ModelLoadError"),
                                          ("missing", missing, 400, "model.pth"),
                                          ("huge", huge, 507, "memory")):
            body = _error(load(name, path), status)
            assert body["message"].startswith("model %s failed to load: " % name), body
            assert words in body["message"], body
            assert "\n" not in body["message"]
            listed = {m["modelName"] for m in requests.get(models_url, timeout=10).json()["models"]}
            assert listed == {"plain"}
            response = server.invoke(json_body(trained_model.images[:4]), "application/json",
                                     path="/models/plain/invoke")
            assert response.status_code == 200, response.text
        # The same name loads once its files are fixed.
        shutil.copy(plain / "model.pth", corrupt / "model.pth")
        assert load("corrupt", corrupt).status_code == 200
