"""sagemaker_mnist.codecs.content_encodings: gzip and deflate bodies come back as they were sent,
their decompressed size held to the payload limit without ever inflating more than it; any other
encoding is a 415 that names it, and a body that is not what its encoding says a 400."""
import gzip
import json
import time
import tracemalloc
import zlib

import pytest

from harness.bodies import gzip_bomb
from sagemaker_mnist.codecs import content_encodings
from sagemaker_mnist.errors import ClientError

pytestmark = pytest.mark.unit

LIMIT = 2**20
BODY = b"".join(b"%d," % (i % 256) for i in range(20000))  # about 75 KB of CSV-like text


def _raw_deflate(data):
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


DECODED = [
    # (case, body as sent, Content-Encoding)
    ("no header", BODY, None),
    ("empty header", BODY, ""),
    ("identity", BODY, "identity"),
    ("gzip", gzip.compress(BODY), "gzip"),
    ("GZIP in capitals, spaces", gzip.compress(BODY), " GZIP "),
    ("x-gzip", gzip.compress(BODY), "x-gzip"),
    ("gzip then identity", gzip.compress(BODY), "gzip, identity"),
    ("gzip of two members", gzip.compress(BODY[:1000]) + gzip.compress(BODY[1000:]), "gzip"),
    ("gzip, zero padding after it", gzip.compress(BODY) + bytes(8), "gzip"),
    ("deflate as a zlib stream", zlib.compress(BODY), "deflate"),
    ("deflate as a raw stream", _raw_deflate(BODY), "deflate"),
    ("deflate then gzip", gzip.compress(zlib.compress(BODY)), "deflate, gzip"),
    ("gzip, exactly the limit", gzip.compress(bytes(LIMIT)), "gzip"),
]


@pytest.mark.parametrize("case, sent, header", DECODED, ids=[c[0] for c in DECODED])
def test_bodies_come_back_as_they_were_before_encoding(case, sent, header):
    expected = bytes(LIMIT) if case.endswith("the limit") else BODY
    assert bytes(content_encodings.decode(bytearray(sent), header, LIMIT)) == expected


REFUSED = [
    # (case, body as sent, Content-Encoding, status, words the message must contain)
    ("brotli", BODY, "br", 415, "Content-Encoding 'br' is not supported"),
    ("compress", BODY, "compress", 415, "'compress'"),
    ("zstd after gzip", gzip.compress(BODY), "gzip, zstd", 415, "'zstd': not a coding this endpoint decodes"),
    ("gzip named but not sent", BODY, "gzip", 400, "not valid gzip data"),
    ("deflate named but not sent", b"\xff" * 100, "deflate", 400, "not valid deflate data"),
    ("gzip cut short", gzip.compress(BODY)[:-100], "gzip", 400, "cut short"),
    ("gzip without its trailer", gzip.compress(BODY)[:-4], "gzip", 400, "cut short"),
    ("gzip, empty body", b"", "gzip", 400, "cut short"),
    ("gzip, other bytes after it", gzip.compress(BODY) + b"trailing", "gzip", 400, "8 bytes after"),
    ("deflate, other bytes after it", zlib.compress(BODY) + b"xy", "deflate", 400, "2 bytes after"),
    ("gzip, a corrupt second member", gzip.compress(BODY) + gzip.compress(BODY)[:12] + b"\xff" * 40, "gzip",
     400, "not valid gzip data"),
    ("one byte over the limit", gzip.compress(bytes(LIMIT + 1)), "gzip", 413,
     "more than this endpoint's limit"),
    ("two members over the limit together", gzip.compress(bytes(LIMIT // 2 + 1)) * 2, "gzip", 413, "1 MB"),
    ("deflate over the limit", zlib.compress(bytes(3 * LIMIT)), "deflate", 413, "Content-Encoding deflate"),
    ("gzip in gzip over the limit", gzip.compress(gzip.compress(bytes(4 * LIMIT))), "gzip, gzip", 413,
     "limit"),
]


@pytest.mark.parametrize("case, sent, header, status, words", REFUSED, ids=[c[0] for c in REFUSED])
def test_other_encodings_and_bodies_that_are_not_what_they_say_are_client_errors(case, sent, header, status,
                                                                                 words):
    with pytest.raises(ClientError) as caught:
        content_encodings.decode(sent, header, LIMIT)
    error = caught.value
    assert error.status_code == status
    assert words in error.message, error.message
    document = json.loads(error.body())
    if status == 413:
        assert document["accepted"]["max_payload_mb"] == 1
    else:
        assert document["accepted"]["content_encodings"] == ["gzip", "deflate", "identity"]


def test_a_gzip_bomb_is_refused_at_the_limit_without_inflating_it():
    bomb = gzip_bomb(256 * 2**20)  # 256 MiB of zeros in about 250 KB
    assert len(bomb) < 300_000
    tracemalloc.start()
    try:
        started = time.monotonic()
        with pytest.raises(ClientError) as caught:
            content_encodings.decode(bomb, "gzip", 6 * LIMIT)
        took = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.status_code == 413
    assert "6 MB" in caught.value.message
    # The output grows to the limit and stops there (a bytearray's growth may hold it twice).
    assert peak < 3 * 6 * LIMIT, peak
    assert took < 2, took


def test_a_long_unknown_header_is_shortened_in_the_message():
    with pytest.raises(ClientError) as caught:
        content_encodings.decode(BODY, "x" * 5000, LIMIT)
    assert caught.value.status_code == 415
    assert len(caught.value.message) < 400
