"""sagemaker_mnist.formats through job_data.load_job: class folders, CSV rows and Ground Truth manifests
written as users bring them read back as their digits, every picture prepared exactly as serving
prepares an image request (images.decode); detection picks the form, data-format forces one; and
each kind of bad data fails with one line naming the file or line and what is wrong."""
import json

import numpy as np
import pytest

from sagemaker_mnist import hyperparameters, images, job_data
from sagemaker_mnist.failures import TrainingError
from support import TEST_IMAGES, TEST_LABELS, mnist, write_idx, write_subset
from user_data import (csv_cell, csv_text, manifest_lines, picture, rewrite_manifest,
                       write_class_folders, write_csv_channel, write_manifest_channel)

pytestmark = pytest.mark.unit

N = 40  # digits per channel: the first 40 of MNIST's training set hold every digit


@pytest.fixture(scope="module")
def digits():
    images_, labels = mnist("train")
    assert set(labels[:N]) == set(range(10))
    return images_[:N], labels[:N]


def _load(train, test=None, *flags):
    argv = ["--train", str(train)] + (["--test", str(test)] if test else []) + list(flags)
    return job_data.load_job(hyperparameters.parse(argv, {}), {})


def _served(data_bytes):
    """What the endpoint makes of the same picture, as the trainer's uint8."""
    return np.round(images.decode(data_bytes) * 255.0).astype(np.uint8)


def _like(prepared, originals):
    """Correlation of each prepared picture with the MNIST digit it was made from."""
    a = prepared.reshape(len(prepared), -1).astype(np.float64)
    b = originals.reshape(len(originals), -1).astype(np.float64)
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


@pytest.fixture
def test_channel(tmp_path):
    """A `test` channel of 50 of MNIST's test digits."""
    folder = tmp_path / "test"
    folder.mkdir()
    x, y = mnist("t10k")
    write_idx(folder / TEST_IMAGES, x[:50])
    write_idx(folder / TEST_LABELS, y[:50])
    return folder


@pytest.mark.parametrize("fmt,nested", [("PNG", False), ("JPEG", False), ("PNG", True)],
                         ids=["png", "jpeg", "nested"])
def test_class_folders_read_as_serving_prepares_each_picture(tmp_path, digits, test_channel, fmt, nested):
    x, y = digits
    channel = write_class_folders(tmp_path / "training", x, y, fmt, nested)
    dataset = _load(channel, test_channel)
    # Sorted by folder, then by file: each digit's picture file, as the endpoint would decode it.
    files = sorted(channel.rglob("*.%s" % fmt.lower()),
                   key=lambda p: (p.relative_to(channel).parts[0], str(p)))
    order = [int(p.stem) for p in files]
    np.testing.assert_array_equal(dataset.train.labels.numpy(), y[order])
    served = np.stack([_served(p.read_bytes()) for p in files])
    np.testing.assert_array_equal(dataset.train.images.numpy(), served)
    assert dataset.train.images.shape == (N, 28, 28)
    assert np.median(_like(dataset.train.images.numpy(), x[order])) > 0.8
    assert len(dataset.test) == 50


@pytest.mark.parametrize("header", [True, False], ids=["header", "no-header"])
def test_csv_rows_read_as_they_are(tmp_path, digits, test_channel, header):
    x, y = digits
    channel = tmp_path / "training"
    channel.mkdir()
    (channel / "train.csv").write_text(csv_text(x, y, header))
    dataset = _load(channel, test_channel)
    np.testing.assert_array_equal(dataset.train.images.numpy(), x)
    np.testing.assert_array_equal(dataset.train.labels.numpy(), y)


def test_csv_shards_each_with_its_header_and_a_byte_order_mark(tmp_path, digits, test_channel):
    x, y = digits
    channel = tmp_path / "training"
    (channel / "part").mkdir(parents=True)
    (channel / "part" / "a.csv").write_bytes(b"\xef\xbb\xbf" + csv_text(x[:25], y[:25]).encode())
    (channel / "part" / "b.csv").write_text(csv_text(x[25:], y[25:]))
    dataset = _load(channel, test_channel)
    np.testing.assert_array_equal(dataset.train.images.numpy(), x)


@pytest.mark.parametrize("picture_folder", ["images", "labeling/images", "."],
                         ids=["folder", "whole-key", "top"])
def test_a_ground_truth_manifest_finds_its_pictures_by_the_ends_of_their_keys(tmp_path, digits, test_channel,
                                                                              picture_folder):
    x, y = digits
    channel = write_manifest_channel(tmp_path / "training", x, y, picture_folder=picture_folder)
    dataset = _load(channel, test_channel)
    np.testing.assert_array_equal(dataset.train.labels.numpy(), y)
    np.testing.assert_array_equal(dataset.train.images.numpy(), np.stack([_served(picture(d)) for d in x]))


def test_the_label_attribute_hyperparameter_picks_one_of_a_chained_jobs_labels(tmp_path, digits,
                                                                              test_channel):
    x, y = digits
    channel = write_manifest_channel(tmp_path / "training", x, y, attribute="first-pass")
    # A chained labeling job adds its own attribute: here, labels all wrong but the digit 1.
    lines = [dict(json.loads(line), **{"second-pass": 1}) for line in manifest_lines(y, "first-pass")]
    (channel / "output.manifest").write_text("\n".join(json.dumps(line) for line in lines))
    with pytest.raises(TrainingError, match=r"several label attributes \(first-pass, second-pass\)"):
        _load(channel, test_channel)
    dataset = _load(channel, test_channel, "--label-attribute", "first-pass")
    np.testing.assert_array_equal(dataset.train.labels.numpy(), y)


def test_a_test_channel_may_take_any_form_too(tmp_path, digits):
    x, y = digits
    train = write_class_folders(tmp_path / "training", x, y)
    test = tmp_path / "test"
    test.mkdir()
    (test / "test.csv").write_text(csv_text(x[:7], y[:7]))
    dataset = _load(train, test)
    np.testing.assert_array_equal(dataset.test.images.numpy(), x[:7])


def test_mnist_files_keep_their_test_split_in_the_training_channel(tmp_path):
    channel = write_subset(tmp_path / "training", 300, 60)
    dataset = _load(channel)
    assert (len(dataset.train), len(dataset.test)) == (300, 60)


def test_detection_prefers_class_folders_to_csv_and_data_format_forces_csv(tmp_path, digits):
    x, y = digits
    channel = write_class_folders(tmp_path / "training", x, y)
    (channel / "9" / "notes.csv").write_text(csv_text(x[:12], y[:12]))
    # data-format is every channel's: the test channel is CSV too.
    test = tmp_path / "test"
    test.mkdir()
    (test / "test.csv").write_text(csv_text(x[:5], y[:5]))
    with pytest.raises(TrainingError, match=r"training/9/notes.csv is not a PNG or JPEG picture"):
        _load(channel, test)
    with pytest.raises(TrainingError, match=r"has no examples of the digits 6, 7, 8 .*every digit 0-9"):
        # the first 12 rows hold no 6, 7 or 8
        _load(channel, test, "--data-format", "csv")
    with pytest.raises(TrainingError, match=r"channel 'training' holds no MNIST digits \(hyperparameter "
                                            r"data-format=mnist\)"):
        _load(channel, test, "--data-format", "mnist")


# --- broken channels: each writes a good channel of one form, then breaks it one way -------------

def _folders(tmp_path, x, y):
    return write_class_folders(tmp_path / "training", x, y)


def _csv_lines(tmp_path, x, y, change):
    return write_csv_channel(tmp_path / "training", x, y, change)


def _manifest_lines(tmp_path, x, y, change):
    return rewrite_manifest(write_manifest_channel(tmp_path / "training", x, y), change)


def _unreadable_picture(t, x, y):
    channel = _folders(t, x, y)
    (channel / "3" / "0007.png").write_bytes(b"\x89PNG\r\n\x1a\ncut")
    return channel


def _blank_picture(t, x, y):
    channel = _folders(t, x, y)
    (channel / "5" / "blank.png").write_bytes(picture(np.zeros((28, 28))))
    return channel


def _not_a_picture(t, x, y):
    channel = _folders(t, x, y)
    (channel / "4" / "labels.txt").write_text("4")
    return channel


def _beside_class_folders(t, x, y):
    channel = _folders(t, x, y)
    (channel / "README.txt").write_text("my digits")
    return channel


def _empty_class_folder(t, x, y):
    channel = _folders(t, x, y)
    for path in (channel / "6").iterdir():
        path.unlink()
    return channel


def _class_without_examples(t, x, y):
    channel = _empty_class_folder(t, x, y)
    (channel / "6").rmdir()
    return channel


def _manifest_missing_picture(t, x, y):
    channel = _manifest_lines(t, x, y, lambda lines: None)
    (channel / "images" / "0011.png").unlink()
    return channel


def _manifest_unreadable_picture(t, x, y):
    channel = _manifest_lines(t, x, y, lambda lines: None)
    (channel / "images" / "0002.png").write_bytes(b"GIF89a not a digit")
    return channel


def _no_form(t, x, y):
    channel = t / "training"
    channel.mkdir()
    (channel / "digits.parquet").write_bytes(b"PAR1")
    return channel


BAD = [
    # (case, writes the broken channel from (tmp_path, images, labels), words of the one line)
    ("unreadable-picture", _unreadable_picture,
     ["training/3/0007.png is not a readable picture of a digit", "could not be decoded"]),
    ("blank-picture", _blank_picture, ["training/5/blank.png is not a readable picture", "blank"]),
    ("not-a-picture", _not_a_picture, ["training/4/labels.txt is not a PNG or JPEG picture"]),
    ("beside-class-folders", _beside_class_folders,
     ["training/README.txt is not a class folder", "named 0 to 9"]),
    ("empty-class-folder", _empty_class_folder, ["class folder training/6/ is empty"]),
    ("class-without-examples", _class_without_examples,
     ["channel 'training' has no examples of the digit 6", "every digit 0-9"]),
    ("csv-label-outside-digits", lambda t, x, y: _csv_lines(t, x, y, csv_cell(5, 0, "12")),
     ["training/train.csv line 6: label 12 is not a digit 0-9"]),
    ("csv-pixel-outside-bytes", lambda t, x, y: _csv_lines(t, x, y, csv_cell(3, 200, "300")),
     ["training/train.csv line 4: pixel199 is 300, outside 0-255"]),
    ("csv-without-labels", lambda t, x, y: _csv_lines(t, x, y, csv_cell(2, 0, "")),
     ["training/train.csv line 3: value 1, '', is not a number"]),
    ("csv-short-row", lambda t, x, y: _csv_lines(t, x, y, lambda lines: lines.__setitem__(2, lines[2][2:])),
     ["training/train.csv line 3 has 784 values", "no label column"]),
    ("csv-not-a-number", lambda t, x, y: _csv_lines(t, x, y, csv_cell(9, 17, "dark")),
     ["training/train.csv line 10: value 18, 'dark', is not a number"]),
    ("manifest-label-outside-digits",
     lambda t, x, y: _manifest_lines(t, x, y, lambda m: m[3].update(digits=12)),
     ["training/output.manifest line 4: label 12 is not a digit 0-9", "categories 0 to 9"]),
    ("manifest-label-attribute-missing",
     lambda t, x, y: _manifest_lines(t, x, y, lambda m: m[8].pop("digits")),
     ["training/output.manifest line 9 has no label attribute (only digits-metadata, source-ref)",
      "label-attribute hyperparameter"]),
    ("manifest-picture-missing", _manifest_missing_picture,
     ["training/output.manifest line 12: the picture s3://amzn-s3-demo-bucket/labeling/images/0011.png "
      "is not in channel 'training'", "upload the pictures under the channel's S3 prefix"]),
    ("manifest-not-json", lambda t, x, y: _manifest_lines(t, x, y, lambda m: m.insert(1, "{oops")),
     ["training/output.manifest line 2 is not JSON"]),
    ("manifest-unreadable-picture", _manifest_unreadable_picture,
     ["training/images/0002.png (training/output.manifest line 3) is not a readable picture"]),
    ("no-form", _no_form, ["channel 'training' holds none of the forms the trainer reads",
                           "its files: training/digits.parquet", "class folders 0/ to 9/"]),
]


@pytest.mark.parametrize("case,write,words", BAD, ids=[case for case, _, _ in BAD])
def test_bad_data_fails_with_one_line_naming_the_file_or_line(tmp_path, digits, test_channel, case, write,
                                                              words):
    channel = write(tmp_path, *digits)
    with pytest.raises(TrainingError) as failure:
        _load(channel, test_channel)
    message = str(failure.value)
    assert "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message, (word, message)
