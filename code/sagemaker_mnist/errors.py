"""Errors that are the client's fault, each carrying the HTTP status the endpoint answers with.

They subclass sagemaker-inference's BaseInferenceToolkitError, so AWS's own PyTorch inference
containers (whose transformer maps exactly that class to its status code) answer 4xx for them
too; in this project's image the handler service turns them into a JSON body that says what was
wrong and what is accepted.
"""
import json

try:
    from sagemaker_inference.errors import BaseInferenceToolkitError
except ImportError:
    # The training image has no serving toolkit, yet renders printed digits through the serving
    # preparation (images.py), whose errors these are: there they need only be exceptions.
    class BaseInferenceToolkitError(Exception):
        def __init__(self, status_code, message, phrase):
            self.status_code = status_code
            self.message = message
            self.phrase = phrase
            super().__init__(status_code, message, phrase)

BAD_REQUEST = 400
NOT_ACCEPTABLE = 406
PAYLOAD_TOO_LARGE = 413
UNSUPPORTED_MEDIA_TYPE = 415

_PHRASES = {
    BAD_REQUEST: "Bad Request",
    NOT_ACCEPTABLE: "Not Acceptable",
    PAYLOAD_TOO_LARGE: "Payload Too Large",
    UNSUPPORTED_MEDIA_TYPE: "Unsupported Media Type",
}


class ClientError(BaseInferenceToolkitError):
    """A request the endpoint cannot answer because of the request itself.

    message: what was wrong, in one sentence; accepted: what the endpoint takes instead.
    """

    def __init__(self, message, accepted, status=BAD_REQUEST):
        self.accepted = accepted
        super().__init__(status, message, _PHRASES.get(status, "Client Error"))

    def body(self):
        """The JSON response body, as bytes."""
        return json.dumps({"error": self.phrase, "message": self.message, "accepted": self.accepted}).encode()

    def __str__(self):
        return "%d %s: %s" % (self.status_code, self.phrase, self.message)


class BadRequest(ClientError):
    def __init__(self, message, accepted):
        super().__init__(message, accepted, BAD_REQUEST)


class UnsupportedContentType(ClientError):
    def __init__(self, message, accepted):
        super().__init__(message, accepted, UNSUPPORTED_MEDIA_TYPE)


class NotAcceptable(ClientError):
    def __init__(self, message, accepted):
        super().__init__(message, accepted, NOT_ACCEPTABLE)


class PayloadTooLarge(ClientError):
    def __init__(self, message, accepted):
        super().__init__(message, accepted, PAYLOAD_TOO_LARGE)
