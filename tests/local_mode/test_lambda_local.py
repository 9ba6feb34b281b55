"""The Lambda handler against a real local endpoint of the inference image.

The flow's model is served with SDK local mode; the handler gets a real boto3 sagemaker-runtime
client pointed at it. SageMaker's front end maps InvokeEndpoint (POST /endpoints/NAME/invocations)
to the container's POST /invocations; a botocore hook does that mapping here, so the request
is the one botocore serializes and signs for AWS, and the answer is the container's.
"""
import base64
import io
import json
import urllib.parse

import pytest
from PIL import Image

from cloud.lambda_function import handler
from images import SERVE_IMAGE
from local_mode.endpoint import local_endpoint
from support import mnist

pytestmark = pytest.mark.local_mode


def _to_container(request, **kwargs):
    url = urllib.parse.urlsplit(request.url)
    assert url.path.startswith("/endpoints/") and url.path.endswith("/invocations")
    request.url = urllib.parse.urlunsplit(url._replace(path="/invocations"))


@pytest.fixture(scope="module")
def endpoint(flow):
    model = flow.summary["steps"]["estimator"]["model_data"]
    with local_endpoint(SERVE_IMAGE, "file://" + model) as (name, port):
        import boto3

        runtime = boto3.Session().client("sagemaker-runtime", endpoint_url="http://127.0.0.1:%d" % port)
        runtime.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", _to_container)
        yield name, runtime


@pytest.fixture
def call(endpoint, monkeypatch):
    name, runtime = endpoint
    monkeypatch.setenv(handler.ENDPOINT_NAME, name)

    def invoke(event):
        response = handler.handler(event, None, runtime=runtime)
        return response["statusCode"], json.loads(response["body"])

    return invoke


def _png(image):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_a_base64_png_is_classified(call, index):
    images, labels = mnist("t10k")
    status, body = call({"image_base64": base64.b64encode(_png(images[index])).decode()})
    assert status == 200
    assert body["label"] == int(labels[index])
    assert len(body["probabilities"]) == 10 and sum(body["probabilities"]) == pytest.approx(1, abs=1e-3)


def test_a_json_digit_is_classified(call):
    images, labels = mnist("t10k")
    status, body = call({"digit": images[4].tolist()})
    assert status == 200 and body["label"] == int(labels[4])


def test_a_function_url_request_with_a_png_body(call):
    images, labels = mnist("t10k")
    event = {"body": base64.b64encode(_png(images[5])).decode(), "isBase64Encoded": True,
             "headers": {"content-type": "image/png"}}
    status, body = call(event)
    assert status == 200 and body["label"] == int(labels[5])
