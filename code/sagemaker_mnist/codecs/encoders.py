"""Response encoders of the MNIST endpoint, one per output type (sagemaker_mnist.codecs.content_types).

Every encoder takes the N x 10 class probabilities and returns the response body as bytes.
For batch transform, CSV and JSON lines responses have exactly one line per input record, so
SageMaker can join them with the input (AssembleWith=Line, JoinSource=Input).
"""
import io

import numpy as np

from sagemaker_mnist.codecs.content_types import CSV, JSON, JSONLINES, NPY


def encode(probabilities, accept):
    """Encodes N x 10 probabilities (numpy) as `accept` (one of OUTPUT_TYPES); returns bytes."""
    return _ENCODERS[accept](np.asarray(probabilities, dtype=np.float32))


def _rows(probabilities):
    """(label, "p0,p1,...,p9") per image; 6 significant digits are more than float32 softmax carries
    meaningfully and keep responses short."""
    labels = probabilities.argmax(axis=1).tolist()
    formatted = [",".join(["%.6g" % p for p in row]) for row in probabilities.tolist()]
    return zip(labels, formatted)


def _encode_json(probabilities):
    items = ['{"label":%d,"probabilities":[%s]}' % row for row in _rows(probabilities)]
    return ('{"predictions":[' + ",".join(items) + "]}").encode()


def _encode_jsonlines(probabilities):
    return "".join('{"label":%d,"probabilities":[%s]}\n' % row for row in _rows(probabilities)).encode()


def _encode_csv(probabilities):
    return "".join("%d,%s\n" % row for row in _rows(probabilities)).encode()


def _encode_npy(probabilities):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(probabilities), allow_pickle=False)
    return buffer.getvalue()


_ENCODERS = {JSON: _encode_json, JSONLINES: _encode_jsonlines, CSV: _encode_csv, NPY: _encode_npy}
