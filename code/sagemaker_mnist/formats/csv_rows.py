"""CSV of digits: one per row, `label,pixel0,...,pixel783`, pixel values 0-255 in row-major order,
with or without a header row. Kaggle's digit-recognizer train.csv is this. The rows are MNIST's
form already (serving takes CSV rows as they are), so no picture preparation applies.

A channel may hold several CSV files (shards); each may have its header. Pipe mode streams them
one after the other, headers included.
"""
import io

import numpy as np

from sagemaker_mnist.failures import TrainingError
from sagemaker_mnist.formats import NUM_CLASSES, SIZE, TRAIN, Digits

PIXELS = SIZE * SIZE
COLUMNS = 1 + PIXELS
ACCEPTED = "rows of label,pixel0,...,pixel783 (a digit 0-9, then 784 values 0-255), with or without a header"


def read_files(paths, names, channel):
    """{TRAIN: Digits} of the CSV files at `paths` (names: how messages call each)."""
    parts = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                parts.append(parse(f.read(), names[path]))
        except OSError as e:
            raise TrainingError("%s cannot be read (%s)" % (names[path], e.strerror or e)) from None
    images = np.concatenate([p.images for p in parts])
    labels = np.concatenate([p.labels for p in parts])
    return {TRAIN: Digits(images, labels, "%s (CSV: %s)" % (channel, ", ".join(names[p] for p in paths)))}


def parse(data, name):
    """Digits of CSV text (bytes). A header may begin each file, hence any row (Pipe mode streams
    files one after the other)."""
    try:
        text = data.decode("utf-8-sig")  # spreadsheet programs begin CSV with a byte-order mark
    except UnicodeDecodeError as e:
        raise TrainingError("%s is not CSV text (not UTF-8 at byte %d): expected %s"
                            % (name, e.start, ACCEPTED)) from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1)
             if line.strip() and not _is_header(line)]
    if not lines:
        raise TrainingError("%s holds no rows of digits: expected %s" % (name, ACCEPTED))
    try:
        # numpy's C parser, fast on Kaggle's 42,000 rows; a row it refuses is found below.
        values = np.loadtxt(io.StringIO("\n".join(line for _, line in lines)), delimiter=",",
                            dtype=np.float64, ndmin=2)
    except ValueError:
        values = None
    if values is None or values.shape[1] != COLUMNS:
        for number, line in lines:
            _check_row(line, number, name)
        raise TrainingError("%s cannot be read as CSV: expected %s" % (name, ACCEPTED))
    bad = ~np.isfinite(values) | (values != np.round(values))
    bad[:, 0] |= (values[:, 0] < 0) | (values[:, 0] >= NUM_CLASSES)
    bad[:, 1:] |= (values[:, 1:] < 0) | (values[:, 1:] > 255)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        number, line = lines[row]
        _check_row(line, number, name)
    return Digits(values[:, 1:].astype(np.uint8).reshape(-1, SIZE, SIZE), values[:, 0].astype(np.int64), name)


def _is_header(line):
    """A header names its columns ("label", "pixel0"): its first value begins with a letter. (A row
    whose label is missing or not a number is a bad row, not a header.)"""
    first = line.split(",", 1)[0].strip().strip('"')
    return first[:1].isalpha() and first.lower() not in ("nan", "inf", "infinity")


def _check_row(line, number, name):
    """Raises the TrainingError of the row's first fault, if it has one."""
    fields = line.split(",")
    where = "%s line %d" % (name, number)
    if len(fields) != COLUMNS:
        hint = " (no label column: a test.csv without labels?)" if len(fields) == PIXELS else ""
        raise TrainingError("%s has %d values%s: expected %s" % (where, len(fields), hint, ACCEPTED))
    for column, field in enumerate(fields):
        try:
            value = float(field)
        except ValueError:
            raise TrainingError("%s: value %d, %r, is not a number: expected %s"
                                % (where, column + 1, field.strip()[:20], ACCEPTED)) from None
        if column == 0 and not (value.is_integer() and 0 <= value < NUM_CLASSES):
            raise TrainingError("%s: label %s is not a digit 0-9" % (where, field.strip()))
        if column > 0 and not (value.is_integer() and 0 <= value <= 255):
            raise TrainingError("%s: pixel%d is %s, outside 0-255: pixels are integers 0-255 as MNIST's are"
                                % (where, column - 1, field.strip()))
