"""SageMaker's custom attributes: InvokeEndpoint's CustomAttributes, which reach the container as
the request header X-Amzn-SageMaker-Custom-Attributes, and which the container may answer in the
response header of the same name (InvokeEndpoint returns it to the caller as CustomAttributes).
SageMaker forwards the value verbatim and gives it no meaning: a model's code decides (a version
to use, a trace id, "accept_eula=true").

A model's input_fn, predict_fn, output_fn or transform_fn receives them when it declares a
parameter named `custom_attributes` (user_code checks signatures once, at load): a
CustomAttributes with the request's value in `.request` and `.response` to set for the answer.
Functions without that parameter are called as before.
"""
from sagemaker_mnist.errors import BadRequest

HEADER = "X-Amzn-SageMaker-Custom-Attributes"
PARAMETER = "custom_attributes"
# InvokeEndpoint's limit on CustomAttributes, both ways: 1024 visible US-ASCII characters
# (HTTP's field-value characters: printable ASCII, space and tab).
MAX_LENGTH = 1024


class CustomAttributes:
    """One request's custom attributes. `request`: the header's value (None when the caller sent
    none). `response`: None, or the value to answer in the header (at most 1024 visible ASCII
    characters); it is sent with a successful answer."""

    def __init__(self, request=None):
        self.request = request
        self.response = None


def from_headers(headers):
    """The request's CustomAttributes, from MMS's request headers with lower-cased names."""
    value = headers.get(HEADER.lower())
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("latin-1")
    return CustomAttributes(value)


def response_value(attributes):
    """The response header's value for `attributes`, or None; a value SageMaker would refuse to
    return is a ValueError that says why (the handler's fault: a 500 that names it)."""
    if attributes is None or attributes.response is None:
        return None
    value = attributes.response
    if not isinstance(value, str):
        raise ValueError("custom_attributes.response must be a str, not %s" % type(value).__name__)
    if len(value) > MAX_LENGTH:
        raise ValueError("custom_attributes.response is %d characters; SageMaker returns at most %d"
                         % (len(value), MAX_LENGTH))
    if not all(" " <= character <= "~" or character == "\t" for character in value):
        raise ValueError("custom_attributes.response must be visible US-ASCII characters (printable ASCII, "
                         "space and tab), as SageMaker's CustomAttributes are")
    return value


def check_request(attributes):
    """A request header longer than SageMaker lets through (a client calling the container
    directly) is a 400 before any user code sees it."""
    if attributes.request is not None and len(attributes.request) > MAX_LENGTH:
        raise BadRequest("the %s header is %d characters; SageMaker passes at most %d"
                         % (HEADER, len(attributes.request), MAX_LENGTH), {"max_length": MAX_LENGTH})
