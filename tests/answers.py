"""The client's side of the endpoint's answers: a response body read back into what it says."""
import io
import json

import numpy as np

from sagemaker_mnist.codecs.content_types import CSV, JSON, JSONLINES, NPY, media_type


def decode_output(body, content_type):
    """Reads a response back into (labels, probabilities)."""
    kind = media_type(content_type)
    if kind == JSON:
        rows = json.loads(body)["predictions"]
    elif kind == JSONLINES:
        rows = [json.loads(line) for line in body.splitlines() if line.strip()]
    elif kind == CSV:
        values = np.loadtxt(io.StringIO(body.decode()), delimiter=",", ndmin=2)
        return values[:, 0].astype(int), values[:, 1:]
    elif kind == NPY:
        probabilities = np.lib.format.read_array(io.BytesIO(body), allow_pickle=False)
        return probabilities.argmax(axis=1), probabilities
    else:
        raise ValueError("not an output type: %r" % content_type)
    return (np.array([row["label"] for row in rows]), np.array([row["probabilities"] for row in rows]))
