"""MNIST's IDX format (Yann LeCun's distribution) read from bytes: one file, or several streamed
one after the other as Pipe mode delivers a channel's objects.

A file: two zero bytes, the type code 0x08 (unsigned byte), the number of dimensions, one
big-endian 32-bit size per dimension, then the values. Images files have magic 0x00000803
(N x 28 x 28), labels files 0x00000801 (N).
"""
import struct

import numpy as np

from sagemaker_mnist.failures import TrainingError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
MAGICS = (IMAGES_MAGIC, LABELS_MAGIC)


def starts_idx(head):
    return len(head) >= 4 and struct.unpack(">I", head[:4])[0] in MAGICS


def parse(data, magic, name):
    """The array of one whole IDX file's bytes, checking its magic number (IMAGES_MAGIC or
    LABELS_MAGIC) and that the data is as long as the header says."""
    if len(data) < 4:
        raise TrainingError("%s is truncated: %d bytes, not even an IDX header" % (name, len(data)))
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        raise TrainingError(
            "%s is not an MNIST %s file: IDX magic number 0x%08X, expected 0x%08X"
            % (name, "images" if magic == IMAGES_MAGIC else "labels", found, magic))
    header, shape, expected = _header(data, 0, name)
    if len(data) != expected:
        raise TrainingError(
            "%s is %s: its header says %s values (%d bytes), the file has %d bytes"
            % (name, "truncated" if len(data) < expected else "longer than its header says",
               "x".join(map(str, shape)), expected, len(data)))
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def split_stream(data, name):
    """[(magic, array)] of the IDX files in `data`, one after the other, in stream order."""
    found, offset = [], 0
    while offset < len(data):
        (magic,) = struct.unpack(">I", data[offset:offset + 4].ljust(4, b"\0"))
        if magic not in MAGICS:
            raise TrainingError("%s: at byte %d, after %d IDX file%s, comes something that is not an "
                                "MNIST IDX file (magic number 0x%08X): stream only the IDX files in this "
                                "channel"
                                % (name, offset, len(found), "" if len(found) == 1 else "s", magic))
        header, shape, end = _header(data, offset, name)
        if end > len(data):
            raise TrainingError("%s is truncated: its IDX file at byte %d says %s values, the stream ends %d "
                                "bytes short" % (name, offset, "x".join(map(str, shape)), end - len(data)))
        values = np.frombuffer(data, dtype=np.uint8, count=end - header, offset=header)
        found.append((magic, values.reshape(shape)))
        offset = end
    return found


def _header(data, offset, name):
    """(offset of the values, shape, offset of the end) of the IDX file at `offset`."""
    ndim = data[offset + 3]
    header = offset + 4 + 4 * ndim
    if len(data) < header:
        raise TrainingError("%s is truncated: %d bytes, shorter than its IDX header"
                            % (name, len(data) - offset))
    shape = struct.unpack(">" + "I" * ndim, data[offset + 4:header])
    return header, shape, header + int(np.prod(shape))
