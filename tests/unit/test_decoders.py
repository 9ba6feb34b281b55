"""sagemaker_mnist.codecs.decoders: every input content type decodes real MNIST digits to MNIST's form,
and every malformed request is a ClientError with the right status."""
import gzip
import io
import json
import pickle

import numpy as np
import pytest

import support
from sagemaker_mnist.codecs import content_types, decoders, fast_paths
from sagemaker_mnist.errors import ClientError
from serving_fixtures import csv_body, json_body, jsonlines_body, npy_body, picture, png_claiming

pytestmark = pytest.mark.unit


IMAGES, LABELS = support.mnist("t10k")
DIGITS = IMAGES[:5]
EXPECTED = DIGITS.astype(np.float32) / 255


def _close(decoded, expected=EXPECTED):
    assert decoded.dtype == np.float32
    assert decoded.shape == expected.shape
    np.testing.assert_allclose(decoded, expected, atol=1e-6)


@pytest.mark.parametrize("content_type, body", [
    ("application/json", json_body(DIGITS)),
    ("application/json", json.dumps(DIGITS.reshape(5, 784).tolist())),
    ("application/json", json.dumps({"instances": DIGITS.tolist()})),
    ("application/json; charset=utf-8", json_body(DIGITS)),
    ("application/json", json.dumps((DIGITS / 255.0).tolist())),
    ("text/csv", csv_body(DIGITS)),
    ("text/csv", csv_body(DIGITS).replace("\n", "\r\n") + "\n\n"),
    ("application/jsonlines", jsonlines_body(DIGITS)),
    ("application/jsonlines", "".join(json.dumps(d.tolist()) + "\n" for d in DIGITS)),
    ("application/x-jsonlines", jsonlines_body(DIGITS)),
    ("application/x-npy", npy_body(DIGITS)),
    ("application/x-npy", npy_body(DIGITS.reshape(5, 784).astype(np.float64))),
    ("application/x-npy", npy_body(DIGITS[:, None].astype(">f4") / 255)),
    ("application/x-npy", npy_body(np.asfortranarray(DIGITS.astype(np.int32)))),
    ("application/octet-stream", npy_body(DIGITS)),
    (None, json_body(DIGITS)),
])
def test_batches_of_digits_decode_to_mnist_form(content_type, body):
    _close(decoders.decode(body, content_type))


@pytest.mark.parametrize("content_type, body", [
    ("application/json", json_body(DIGITS[0])),
    ("application/json", json.dumps(DIGITS[0].reshape(-1).tolist())),
    ("text/csv", csv_body(DIGITS[:1]).strip()),
    ("application/x-npy", npy_body(DIGITS[0])),
    ("application/x-npy", npy_body(DIGITS[0].reshape(-1))),
])
def test_one_digit_decodes_to_a_batch_of_one(content_type, body):
    _close(decoders.decode(body, content_type), EXPECTED[:1])


@pytest.mark.parametrize("content_type, body", [
    ("text/csv", csv_body(DIGITS).replace(",", ", ")),
    ("text/csv", "\n" + csv_body(DIGITS).replace("\n", "\r\n")),
    ("text/csv", "\n".join(",".join("%03d" % v for v in row) for row in DIGITS.reshape(5, -1))),
    ("text/csv", "\n".join(",".join("%.1f" % v for v in row) for row in DIGITS.reshape(5, -1))),
    ("application/jsonlines",
     "".join(json.dumps(d.reshape(-1).tolist(), separators=(",", ":")) + "\n" for d in DIGITS)),
    ("application/jsonlines", "".join(json.dumps(d.reshape(-1).tolist()) + "\r\n" for d in DIGITS)),
    ("application/jsonlines", "".join(json.dumps((d.reshape(-1) / 255).tolist()) + "\n" for d in DIGITS)),
])
def test_fast_and_general_parsers_agree(content_type, body):
    # Integer text takes a vectorised path, anything else the general parsers: same result.
    _close(decoders.decode(body, content_type))


@pytest.mark.parametrize("content_type, body, words", [
    ("text/csv", "1,,2" + ",0" * 781, "not a number"),
    ("text/csv", "1 2" + ",0" * 783, "not a number"),
    ("text/csv", ",".join(["300"] * 784), "0-255"),
    ("text/csv", ",".join(["1" * 12] * 784), "0-255"),
    ("application/jsonlines", "[" + "1 2" + ",0" * 783 + "]", "line 1"),
    ("application/jsonlines", "[[" + ",".join(["0"] * 784) + "]", "line 1"),
])
def test_malformed_integer_text_is_still_refused(content_type, body, words):
    with pytest.raises(ClientError) as caught:
        decoders.decode(body, content_type)
    assert caught.value.status_code == 400 and words in caught.value.message


@pytest.mark.parametrize("body", [
    json_body(DIGITS[0]),
    json_body(DIGITS),
    json.dumps(DIGITS[0].reshape(-1).tolist(), separators=(",", ":")),
    json.dumps(DIGITS.reshape(5, -1).tolist()),
    json.dumps(DIGITS[:1].tolist(), indent=1),
    json.dumps((DIGITS[0] > 0).astype(int).tolist()),  # an image in 0-1, as integers
], ids=["28x28", "5x28x28", "784 compact", "5x784", "1x28x28 indented", "0-1 integers"])
def test_integer_json_takes_the_fast_reader_and_decodes_as_json_loads_does(body):
    assert fast_paths.integer_images(body.encode()) is not None
    general = decoders.to_images(decoders._numbers(json.loads(body), {}), {})
    decoded = decoders.decode(body, "application/json")
    assert decoded.dtype == general.dtype == np.float32
    np.testing.assert_array_equal(decoded, general)


def test_bytes_bytearray_and_str_bodies_decode_alike():
    body = json_body(DIGITS)
    for variant in (body, body.encode(), bytearray(body.encode())):
        _close(decoders.decode(variant, "application/json"))


def test_each_image_is_scaled_on_its_own():
    # One image sent in 0-255, one in 0-1: both come out in 0-1.
    mixed = np.stack([DIGITS[0].astype(np.float64), DIGITS[1] / 255.0])
    _close(decoders.decode(json_body(mixed), "application/json"), EXPECTED[:2])


@pytest.mark.parametrize("content_type",
                         ["image/png", "image/jpeg", "application/x-image", "image/jpg", None])
def test_pictures_decode_to_one_28x28_digit(content_type):
    fmt = "PNG" if content_type in ("image/png", None) else "JPEG"
    decoded = decoders.decode(picture(DIGITS[0], fmt=fmt), content_type)
    assert decoded.shape == (1, 28, 28) and decoded.dtype == np.float32
    assert 0 <= decoded.min() and decoded.max() == pytest.approx(1.0)


def _status(body, content_type):
    with pytest.raises(ClientError) as caught:
        decoders.decode(body, content_type)
    error = caught.value
    document = json.loads(error.body())
    assert document["message"] and document["accepted"]
    return error.status_code, error.message


BAD_INPUTS = [
    # (case, body, content type, status, words the message must contain)
    ("empty body", b"", "application/json", 400, "empty"),
    ("whitespace only", b"  \n ", "text/csv", 400, "empty"),
    ("empty, no content type", b"", None, 400, "empty"),
    ("bad JSON", b'{"instances": [1, 2', "application/json", 400, "not valid JSON"),
    ("JSON not UTF-8", b'[\xff\xfe]', "application/json", 400, "not valid JSON"),
    ("JSON object without instances", json.dumps({"data": [1]}), "application/json", 400, "instances"),
    ("empty list", b"[]", "application/json", 400, "no images"),
    ("empty instances", json.dumps({"instances": []}), "application/json", 400, "no images"),
    ("a single number", b"7", "application/json", 400, "shape"),
    ("wrong shape", json.dumps(np.zeros((27, 28)).tolist()), "application/json", 400, "shape"),
    ("wrong flat length", json.dumps([0] * 783), "application/json", 400, "shape"),
    ("ragged list", json.dumps([[0] * 784, [0] * 700]), "application/json", 400, "regular array"),
    ("strings", json.dumps([["a"] * 784]), "application/json", 400, "strings"),
    ("booleans", json.dumps([[True] * 784]), "application/json", 400, "true/false"),
    ("nulls", json.dumps([[None] * 784]), "application/json", 400, "nulls"),
    ("NaN", "[" + ",".join(["NaN"] + ["0"] * 783) + "]", "application/json", 400, "NaN"),
    ("infinity", "[" + ",".join(["1e999"] + ["0"] * 783) + "]", "application/json", 400, "NaN or infinity"),
    ("negative pixels", json.dumps([-1] + [0] * 783), "application/json", 400, "0-255"),
    ("pixels above 255", json.dumps([256] + [0] * 783), "application/json", 400, "0-255"),
    ("deep nesting", b"[" * 100000 + b"]" * 100000, "application/json", 400, "JSON"),
    # Integer-only JSON that the fast reader must leave to json.loads.
    ("leading zeros", "[" + ",".join(["007"] + ["0"] * 783) + "]", "application/json", 400, "not valid JSON"),
    ("numbers split by a space", "[1 2" + ",0" * 783 + "]", "application/json", 400, "not valid JSON"),
    ("numbers split by a space in the second image",
     "[[" + ",".join(["0"] * 784) + "],[1 2" + ",0" * 783 + "]]", "application/json", 400, "not valid JSON"),
    ("an empty field", "[" + ",".join(["0"] * 392 + [""] + ["0"] * 391) + "]", "application/json", 400,
     "not valid JSON"),
    ("a trailing comma", "[" + "0," * 784 + "]", "application/json", 400, "not valid JSON"),
    ("integer pixels above 255", "[" + ",".join(["1000"] + ["0"] * 783) + "]", "application/json", 400,
     "0-255"),
    ("a nested row too short", json.dumps([[0] * 27] + [[0] * 28] * 27), "application/json", 400,
     "regular array"),
    ("CSV row too short", ",".join(["0"] * 783), "text/csv", 400, "784"),
    ("CSV ragged rows", ",".join(["0"] * 784) + "\n" + ",".join(["0"] * 780), "text/csv", 400, "row 2"),
    ("CSV words", ",".join(["x"] * 784), "text/csv", 400, "not a number"),
    ("CSV NaN", ",".join(["nan"] * 784), "text/csv", 400, "NaN"),
    ("CSV not UTF-8", b"\xff" * 10, "text/csv", 400, "UTF-8"),
    ("npy of objects", None, "application/x-npy", 400, "objects"),
    ("plain pickle", pickle.dumps(np.zeros((28, 28))), "application/x-npy", 400, ".npy"),
    ("npz archive", None, "application/x-npy", 400, ".npy"),
    ("npy of strings", npy_body(np.array([["a"] * 784])), "application/x-npy", 400, "dtype"),
    ("npy of booleans", npy_body(np.zeros((28, 28), dtype=bool)), "application/x-npy", 400, "dtype"),
    ("npy of complex", npy_body(np.zeros((28, 28), dtype=complex)), "application/x-npy", 400, "dtype"),
    ("npy wrong shape", npy_body(np.zeros((3, 3))), "application/x-npy", 400, "shape"),
    ("npy truncated", npy_body(np.zeros((2, 28, 28)))[:-10], "application/x-npy", 400, "bytes of data"),
    ("npy header claims a huge array", None, "application/x-npy", 400, "bytes of data"),
    ("npy NaN", npy_body(np.full((28, 28), np.nan)), "application/x-npy", 400, "NaN"),
    ("corrupt PNG", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png", 400, "could not be decoded"),
    ("truncated JPEG", None, "image/jpeg", 400, "could not be decoded"),
    ("text sent as an image", b"hello", "image/png", 400, "could not be decoded"),
    ("decompression bomb", None, "image/png", 400, "megapixels"),
    ("decompression bomb past Pillow's own limit", None, "image/png", 400, "megapixels"),
    ("blank picture", None, "image/png", 400, "blank"),
    ("unsupported content type", b"<digits/>", "application/xml", 415, "not supported"),
    ("a Content-Type that is not a media type", json_body(DIGITS[0]), ";;;===", 415,
     "Content-Type ';;;===' is not a media type"),
    ("a media type followed by garbage", json_body(DIGITS[0]), "application/json;;;===", 415,
     "not a media type"),
    ("a byte-order mark alone", decoders.UTF8_BOM, "text/csv", 400, "empty"),
    ("a byte-order mark alone, no content type", decoders.UTF8_BOM, None, 400, "empty"),
    ("a byte-order mark before bad JSON", decoders.UTF8_BOM + b"[1, 2", "application/json", 400,
     "not valid JSON"),
    ("a UTF-16 CSV", "\ufeff0,1\n".encode("utf-16"), "text/csv", 400, "UTF-8"),
    ("unrecognisable octet-stream", b"hello", "application/octet-stream", 415, "Content-Type"),
]


def _bad_bodies():
    from PIL import Image

    objects = io.BytesIO()
    np.save(objects, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    archive = io.BytesIO()
    np.savez(archive, x=np.zeros((28, 28)))
    huge = io.BytesIO()
    np.lib.format.write_array_header_1_0(huge,
                                         {"descr": "|u1", "fortran_order": False, "shape": (10**11, 784)})
    huge.write(bytes(784))
    blank = io.BytesIO()
    Image.new("RGB", (64, 64), (240, 240, 240)).save(blank, "PNG")
    return {
        "npy of objects": objects.getvalue(),
        "npz archive": archive.getvalue(),
        "npy header claims a huge array": huge.getvalue(),
        "truncated JPEG": picture(DIGITS[0], fmt="JPEG")[:300],
        "decompression bomb": png_claiming(8000, 8000),
        "decompression bomb past Pillow's own limit": png_claiming(100000, 100000),
        "blank picture": blank.getvalue(),
    }


BODIES = _bad_bodies()


@pytest.mark.parametrize("case, body, content_type, status, words",
                         [case for case in BAD_INPUTS if case[3] is not None],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_bad_inputs_are_client_errors_that_say_why(case, body, content_type, status, words):
    if body is None:
        body = BODIES[case]
    got_status, message = _status(body, content_type)
    assert got_status == status
    assert words.lower() in message.lower()


# --- JSON lines: exactly one record per line, on the integer fast path and the general one alike

def _flat(image):
    return json.dumps(image.reshape(-1).tolist())


def _nested(image):
    return json.dumps(image.tolist())


def _unit(image):
    return json.dumps((image.reshape(-1) / 255).tolist())


JSONLINES_BODIES = [
    # (case, body, whether the integer fast path reads it, the images it holds)
    ("flat integers", "".join(_flat(d) + "\n" for d in DIGITS), True, EXPECTED),
    ("flat integers, CRLF, no final line end", "\r\n".join(_flat(d) for d in DIGITS), True, EXPECTED),
    ("one flat line", _flat(DIGITS[0]) + "\n", True, EXPECTED[:1]),
    ("28x28 integers", "".join(_nested(d) + "\n" for d in DIGITS), False, EXPECTED),
    ("0-1 floats", "".join(_unit(d) + "\n" for d in DIGITS), False, EXPECTED),
    ("flat and 28x28 mixed, blank lines between",
     _flat(DIGITS[0]) + "\n\n" + _nested(DIGITS[1]) + "\n  \n" + _unit(DIGITS[2]) + "\n", False,
     EXPECTED[:3]),
]


@pytest.mark.parametrize("content_type", ["application/jsonlines", "application/x-jsonlines"])
@pytest.mark.parametrize("case, body, fast, expected", JSONLINES_BODIES, ids=[c[0] for c in JSONLINES_BODIES])
def test_json_lines_hold_one_image_per_line(content_type, case, body, fast, expected):
    assert (fast_paths.flat_integer_lines(body.encode()) is not None) == fast
    _close(decoders.decode(body, content_type), expected)


_ONE_RECORD = "must be exactly one image, a flat list of 784 numbers or a 28x28 nested list; "
JSONLINES_NOT_ONE_RECORD = [
    # (case, body, the line the message names, words it must contain after saying what is accepted)
    ("two flat integer images on one line", _flat(DIGITS[0]) + "," + _flat(DIGITS[1]) + "\n", 1,
     "Extra data"),
    ("two flat integer images on the second line",
     _flat(DIGITS[0]) + "\n" + _flat(DIGITS[1]) + "," + _flat(DIGITS[2]) + "\n" + _flat(DIGITS[3]) + "\n", 2,
     "Extra data"),
    ("two images on one line, a space between", _flat(DIGITS[0]) + " " + _flat(DIGITS[1]), 1, "Extra data"),
    ("two 0-1 images on one line", _unit(DIGITS[0]) + "," + _unit(DIGITS[1]) + "\n", 1, "Extra data"),
    ("two 28x28 images on one line", _nested(DIGITS[0]) + "," + _nested(DIGITS[1]) + "\n", 1, "Extra data"),
    ("a list of two images on one line", json.dumps(DIGITS[:2].reshape(2, -1).tolist()) + "\n", 1,
     "shape (2, 784)"),
    ("a list of one image", json.dumps(DIGITS[:1].reshape(1, -1).tolist()), 1, "shape (1, 784)"),
    ("784 numbers without brackets", ",".join(["0"] * 784) + "\n", 1, "Extra data"),
    ("a number", "7\n", 1, "a single number"),
    ("an object", json.dumps({"instances": [DIGITS[0].reshape(-1).tolist()]}) + "\n", 1, "objects"),
    ("strings", json.dumps(["0"] * 784), 1, "strings"),
    ("a short line after a good one", _flat(DIGITS[0]) + "\n" + json.dumps([0] * 10) + "\n", 2,
     "shape (10,)"),
    ("bad JSON, blank lines counted", _flat(DIGITS[0]) + "\n\n{oops\n", 3, "not one JSON value"),
    # Integers only, as on the fast path, but JSON has no leading zeros.
    ("a leading zero", _flat(DIGITS[0]) + "\n[" + ",".join(["007"] + ["0"] * 783) + "]\n", 2,
     "not one JSON value (Expecting ',' delimiter at column 3)"),
    ("a ragged 28x28", json.dumps([[0] * 27] + [[0] * 28] * 27), 1, "regular array"),
]


@pytest.mark.parametrize("content_type", ["application/jsonlines", "application/x-jsonlines"])
@pytest.mark.parametrize("case, body, line, words", JSONLINES_NOT_ONE_RECORD,
                         ids=[c[0] for c in JSONLINES_NOT_ONE_RECORD])
def test_a_json_line_that_is_not_exactly_one_image_is_a_400_naming_it(content_type, case, body, line, words):
    # None of these is for the fast path: it reads only lines that are each one flat integer list.
    assert fast_paths.flat_integer_lines(body.encode()) is None
    with pytest.raises(ClientError) as caught:
        decoders.decode(body, content_type)
    error = caught.value
    assert error.status_code == 400
    assert error.message.startswith("line %d %s" % (line, _ONE_RECORD)), error.message
    assert words in error.message
    assert json.loads(error.body())["accepted"] == content_types.ACCEPTED_INPUTS[content_types.JSONLINES]


def test_pickled_npy_never_runs_code(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = io.BytesIO()
    np.save(payload, np.array([Exploit()], dtype=object), allow_pickle=True)
    status, _ = _status(payload.getvalue(), "application/x-npy")
    assert status == 400
    assert not marker.exists()


def test_gzip_is_not_sniffed_as_anything():
    status, _ = _status(gzip.compress(b"[1, 2]"), None)
    assert status == 415


# --- A UTF-8 byte-order mark, as spreadsheet programs begin a CSV they save as UTF-8

BOM_BODIES = [
    # (case, content type, body, the fast reader that takes it without the mark, or None)
    ("CSV of integers", "text/csv", csv_body(DIGITS), "integer_rows"),
    ("CSV, CRLF", "text/csv", csv_body(DIGITS).replace("\n", "\r\n"), "integer_rows"),
    ("CSV of decimals", "text/csv",
     "\n".join(",".join("%.1f" % v for v in row) for row in DIGITS.reshape(5, -1)), None),
    ("JSON of integers", "application/json", json_body(DIGITS), "integer_images"),
    ("JSON instances", "application/json", json.dumps({"instances": DIGITS.tolist()}), None),
    ("JSON lines of integers", "application/jsonlines", jsonlines_body(DIGITS), "flat_integer_lines"),
    ("JSON lines, 28x28", "application/jsonlines", "".join(json.dumps(d.tolist()) + "\n" for d in DIGITS),
     None),
    ("JSON, no content type", None, json_body(DIGITS), "integer_images"),
    ("JSON as octet-stream", "application/octet-stream", json_body(DIGITS), "integer_images"),
]


@pytest.mark.parametrize("case, content_type, body, fast", BOM_BODIES, ids=[c[0] for c in BOM_BODIES])
def test_a_byte_order_mark_is_not_part_of_the_text_and_keeps_the_fast_path(monkeypatch, case, content_type,
                                                                          body, fast):
    taken = []
    for name in ("integer_rows", "flat_integer_lines", "integer_images"):
        def spy(data, *args, _reader=getattr(fast_paths, name), _name=name, **kwargs):
            found = _reader(data, *args, **kwargs)
            if found is not None:
                taken.append(_name)
            return found
        monkeypatch.setattr(fast_paths, name, spy)
    plain = decoders.decode(body, content_type)
    taken_plain, taken[:] = list(taken), []
    marked = decoders.decode(decoders.UTF8_BOM + body.encode(), content_type)
    np.testing.assert_array_equal(marked, plain)
    _close(marked)
    # The same readers as without the mark (flat_integer_lines hands its rows to integer_rows: both).
    assert taken == taken_plain
    assert fast in taken if fast else not taken


def test_a_byte_order_mark_is_left_alone_where_it_is_not_at_the_start():
    body = csv_body(DIGITS[:1]).replace(",", ",\ufeff", 1)
    with pytest.raises(ClientError) as caught:
        decoders.decode(body, "text/csv")
    assert caught.value.status_code == 400 and "not a number" in caught.value.message
