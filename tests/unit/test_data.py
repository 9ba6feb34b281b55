"""sagemaker_mnist.data: every upload form users put in a channel reads back as the real digits, and every
broken upload fails with one line that names the file and says what was expected."""
import gzip
import os
import shutil
import zipfile

import numpy as np
import pytest
import torch

from sagemaker_mnist import data
from sagemaker_mnist.failures import TrainingError
from support import mnist, write_idx, write_subset

pytestmark = pytest.mark.unit

N_TRAIN, N_TEST = 300, 100


def _expected(split, n):
    images, labels = mnist("train" if split == data.TRAIN else "t10k")
    return images[:n], labels[:n]


def _assert_split(found, split, n):
    images, labels = _expected(split, n)
    assert found.images.dtype == torch.uint8 and found.images.shape == (n, 28, 28)
    assert found.labels.dtype == torch.int64
    np.testing.assert_array_equal(found.images.numpy(), images)
    np.testing.assert_array_equal(found.labels.numpy(), labels)


def _idx(tmp_path, dot_spelling=False, gz=True, subdir=""):
    channel = tmp_path / "training"
    target = channel / subdir
    target.mkdir(parents=True)
    for split, prefix, n in ((data.TRAIN, "train", N_TRAIN), (data.TEST, "t10k", N_TEST)):
        images, labels = _expected(split, n)
        sep = "." if dot_spelling else "-"
        suffix = ".gz" if gz else ""
        write_idx(target / ("%s-images%sidx3-ubyte%s" % (prefix, sep, suffix)), images)
        write_idx(target / ("%s-labels%sidx1-ubyte%s" % (prefix, sep, suffix)), labels)
    return channel


@pytest.mark.parametrize("dot_spelling", [False, True], ids=["dash", "dot"])
@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_idx_files_in_every_spelling(tmp_path, dot_spelling, gz):
    channel = _idx(tmp_path, dot_spelling, gz)
    _assert_split(data.load_split(str(channel), data.TRAIN, "training"), data.TRAIN, N_TRAIN)
    _assert_split(data.load_split(str(channel), data.TEST, "training"), data.TEST, N_TEST)


def test_idx_files_in_a_subfolder_as_torchvision_keeps_raw(tmp_path):
    channel = _idx(tmp_path, subdir="MNIST/raw")
    dataset = data.load(str(channel))
    _assert_split(dataset.train, data.TRAIN, N_TRAIN)
    _assert_split(dataset.test, data.TEST, N_TEST)


def test_keras_npz(tmp_path):
    channel = tmp_path / "training"
    channel.mkdir()
    (x_train, y_train), (x_test, y_test) = _expected(data.TRAIN, N_TRAIN), _expected(data.TEST, N_TEST)
    np.savez_compressed(channel / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    dataset = data.load(str(channel))
    _assert_split(dataset.train, data.TRAIN, N_TRAIN)
    _assert_split(dataset.test, data.TEST, N_TEST)


def test_torchvision_processed_files(tmp_path):
    channel = tmp_path / "training"
    processed = channel / "MNIST" / "processed"
    processed.mkdir(parents=True)
    for split, name, n in ((data.TRAIN, "training.pt", N_TRAIN), (data.TEST, "test.pt", N_TEST)):
        images, labels = _expected(split, n)
        # torchvision's own layout: uint8 images, int64 labels, a plain tuple.
        torch.save((torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))), processed / name)
    dataset = data.load(str(channel))
    _assert_split(dataset.train, data.TRAIN, N_TRAIN)
    _assert_split(dataset.test, data.TEST, N_TEST)


def test_test_split_from_a_test_channel(tmp_path):
    train = write_subset(tmp_path / "training", N_TRAIN, N_TEST, test_in=tmp_path / "test")
    dataset = data.load(str(train), test_dir=str(tmp_path / "test"))
    _assert_split(dataset.test, data.TEST, N_TEST)
    assert dataset.validation is None


def test_validation_channel_serves_as_test_set_when_there_is_none(tmp_path):
    train = write_subset(tmp_path / "training", N_TRAIN, N_TEST, test_in=tmp_path / "validation")
    dataset = data.load(str(train), validation_dir=str(tmp_path / "validation"))
    _assert_split(dataset.test, data.TEST, N_TEST)
    assert dataset.validation is dataset.test


def test_validation_channel_beside_a_test_split(tmp_path):
    train = write_subset(tmp_path / "training", N_TRAIN, N_TEST)
    write_subset(tmp_path / "validation", 50, 0)  # validation digits named as a training split
    dataset = data.load(str(train), validation_dir=str(tmp_path / "validation"))
    _assert_split(dataset.test, data.TEST, N_TEST)
    _assert_split(dataset.validation, data.TRAIN, 50)


# --- broken uploads -----------------------------------------------------------------------------

def _truncate(path, keep):
    raw = path.read_bytes()
    path.write_bytes(raw[:keep])


def _gunzip(path):
    target = path.with_suffix("")
    target.write_bytes(gzip.decompress(path.read_bytes()))
    path.unlink()
    return target


def _break_truncated_gz(channel):
    _truncate(channel / "train-images-idx3-ubyte.gz", 5000)


def _break_truncated_raw(channel):
    raw = _gunzip(channel / "train-images-idx3-ubyte.gz")
    _truncate(raw, 16 + 28 * 28 * 10)


def _break_magic(channel):
    # A labels file where the images should be: the magic number says 0x801.
    shutil.copy(channel / "train-labels-idx1-ubyte.gz", channel / "train-images-idx3-ubyte.gz")


def _break_counts(channel):
    _, labels = _expected(data.TRAIN, N_TRAIN - 1)
    write_idx(channel / "train-labels-idx1-ubyte.gz", labels)


def _break_missing_labels(channel):
    (channel / "train-labels-idx1-ubyte.gz").unlink()


def _break_not_gzip(channel):
    raw = gzip.decompress((channel / "train-images-idx3-ubyte.gz").read_bytes())
    (channel / "train-images-idx3-ubyte.gz").write_bytes(raw)


def _break_labels_out_of_range(channel):
    _, labels = _expected(data.TRAIN, N_TRAIN)
    bad = labels.copy()
    bad[3] = 11
    write_idx(channel / "train-labels-idx1-ubyte.gz", bad)


def _break_other_files(channel):
    for f in channel.iterdir():
        f.unlink()
    (channel / "train.csv").write_text("label,pixel0\n")


def _break_empty(channel):
    for f in channel.iterdir():
        f.unlink()


def _break_fifo_in_folder(channel):
    for f in channel.iterdir():
        f.unlink()
    os.mkfifo(channel / "training_0")


def _break_npz_not_a_zip(channel):
    for f in channel.iterdir():
        f.unlink()
    (channel / "mnist.npz").write_bytes(b"not an archive at all" * 10)


def _break_npz_object_array(channel):
    images, labels = _expected(data.TRAIN, 20)
    for f in channel.iterdir():
        f.unlink()
    np.savez(channel / "mnist.npz", x_train=images, y_train=np.array(list(labels[:19]) + ["7"], dtype=object))


def _break_npz_damaged_member(channel):
    for f in channel.iterdir():
        f.unlink()
    with zipfile.ZipFile(channel / "mnist.npz", "w") as z:
        z.writestr("x_train.npy", b"\x93NUMPY broken header")
        z.writestr("y_train.npy", b"\x93NUMPY broken header")


BROKEN = [
    # (case, how to break a good channel, words the one-line message must contain)
    ("truncated-gz", _break_truncated_gz, ["train-images-idx3-ubyte.gz", "truncated"]),
    ("truncated-raw", _break_truncated_raw, ["train-images-idx3-ubyte", "truncated", "header says 300x28x28"]),
    ("bad-magic", _break_magic, ["train-images-idx3-ubyte.gz", "magic number 0x00000801", "expected 0x00000803"]),
    ("count-mismatch", _break_counts, ["300 images but 299 labels"]),
    ("missing-labels", _break_missing_labels, ["train-images-idx3-ubyte.gz", "no matching labels"]),
    ("not-gzip", _break_not_gzip, ["train-images-idx3-ubyte.gz", "not a gzip file"]),
    ("label-range", _break_labels_out_of_range, ["labels must be digits 0-9", "11"]),
    ("no-mnist-files", _break_other_files, ["holds no MNIST training digits", "mnist.npz"]),
    ("empty", _break_empty, ["channel 'training' is empty"]),
    # A FIFO inside the folder is not SageMaker's Pipe layout (formats.pipe reads that one).
    ("fifo-in-folder", _break_fifo_in_folder, ["training_0 is a FIFO inside channel 'training'", "Pipe mode"]),
    # np.load takes a file that is not a zip for a pickle and advises unpickling it: not repeated.
    ("npz-not-a-zip", _break_npz_not_a_zip,
     ["training/mnist.npz is not a numpy .npz archive (not a zip file)"]),
    ("npz-object-array", _break_npz_object_array,
     ["training/mnist.npz: y_train is an array of Python objects", "numeric array"]),
    ("npz-damaged-member", _break_npz_damaged_member, ["training/mnist.npz is a damaged .npz archive"]),
]


@pytest.mark.parametrize("case,breaker,words", BROKEN, ids=[c[0] for c in BROKEN])
def test_broken_channel_fails_with_one_actionable_line(tmp_path, case, breaker, words):
    channel = write_subset(tmp_path / "training", N_TRAIN, N_TEST)
    breaker(channel)
    with pytest.raises(TrainingError) as failure:
        data.load(str(channel))
    message = str(failure.value)
    assert "\n" not in message and "allow_pickle" not in message
    for word in words:
        assert word in message


def test_missing_channel(tmp_path):
    with pytest.raises(TrainingError, match=r"channel 'training' is missing"):
        data.load(str(tmp_path / "training"))
    with pytest.raises(TrainingError, match=r"channel 'training' is missing"):
        data.load(None)


def test_no_test_split_anywhere(tmp_path):
    channel = write_subset(tmp_path / "training", N_TRAIN, 0)
    with pytest.raises(TrainingError, match=r"no test digits: .*'test' or 'validation' channel"):
        data.load(str(channel))


def test_npz_without_the_labels(tmp_path):
    channel = tmp_path / "training"
    channel.mkdir()
    np.savez(channel / "mnist.npz", x_train=_expected(data.TRAIN, 10)[0])
    with pytest.raises(TrainingError, match=r"mnist.npz has x_train but not y_train"):
        data.load(str(channel))


def test_corrupt_torchvision_file(tmp_path):
    processed = tmp_path / "training" / "processed"
    processed.mkdir(parents=True)
    (processed / "training.pt").write_bytes(b"not a torch file")
    with pytest.raises(TrainingError, match=r"training.pt cannot be read as torchvision's MNIST file"):
        data.load(str(tmp_path / "training"))
