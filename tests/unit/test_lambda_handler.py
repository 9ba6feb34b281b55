"""The Lambda function's event handling, with its InvokeEndpoint checked against botocore's model.

The endpoint's answers here come from tests/offline_aws.py; tests/local_mode/test_lambda_local.py
runs the same handler against a real local endpoint of the inference image.
"""
import base64
import io
import json

import pytest
from PIL import Image

import offline_aws
from cloud.lambda_function import handler
from local_mode import offline
from support import mnist

pytestmark = pytest.mark.unit

ENDPOINT = "mnist-endpoint"


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setenv(handler.ENDPOINT_NAME, ENDPOINT)
    with offline.offline_environment(tmp_path), offline.RequestGuard():
        yield offline_aws.FakeAws()


def _png(image):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _call(fake, event):
    response = handler.handler(event, None, runtime=fake.session.client("sagemaker-runtime"))
    return response["statusCode"], json.loads(response["body"])


def test_a_base64_png_goes_to_the_endpoint_as_a_png(fake):
    png = _png(mnist("t10k")[0][0])
    status, body = _call(fake, {"image_base64": base64.b64encode(png).decode()})
    assert status == 200 and body["label"] == 7 and len(body["probabilities"]) == 10
    request = fake.last("sagemaker-runtime.InvokeEndpoint")
    assert request == {"EndpointName": ENDPOINT, "ContentType": "image/png", "Accept": "application/json", "Body": png}


def test_a_json_digit_goes_to_the_endpoint_as_json(fake):
    digit = mnist("t10k")[0][0].tolist()
    status, body = _call(fake, {"digit": digit})
    assert status == 200 and body["label"] == 7
    request = fake.last("sagemaker-runtime.InvokeEndpoint")
    assert request["ContentType"] == "application/json" and json.loads(request["Body"]) == digit


@pytest.mark.parametrize("event_of", [
    lambda png, digit: {"body": base64.b64encode(png).decode(), "isBase64Encoded": True,
                        "headers": {"Content-Type": "image/png"}},
    lambda png, digit: {"body": base64.b64encode(png).decode(), "isBase64Encoded": True, "headers": {}},
    lambda png, digit: {"body": json.dumps(digit), "isBase64Encoded": False,
                        "headers": {"content-type": "application/json"}},
    lambda png, digit: {"body": json.dumps({"digit": digit}), "headers": {"content-type": "application/json"}},
    lambda png, digit: {"body": json.dumps({"image_base64": base64.b64encode(png).decode()})},
], ids=["url-png", "url-png-no-type", "url-json-pixels", "url-json-digit", "url-json-image"])
def test_function_url_requests(fake, event_of):
    image = mnist("t10k")[0][0]
    status, body = _call(fake, event_of(_png(image), image.tolist()))
    assert status == 200 and body["label"] == 7
    assert fake.last("sagemaker-runtime.InvokeEndpoint")["ContentType"] in ("image/png", "application/json")


@pytest.mark.parametrize("event, message", [
    ({}, "image_base64"),
    ([1, 2], "JSON object"),
    ({"image_base64": "not base64!"}, "not valid base64"),
    ({"image_base64": base64.b64encode(b"GIF89a....").decode()}, "not a PNG or JPEG"),
    ({"digit": "seven"}, "28 rows"),
    ({"digit": []}, "28 rows"),
    ({"body": "hello", "headers": {"content-type": "text/plain"}}, "neither"),
    ({"digit": [[0] * 28] * 28 * 10000}, "at most"),
])
def test_bad_events_are_400_without_calling_the_endpoint(fake, event, message):
    status, body = _call(fake, event)
    assert status == 400 and message in body["error"]
    assert fake.operations() == []


def test_an_input_the_model_refuses_keeps_the_containers_status(fake):
    def model_error(params, fake_):
        raise offline_aws.AwsError("ModelError", "Received client error (400) from primary: the picture is empty",
                                   424, OriginalStatusCode=400)

    fake.answers["sagemaker-runtime.InvokeEndpoint"] = model_error
    status, body = _call(fake, {"digit": [[0] * 28] * 28})
    assert status == 400 and "client error" in body["error"]


def test_other_endpoint_errors_are_raised(fake):
    from botocore.exceptions import ClientError

    def denied(params, fake_):
        raise offline_aws.AwsError("AccessDeniedException", "not authorized to perform sagemaker:InvokeEndpoint", 403)

    fake.answers["sagemaker-runtime.InvokeEndpoint"] = denied
    with pytest.raises(ClientError, match="AccessDenied"):
        _call(fake, {"digit": [[0] * 28] * 28})


def test_no_endpoint_configured_is_a_500(fake, monkeypatch):
    monkeypatch.delenv(handler.ENDPOINT_NAME)
    status, body = _call(fake, {"digit": [[0] * 28] * 28})
    assert status == 500 and handler.ENDPOINT_NAME in body["error"]


def test_the_kind_is_passed_on_when_the_model_gives_it(tmp_path, monkeypatch):
    monkeypatch.setenv(handler.ENDPOINT_NAME, ENDPOINT)
    answer = {"predictions": [{"label": 3, "probabilities": [0.0] * 3 + [1.0] + [0.0] * 6, "kind": "printed",
                               "kind_probability": 0.99}]}
    with offline.offline_environment(tmp_path), offline.RequestGuard():
        fake = offline_aws.FakeAws({"sagemaker-runtime.InvokeEndpoint": lambda params, fake: {
            "Body": offline_aws.stream(json.dumps(answer)), "ContentType": "application/json"}})
        status, body = _call(fake, {"digit": mnist("t10k")[0][0].tolist()})
    assert status == 200
    assert (body["label"], body["kind"], body["kind_probability"]) == (3, "printed", 0.99)
