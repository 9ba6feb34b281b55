"""Request bodies sent with a Content-Encoding: decoded within the endpoint's payload limit, or a 4xx.

  gzip (x-gzip)  RFC 1952, one member or several one after another
  deflate        RFC 9110's "deflate", a zlib stream (RFC 1950), or the raw RFC 1951 stream some
                 clients send under that name
  identity       the body as it is
A header may list several, in the order they were applied; they are undone in reverse order.

The decompressed size counts against the payload limit, as the body's own size does: decoding
stops as soon as its output would pass the limit, with a 413, so a small body that would inflate
to gigabytes (a "gzip bomb") costs about the limit in memory (twice it at most, while the output
grows) and the time it takes to reach it (a few hundredths of a second for 6 MB).
Any other encoding is a 415 that names it; a body that is not what its encoding says (corrupt,
cut short, or followed by other bytes) is a 400.
"""
import zlib

from sagemaker_mnist.errors import BadRequest, PayloadTooLarge, UnsupportedContentType

GZIP = "gzip"
DEFLATE = "deflate"
IDENTITY = "identity"
ENCODINGS = (GZIP, DEFLATE, IDENTITY)
# RFC 9110 8.4.1.3: a recipient should treat x-gzip as gzip.
_ALIASES = {"x-gzip": GZIP}
_GZIP_MAGIC = b"\x1f\x8b"
_ZLIB_WBITS, _RAW_WBITS, _GZIP_WBITS = zlib.MAX_WBITS, -zlib.MAX_WBITS, 16 + zlib.MAX_WBITS
ACCEPTED = {"content_encodings": list(ENCODINGS),
            "body": "the whole request body compressed with gzip (RFC 1952) or deflate (a zlib stream, "
                    "RFC 1950, or raw RFC 1951), or sent as it is"}


def encodings(header):
    """The content codings a Content-Encoding header lists, lower case, in the order applied;
    identity left out. An unsupported one is a ClientError 415 that names it."""
    listed = [_ALIASES.get(part.strip().lower(), part.strip().lower()) for part in (header or "").split(",")]
    unknown = [part for part in listed if part and part not in ENCODINGS]
    if unknown:
        which = "" if listed == unknown[:1] else " (%s: not a coding this endpoint decodes)" % ", ".join(
            repr(part) for part in unknown)
        raise UnsupportedContentType(
            "Content-Encoding %r is not supported%s; send the body compressed with gzip or deflate, "
            "or uncompressed" % (header[:100], which), ACCEPTED)
    return [part for part in listed if part and part != IDENTITY]


def decode(body, header, limit_bytes):
    """The body with the encodings `header` (a Content-Encoding value, or None) lists undone. Its
    decompressed size may be at most `limit_bytes`: past it, a ClientError 413."""
    for coding in reversed(encodings(header)):
        body = _inflate_all(body, coding, limit_bytes)
    return body


def _inflate_all(data, coding, limit):
    out = bytearray()
    if coding == DEFLATE:
        # A zlib stream begins with a header whose two bytes, read as a big-endian number, are a
        # multiple of 31, the first naming method 8 (deflate); a raw stream has no header.
        zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
        rest = _inflate(data, _ZLIB_WBITS if zlib_header else _RAW_WBITS, coding, limit, len(data), out)
    else:
        rest = _inflate(data, _GZIP_WBITS, coding, limit, len(data), out)
        while rest[:2] == _GZIP_MAGIC:
            rest = _inflate(rest, _GZIP_WBITS, coding, limit, len(data), out)
        # Python's gzip module reads past zero bytes after the last member, as gzip(1) does.
        rest = rest.lstrip(b"\x00")
    if rest:
        raise BadRequest("the %s body goes on for %d bytes after its compressed stream ends"
                         % (coding, len(rest)), ACCEPTED)
    return out


def _inflate(data, wbits, coding, limit, sent, out):
    """Appends to `out` the output of the one stream at the start of `data`, never letting `out`
    hold more than limit + 1 bytes; returns the bytes after the stream."""
    stream, pending = zlib.decompressobj(wbits), data
    while True:
        try:
            # max_length: zlib stops there and keeps the rest of the input in unconsumed_tail.
            piece = stream.decompress(pending, limit + 1 - len(out))
        except zlib.error as e:
            raise BadRequest("the body is not valid %s data, as its Content-Encoding says (%s)"
                             % (coding, e), ACCEPTED) from e
        out += piece
        if len(out) > limit:
            raise PayloadTooLarge(
                "the request body (%.1f MB sent, Content-Encoding %s) decompresses to more than this "
                "endpoint's limit of %s (SAGEMAKER_MAX_PAYLOAD_IN_MB counts the decompressed size)"
                % (sent / 2**20, coding, _size(limit)),
                {"max_payload_mb": _megabytes(limit), "hint": "split the images over several requests"})
        if stream.eof:
            return stream.unused_data
        pending = stream.unconsumed_tail
        if not pending and not piece:
            raise BadRequest("the %s body is cut short: its compressed stream ends before its end mark "
                             "(%d bytes sent)" % (coding, sent), ACCEPTED)


def _megabytes(limit):
    return limit // 2**20 if limit % 2**20 == 0 else limit / 2**20


def _size(limit):
    return "%g MB" % (limit / 2**20) if limit >= 2**20 else "%d bytes" % limit
