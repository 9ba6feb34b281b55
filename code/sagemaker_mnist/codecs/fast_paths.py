"""Byte-level readers for request bodies that hold nothing but non-negative integers.

The decoders try these first. Each one either returns exactly the integers the general parser
(json.loads or np.loadtxt) would read from the body, or None, and then the body goes to the
general parser, which also words the errors. None of them scales, or checks the range of, the
pixel values: that is the decoders' job.

  integer_rows(data)         CSV rows of 784 integers                  -> int32 N x 784
  integer_rows_in_slices     the same, a few MB of whole lines at a time (large bodies)
  flat_integer_lines(data)   JSON lines that are each a flat list       -> int32 N x 784
  integer_images(data)       JSON of integers 0-255, 28x28 or 784 each  -> int64 N x 28 x 28
"""
import numpy as np

from sagemaker_mnist.codecs.content_types import PIXELS, SIDE

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
# integer_rows' index arrays take about 15 bytes per character of the text it reads: a 100 MB body
# (an asynchronous endpoint's) read at once would need 1.5 GB, in slices of this size 60 MB.
SLICE_BYTES = 4 * 2**20


def integer_rows(data, leading_zeros=True):
    """Rows of PIXELS non-negative integers separated by commas (a space may follow a comma),
    or None. With leading_zeros False, a number written with one ("007") makes it None."""
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
    # CSV readers take "007" as 7; JSON has no leading zeros, and json.loads refuses them. More digits
    # than the values need means some (a quarter of the cost of looking at each number's first digit).
    if not leading_zeros and len(chars) - len(separators) != values.size + sum(
            int(np.count_nonzero(values >= 10 ** place)) for place in range(1, longest)):
        return None
    return values.reshape(rows, PIXELS)


def integer_rows_in_slices(data, slice_bytes=SLICE_BYTES):
    """integer_rows of `data` read a slice of whole lines at a time, the rows joined; None when a
    slice is not such rows. Blank lines where a slice ends are passed over, as the general parser
    passes over blank lines."""
    if len(data) <= slice_bytes:
        return integer_rows(data)
    parts, start = [], 0
    while start < len(data):
        end = data.find(b"\n", start + slice_bytes)
        end = len(data) if end < 0 else end + 1
        piece, start = data[start:end], end
        if not piece.strip(b"\r\n"):
            continue  # blank lines after the last row
        rows = integer_rows(piece)
        if rows is None:
            return None
        parts.append(rows)
    return np.concatenate(parts) if parts else None


def flat_integer_lines(data):
    """JSON lines that are each one flat list of PIXELS non-negative integers, or None."""
    data = data.replace(b"\r\n", b"\n").replace(b", ", b",").strip(b"\n")
    lines = data.count(b"\n") + 1
    if not data.startswith(b"[") or not data.endswith(b"]") or data.count(b"[") != lines \
            or data.count(b"]") != lines or data.count(b"]\n[") != lines - 1:
        return None
    # With one [ opening and one ] closing every line, what lies between must be integers.
    return integer_rows(data[1:-1].replace(b"]\n[", b"\n"), leading_zeros=False)


# A single image in JSON, the endpoint's commonest request, is a few thousand characters of integers:
# json.loads plus NumPy took 185 us for it, more than half the net's forward pass. Bodies that hold
# only integers 0-255 in one of the usual layouts (28x28, 784, or lists of either) are read here in
# about 50 us with NumPy's own integer parser; anything else, valid or not, goes to json.loads and the
# general checks, which also word the errors.
_WHITESPACE = b" \t\r\n"
_JSON_INTEGER_CHARACTERS = b"0123456789,[]" + _WHITESPACE
_FLAT_SKELETON = b"[" + b"," * (PIXELS - 1) + b"]"
_NESTED_SKELETON = b"[" + b",".join([b"[" + b"," * (SIDE - 1) + b"]"] * SIDE) + b"]"


def integer_images(data):
    """The pixels (int64 N x 28 x 28, N >= 1, each 0-255) of JSON that is nothing but integers 0-255
    in a layout the decoders accept, or None."""
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
    return values.reshape(-1, SIDE, SIDE)
