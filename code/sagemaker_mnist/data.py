"""Reading MNIST from SageMaker input channels, in the forms users upload it to S3.

A channel directory (/opt/ml/input/data/<channel>) may hold, at any depth:
  - the four IDX files of Yann LeCun's distribution, gzip or raw, spelled
    `train-images-idx3-ubyte` or `train-images.idx3-ubyte` (likewise t10k / labels);
  - Keras's `mnist.npz` (arrays x_train, y_train, x_test, y_test);
  - torchvision's `processed/training.pt` and `processed/test.pt` (tuples of uint8 tensors).
Every split comes back as (images uint8 [N, 28, 28], labels int64 [N]) torch tensors.
Anything unreadable raises TrainingError with one line naming the file and what was expected.

A job's channels may also hold the forms of sagemaker_mnist.formats (class folders, CSV, a Ground
Truth manifest) or come in Pipe mode: sagemaker_mnist.job_data reads each in whichever it holds.
"""
import gzip
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
import torch

from sagemaker_mnist import failures
from sagemaker_mnist.failures import TrainingError
from sagemaker_mnist.formats import idx

TRAIN, TEST = "train", "test"
IMAGE_SIZE = 28
NUM_CLASSES = 10

IMAGES_MAGIC = idx.IMAGES_MAGIC
LABELS_MAGIC = idx.LABELS_MAGIC

# train-images-idx3-ubyte, train-images.idx3-ubyte, t10k-labels-idx1-ubyte.gz ...
_IDX_NAME = re.compile(r"^(train|t10k)-(images|labels)[-.](idx[13])-ubyte(\.gz)?$")
_IDX_PREFIX = {TRAIN: "train", TEST: "t10k"}
_NPZ_KEYS = {TRAIN: ("x_train", "y_train"), TEST: ("x_test", "y_test")}
_TORCHVISION_FILES = {TRAIN: "training.pt", TEST: "test.pt"}

ACCEPTED = ("the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
            "t10k-labels-idx1-ubyte; .gz or raw), Keras's mnist.npz, or torchvision's processed/training.pt "
            "and test.pt")


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8 [N, 28, 28]
    labels: torch.Tensor  # int64 [N]
    source: str

    def __len__(self):
        return len(self.labels)


def load_split(channel_dir, split, channel):
    """The `split` (TRAIN or TEST) found in a channel directory, or None when the channel holds
    no file of that split. Raises TrainingError for a channel that is missing or empty, and for
    files that are there but unreadable."""
    files = list_files(channel_dir, channel)
    # Messages name a file as the user uploaded it: the channel, then the path inside it.
    names = {path: os.path.join(channel, os.path.relpath(path, channel_dir)) for path in files}
    idx = _find_idx(files, split, names)
    if idx:
        return _load_idx_pair(idx, split, names)
    for path in files:
        if path.endswith(".npz"):
            found = _load_npz(path, split, names[path])
            if found is not None:
                return found
    for path in files:
        if os.path.basename(path) == _TORCHVISION_FILES[split]:
            return _load_torchvision(path, split, names[path])
    return None


def list_files(channel_dir, channel):
    if not channel_dir or not os.path.isdir(channel_dir):
        raise TrainingError(
            "channel %r is missing: %s; give the job a %r input channel holding %s"
            % (channel, "no folder %s" % channel_dir if channel_dir else "no folder given for it", channel,
               ACCEPTED))
    found, fifos = [], []
    for root, dirs, names in os.walk(channel_dir):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            if stat.S_ISFIFO(os.stat(path).st_mode):
                fifos.append(path)
            elif not name.startswith("."):
                found.append(path)
    if fifos and not found:
        raise TrainingError(
            "%s is a FIFO inside channel %r's folder, which is not how SageMaker's Pipe mode delivers a "
            "channel (a FIFO %s_0 beside the folder, and no folder): give the job the channel in File or "
            "Pipe mode"
            % (fifos[0], channel, os.path.normpath(channel_dir)))
    if not found:
        raise TrainingError("channel %r is empty (%s): upload %s to its S3 prefix"
                            % (channel, channel_dir, ACCEPTED))
    return found


def _find_idx(files, split, names):
    """{'images': path, 'labels': path} for the split's IDX files; raw preferred over .gz when a
    folder holds both (torchvision's raw/ folder does)."""
    found = {}
    for path in files:
        match = _IDX_NAME.match(os.path.basename(path))
        if not match or match.group(1) != _IDX_PREFIX[split]:
            continue
        kind, gz = match.group(2), bool(match.group(4))
        if kind not in found or (found[kind].endswith(".gz") and not gz):
            found[kind] = path
    if found and len(found) == 1:
        (kind, path), = found.items()
        other = "labels" if kind == "images" else "images"
        raise TrainingError(
            "%s has no matching %s file: expected %s-%s-%s-ubyte[.gz] beside it"
            % (names[path], other, _IDX_PREFIX[split], other, "idx1" if other == "labels" else "idx3"))
    return found


def read_idx(path, magic, name=None):
    """Reads one unsigned-byte IDX file (gzip or raw) into a numpy array, checking the magic
    number (IMAGES_MAGIC or LABELS_MAGIC) and that the data is as long as the header says.
    `name` is how messages call the file (default: its base name)."""
    name = name or os.path.basename(path)
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except (EOFError, zlib.error) as e:
        raise TrainingError("%s is truncated or corrupt (%s): upload the complete file" % (name, e)) from None
    except gzip.BadGzipFile:
        raise TrainingError("%s is not a gzip file: upload it gzipped or drop the .gz suffix"
                            % name) from None
    return idx.parse(data, magic, name)


def _load_idx_pair(paths, split, names):
    images = read_idx(paths["images"], IMAGES_MAGIC, names[paths["images"]])
    labels = read_idx(paths["labels"], LABELS_MAGIC, names[paths["labels"]])
    source = "%s + %s" % (names[paths["images"]], names[paths["labels"]])
    return checked(images, labels, source, split)


def _load_npz(path, split, name):
    x_key, y_key = _NPZ_KEYS[split]
    # np.load takes any file that is not a zip for a pickle, and says so: check the form first.
    if not zipfile.is_zipfile(path):
        raise TrainingError("%s is not a numpy .npz archive (not a zip file): upload Keras's mnist.npz, or "
                            "arrays saved with numpy.savez" % name)
    try:
        with np.load(path, allow_pickle=False) as npz:
            if x_key not in npz.files and y_key not in npz.files:
                return None
            if x_key not in npz.files or y_key not in npz.files:
                raise TrainingError("%s has %s but not %s: a Keras mnist.npz holds both"
                                    % (name, *((x_key, y_key) if x_key in npz.files else (y_key, x_key))))
            for key in (x_key, y_key):
                if _holds_objects(npz, key):
                    raise TrainingError(
                        "%s: %s is an array of Python objects, which the trainer does not unpickle from "
                        "uploaded data: save it as a numeric array (uint8 images N x 28 x 28, integer "
                        "labels) with numpy.savez" % (name, key))
            images, labels = npz[x_key], npz[y_key]
    except (ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile) as e:
        raise TrainingError("%s is a damaged .npz archive (%s): upload it again" % (name, e)) from None
    return checked(images, labels, "%s [%s, %s]" % (name, x_key, y_key), split)


def _holds_objects(npz, key):
    """Whether member `key` of an open .npz is an object array (pickled), read from its .npy header."""
    try:
        with npz.zip.open(key + ".npy") as f:
            version = np.lib.format.read_magic(f)
            header = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                      else np.lib.format.read_array_header_2_0(f))
            return header[2].hasobject
    except (ValueError, OSError, KeyError, zipfile.BadZipFile):
        return False


def _load_torchvision(path, split, name):
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad or truncated file
        raise TrainingError("%s cannot be read as torchvision's MNIST file (%s)"
                            % (name, failures.reason(e))) from None
    if not (isinstance(loaded, (tuple, list)) and len(loaded) == 2
            and all(isinstance(t, torch.Tensor) for t in loaded)):
        raise TrainingError("%s is not torchvision's MNIST file: expected a tuple (images, labels) of tensors"
                            % name)
    images, labels = loaded
    return checked(images.numpy(), labels.numpy(), name, split)


def checked(images, labels, source, split):
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim == 4 and images.shape[-1] == 1:  # Keras-style N x 28 x 28 x 1
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise TrainingError("%s: images must be N x %d x %d, found shape %s"
                            % (source, IMAGE_SIZE, IMAGE_SIZE, "x".join(map(str, images.shape))))
    if images.dtype != np.uint8:
        raise TrainingError("%s: images must be unsigned bytes (0-255, as MNIST ships them), found %s"
                            % (source, images.dtype))
    if labels.ndim != 1:
        raise TrainingError("%s: labels must be one digit per image, found shape %s"
                            % (source, "x".join(map(str, labels.shape))))
    if len(images) != len(labels):
        raise TrainingError("%s: %d images but %d labels; upload the %s images and labels of one release"
                            % (source, len(images), len(labels), split))
    if len(labels) == 0:
        raise TrainingError("%s holds no digits" % source)
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise TrainingError("%s: labels must be digits 0-%d, found values %s to %s"
                            % (source, NUM_CLASSES - 1, labels.min(), labels.max()))
    return Split(torch.from_numpy(np.array(images, dtype=np.uint8)),
                 torch.from_numpy(labels.astype(np.int64)), source)


@dataclass(frozen=True)
class Dataset:
    train: Split
    test: Split
    validation: Split | None
    # (channel, folder) of each channel read in Pipe mode: job_data.LaterPasses reads its later passes.
    piped: tuple = ()


def load(train_dir, test_dir=None, validation_dir=None, train_channel="training"):
    """The job's data. Training digits come from the training channel (named `train_channel`);
    test digits from the `test` channel, else from the training channel, else from the
    `validation` channel. Validation digits (reported beside the test metrics) come from the
    `validation` channel."""
    train = load_split(train_dir, TRAIN, train_channel)
    if train is None:
        raise TrainingError("channel %r holds no MNIST training digits: expected %s"
                            % (train_channel, ACCEPTED))
    validation = _required(validation_dir, "validation") if validation_dir else None
    if test_dir:
        test = _required(test_dir, "test")
    else:
        test = load_split(train_dir, TEST, train_channel) or validation
    if test is None:
        raise TrainingError(
            "no test digits: put t10k-images/t10k-labels (or mnist.npz's x_test/y_test, or test.pt) in the "
            "%r channel, or add a 'test' or 'validation' channel" % train_channel)
    return Dataset(train, test, validation)


def _required(channel_dir, channel):
    """The digits of a test or validation channel: its test split, or the only split it holds."""
    found = load_split(channel_dir, TEST, channel) or load_split(channel_dir, TRAIN, channel)
    if found is None:
        raise TrainingError("channel %r holds no MNIST digits: expected %s" % (channel, ACCEPTED))
    return found


def is_mnist(path):
    """Whether a file is one of MNIST's own forms that this module reads."""
    name = os.path.basename(path)
    return bool(_IDX_NAME.match(name)) or name.endswith(".npz") or name in _TORCHVISION_FILES.values()
