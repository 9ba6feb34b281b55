"""The MNIST endpoint's content types: what each one holds, and which one an Accept header asks for.

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
A request without a Content-Type (or an empty one) has its body's format recognised (the decoders'
sniffing); one that is not a media type at all (";;;===") is refused with a 415 (request_type).

Outputs (Accept)
  application/json       {"predictions": [{"label": 7, "probabilities": [10 numbers]}, ...]}
  application/jsonlines  one {"label": ..., "probabilities": [...]} line per image
  text/csv               one row per image: label, then the ten probabilities
  application/x-npy      float32 N x 10 probabilities

sagemaker_mnist.codecs.decoders reads the inputs, sagemaker_mnist.codecs.encoders writes the outputs.
"""
import re

from sagemaker_mnist import images
from sagemaker_mnist.errors import NotAcceptable, UnsupportedContentType

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
ARRAY_SHAPES = "28x28, 784, N x 28 x 28, N x 784 or N x 1 x 28 x 28"
_PIXEL_RANGE = "pixel values 0-255 or 0-1"

ACCEPTED_INPUTS = {
    JSON: "one image as a 28x28 nested list or a flat list of 784 numbers, a list of such images, "
          "or {\"instances\": [...]}; " + _PIXEL_RANGE,
    CSV: "one image per row, 784 comma-separated numbers; " + _PIXEL_RANGE,
    JSONLINES: "exactly one image per line, each a 28x28 nested list or a flat list of 784 numbers; "
               + _PIXEL_RANGE,
    NPY: "an .npy array of numbers (no pickled objects), shape " + ARRAY_SHAPES + "; " + _PIXEL_RANGE,
    PNG: images.ACCEPTED,
    JPEG: images.ACCEPTED,
    X_IMAGE: images.ACCEPTED,
}


# RFC 9110's grammar: type "/" subtype *( OWS ";" OWS [ parameter ] ), a parameter token "=" (token or
# quoted string). Empty parameters (";;", a trailing ";") are allowed, as the RFC allows them.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAMETER = r'%s\s*=\s*(?:%s|"(?:[^"\\\r\n]|\\.)*")' % (_TOKEN, _TOKEN)
# Each part can match in one way only, so a long header fails in linear time.
_MEDIA_TYPE = re.compile(r"\s*%s/%s\s*(?:;\s*(?:%s\s*)?)*" % (_TOKEN, _TOKEN, _PARAMETER))
_SHOWN = 100  # characters of a header a message repeats


def media_type(header):
    """The bare media type of a Content-Type or Accept item: lower case, parameters dropped."""
    kind = header.split(";", 1)[0].strip().lower()
    return _ALIASES.get(kind, kind)


def request_type(header):
    """The bare media type of a request's Content-Type header: "" when there is none or it is
    empty (the body's format is then recognised from its first bytes), else type/subtype in lower
    case, aliases resolved. A header that is not a media type is a ClientError 415: guessing the
    format of a body whose client said something unreadable about it would answer a question the
    client did not ask."""
    if header is None or not header.strip():
        return ""
    if not _MEDIA_TYPE.fullmatch(header):
        shown = header if len(header) <= _SHOWN else header[:_SHOWN] + "..."
        raise UnsupportedContentType(
            "Content-Type %r is not a media type (type/subtype, optionally followed by ; name=value "
            "parameters); send one of %s, or no Content-Type to have the body's format recognised"
            % (shown, ", ".join(INPUT_TYPES)), {"content_types": list(INPUT_TYPES)})
    return media_type(header)


def wants_kind(accept):
    """Whether the Accept header asks for the handwritten-or-printed kind in CSV and npy answers
    (a `kind=true` parameter on any of its types; JSON answers always carry it)."""
    if not accept or "kind" not in accept.lower():
        return False
    for item in accept.split(","):
        for parameter in item.split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "kind" and value.strip().strip('"').lower() in ("true", "1", "yes"):
                return True
    return False


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
