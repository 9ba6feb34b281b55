"""sagemaker_mnist.codecs.content_types: media types as clients spell them, and Accept negotiation
(q-values, wildcards, a 406 that lists what the endpoint produces)."""
import json

import pytest

from sagemaker_mnist.codecs import content_types
from sagemaker_mnist.errors import ClientError

pytestmark = pytest.mark.unit

@pytest.mark.parametrize("accept, expected", [
    (None, "application/json"),
    ("", "application/json"),
    ("*/*", "application/json"),
    ("text/csv", "text/csv"),
    ("text/csv; charset=utf-8", "text/csv"),
    ("application/jsonlines", "application/jsonlines"),
    ("application/x-jsonlines", "application/jsonlines"),
    ("application/x-npy", "application/x-npy"),
    ("text/html, text/csv", "text/csv"),
    ("application/json;q=0.5, text/csv", "text/csv"),
    ("text/*", "text/csv"),
    ("application/*", "application/json"),
    ("image/png, */*;q=0.1", "application/json"),
])
def test_accept_negotiation(accept, expected):
    assert content_types.negotiate(accept) == expected


@pytest.mark.parametrize("accept", ["text/html", "image/png", "application/xml, text/plain", "text/csv;q=0"])
def test_unsupported_accept_is_406(accept):
    with pytest.raises(ClientError) as caught:
        content_types.negotiate(accept)
    assert caught.value.status_code == 406
    assert json.loads(caught.value.body())["accepted"]["accept"] == list(content_types.OUTPUT_TYPES)


@pytest.mark.parametrize("header, expected", [
    (None, ""),
    ("", ""),
    ("  ", ""),
    ("application/json", "application/json"),
    ("Application/JSON; charset=UTF-8", "application/json"),
    ("text/csv;", "text/csv"),
    ("text/csv ; charset=\"utf-8\"", "text/csv"),
    ("text/csv; header=\"a;b\"", "text/csv"),
    ("application/x-jsonlines", "application/jsonlines"),
    ("image/jpg", "image/jpeg"),
    ("application/octet-stream", "application/octet-stream"),
    ("application/xml", "application/xml"),  # a media type, if not one the endpoint reads: the decoder's 415
])
def test_a_request_content_type_is_read_as_its_bare_media_type(header, expected):
    assert content_types.request_type(header) == expected


@pytest.mark.parametrize("header", [
    ";;;===",
    "application/json;;;===",
    "json",
    "application/",
    "/json",
    "application/json; charset",
    "application/json; =utf-8",
    "text/csv; charset=\"utf-8",
    "text /csv",
    "application/json, text/csv",
    "application/json garbage",
])
def test_a_content_type_that_is_not_a_media_type_is_415_naming_it(header):
    with pytest.raises(ClientError) as caught:
        content_types.request_type(header)
    error = caught.value
    assert error.status_code == 415
    assert error.message.startswith("Content-Type %r is not a media type" % header)
    assert "no Content-Type to have the body's format recognised" in error.message
    assert json.loads(error.body())["accepted"]["content_types"] == list(content_types.INPUT_TYPES)


def test_a_long_malformed_content_type_is_shortened_and_read_in_linear_time():
    import time

    for header in ["a/b" + "; ;" * 3000 + "\x00", "a/b;" + " " * 8000 + "x", "a/b; x=\"" + "\\\\" * 3000]:
        started = time.monotonic()
        with pytest.raises(ClientError) as caught:
            content_types.request_type(header)
        assert time.monotonic() - started < 0.5
        assert len(caught.value.message) < 500
