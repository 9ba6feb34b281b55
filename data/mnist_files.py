"""The four MNIST files: the repository's own copy (data/mnist), another folder, or a download.

Every part of the project that needs MNIST on the host (the local-mode flow, the tests, the
benchmarks, cloud.prepare_data) finds it through `locate`: a folder named on the command line,
else $MNIST_DIR, else the copy committed in data/mnist. A download from a public mirror is only
the fallback for a copy that is missing (a clone made without it, say), and only into the folder
that was asked for.

The md5 sums are those of the original files published by Yann LeCun and Corinna Cortes (the
same list torchvision checks); a file that does not match is refused, and a download that does
not match is deleted, never used.
"""
import gzip
import hashlib
import os
import pathlib
import shutil
import struct
import tempfile
import urllib.request

# The copy that travels with the repository (data/mnist/README.md: licence and credit).
REPO_COPY = pathlib.Path(__file__).resolve().parent / "mnist"
# The variable that points every host-side tool at another folder of the four files.
MNIST_DIR_VARIABLE = "MNIST_DIR"

# file name -> md5 of the canonical gzip file
FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
TRAIN_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

# Tried in order. The original site (yann.lecun.com) often refuses downloads now; these two
# serve byte-identical copies.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
DOWNLOAD_TIMEOUT_S = 60


class ChecksumError(ValueError):
    """A file is not the canonical MNIST file it is named after."""


def md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(folder):
    """Raises ChecksumError (or FileNotFoundError) unless folder holds the four canonical files."""
    folder = pathlib.Path(folder)
    for name, expected in FILES.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError("%s is missing (expected the four MNIST .gz files in %s)" % (name, folder))
        actual = md5(path)
        if actual != expected:
            raise ChecksumError("%s has md5 %s, expected %s" % (path, actual, expected))
    return folder


def missing(folder):
    """The MNIST file names absent from folder."""
    folder = pathlib.Path(folder)
    return [name for name in FILES if not (folder / name).is_file()]


def download(dest, mirrors=MIRRORS, log=print):
    """Downloads the files missing from dest, verifying each; then verifies all four."""
    dest = pathlib.Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in missing(dest):
        errors = []
        for mirror in mirrors:
            url = mirror + name
            try:
                _fetch(url, dest / name, FILES[name])
                log("downloaded %s" % url)
                break
            except (OSError, ChecksumError) as e:
                errors.append("%s: %s" % (url, e))
        else:
            raise OSError("could not download %s:\n  %s" % (name, "\n  ".join(errors)))
    return verify(dest)


def _fetch(url, path, expected_md5):
    # Into a temporary file beside the target, renamed only once the checksum matches, so an
    # interrupted or corrupt download never looks like a good file.
    fd, partial = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            shutil.copyfileobj(response, out)
        actual = md5(partial)
        if actual != expected_md5:
            raise ChecksumError("md5 %s, expected %s" % (actual, expected_md5))
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def ensure(folder, mirrors=MIRRORS, log=print):
    """The folder with the four verified files, downloading whichever are missing."""
    if missing(folder):
        log("MNIST not found in %s: downloading it" % folder)
        return download(folder, mirrors=mirrors, log=log)
    return verify(folder)


def default_dir(environ=None):
    """$MNIST_DIR when set, else the repository's own copy."""
    environ = os.environ if environ is None else environ
    return pathlib.Path(environ[MNIST_DIR_VARIABLE]) if environ.get(MNIST_DIR_VARIABLE) else REPO_COPY


def locate(folder=None, environ=None, mirrors=MIRRORS, log=print):
    """The verified folder of the four files: `folder`, else $MNIST_DIR, else the repository's copy.

    Files missing from that folder are downloaded into it (md5-checked); a file that is there but
    is not the canonical one is an error, never replaced.
    """
    return ensure(pathlib.Path(folder) if folder else default_dir(environ), mirrors=mirrors, log=log)


def read_idx(path):
    """An unsigned-byte IDX file (gzip or raw) as a numpy array."""
    import numpy as np

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s is not an unsigned-byte IDX file" % path)
    shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def test_split(folder):
    """(images uint8 [10000, 28, 28], labels uint8 [10000]) of MNIST's test split."""
    images, labels = (read_idx(pathlib.Path(folder) / name) for name in TEST_FILES)
    return images, labels


def csv_lines(images):
    """SageMaker's text/csv for images: one digit per line, its 784 pixel values 0-255."""
    for row in images.reshape(len(images), -1):
        yield ",".join(map(str, row.tolist())) + "\n"
