"""On the real multi-model-server, with this image's launcher, log configuration and handler
service: SageMaker's custom attributes reach a model's own functions and come back in the answer's
header; SAGEMAKER_MNIST_LOG_FORMAT=json makes every line of the server's output one JSON object
(a worker's lines keep their request id); SAGEMAKER_CONTAINER_LOG_LEVEL sets MMS's level too;
/ping is not in the access log at INFO."""
import json
import textwrap

import pytest

from custom_attributes_code import ATTRIBUTES, CODE, REQUEST, check_answer
from serving_fixtures import ModelServer, json_body

pytestmark = pytest.mark.server


def _model_with_code(trained_model, directory):
    model_dir = trained_model.copy_to(directory / "model")
    (model_dir / "code" / "inference.py").write_text(textwrap.dedent(CODE))
    return model_dir


@pytest.fixture(scope="module")
def json_server(trained_model, plugin_jar, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("json-server")
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "SAGEMAKER_MNIST_LOG_FORMAT": "json"}
    with ModelServer(workdir, plugin_jar, _model_with_code(trained_model, workdir), env, preload=True) as running:
        running.wait_healthy()
        yield running


def _lines(server):
    return [line for line in server.log().splitlines() if line.strip()]


def _wait_for_line(server, predicate, what):
    found = []
    server.wait_until(lambda: found.extend(line for line in _lines(server) if predicate(line)) or found,
                      30, what)
    return found


def test_custom_attributes_reach_output_fn_and_come_back(json_server, trained_model):
    images = trained_model.images[:3]
    response = json_server.invoke(json_body(images), "application/json", headers={ATTRIBUTES: REQUEST})
    check_answer(response, trained_model)
    plain = json_server.invoke(json_body(images), "application/json")
    assert plain.headers[ATTRIBUTES] == "digits=3;echo=None"


def test_every_line_is_one_json_object_and_a_workers_line_has_its_request_id(json_server, trained_model):
    response = json_server.invoke(json_body(trained_model.images[:2]), "application/json",
                                  headers={ATTRIBUTES: "find-me"})
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]
    (line,) = _wait_for_line(json_server, lambda line: "for find-me" in line, "the user's log line")
    fields = json.loads(line)
    assert fields["logger"] == "user.code" and fields["level"] == "INFO"
    assert fields["message"] == "answering 2 digits for find-me"
    assert fields["request_id"] == request_id
    _wait_for_line(json_server, lambda line: '"POST /invocations' in line, "the access log line")
    not_json = []
    for line in _lines(json_server):
        try:
            fields = json.loads(line)
        except ValueError:
            not_json.append(line)
            continue
        if not (isinstance(fields, dict) and {"time", "level", "logger", "message"} <= set(fields)):
            not_json.append(line)
    assert not not_json, "not JSON objects with time, level, logger, message:\n" + "\n".join(not_json[:20])


def test_ping_is_not_in_the_access_log_at_info(json_server):
    for _ in range(5):
        assert json_server.ping().status_code == 200
    json_server.invoke(b"{", "application/json")  # a request that is logged, after the pings
    _wait_for_line(json_server, lambda line: '"POST /invocations' in line and " 400 " in line, "the 400's line")
    access = [json.loads(line)["message"] for line in _lines(json_server)
              if json.loads(line)["logger"] == "ACCESS_LOG"]
    assert access and not [message for message in access if "/ping" in message], access


def test_warning_level_quiets_mms_and_debug_logs_pings(trained_model, plugin_jar, tmp_path):
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "SAGEMAKER_CONTAINER_LOG_LEVEL": "30"}
    with ModelServer(tmp_path / "warning", plugin_jar, trained_model.model_dir, env, preload=True) as server:
        server.wait_healthy()
        assert server.invoke(json_body(trained_model.images[:1]), "application/json").status_code == 200
        assert server.invoke(b"{", "application/json").status_code == 400
        log = server.log()
    # At INFO (the default) MMS logs each request and each backend answer; at WARNING neither.
    assert "[INFO ]" not in log and "POST /invocations" not in log and "Backend response time" not in log
    env["SAGEMAKER_CONTAINER_LOG_LEVEL"] = "DEBUG"
    with ModelServer(tmp_path / "debug", plugin_jar, trained_model.model_dir, env, preload=True) as server:
        server.wait_healthy()
        server.wait_until(lambda: '"GET /ping' in server.log(), 30, "a /ping line at DEBUG")
