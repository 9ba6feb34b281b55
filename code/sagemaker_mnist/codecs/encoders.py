"""Response encoders of the MNIST endpoint, one per output type (sagemaker_mnist.codecs.content_types).

Every encoder takes the N x 10 class probabilities and returns the response body as bytes.
For batch transform, CSV and JSON lines responses have exactly one line per input record, so
SageMaker can join them with the input (AssembleWith=Line, JoinSource=Input).

A model with the kind head (sagemaker_mnist.model.KINDS) adds an 11th column, the probability
that the digit is printed. JSON and JSON lines then give each digit's "kind" ("handwritten" or
"printed") and "kind_probability" (the probability of that kind). CSV and npy keep their ten
columns, so that consumers that read `label,p0..p9` do not break, unless the client asks for the
kind (with_kind: `Accept: text/csv; kind=true`): CSV rows then end with the kind and its
probability, npy arrays keep the 11th column.
"""
import io

import numpy as np

from sagemaker_mnist.codecs.content_types import CSV, JSON, JSONLINES, NPY


DIGITS = 10
KINDS = ("handwritten", "printed")  # sagemaker_mnist.model.KINDS, in the order of their column


def encode(probabilities, accept, with_kind=False):
    """Encodes N x 10 (or N x 11, with the kind) probabilities (numpy) as `accept` (one of
    OUTPUT_TYPES); returns bytes. with_kind: CSV and npy carry the kind too."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.ndim == 2 and probabilities.shape[1] > DIGITS and not with_kind and accept in (CSV, NPY):
        probabilities = probabilities[:, :DIGITS]
    return _ENCODERS[accept](probabilities)


def _rows(probabilities):
    """(label, "p0,p1,...,p9") per image; 6 significant digits are more than float32 softmax carries
    meaningfully and keep responses short."""
    labels = probabilities[:, :DIGITS].argmax(axis=1).tolist()
    formatted = [",".join(["%.6g" % p for p in row]) for row in probabilities[:, :DIGITS].tolist()]
    return zip(labels, formatted)


def _kinds(probabilities):
    """(kind, its probability) per image, from the 11th column (the probability of printed)."""
    return [(KINDS[p >= 0.5], p if p >= 0.5 else 1.0 - p) for p in probabilities[:, DIGITS].tolist()]


def _json_items(probabilities):
    # Without the kind, the request path's format as it was before the kind head.
    if probabilities.shape[1] <= DIGITS:
        return ['{"label":%d,"probabilities":[%s]}' % row for row in _rows(probabilities)]
    return ['{"label":%d,"probabilities":[%s],"kind":"%s","kind_probability":%.6g}' % (row + kind)
            for row, kind in zip(_rows(probabilities), _kinds(probabilities))]


def _encode_json(probabilities):
    return ('{"predictions":[' + ",".join(_json_items(probabilities)) + "]}").encode()


def _encode_jsonlines(probabilities):
    return "".join(item + "\n" for item in _json_items(probabilities)).encode()


def _encode_csv(probabilities):
    if probabilities.shape[1] <= DIGITS:
        return "".join("%d,%s\n" % row for row in _rows(probabilities)).encode()
    return "".join("%d,%s,%s,%.6g\n" % (row + kind)
                   for row, kind in zip(_rows(probabilities), _kinds(probabilities))).encode()


def _encode_npy(probabilities):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(probabilities), allow_pickle=False)
    return buffer.getvalue()


_ENCODERS = {JSON: _encode_json, JSONLINES: _encode_jsonlines, CSV: _encode_csv, NPY: _encode_npy}
