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
