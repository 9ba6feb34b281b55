"""sagemaker_mnist.codecs.fast_paths against the general parsers, on generated bodies: each fast reader
returns exactly the array that json.loads or np.loadtxt reads from the same body, or None (and the
decoder falls back to the general parser); never a different answer.

The bodies come from a seeded generator, a few hundred per reader: integer images in the layouts
clients send (784, 28x28, N x 784, N x 28 x 28) with varied white space and line ends, which the fast
readers must take, and the same with one thing broken that they must leave to the general parser:
a decimal, a sign, an exponent, a leading zero, a number too big, a stray character, a value missing
or one too many, a record boundary moved.
"""
import json

import numpy as np
import pytest

from sagemaker_mnist.codecs import fast_paths

pytestmark = pytest.mark.unit

CASES = 300
SIDE, PIXELS = 28, 784
# Values no fast reader may take as an integer; each is read by a general parser, or refused by it.
NOT_INTEGERS = ["1.0", "0.5", "-1", "-0", "+1", "1e2", "1E+2", "NaN", "nan", "Infinity", "inf", "true",
                "null", '"7"', "1 2", "", "0x1f", "7a", "\u0663"]
LEADING_ZEROS = ["007", "00", "0255"]
# 10 digits past int32 and within it, past int64, 2**64 + 5 (which wraps to 5).
BIG = ["9999999999", "1234567890", "99999999999999999999", "18446744073709551621"]
# Each bad value is in this many bodies per reader, besides those drawn at random.
EACH_BAD_VALUE = 3
STRAYS = ["x", "{", "}", "]", "[", ",", ":", ".", "-", "\"", "\r", "\n", " ", "\t", "\x00", "\ufeff"]


def _records(rng, widest=255):
    """1 to 4 images of PIXELS integer pixels each (mostly 0, as in MNIST), as lists of tokens."""
    values = rng.integers(0, widest + 1, (int(rng.integers(1, 5)), PIXELS))
    values[rng.random(values.shape) < 0.6] = 0
    return [[str(v) for v in row] for row in values.tolist()]


def _break(records, rng, bad_values, value=None):
    """Changes one thing in the records: a value (to `value` if given), a value missing or one too
    many, or (with more than one record) the boundary between two records moved by one value.
    Returns what it did."""
    r = int(rng.integers(len(records)))
    i = int(rng.integers(len(records[r])))
    how = 0 if value is not None else int(rng.integers(4))
    if how == 0 or how == 3 and len(records) == 1:
        records[r][i] = value if value is not None else bad_values[int(rng.integers(len(bad_values)))]
        return "value %r" % records[r][i]
    if how == 1:
        del records[r][i]
        return "a value missing"
    if how == 2:
        records[r].insert(i, "0")
        return "a value too many"
    records[(r + 1) % len(records)].insert(0, records[r].pop())
    return "a record boundary moved"


def _case(rng, text, broken, records):
    """(body, what was broken or None, the integers N x 784 it holds when nothing was); a stray
    character in a fifth of the bodies not broken yet."""
    if broken is None and rng.random() < 0.2:
        at = int(rng.integers(len(text) + 1))
        text, broken = text[:at] + STRAYS[int(rng.integers(len(STRAYS)))] + text[at:], "a stray character"
    return text.encode(), broken, None if broken else np.array([[int(v) for v in r] for r in records])


def _rows(rng, records, before="", after=""):
    """One line per record, its values split by commas, or by a comma and a space."""
    separator = ", " if rng.integers(2) else ","
    return [before + separator.join(r) + after for r in records]


def _lines(rng, lines):
    """The lines ended by LF or CRLF, maybe after a blank line and before blank lines."""
    end = "\r\n" if rng.integers(2) else "\n"
    return "\n" * int(rng.integers(2)) + end.join(lines) + end * int(rng.integers(3))


def _cases(make, seed, bad_values):
    """CASES bodies from make(rng), broken in 60% of them, and EACH_BAD_VALUE with each bad value in
    them, from make(rng, value); each as _case returns it."""
    rng = np.random.default_rng(seed)
    return [make(rng) for _ in range(CASES)] + [make(rng, value) for value in bad_values
                                                for _ in range(EACH_BAD_VALUE)]


def _agrees(cases, read_fast, read_general, differs):
    """Asserts that read_fast reads every clean body as the generator wrote it, and any body at all
    as read_general does (differs(fast, general) says how they differ, or None), or declines it."""
    wrong, taken = [], 0
    for number, (body, broken, expected) in enumerate(cases):
        fast = read_fast(body)
        if fast is None:
            if expected is not None:
                wrong.append((number, "declined a clean body"))
            continue
        taken += 1
        try:
            general = read_general(body)
        except ValueError as e:
            wrong.append((number, broken, "read a body the general parser refuses (%s)" % e))
            continue
        why = differs(fast, general)
        if why is None and expected is not None and not np.array_equal(fast.reshape(len(fast), -1), expected):
            why = "read other values than the body holds"
        if why:
            wrong.append((number, broken, why))
    assert not wrong, wrong[:5]
    # Neither side is empty: the clean bodies and a few broken ones take the fast path, the rest not.
    assert sum(expected is not None for _, _, expected in cases) <= taken < len(cases)


# --- JSON: integer_images against json.loads

JSON_SPACES = ["", " ", "\n", "\t", "\r\n", "  ", "\n  "]


JSON_BAD = NOT_INTEGERS + LEADING_ZEROS + BIG + ["256", "999", "1000"]


def _json_body(rng, value=None):
    records = _records(rng)
    broken = _break(records, rng, JSON_BAD, value) if value is not None or rng.random() < 0.6 else None
    nested = bool(rng.integers(2))
    one = len(records) == 1 and bool(rng.integers(2))  # a bare image, not a list of one
    images = [[r[k:k + SIDE] for k in range(0, len(r), SIDE)] if nested else r for r in records]
    tree = images[0] if one else images
    odds = [0.7, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03] if rng.integers(2) else [1, 0, 0, 0, 0, 0, 0]
    spacing = rng.choice(len(JSON_SPACES), size=8 * len(records) * PIXELS, p=odds)
    space = iter(JSON_SPACES[k] for k in spacing).__next__

    def render(node):
        if isinstance(node, str):
            return space() + node + space()
        return space() + "[" + ",".join(render(child) for child in node) + "]" + space()

    return _case(rng, render(tree), broken, records)


JSON_CASES = _cases(_json_body, 1, JSON_BAD)


def _fast_layout(shape):
    """Whether integer_images may read an array of this shape: 784, 28x28, N x 784 or N x 28 x 28."""
    return shape in ((PIXELS,), (SIDE, SIDE)) or len(shape) == 2 and shape[1] == PIXELS \
        or len(shape) == 3 and shape[1:] == (SIDE, SIDE)


def _json_differs(fast, read):
    if read.dtype.kind != "i" or not _fast_layout(read.shape):
        return "read %s %s, which the general path reads otherwise" % (read.dtype, read.shape)
    if fast.dtype != np.int64 or not np.array_equal(fast, read.reshape(-1, SIDE, SIDE)):
        return "read other values than json.loads"
    if fast.min() < 0 or fast.max() > 255:
        return "read values outside 0-255, which the decoder does not check on this path"
    return None


def test_integer_images_reads_what_json_loads_reads_or_declines():
    _agrees(JSON_CASES, fast_paths.integer_images, lambda body: np.asarray(json.loads(body)), _json_differs)


# --- CSV: integer_rows against np.loadtxt, as the CSV decoder calls it

CSV_BAD = NOT_INTEGERS + BIG + [" 7", "7 ", "\t7", "1,"]


def _csv_body(rng, value=None):
    records = _records(rng, widest=int(rng.choice([255, 999, 999_999_999])))
    broken = _break(records, rng, CSV_BAD, value) if value is not None or rng.random() < 0.6 else None
    if rng.random() < 0.2:
        at = int(rng.integers(len(records[0])))
        records[0][at] = LEADING_ZEROS[int(rng.integers(len(LEADING_ZEROS)))]  # CSV allows them
    return _case(rng, _lines(rng, _rows(rng, records)), broken, records)


CSV_CASES = _cases(_csv_body, 2, CSV_BAD)


def _loadtxt(body):
    """What the CSV decoder's general path reads: its non-blank lines through np.loadtxt."""
    lines = [line for line in body.decode("utf-8").splitlines() if line.strip()]
    return np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2)


def _csv_differs(fast, read):
    if fast.shape != read.shape or not np.array_equal(fast, read):
        return "read %s where np.loadtxt reads %s" % (fast.shape, read.shape)
    return None


def test_integer_rows_reads_what_loadtxt_reads_or_declines():
    _agrees(CSV_CASES, fast_paths.integer_rows, _loadtxt, _csv_differs)


def test_integer_rows_in_slices_reads_what_loadtxt_reads_or_declines():
    # Slices of a few rows each, so that every body of two rows or more is read in several.
    _agrees(CSV_CASES, lambda body: fast_paths.integer_rows_in_slices(body, slice_bytes=1000), _loadtxt,
            _csv_differs)


def test_a_large_csv_is_read_in_slices_as_it_is_whole():
    rows = np.random.default_rng(0).integers(0, 256, size=(400, PIXELS))
    body = "".join(",".join(map(str, row)) + "\n" for row in rows).encode()
    assert len(body) > 100_000
    whole = fast_paths.integer_rows(body)
    np.testing.assert_array_equal(fast_paths.integer_rows_in_slices(body, slice_bytes=10_000), whole)
    np.testing.assert_array_equal(whole, rows)


# --- JSON lines: flat_integer_lines against json.loads line by line, as the JSON lines decoder reads

JSONLINES_BAD = NOT_INTEGERS + LEADING_ZEROS + BIG + ["[0]", "[0,0]"]


def _jsonlines_body(rng, value=None):
    records = _records(rng)
    broken = _break(records, rng, JSONLINES_BAD, value) if value is not None or rng.random() < 0.6 else None
    lines = _rows(rng, records, "[", "]")
    if broken is None and rng.random() < 0.1:
        at = int(rng.integers(len(lines)))
        lines[at] = json.dumps([[int(v) for v in records[at][k:k + SIDE]] for k in range(0, PIXELS, SIDE)])
        broken = "a 28x28 line"  # valid, but for the general path
    if broken is None and len(lines) > 1 and rng.random() < 0.2:
        k = int(rng.integers(len(lines) - 1))
        if rng.integers(2):
            lines[k:k + 2] = [lines[k] + "," + lines[k + 1]]
            broken = "two images on one line"
        else:
            lines[k], lines[k + 1] = lines[k][:-1], lines[k + 1][1:]
            broken = "the brackets between two lines missing"
    return _case(rng, _lines(rng, lines), broken, records)


JSONLINES_CASES = _cases(_jsonlines_body, 3, JSONLINES_BAD)


def _json_lines(body):
    """What the JSON lines decoder's general path reads: one json.loads per non-blank line."""
    return np.stack([np.asarray(json.loads(line)) for line in body.splitlines() if line.strip()])


def _jsonlines_differs(fast, read):
    if read.dtype.kind != "i" or fast.shape != read.shape or not np.array_equal(fast, read):
        return "read %s where json.loads reads %s %s" % (fast.shape, read.dtype, read.shape)
    return None


def test_flat_integer_lines_reads_what_json_loads_reads_line_by_line_or_declines():
    _agrees(JSONLINES_CASES, fast_paths.flat_integer_lines, _json_lines, _jsonlines_differs)
