"""Request decoders of the MNIST endpoint, one per content type (sagemaker_mnist.codecs.content_types).

Every decoder returns a float32 array N x 28 x 28 in MNIST's form (ink bright on dark, 0 to 1).
Anything a client can get wrong raises a ClientError (4xx) that says what was wrong and what is
accepted; no request reaches the model unchecked, and none can make the worker fail.
"""
import io
import json
import math

import numpy as np

from sagemaker_mnist import images
from sagemaker_mnist.codecs import fast_paths
from sagemaker_mnist.codecs.content_types import (ACCEPTED_INPUTS, ARRAY_SHAPES, CSV, INPUT_TYPES, JPEG, JSON,
                                                  JSONLINES, NPY, OCTET_STREAM, PIXELS, PNG, SIDE, X_IMAGE,
                                                  request_type)
from sagemaker_mnist.errors import BadRequest, UnsupportedContentType

_NPY_MAGIC = b"\x93NUMPY"
# What spreadsheet programs put before the text of a CSV they save as UTF-8 (and some editors before
# JSON). It is not part of the text: a text body loses it before anything reads it, so the fast paths
# read such a body as fast as any other.
UTF8_BOM = b"\xef\xbb\xbf"


def decode(body, content_type):
    """Decodes a request body (bytes, bytearray or str) into float32 images N x 28 x 28 in [0, 1]."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    kind = request_type(content_type)
    if kind not in ("", OCTET_STREAM) and kind not in _DECODERS:
        raise UnsupportedContentType("content type %r is not supported" % content_type,
                                     {"content_types": list(INPUT_TYPES)})
    # No binary format this endpoint reads begins with the mark, so a body to be sniffed loses it too.
    if kind in _TEXT_TYPES + ("", OCTET_STREAM) and body[:len(UTF8_BOM)] == UTF8_BOM:
        body = body[len(UTF8_BOM):]
    if not body or kind in _TEXT_TYPES and not bytes(body[:4096]).strip():
        raise BadRequest("the request body is empty",
                         ACCEPTED_INPUTS.get(kind) or {"content_types": list(INPUT_TYPES)})
    if kind in ("", OCTET_STREAM):
        kind = _sniff(body)
    return _DECODERS[kind](body)


def _sniff(body):
    """Guesses the format of a body sent without a content type (or as octet-stream)."""
    head = bytes(body[:16])
    if head.startswith(b"\x89PNG"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(_NPY_MAGIC):
        return NPY
    if head.lstrip()[:1] in (b"[", b"{"):
        return JSON
    raise UnsupportedContentType(
        "the request has no content type the endpoint understands and its body is not recognisable "
        "as JSON, .npy, PNG or JPEG; set Content-Type", {"content_types": list(INPUT_TYPES)})


def _decode_json(body):
    fast = fast_paths.integer_images(bytes(body))
    if fast is not None:
        # Integers 0-255 in an accepted layout: to_images would find nothing to refuse.
        return _unit_range(fast.astype(np.float32))
    accepted = ACCEPTED_INPUTS[JSON]
    value = _parse_json(body, accepted)
    if isinstance(value, dict):
        if "instances" not in value:
            raise BadRequest("a JSON object must hold the images in an \"instances\" list; got keys %s"
                             % sorted(value)[:10], accepted)
        value = value["instances"]
    if isinstance(value, list) and not value:
        raise BadRequest("the request holds no images (an empty list)", accepted)
    return to_images(_numbers(value, accepted), accepted)


def _decode_jsonlines(body):
    accepted = ACCEPTED_INPUTS[JSONLINES]
    rows = fast_paths.flat_integer_lines(bytes(body))
    if rows is not None:
        return to_images(rows, accepted)
    # Each line on its own: batch transform joins answers to records line by line, so a line must
    # be exactly one record. (Parsed as one JSON list, "[...],[...]" on a line would be two images.)
    records = []
    for number, line in enumerate(bytes(body).splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise _bad_line(number, "it is not one JSON value (%s at column %d)" % (e.msg, e.colno)) from e
        except (ValueError, RecursionError) as e:
            # ValueError: a line that is not UTF-8.
            raise _bad_line(number, "it is not one JSON value (%s)" % _first_line(e)) from e
        try:
            record = _numbers(value, accepted, what="its values")
        except BadRequest as e:
            raise _bad_line(number, e.message) from e
        if record.shape not in ((PIXELS,), (SIDE, SIDE)):
            raise _bad_line(number, "it holds %s" % ("an array of shape %s" % (record.shape,) if record.ndim
                                                      else "a single number"))
        records.append(record.reshape(SIDE, SIDE))
    # decode() refused a blank body, so there is at least one record.
    return to_images(np.stack(records), accepted)


def _bad_line(number, why):
    return BadRequest("line %d must be exactly one image, a flat list of 784 numbers or a 28x28 nested "
                      "list; %s" % (number, why), ACCEPTED_INPUTS[JSONLINES])


def _decode_csv(body):
    accepted = ACCEPTED_INPUTS[CSV]
    rows = fast_paths.integer_rows_in_slices(bytes(body))
    if rows is not None:
        return to_images(rows, accepted)
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest("the CSV body is not UTF-8 text (%s)" % e, accepted) from e
    lines = [line for line in text.splitlines() if line.strip()]
    widths = {line.count(",") + 1 for line in lines}
    if widths != {PIXELS}:
        bad = next(n for n, line in enumerate(lines, 1) if line.count(",") + 1 != PIXELS)
        raise BadRequest("every row must hold 784 values; row %d holds %d"
                         % (bad, lines[bad - 1].count(",") + 1), accepted)
    try:
        array = np.loadtxt(lines, delimiter=",", dtype=np.float32, ndmin=2)
    except ValueError as e:
        raise BadRequest("the CSV holds something that is not a number (%s)" % e, accepted) from e
    return to_images(array, accepted)


def _decode_npy(body):
    accepted = ACCEPTED_INPUTS[NPY]
    stream = io.BytesIO(body)
    # The header is parsed by hand, not by np.load: np.load would allocate whatever size a header
    # claims before reading the data, and would unpickle object arrays if asked to.
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError("unsupported .npy format version %s" % (version,))
    except (ValueError, SyntaxError, TypeError) as e:
        raise BadRequest("the body is not a readable .npy array (%s)" % e, accepted) from e
    if dtype.hasobject:
        raise BadRequest("the .npy array holds Python objects, which would need unpickling; "
                         "send numbers", accepted)
    if dtype.kind not in "iuf":
        raise BadRequest("the .npy array has dtype %s; send integers or floats" % dtype, accepted)
    if any(side < 0 for side in shape):
        raise BadRequest("the .npy header has a negative shape %s" % (shape,), accepted)
    count = math.prod(shape)
    offset = stream.tell()
    if len(body) - offset != count * dtype.itemsize:
        raise BadRequest("the .npy header describes %s %s values but the body holds %d bytes of data"
                         % (shape, dtype, len(body) - offset), accepted)
    array = np.frombuffer(body, dtype=dtype, count=count, offset=offset)
    array = array.reshape(shape, order="F" if fortran_order else "C")
    return to_images(array, accepted)


def _decode_image(body):
    return images.decode(bytes(body))[np.newaxis]


_TEXT_TYPES = (JSON, CSV, JSONLINES)
_DECODERS = {
    JSON: _decode_json,
    CSV: _decode_csv,
    JSONLINES: _decode_jsonlines,
    NPY: _decode_npy,
    PNG: _decode_image,
    JPEG: _decode_image,
    X_IMAGE: _decode_image,
}


def _parse_json(body, accepted, where="the body"):
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as e:
        # ValueError covers JSONDecodeError and bodies that are not UTF-8.
        raise BadRequest("%s is not valid JSON (%s)" % (where, e), accepted) from e


def _numbers(value, accepted, what="the images"):
    """A nested list of numbers as an array, refusing ragged lists, strings, booleans and nulls."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as e:
        raise BadRequest("%s are not a regular array of numbers (%s)" % (what, _first_line(e)),
                         accepted) from e
    if array.dtype.kind not in "iuf":
        raise BadRequest("%s must be numbers; got %s" % (what, _describe_kind(array)), accepted)
    return array


def _describe_kind(array):
    if array.dtype.kind == "b":
        return "true/false values"
    if array.dtype.kind in "US":
        return "strings"
    if array.dtype.kind == "O":
        return "nulls or objects"
    return "values of type %s" % array.dtype


def _first_line(error):
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def to_images(array, accepted):
    """Checks an array of pixel values and returns it as float32 N x 28 x 28 in [0, 1]."""
    shape = array.shape
    if shape in ((SIDE, SIDE), (PIXELS,)):
        array = array.reshape(1, SIDE, SIDE)
    elif array.ndim == 2 and shape[1] == PIXELS or array.ndim == 3 and shape[1:] == (SIDE, SIDE) \
            or array.ndim == 4 and shape[1:] == (1, SIDE, SIDE):
        array = array.reshape(shape[0], SIDE, SIDE)
    else:
        raise BadRequest("images must have shape %s; got %s" % (ARRAY_SHAPES, shape or "a single number"),
                         accepted)
    if array.shape[0] == 0:
        raise BadRequest("the request holds no images", accepted)
    images_ = np.array(array, dtype=np.float32)
    if not np.isfinite(images_).all():
        raise BadRequest("pixel values must be finite numbers; the request holds NaN or infinity", accepted)
    flat = images_.reshape(len(images_), -1)
    low, high = float(flat.min()), float(flat.max())
    if low < 0 or high > 255:
        raise BadRequest("pixel values must lie in 0-255 (or 0-1); the request holds values from %g to %g"
                         % (low, high), accepted)
    return _unit_range(images_)


def _unit_range(images_):
    """Scales float32 images N x 28 x 28 with pixels in 0-255 or 0-1, in place, to 0-1."""
    # Each image on its own scale: 0-255 if any of its pixels is above 1, else already 0-1.
    in_bytes = images_.reshape(len(images_), -1).max(axis=1) > 1.0
    if in_bytes.all():
        images_ *= np.float32(1 / 255)
    elif in_bytes.any():
        images_[in_bytes] *= np.float32(1 / 255)
    return images_
