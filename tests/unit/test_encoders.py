"""sagemaker_mnist.codecs.encoders: every output type round-trips, with one line per image where
batch transform joins lines to records."""
import json

import numpy as np
import pytest

from answers import decode_output
from sagemaker_mnist.codecs import content_types, encoders

pytestmark = pytest.mark.unit

PROBABILITIES = np.random.default_rng(0).dirichlet(np.ones(10), size=4).astype(np.float32)


@pytest.mark.parametrize("kind", content_types.OUTPUT_TYPES)
def test_outputs_round_trip(kind):
    body = encoders.encode(PROBABILITIES, kind)
    labels, probabilities = decode_output(body, kind)
    np.testing.assert_array_equal(labels, PROBABILITIES.argmax(1))
    np.testing.assert_allclose(probabilities, PROBABILITIES, rtol=1e-5, atol=1e-7)


def test_json_output_names_the_digit_and_its_ten_probabilities():
    document = json.loads(encoders.encode(PROBABILITIES[:1], content_types.JSON))
    (prediction,) = document["predictions"]
    assert prediction["label"] == int(PROBABILITIES[0].argmax())
    assert len(prediction["probabilities"]) == 10


@pytest.mark.parametrize("kind", [content_types.CSV, content_types.JSONLINES])
def test_line_outputs_have_one_line_per_image(kind):
    # Batch transform joins output lines to input records one to one.
    assert encoders.encode(PROBABILITIES, kind).decode().count("\n") == len(PROBABILITIES)
