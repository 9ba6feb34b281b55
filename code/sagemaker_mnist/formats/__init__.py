"""The forms a channel's digits come in beside MNIST's own files, each read into MNIST's form.

One module a form: folders (a folder per class), csv_rows (label,pixel0..pixel783 rows),
manifest (a SageMaker Ground Truth output manifest beside its images), pipe (SageMaker's Pipe
mode FIFOs, with recordio for their RecordIO framing); detect says which form a channel holds.
MNIST's own files (IDX, mnist.npz, torchvision's .pt) stay in sagemaker_mnist.data, which turns
what these modules read into the trainer's splits.

Every picture (PNG, JPEG) goes through serving's preparation (pictures.prepared: images.decode),
so that a digit is prepared the same way for training as for prediction. Rows of pixels (CSV,
IDX) are taken as they are, as serving takes them.
"""
from dataclasses import dataclass

import numpy as np

# The `data-format` hyperparameter's values. AUTO: detected from the channel's contents.
AUTO, MNIST, FOLDERS, CSV, MANIFEST = "auto", "mnist", "folders", "csv", "manifest"
FORMATS = (AUTO, MNIST, FOLDERS, CSV, MANIFEST)

# The two splits a channel can hold (sagemaker_mnist.data.TRAIN and TEST).
TRAIN, TEST = "train", "test"
NUM_CLASSES = 10
SIZE = 28


@dataclass(frozen=True)
class Digits:
    """Digits read from a channel, before sagemaker_mnist.data checks their shape and range."""
    images: np.ndarray  # uint8 [N, 28, 28]
    labels: np.ndarray  # integers [N]
    source: str  # how messages name where they came from


@dataclass(frozen=True)
class Options:
    """The job's say in how its channels are read (hyperparameters data-format, label-attribute)."""
    data_format: str = AUTO
    label_attribute: str = ""  # "": the manifest's one attribute that is not source-ref or *-metadata


def stack(images, labels, source):
    """Digits from lists of uint8 28x28 arrays and their integer labels."""
    array = np.stack(images) if images else np.empty((0, SIZE, SIZE), dtype=np.uint8)
    return Digits(array.astype(np.uint8, copy=False), np.asarray(labels, dtype=np.int64), source)
