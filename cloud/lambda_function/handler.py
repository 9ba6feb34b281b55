"""AWS Lambda function: classifies a handwritten digit by calling the MNIST SageMaker endpoint.

Packaged alone (cloud.lambda_deploy zips this one file); it needs only the Python standard
library and the boto3 that the Lambda runtime provides. The endpoint does the decoding (PNG,
JPEG or JSON pixels), so the function stays small and has no image library.

Events it accepts
  {"image_base64": "<base64 PNG or JPEG>"}      a picture of a digit
  {"digit": [[28 rows of 28 numbers]]}           pixel values 0-255 (or 0-1), or 784 numbers
  a Lambda function URL / API Gateway request    the body is the PNG/JPEG (base64-encoded by
                                                 AWS) or the JSON; its Content-Type says which
Answer: {"statusCode": 200, "body": "{\"label\": 7, \"probabilities\": [...]}"} (the endpoint's
first prediction; from a model trained with printed digits also "kind": "handwritten" or
"printed" and "kind_probability"), or a 4xx with {"error": "..."} when the event or the picture
is not usable.

Environment: ENDPOINT_NAME, the SageMaker endpoint to call.
"""
import base64
import binascii
import json
import os

ENDPOINT_NAME = "ENDPOINT_NAME"
JSON = "application/json"
PNG_MAGIC = b"\x89PNG"
JPEG_MAGIC = b"\xff\xd8\xff"
# SageMaker's InvokeEndpoint takes at most 6 MB; a digit is a few hundred bytes.
MAX_BODY = 6 * 1024 * 1024

_runtime = None


class BadEvent(ValueError):
    """The event holds no digit the function can send."""


def handler(event, context, runtime=None):
    """The Lambda entry point (configured as handler.handler)."""
    try:
        body, content_type = request_from_event(event)
    except BadEvent as e:
        return _response(400, {"error": str(e)})
    endpoint = os.environ.get(ENDPOINT_NAME)
    if not endpoint:
        return _response(500, {"error": "the function has no %s environment variable" % ENDPOINT_NAME})
    return classify(runtime or _default_runtime(), endpoint, body, content_type)


def classify(runtime, endpoint, body, content_type):
    """Calls the endpoint; answers its first prediction, or passes on its client error."""
    from botocore.exceptions import ClientError

    try:
        response = runtime.invoke_endpoint(EndpointName=endpoint, ContentType=content_type, Accept=JSON, Body=body)
    except ClientError as e:
        error = e.response.get("Error", {})
        # A model error (the container answered 4xx) is the caller's picture or pixels.
        status = e.response.get("OriginalStatusCode") or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if error.get("Code") == "ModelError" and status and 400 <= int(status) < 500:
            return _response(int(status), {"error": error.get("Message", "the endpoint refused the input")})
        raise
    answer = json.loads(response["Body"].read())
    predictions = answer.get("predictions", answer) if isinstance(answer, dict) else answer
    first = predictions[0] if isinstance(predictions, list) else predictions
    payload = {"label": first["label"], "probabilities": first.get("probabilities")}
    payload.update({key: first[key] for key in ("kind", "kind_probability") if key in first})
    return _response(200, payload)


def request_from_event(event):
    """(body bytes, content type) for InvokeEndpoint from a direct or an HTTP event."""
    if not isinstance(event, dict):
        raise BadEvent("the event must be a JSON object")
    if "image_base64" in event:
        return _image(_b64decode(event["image_base64"], "image_base64"))
    if "digit" in event:
        return _json_digit(event["digit"])
    if "body" in event:
        return _http_body(event)
    raise BadEvent('send {"image_base64": "<base64 PNG>"} or {"digit": [[28x28 pixel values]]}')


def _http_body(event):
    body = event.get("body") or ""
    raw = _b64decode(body, "body") if event.get("isBase64Encoded") else body.encode("utf-8")
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type.startswith("image/") or raw.startswith((PNG_MAGIC, JPEG_MAGIC)):
        return _image(raw)
    try:
        document = json.loads(raw)
    except ValueError:
        raise BadEvent("the body is neither a PNG/JPEG picture nor JSON") from None
    if isinstance(document, dict):
        return request_from_event(document)
    return _json_digit(document)


def _image(data):
    if data.startswith(PNG_MAGIC):
        return _checked(data), "image/png"
    if data.startswith(JPEG_MAGIC):
        return _checked(data), "image/jpeg"
    raise BadEvent("the picture is not a PNG or JPEG file")


def _json_digit(pixels):
    if not isinstance(pixels, list) or not pixels:
        raise BadEvent("digit must be 28 rows of 28 numbers or a list of 784 numbers")
    return _checked(json.dumps(pixels).encode("utf-8")), JSON


def _checked(body):
    if len(body) > MAX_BODY:
        raise BadEvent("the digit is %d bytes; SageMaker endpoints take at most %d" % (len(body), MAX_BODY))
    return body


def _b64decode(text, field):
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise BadEvent("%s is not valid base64" % field) from None


def _response(status, payload):
    return {"statusCode": status, "headers": {"Content-Type": JSON}, "body": json.dumps(payload)}


def _default_runtime():
    # One client per execution environment, reused across invocations (Lambda keeps the module).
    global _runtime
    if _runtime is None:
        import boto3

        _runtime = boto3.client("sagemaker-runtime")
    return _runtime
