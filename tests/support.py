"""Test support: the real MNIST files (the repository's copy in data/mnist, or $MNIST_DIR), and
small subsets of them.

The readers here are independent of code/sagemaker_mnist/data.py on purpose: tests check the trainer's
parser against a second implementation, not against itself.
"""
import gzip
import pathlib
import struct

import numpy as np

from data import mnist_files
from harness import digits

REPO = pathlib.Path(__file__).resolve().parent.parent
# Found once per test process; a copy that is missing is downloaded (md5-checked) first.
MNIST_DIR = mnist_files.locate(log=lambda line: print("tests: %s" % line))

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"

_UBYTE = 0x08


def read_idx(path):
    """Reads an IDX file of unsigned bytes (gzip or raw) into a numpy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == _UBYTE, "not an unsigned-byte IDX file: %s" % path
    shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def write_idx(path, array, gz=None):
    """Writes an unsigned-byte IDX file; gzip when the name ends in .gz (or gz=True)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, _UBYTE, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    gz = str(path).endswith(".gz") if gz is None else gz
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def mnist(split):
    """(images uint8 [N,28,28], labels uint8 [N]) of the real 'train' or 't10k' split, cached."""
    return digits.mnist(split)


def write_subset(dest, n_train=2000, n_test=500, test_in=None):
    """Writes the first n_train training and n_test test digits as the four .gz IDX files.

    The test files go to `test_in` when given (a separate channel), else next to the training
    files (the test split inside the training channel). Returns dest as a pathlib.Path.
    """
    dest = pathlib.Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    test_dest = pathlib.Path(test_in) if test_in else dest
    test_dest.mkdir(parents=True, exist_ok=True)
    x, y = mnist("train")
    write_idx(dest / TRAIN_IMAGES, x[:n_train])
    write_idx(dest / TRAIN_LABELS, y[:n_train])
    if n_test:
        x, y = mnist("t10k")
        write_idx(test_dest / TEST_IMAGES, x[:n_test])
        write_idx(test_dest / TEST_LABELS, y[:n_test])
    return dest
