"""The real multi-model-server on the host's Java, with this image's handler service, endpoint
plugin and settings: health, content types, batch transform, limits, timeouts, failed loads and
the multi-model API. Predictions are checked against the model on real MNIST test digits."""
import gzip
import json
import textwrap
import time
import zlib

import numpy as np
import pytest
import requests

from answers import decode_output
from sagemaker_mnist.codecs import content_types
from serving_fixtures import (ModelServer, csv_body, gzip_bomb, json_body, jsonlines_body, npy_body, picture,
                              png_claiming)

pytestmark = pytest.mark.server


def _labels(response):
    assert response.status_code == 200, response.text
    return decode_output(response.content, response.headers["Content-Type"])[0]


@pytest.fixture(scope="module")
def server(trained_model, plugin_jar, tmp_path_factory):
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "2", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"}
    with ModelServer(tmp_path_factory.mktemp("server"), plugin_jar, trained_model.model_dir, env, preload=True) as running:
        running.wait_healthy()
        yield running


def test_ping_is_healthy_json(server):
    response = server.ping()
    assert response.status_code == 200
    assert response.json() == {"status": "Healthy"}


def test_workers_follow_the_setting(server):
    description = requests.get(server.url + "/models/model", timeout=10).json()
    assert description["minWorkers"] == 2
    assert [worker["status"] for worker in description["workers"]] == ["READY", "READY"]


def test_execution_parameters_come_from_the_settings(server):
    response = requests.get(server.url + "/execution-parameters", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1}


@pytest.mark.parametrize("content_type, make_body", [
    ("application/json", json_body),
    ("application/json", lambda images: json.dumps({"instances": images.tolist()})),
    ("text/csv", csv_body),
    ("application/jsonlines", jsonlines_body),
    ("application/x-npy", npy_body),
])
@pytest.mark.parametrize("accept", [None, *content_types.OUTPUT_TYPES])
def test_every_content_type_and_accept(server, trained_model, content_type, make_body, accept):
    response = server.invoke(make_body(trained_model.images[:16]), content_type, accept)
    assert response.headers["Content-Type"] == (accept or "application/json")
    np.testing.assert_array_equal(_labels(response), trained_model.predicted[:16])


def test_a_single_digit_of_each_kind(server, trained_model):
    index = int(trained_model.correct[0])
    digit, label = trained_model.images[index], trained_model.labels[index]
    for body, content_type in [(json_body(digit), "application/json"), (npy_body(digit), "application/x-npy"),
                               (json.dumps(digit.reshape(-1).tolist()), "application/json")]:
        assert _labels(server.invoke(body, content_type)).tolist() == [label]


@pytest.mark.parametrize("content_type, fmt", [("image/png", "PNG"), ("image/jpeg", "JPEG"),
                                               ("application/x-image", "JPEG")])
def test_pictures_of_digits(server, trained_model, content_type, fmt):
    chosen = trained_model.correct[:10]
    hits = 0
    for index in chosen:
        body = picture(trained_model.images[index], size=(200, 160), ink=(10, 40, 140), paper=(250, 245, 225), fmt=fmt)
        hits += int(_labels(server.invoke(body, content_type))[0] == trained_model.labels[index])
    assert hits >= 9


@pytest.mark.parametrize("content_type, make_body, accept", [
    ("text/csv", csv_body, "text/csv"),
    ("application/jsonlines", jsonlines_body, "application/jsonlines"),
])
def test_multi_record_batches_answer_one_line_per_record(server, trained_model, content_type, make_body, accept):
    images = trained_model.images[:200]
    response = server.invoke(make_body(images), content_type, accept)
    assert response.content.decode().count("\n") == len(images)
    labels = _labels(response)
    np.testing.assert_array_equal(labels, trained_model.predicted[:200])
    assert (labels == trained_model.labels[:200]).mean() > 0.8


BAD_REQUESTS = [
    ("empty body", b"", "application/json", None, 400),
    ("bad JSON", b'{"instances": [', "application/json", None, 400),
    ("wrong shape", json.dumps([[1, 2, 3]]), "application/json", None, 400),
    ("wrong dtype", json.dumps([[{"pixel": 1}] * 784]), "application/json", None, 400),
    ("NaN", "[" + ",".join(["NaN"] * 784) + "]", "application/json", None, 400),
    ("CSV words", "a,b,c\n", "text/csv", None, 400),
    ("unsupported content type", b"hello", "text/plain", None, 415),
    ("unsupported accept", json.dumps([0] * 784), "application/json", "application/xml", 406),
    ("corrupt image", b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg", None, 400),
    ("decompression bomb", png_claiming(30000, 30000), "image/png", None, 400),
    ("pickled npy", b"\x80\x04\x95" + b"\x00" * 40, "application/x-npy", None, 400),
    ("over the payload limit", b"[" + b"0," * (700 * 1024) + b"0]", "application/json", None, 413),
]


def test_bad_requests_get_4xx_json_and_the_server_keeps_answering(server, trained_model):
    for case, body, content_type, accept, status in BAD_REQUESTS:
        response = server.invoke(body, content_type, accept)
        assert response.status_code == status, (case, response.text)
        document = response.json()
        assert document["message"] and document["accepted"], case
        np.testing.assert_array_equal(_labels(server.invoke(json_body(trained_model.images[:2]), "application/json")),
                                      trained_model.predicted[:2])
    assert "Backend worker process died" not in server.log()


BOM = b"\xef\xbb\xbf"


def _peak_rss(server):
    """The highest resident set size (VmHWM, bytes) each backend has reached, by pid: the backends
    are the preloader's children."""
    import psutil

    peaks = {}
    for process in psutil.Process(server.preloader.pid).children(recursive=True):
        with open("/proc/%d/status" % process.pid) as status:
            kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        peaks[process.pid] = kib * 1024
    return peaks


def test_compressed_bodies_byte_order_marks_and_unreadable_headers(server, trained_model):
    images, predicted = trained_model.images[:16], trained_model.predicted[:16]
    gzipped = {"Content-Encoding": "gzip"}
    valid = [
        ("gzip JSON", gzip.compress(json_body(images).encode()), "application/json", gzipped),
        ("gzip CSV", gzip.compress(csv_body(images).encode()), "text/csv", gzipped),
        ("gzip npy", gzip.compress(npy_body(images)), "application/x-npy", gzipped),
        ("deflate JSON lines", zlib.compress(jsonlines_body(images).encode()), "application/jsonlines",
         {"Content-Encoding": "deflate"}),
        ("CSV with a byte-order mark", BOM + csv_body(images).encode(), "text/csv", {}),
        ("JSON with a byte-order mark", BOM + json_body(images).encode(), "application/json", {}),
        ("gzip CSV with a byte-order mark", gzip.compress(BOM + csv_body(images).encode()), "text/csv",
         gzipped),
    ]
    for case, body, content_type, headers in valid:
        response = server.invoke(body, content_type, headers=headers)
        assert response.status_code == 200, (case, response.text)
        np.testing.assert_array_equal(_labels(response), predicted, err_msg=case)

    bomb = gzip_bomb(2**30)
    assert len(bomb) < 2**20, "1 GiB of zeros should gzip to under the 1 MB limit: %d bytes" % len(bomb)
    digit = json_body(images[0])
    bad = [
        ("a Content-Type that is not a media type", digit, ";;;===", {}, 415,
         "Content-Type ';;;===' is not a media type"),
        ("an encoding the endpoint does not decode", digit, "application/json", {"Content-Encoding": "br"},
         415, "Content-Encoding 'br' is not supported"),
        ("gzip named, JSON sent", digit, "application/json", gzipped, 400, "not valid gzip data"),
        ("gzip cut short", gzip.compress(digit.encode())[:-30], "application/json", gzipped, 400,
         "cut short"),
        ("a gzip bomb: 1 GiB of zeros", bomb, "text/csv", gzipped, 413,
         "decompresses to more than this endpoint's limit of 1 MB"),
    ]
    before = _peak_rss(server)
    for case, body, content_type, headers, status, words in bad:
        started = time.monotonic()
        response = server.invoke(body, content_type, headers=headers)
        took = time.monotonic() - started
        assert response.status_code == status, (case, response.text)
        document = response.json()
        assert words in document["message"], (case, document)
        assert document["accepted"], case
        assert took < 5, (case, took)
        np.testing.assert_array_equal(_labels(server.invoke(json_body(images[:2]), "application/json")),
                                      predicted[:2])
    after = _peak_rss(server)
    # Inflated, the bomb would have raised a backend's peak by a gigabyte; it reads at most the limit.
    growth = {pid: after[pid] - before.get(pid, 0) for pid in after}
    assert max(growth.values()) < 64 * 2**20, growth
    assert "Backend worker process died" not in server.log()


def test_far_over_the_limit_is_refused_by_the_server_itself(server, trained_model):
    # Past twice the limit MMS answers before any worker sees the body (the plugin's 413: test_http_front).
    response = server.invoke(b"0" * (3 * 2**20), "text/csv")
    assert response.status_code == 413 and "SAGEMAKER_MAX_PAYLOAD_IN_MB" in response.json()["message"]
    assert server.invoke(json_body(trained_model.images[:1]), "application/json").status_code == 200


SLOW_MODEL = """
    import time
    from sagemaker_mnist.inference import input_fn, output_fn, model_fn as load, predict_fn as predict

    def model_fn(model_dir):
        time.sleep(2)
        return load(model_dir)

    def predict_fn(input_data, model):
        if len(input_data) == 2:
            time.sleep(60)
        return predict(input_data, model)
"""


def test_ping_waits_for_the_model_and_the_timeout_is_in_seconds(trained_model, plugin_jar, tmp_path):
    model_dir = trained_model.copy_to(tmp_path / "model")
    (model_dir / "code" / "inference.py").write_text(textwrap.dedent(SLOW_MODEL))
    # MMS applies the response timeout to a worker's model load as well: leave room for both.
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "12"}
    with ModelServer(tmp_path / "server", plugin_jar, model_dir, env) as server:
        server.wait_listening()
        early = server.ping()
        assert early.status_code == 503
        assert early.json() == {"status": "Unhealthy", "models_not_loaded": ["model"]}
        server.wait_healthy()
        # Two images make predict_fn sleep 60 s; a 12 s timeout ends the request long before. Read in
        # minutes, as MMS reads the toolkit's setting, it would wait 12 minutes, predict_fn would
        # answer 200 after its 60 s, and the client's deadline of 50 s would run out first.
        response = server.invoke(json_body(trained_model.images[:2]), "application/json", timeout=50)
        assert response.status_code >= 500
        server.wait_until(lambda: "Backend worker did not respond in given time" in server.log(), 30,
                          "MMS's response timeout in the log")
        # MMS replaces the worker; the endpoint recovers.
        server.wait_healthy()
        index = int(trained_model.correct[0])
        assert _labels(server.invoke(json_body(trained_model.images[index]), "application/json")).tolist() == \
            [trained_model.labels[index]]


def test_a_model_that_cannot_load_is_never_healthy_and_says_why(trained_model, plugin_jar, tmp_path):
    model_dir = trained_model.copy_to(tmp_path / "model")
    (model_dir / "model.pth").write_bytes(b"this is not a state dict")
    with ModelServer(tmp_path / "server", plugin_jar, model_dir, {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}) as server:
        server.wait_listening()
        server.wait_until(lambda: "failed to load" in server.log(), 120, "the load failure in the log")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert server.ping().status_code == 503
            time.sleep(0.5)
        assert "failed to load: ModelLoadError: cannot load the model in %s" % model_dir in server.log()


# --- Multi-model endpoints

CUSTOM_OUTPUT = """
    import json
    from sagemaker_mnist.inference import input_fn, model_fn, predict_fn
    def output_fn(prediction, accept):
        return json.dumps({"digits": prediction.argmax(1).tolist()}), "application/json"
"""


def test_multi_model_load_list_invoke_unload(trained_model, plugin_jar, tmp_path):
    models = tmp_path / "models"
    plain = trained_model.copy_to(models / "plain" / "model")
    custom = trained_model.copy_to(models / "custom" / "model", with_code=False)
    (custom / "code").mkdir()
    (custom / "code" / "inference.py").write_text(textwrap.dedent(CUSTOM_OUTPUT))
    broken = trained_model.copy_to(models / "broken" / "model")
    (broken / "model.json").write_text('{"width": "wide"}')
    env = {"SAGEMAKER_MULTI_MODEL": "true", "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    images = trained_model.images[:8]
    # As `serve` runs it: each model's backend forked from the preloader.
    with ModelServer(tmp_path / "server", plugin_jar, env=env, preload=True) as server:
        server.wait_healthy()  # no models yet: healthy as soon as it listens
        models_url = server.url + "/models"
        for name, path in (("plain", plain), ("custom", custom)):
            # SageMaker's load request: a JSON body naming the model and its folder.
            response = requests.post(models_url, json={"model_name": name, "url": str(path)}, timeout=120)
            assert response.status_code == 200, response.text
        again = requests.post(models_url, json={"model_name": "plain", "url": str(plain)}, timeout=60)
        assert again.status_code == 409
        listed = {m["modelName"] for m in requests.get(models_url, timeout=10).json()["models"]}
        assert listed == {"plain", "custom"}
        description = requests.get(models_url + "/custom", timeout=10).json()
        assert description["modelName"] == "custom" and description["workers"]

        def invoke(name):
            return server.invoke(json_body(images), "application/json", path="/models/%s/invoke" % name,
                                 headers={"X-Amzn-SageMaker-Target-Model": name})

        np.testing.assert_array_equal(_labels(invoke("plain")), trained_model.predicted[:8])
        assert invoke("custom").json() == {"digits": trained_model.predicted[:8].tolist()}
        assert server.ping().status_code == 200

        failed = requests.post(models_url, json={"model_name": "broken", "url": str(broken)}, timeout=120)
        assert failed.status_code == 400 and failed.json()["message"].startswith("model broken failed to load")
        assert "broken" not in {m["modelName"] for m in requests.get(models_url, timeout=10).json()["models"]}
        assert "failed to load" in server.log()

        assert requests.delete(models_url + "/plain", timeout=60).status_code == 200
        assert invoke("plain").status_code == 404
        assert requests.delete(models_url + "/never-loaded", timeout=60).status_code == 404
        assert invoke("custom").status_code == 200
        assert server.ping().status_code == 200
