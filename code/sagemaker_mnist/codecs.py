"""Request decoders and response encoders of the MNIST endpoint, one per content type.

Every decoder returns a float32 array N x 28 x 28 in MNIST's form (ink bright on dark, 0 to 1);
every encoder takes the N x 10 class probabilities. Anything a client can get wrong raises a
ClientError (4xx) that says what was wrong and what is accepted; no request reaches the model
unchecked, and none can make the worker fail.

Inputs (Content-Type)
  application/json       one image (28x28 nested, or 784 flat), a list of images, or
                         {"instances": [...]} (the SageMaker SDK's JSONSerializer form)
  text/csv               one image per row, 784 values
  application/jsonlines  exactly one image per line (28x28 or 784), as batch transform splits it
  application/x-npy      an .npy array of shape 28x28, 784, N x 28 x 28, N x 784 or N x 1 x 28 x 28;
                         read without pickle, so no code in a request ever runs
  image/png, image/jpeg, application/x-image
                         one picture of a digit, any size and colour (see sagemaker_mnist.images)
Array pixel values are 0-255 or 0-1: an image with any value above 1 is read as 0-255.

Outputs (Accept)
  application/json       {"predictions": [{"label": 7, "probabilities": [10 numbers]}, ...]}
  application/jsonlines  one {"label": ..., "probabilities": [...]} line per image
  text/csv               one row per image: label, then the ten probabilities
  application/x-npy      float32 N x 10 probabilities
For batch transform, CSV and JSON lines responses have exactly one line per input record, so
SageMaker can join them with the input (AssembleWith=Line, JoinSource=Input).
"""
import io
import json
import math

import numpy as np

from sagemaker_mnist import images
from sagemaker_mnist.errors import BadRequest, NotAcceptable, UnsupportedContentType

JSON = "application/json"
CSV = "text/csv"
JSONLINES = "application/jsonlines"
NPY = "application/x-npy"
PNG = "image/png"
JPEG = "image/jpeg"
X_IMAGE = "application/x-image"
OCTET_STREAM = "application/octet-stream"
ANY = "*/*"

INPUT_TYPES = (JSON, CSV, JSONLINES, NPY, PNG, JPEG, X_IMAGE)
OUTPUT_TYPES = (JSON, CSV, JSONLINES, NPY)
# Spellings clients use for the same formats.
_ALIASES = {
    "application/x-jsonlines": JSONLINES,
    "application/jsonl": JSONLINES,
    "application/x-ndjson": JSONLINES,
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
}

SIDE = 28
PIXELS = SIDE * SIDE
_ARRAY_SHAPES = "28x28, 784, N x 28 x 28, N x 784 or N x 1 x 28 x 28"
_PIXEL_RANGE = "pixel values 0-255 or 0-1"
_NPY_MAGIC = b"\x93NUMPY"

ACCEPTED_INPUTS = {
    JSON: "one image as a 28x28 nested list or a flat list of 784 numbers, a list of such images, "
          "or {\"instances\": [...]}; " + _PIXEL_RANGE,
    CSV: "one image per row, 784 comma-separated numbers; " + _PIXEL_RANGE,
    JSONLINES: "exactly one image per line, each a 28x28 nested list or a flat list of 784 numbers; "
               + _PIXEL_RANGE,
    NPY: "an .npy array of numbers (no pickled objects), shape " + _ARRAY_SHAPES + "; " + _PIXEL_RANGE,
    PNG: images.ACCEPTED,
    JPEG: images.ACCEPTED,
    X_IMAGE: images.ACCEPTED,
}


def media_type(header):
    """The bare media type of a Content-Type or Accept item: lower case, parameters dropped."""
    kind = header.split(";", 1)[0].strip().lower()
    return _ALIASES.get(kind, kind)


# --- Decoding

def decode(body, content_type):
    """Decodes a request body (bytes, bytearray or str) into float32 images N x 28 x 28 in [0, 1]."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    kind = media_type(content_type) if content_type else ""
    if kind not in ("", OCTET_STREAM) and kind not in _DECODERS:
        raise UnsupportedContentType("content type %r is not supported" % content_type,
                                     {"content_types": list(INPUT_TYPES)})
    if not body or kind in _TEXT_TYPES and not bytes(body[:4096]).strip():
        raise BadRequest("the request body is empty", ACCEPTED_INPUTS.get(kind) or {"content_types": list(INPUT_TYPES)})
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
    fast = _integer_images(bytes(body))
    if fast is not None:
        return fast
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
    rows = _flat_integer_lines(bytes(body))
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
    rows = _integer_rows(bytes(body))
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


# Batch transform sends thousands of images per request, mostly as integer pixels; parsing them
# number by number (np.loadtxt, json) costs more than the net's forward pass. Text that holds only
# digits, commas and line ends is parsed here in a few vectorised passes instead; anything else
# (decimals, signs, spaces, NaN, a wrong row) goes to the general parsers, which also word the errors.
_DIGIT, _COMMA, _NEWLINE, _OTHER = 0, 1, 2, 3
_CHARACTER_CLASS = np.full(256, _OTHER, dtype=np.uint8)
_CHARACTER_CLASS[np.frombuffer(b"0123456789", dtype=np.uint8)] = _DIGIT
_CHARACTER_CLASS[ord(",")] = _COMMA
_CHARACTER_CLASS[ord("\n")] = _NEWLINE
_MAX_DIGITS = 9


def _integer_rows(data):
    """Rows of PIXELS non-negative integers separated by commas (a space may follow a comma),
    or None."""
    data = data.replace(b"\r\n", b"\n").replace(b", ", b",").strip(b"\n")
    if not data or b"\n\n" in data:
        return None
    chars = np.frombuffer(data + b"\n", dtype=np.uint8)
    kinds = _CHARACTER_CLASS[chars]
    if (kinds == _OTHER).any():
        return None
    separators = np.flatnonzero(kinds)
    rows = int(np.count_nonzero(kinds == _NEWLINE))
    if len(separators) != rows * PIXELS or \
            not (kinds[separators[PIXELS - 1::PIXELS]] == _NEWLINE).all():
        return None
    # Field k is the digits just before separator k.
    lengths = np.diff(separators, prepend=-1) - 1
    longest = int(lengths.max())
    if lengths.min() < 1 or longest > _MAX_DIGITS:
        return None
    digits = chars.astype(np.int32) - ord("0")
    values = digits[separators - 1]
    for place in range(1, longest):
        has = lengths > place
        values[has] += digits[separators[has] - 1 - place] * 10 ** place
    return values.reshape(rows, PIXELS)


def _flat_integer_lines(data):
    """JSON lines that are each one flat list of PIXELS non-negative integers, or None."""
    data = data.replace(b"\r\n", b"\n").replace(b", ", b",").strip(b"\n")
    lines = data.count(b"\n") + 1
    if not data.startswith(b"[") or not data.endswith(b"]") or data.count(b"[") != lines \
            or data.count(b"]") != lines or data.count(b"]\n[") != lines - 1:
        return None
    # With one [ opening and one ] closing every line, what lies between must be integers.
    return _integer_rows(data[1:-1].replace(b"]\n[", b"\n"))


# A single image in JSON, the endpoint's commonest request, is a few thousand characters of integers:
# json.loads plus NumPy took 185 us for it, more than half the net's forward pass. Bodies that hold
# only integers 0-255 in one of the usual layouts (28x28, 784, or lists of either) are read here in
# about 50 us with NumPy's own integer parser; anything else, valid or not, goes to json.loads and the
# general checks, which also word the errors.
_WHITESPACE = b" \t\r\n"
_JSON_INTEGER_CHARACTERS = b"0123456789,[]" + _WHITESPACE
_FLAT_SKELETON = b"[" + b"," * (PIXELS - 1) + b"]"
_NESTED_SKELETON = b"[" + b",".join([b"[" + b"," * (SIDE - 1) + b"]"] * SIDE) + b"]"


def _integer_images(data):
    """Images N x 28 x 28 (float32, 0-1) from JSON that is nothing but integers 0-255 in a layout
    to_images accepts, or None."""
    if len(data) > 64 * 2**10 or data.translate(None, _JSON_INTEGER_CHARACTERS):
        return None
    # What is left without the digits and whitespace says the layout; every field must be non-empty.
    skeleton = data.translate(None, b"0123456789" + _WHITESPACE)
    for one in (_NESTED_SKELETON, _FLAT_SKELETON):
        count = (len(skeleton) + 1) // (len(one) + 1)
        if skeleton == one or skeleton == b"[" + b",".join([one] * count) + b"]":
            break
    else:
        return None
    numbers = data.translate(None, b"[]" + _WHITESPACE)
    if b",," in numbers or numbers.startswith(b",") or numbers.endswith(b","):
        return None
    # With the whitespace kept, two numbers split by it alone stop the parser: NumPy 2 raises,
    # NumPy 1 warns and returns fewer values than the commas say.
    try:
        values = np.fromstring(data.translate(None, b"[]"), dtype=np.int64, sep=",")
    except ValueError:
        return None
    if values.size == 0 or values.size % PIXELS or values.size != numbers.count(b",") + 1:
        return None
    if int(values.max()) > 255:
        return None
    # JSON has no leading zeros ("007"): more digits than the values need means some.
    digits = len(numbers) - (values.size - 1)
    if digits != values.size + int(np.count_nonzero(values >= 10)) + int(np.count_nonzero(values >= 100)):
        return None
    return _unit_range(values.reshape(-1, SIDE, SIDE).astype(np.float32))


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
        raise BadRequest("%s are not a regular array of numbers (%s)" % (what, _first_line(e)), accepted) from e
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
        raise BadRequest("images must have shape %s; got %s" % (_ARRAY_SHAPES, shape or "a single number"),
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


# --- Encoding

def negotiate(accept, default=JSON):
    """The output type for an Accept header (a list, with optional q-values) or ClientError 406."""
    if not accept:
        return default
    offered = []
    for position, item in enumerate(accept.split(",")):
        kind = media_type(item)
        if not kind:
            continue
        quality = 1.0
        for parameter in item.split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        offered.append((-quality, position, kind))
    for quality, _, kind in sorted(offered):
        if quality == 0:
            break
        if kind in OUTPUT_TYPES:
            return kind
        if kind == ANY:
            return default
        if kind.endswith("/*"):
            family = kind[:-1]
            match = [t for t in (default,) + OUTPUT_TYPES if t.startswith(family)]
            if match:
                return match[0]
    raise NotAcceptable("none of the accepted types %r can be produced" % accept,
                        {"accept": list(OUTPUT_TYPES)})


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


def decode_output(body, content_type):
    """Reads a response back into (labels, probabilities): for tests, benchmarks and clients."""
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
