"""One request of the batch MMS hands a worker: its body, content type, accept and content encoding
read from MMS's context, and its answer (or error) written back to it.

MMS passes a worker several requests at once (`data`, a list) with one context; every per-request
header, status and content type goes through that context by the request's index.
"""
import json
import logging

from sagemaker_inference.errors import BaseInferenceToolkitError
from sagemaker_mnist.codecs import content_encodings
from sagemaker_mnist.codecs.content_types import media_type
from sagemaker_mnist.errors import BadRequest, ClientError, PayloadTooLarge

from sagemaker_mnist_container import logs
from sagemaker_mnist_container.load_failure import one_line

logger = logging.getLogger(__name__)
# The toolkit's convention for user functions: JSON and CSV bodies arrive as str.
_TEXT_TYPES = ("application/json", "text/csv")


def read(context, index, request, settings):
    """(body bytes, content type, accept, content encoding) of request `index` of MMS's batch; a
    missing or */* accept is the endpoint's default (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT). MMS hands
    the worker every header of the request (Content-Encoding too) and leaves the body as it came."""
    named = headers(context, index)
    content_type = named.get("content-type")
    if content_type is None and isinstance(named.get("body"), dict):
        # MMS also files the body's content type under the parameter's name.
        content_type = named["body"].get("content-type")
    accept = named.get("accept")
    if not accept or accept.strip() == "*/*":
        accept = settings.default_accept
    return _body(request), content_type, accept, named.get("content-encoding")


def headers(context, index):
    """Request `index`'s headers, their names lower-cased."""
    return {key.lower(): value for key, value in context.get_all_request_header(index).items()}


def request_id(context, index):
    """MMS's id of request `index` (the x-request-id of its answer), or None outside MMS's batches."""
    ids = getattr(context, "request_ids", None)
    return ids.get(index) if ids else None


def checked(body, content_encoding, settings):
    """The body, within the endpoint's payload limit, with its Content-Encoding (gzip, deflate)
    undone; a body over the limit, sent or decompressed, is a 413 that says the limit, and an
    encoding the endpoint does not decode a 415 that names it (content_encodings)."""
    if len(body) > settings.max_payload_bytes:
        raise PayloadTooLarge(
            "the request body is %.1f MB, over this endpoint's limit of %d MB (SAGEMAKER_MAX_PAYLOAD_IN_MB)"
            % (len(body) / 2**20, settings.max_payload_mb),
            {"max_payload_mb": settings.max_payload_mb, "hint": "split the images over several requests"})
    return content_encodings.decode(body, content_encoding, settings.max_payload_bytes)


def respond(context, index, result, accept):
    """A handler's result (bytes, or (bytes, content type)) as request `index`'s answer."""
    response, response_type = result if isinstance(result, tuple) else (result, accept)
    context.set_response_content_type(index, response_type)
    return as_bytes(response)


def error(context, index, error):
    """Request `index`'s answer to an exception: a client error's own status and JSON body, else a
    logged 500 that names the exception."""
    if isinstance(error, BaseInferenceToolkitError):
        context.set_response_status(code=error.status_code, phrase=one_line(error.phrase), idx=index)
        context.set_response_content_type(index, "application/json")
        return _error_body(error)
    token = logs.REQUEST_ID.set(request_id(context, index))
    try:
        logger.error("inference failed", exc_info=error)
    finally:
        logs.REQUEST_ID.reset(token)
    context.set_response_status(code=500, phrase="Internal Server Error", idx=index)
    context.set_response_content_type(index, "application/json")
    return json.dumps({"error": "Internal Server Error",
                       "message": "%s: %s" % (type(error).__name__, one_line(str(error)))}).encode()


def as_text(body, content_type):
    """The body as a user's input_fn or transform_fn gets it: str for JSON and CSV, else bytes. A
    UTF-8 byte-order mark (spreadsheet programs begin their CSV with one) is not part of the text."""
    if content_type and media_type(content_type) in _TEXT_TYPES:
        try:
            return bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise BadRequest("a %s body must be UTF-8 text (%s)" % (media_type(content_type), e),
                             {"encoding": "utf-8"}) from e
    return bytes(body)


def as_bytes(response):
    if isinstance(response, (bytes, bytearray)):
        return response
    if isinstance(response, str):
        return response.encode("utf-8")
    # What a handler may return besides bytes: numbers, lists, arrays, tensors.
    return json.dumps(response, default=lambda value: value.tolist()).encode()


def _body(request):
    body = request.get("body")
    if body is None:
        # MMS names a raw body "body"; a form or multipart request has its own field names.
        values = [value for value in request.values() if isinstance(value, (bytes, bytearray, str))]
        body = values[0] if len(values) == 1 else b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return body


def _error_body(error):
    if isinstance(error, ClientError):
        return error.body()
    return json.dumps({"error": error.phrase, "message": error.message}).encode()
