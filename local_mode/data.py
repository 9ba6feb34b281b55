"""Inputs and outputs of the local flow: channels, a transform input, sample requests, scoring.

Independent of code/sagemaker_mnist on purpose: the flow checks the images from the outside, with its own
IDX reader (data.mnist_files) and its own scoring of the transform output.
"""
import gzip
import io
import json
import pathlib
import shutil
import struct

import numpy as np

from data import mnist_files

TRAINING_CHANNEL = "training"
TEST_CHANNEL = "test"
TRANSFORM_INPUT_NAME = "mnist-test.csv"
# SageMaker names a batch transform's output after its input, plus this suffix.
TRANSFORM_OUTPUT_SUFFIX = ".out"

read_idx = mnist_files.read_idx
test_split = mnist_files.test_split


def stage_channels(data_dir, dest):
    """Copies MNIST into one folder per channel: training (60,000 digits) and test (10,000).

    Copies rather than links: Docker mounts each channel folder into the container, and a
    link pointing outside the mounted folder would dangle there.
    """
    dest = pathlib.Path(dest)
    channels = {}
    for channel, names in ((TRAINING_CHANNEL, mnist_files.TRAIN_FILES), (TEST_CHANNEL, mnist_files.TEST_FILES)):
        folder = dest / channel
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(pathlib.Path(data_dir) / name, folder / name)
        channels[channel] = folder
    return channels


def write_idx(path, array):
    """Writes an unsigned-byte IDX file, gzip-compressed (the form MNIST is published in)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + array.tobytes())
    return path


def stage_subset(data_dir, dest, digits):
    """A training channel with the first `digits` training digits of MNIST."""
    dest = pathlib.Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in mnist_files.TRAIN_FILES:
        write_idx(dest / name, read_idx(pathlib.Path(data_dir) / name)[:digits])
    return dest


def write_transform_csv(images, path):
    """The batch transform input: SageMaker's text/csv, one digit per line."""
    with open(path, "w") as f:
        f.writelines(mnist_files.csv_lines(images))
    return path


def json_digit(image):
    """A JSON request body for one digit: its 28 rows of 28 pixel values 0-255."""
    return json.dumps(image.tolist())


def png_digit(image):
    """A PNG file of one digit, as a user would send a picture of it."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def prediction_label(prediction):
    """The predicted digit of one prediction object of the inference image."""
    return int(prediction["label"])


def predictions(body):
    """The prediction objects of one response body or of a transform output file's text.

    The inference image answers with a JSON array of predictions or one JSON object per line;
    batch transform joins its answers to the mini-batches with newlines. Each JSON document in
    the text is read in turn.
    """
    decoder = json.JSONDecoder()
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    found, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return found
        doc, pos = decoder.raw_decode(text, pos)
        if isinstance(doc, dict) and "predictions" in doc:
            doc = doc["predictions"]
        found.extend(doc if isinstance(doc, list) else [doc])


def transform_accuracy(output_path, labels):
    """(accuracy, predicted labels) of a transform output file against the true labels."""
    predicted = np.array([prediction_label(p) for p in predictions(pathlib.Path(output_path).read_text())])
    if len(predicted) != len(labels):
        raise ValueError("transform output %s holds %d predictions for %d inputs" % (output_path, len(predicted), len(labels)))
    return float((predicted == np.asarray(labels)).mean()), predicted
