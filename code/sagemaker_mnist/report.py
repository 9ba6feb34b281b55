"""What a training job tells people: the per-epoch metric line in the log, and the evaluation
report in SageMaker's output data directory (/opt/ml/output/data, uploaded as output.tar.gz).

The metric line is what Estimator metric_definitions and HyperparameterTuner objectives match
(the regexes: cloud/common.py METRIC_DEFINITIONS), so its keys and their order never change:
  #metrics epoch=3 train_loss=0.012345 test_loss=0.020100 test_accuracy=0.993100 epoch_seconds=3.210 train_seconds=9.870
with validation_loss=... validation_accuracy=... after test_accuracy when the job has validation
digits (a validation channel, or validation-fraction of the training channel), and then, after
train_seconds, validation_accuracy_0=... to validation_accuracy_9=...: the accuracy on each digit
of them, so that a tuner can optimise the digit a user's data gets wrong most. epoch_seconds is
the epoch's wall-clock time (training and evaluation); train_seconds is the training time of all
epochs so far, evaluation excluded.
"""
import json
import os

import matplotlib

matplotlib.use("Agg")  # no display in a training container
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

METRICS_FILE = "metrics.json"
CONFUSION_FILE = "confusion_matrix.png"
MISCLASSIFIED_FILE = "misclassified.png"
CURVES_FILE = "curves.png"
KIND_CONFUSION_FILE = "kind_confusion_matrix.png"
PRINTED_MISREAD_FILE = "misread_printed.png"
KINDS = ("handwritten", "printed")  # sagemaker_mnist.model.KINDS (this module does not import torch)
MISCLASSIFIED_SHOWN = 100
NUM_CLASSES = 10

_LINE_KEYS = (("epoch", "%d"), ("train_loss", "%.6f"), ("test_loss", "%.6f"), ("test_accuracy", "%.6f"),
              ("validation_loss", "%.6f"), ("validation_accuracy", "%.6f"),
              # With printed digits (sagemaker_mnist.kinds): how often the kind head calls MNIST's
              # test digits handwritten, and digit and kind accuracy on rendered printed digits.
              ("test_kind_accuracy", "%.6f"), ("printed_accuracy", "%.6f"), ("printed_kind_accuracy", "%.6f"),
              ("epoch_seconds", "%.3f"), ("train_seconds", "%.3f"))
# The validation digits' accuracy per digit; last, so that the line keeps its earlier keys' order.
CLASS_KEY = "validation_accuracy_%d"
_LINE_KEYS += tuple((CLASS_KEY % digit, "%.6f") for digit in range(NUM_CLASSES))


def metric_line(entry):
    """The log line for one epoch's metrics (a dict with the keys above; validation and printed ones
    optional)."""
    parts = ["%s=%s" % (key, fmt % entry[key]) for key, fmt in _LINE_KEYS if key in entry]
    return "#metrics " + " ".join(parts)


def confusion_matrix(labels, predictions):
    """counts[true][predicted] as a 10 x 10 int array."""
    counts = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(predictions)), 1)
    return counts


def write(output_data_dir, summary, history, images, labels, predictions, printed=None, validation=None):
    """Writes metrics.json and the three figures. `summary` holds the run's facts (final metrics,
    hyperparameters, device...); images/labels/predictions are the test set's, as numpy arrays.
    printed (a net with the kind head: sagemaker_mnist.kinds.report_part) adds the kinds'
    confusion matrix and the printed digits' confusion matrix and misread digits, and two figures.
    validation ({"labels", "predictions", "source"}: the job's validation digits) adds their
    accuracy, confusion matrix and accuracy per digit, under "validation"."""
    os.makedirs(output_data_dir, exist_ok=True)
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    counts = confusion_matrix(labels, predictions)
    per_class = counts.diagonal() / np.maximum(counts.sum(axis=1), 1)
    wrong = np.flatnonzero(labels != predictions)
    metrics = dict(summary)
    metrics.update(
        epochs=history,
        confusion_matrix=counts.tolist(),
        per_class_accuracy={str(d): round(float(a), 6) for d, a in enumerate(per_class)},
        misclassified=int(len(wrong)),
        figures=[CONFUSION_FILE, MISCLASSIFIED_FILE, CURVES_FILE],
    )
    if validation is not None:
        metrics["validation"] = _validation_part(validation)
    _atomic(os.path.join(output_data_dir, METRICS_FILE),
            lambda f: f.write(json.dumps(metrics, indent=2, sort_keys=True).encode()))
    _save_figure(_confusion_figure(counts), os.path.join(output_data_dir, CONFUSION_FILE))
    _save_figure(_misclassified_figure(np.asarray(images), labels, predictions, wrong),
                 os.path.join(output_data_dir, MISCLASSIFIED_FILE))
    _save_figure(_curves_figure(history), os.path.join(output_data_dir, CURVES_FILE))
    if printed is not None:
        _write_kinds(output_data_dir, metrics, printed)
    return metrics


def _validation_part(validation):
    labels, predictions = np.asarray(validation["labels"]), np.asarray(validation["predictions"])
    counts = confusion_matrix(labels, predictions)
    rows = counts.sum(axis=1)
    # A digit the validation digits lack has no accuracy (null), as it has no key in the metric line.
    per_class = {str(d): round(float(counts[d, d] / rows[d]), 6) if rows[d] else None
                 for d in range(NUM_CLASSES)}
    return {"digits": int(len(labels)), "source": validation["source"],
            "accuracy": round(float(counts.trace() / max(len(labels), 1)), 6),
            "confusion_matrix": counts.tolist(), "per_class_accuracy": per_class}


def _write_kinds(output_data_dir, metrics, printed):
    """The kinds' part of the report, added to metrics.json (written again) and as two figures."""
    labels, predictions = np.asarray(printed["labels"]), np.asarray(printed["predictions"])
    counts = confusion_matrix(labels, predictions)
    wrong = np.flatnonzero(labels != predictions)
    # Rows: the true kind (MNIST's test digits are handwritten, the rendered ones printed).
    kinds = np.array([np.bincount(np.asarray(printed["test_kinds"]), minlength=2),
                      np.bincount(np.asarray(printed["kinds"]), minlength=2)])
    metrics.update(
        kinds={"names": list(KINDS), "confusion_matrix": kinds.tolist()},
        printed={"digits": int(len(labels)), "confusion_matrix": counts.tolist(), "misread": int(len(wrong))},
        figures=metrics["figures"] + [KIND_CONFUSION_FILE, PRINTED_MISREAD_FILE],
    )
    _atomic(os.path.join(output_data_dir, METRICS_FILE),
            lambda f: f.write(json.dumps(metrics, indent=2, sort_keys=True).encode()))
    _save_figure(_kind_figure(kinds), os.path.join(output_data_dir, KIND_CONFUSION_FILE))
    _save_figure(_misclassified_figure(np.asarray(printed["images"]), labels, predictions, wrong, "printed"),
                 os.path.join(output_data_dir, PRINTED_MISREAD_FILE))


def _kind_figure(counts):
    fig, ax = plt.subplots(figsize=(4.5, 3.8))
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for t in range(2):
        for p in range(2):
            ax.text(p, t, str(counts[t, p]), ha="center", va="center", fontsize=9,
                    color="white" if rates[t, p] > 0.5 else "black")
    ax.set_xticks(range(2), KINDS)
    ax.set_yticks(range(2), KINDS)
    ax.set_xlabel("predicted kind")
    ax.set_ylabel("true kind")
    ax.set_title("Kinds: %d digits, accuracy %.2f%%" % (counts.sum(), 100 * counts.trace() / max(counts.sum(), 1)),
                 fontsize=9)
    fig.tight_layout()
    return fig


def _confusion_figure(counts):
    fig, ax = plt.subplots(figsize=(7, 6))
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for t in range(NUM_CLASSES):
        for p in range(NUM_CLASSES):
            if counts[t, p]:
                ax.text(p, t, str(counts[t, p]), ha="center", va="center", fontsize=8,
                        color="white" if rates[t, p] > 0.5 else "black")
    ax.set_xticks(range(NUM_CLASSES))
    ax.set_yticks(range(NUM_CLASSES))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    accuracy = counts.trace() / max(counts.sum(), 1)
    ax.set_title("Confusion matrix: %d test digits, accuracy %.2f%%" % (counts.sum(), 100 * accuracy))
    fig.tight_layout()
    return fig


def _misclassified_figure(images, labels, predictions, wrong, which="test"):
    """One mosaic of the misclassified digits (a single image: far quicker to draw than one axes
    per digit), each captioned with the predicted and the true digit."""
    shown = wrong[:MISCLASSIFIED_SHOWN]
    cols = 10
    rows = max(1, -(-len(shown) // cols))
    cell = 28 + 12  # room under each digit for its caption
    mosaic = np.zeros((rows * cell, cols * 32), dtype=np.uint8)
    for k, i in enumerate(shown):
        r, c = divmod(k, cols)
        mosaic[r * cell:r * cell + 28, c * 32 + 2:c * 32 + 30] = images[i]
    fig, ax = plt.subplots(figsize=(cols * 0.9, rows * 1.15 + 0.5))
    ax.imshow(mosaic, cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
    for k, i in enumerate(shown):
        r, c = divmod(k, cols)
        ax.text(c * 32 + 16, r * cell + 34, "%d (true %d)" % (predictions[i], labels[i]),
                ha="center", va="center", fontsize=6.5, color="firebrick")
    ax.axis("off")
    if len(shown):
        title = "Misclassified %s digits, predicted (true): %d of %d%s" % (
            which, len(wrong), len(labels), ", first %d shown" % len(shown) if len(wrong) > len(shown) else "")
    else:
        title = "No misclassified %s digits (%d tested)" % (which, len(labels))
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def _curves_figure(history):
    epochs = [h["epoch"] for h in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("train_loss", "train (objective)"), ("test_loss", "test"),
                       ("validation_loss", "validation")):
        if history and key in history[0]:
            loss_ax.plot(epochs, [h[key] for h in history], marker="o", label=label)
    for key, label in (("test_accuracy", "test"), ("validation_accuracy", "validation")):
        if history and key in history[0]:
            acc_ax.plot(epochs, [100 * h[key] for h in history], marker="o", label=label)
    loss_ax.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    acc_ax.set(title="Accuracy", xlabel="epoch", ylabel="%")
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def _save_figure(fig, path):
    _atomic(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)


def _atomic(path, write):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)
