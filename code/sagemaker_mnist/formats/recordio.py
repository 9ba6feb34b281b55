"""RecordIO, the framing SageMaker puts around each record of a Pipe-mode channel whose
RecordWrapperType is RecordIO (MXNet's format, which SageMaker's built-in algorithms read).

A record: the magic word 0xced7230a, a length word (its top 3 bits a continuation flag, the other
29 the payload's length), the payload, then zero bytes up to a multiple of 4. Both words are
little-endian. A payload that itself held the magic word was written in parts (flag 1 first, 2
in the middle, 3 last), the magic left out between them; reading puts it back.
"""
import struct

from sagemaker_mnist.failures import TrainingError

MAGIC = 0xCED7230A
MAGIC_BYTES = struct.pack("<I", MAGIC)
_LENGTH_BITS = 29
_WHOLE, _FIRST, _MIDDLE, _LAST = 0, 1, 2, 3


def starts_recordio(head):
    """Whether the first bytes of a stream are a RecordIO record's."""
    return head[:4] == MAGIC_BYTES


def records(stream, name):
    """The payloads (bytes) of the RecordIO records read from the binary file object `stream`,
    one at a time. `name` is how messages call the stream."""
    index = 0
    parts = []
    while True:
        header = _read_exactly(stream, 8, name, index, allow_end=not parts)
        if header is None:
            return
        magic, word = struct.unpack("<II", header)
        if magic != MAGIC:
            raise TrainingError("%s: record %d does not start with RecordIO's magic number (0x%08X, "
                                "expected 0x%08X): the stream is not RecordIO-framed throughout; set "
                                "RecordWrapperType to match the data" % (name, index, magic, MAGIC))
        flag, length = word >> _LENGTH_BITS, word & ((1 << _LENGTH_BITS) - 1)
        payload = _read_exactly(stream, length, name, index)
        _read_exactly(stream, -length % 4, name, index)
        if flag == _WHOLE and not parts:
            yield payload
            index += 1
        elif flag == _FIRST and not parts or flag in (_MIDDLE, _LAST) and parts:
            parts.append(payload)
            if flag == _LAST:
                yield MAGIC_BYTES.join(parts)
                parts = []
                index += 1
        else:
            raise TrainingError("%s: record %d has RecordIO continuation flag %d out of order"
                                % (name, index, flag))


def _read_exactly(stream, count, name, index, allow_end=False):
    data = stream.read(count) if count else b""
    while data is not None and len(data) < count:
        more = stream.read(count - len(data))
        if not more:
            break
        data += more
    if not data and allow_end and count:
        return None
    if len(data) < count:
        raise TrainingError("%s ends inside RecordIO record %d (%d of %d bytes): the stream was cut short"
                            % (name, index, len(data), count))
    return data
