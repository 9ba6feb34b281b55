"""What a local training job left behind, read back: its failure reason and its last epoch's metrics.

Local mode collects the job's /opt/ml/model as model.tar.gz and /opt/ml/output as
output.tar.gz beside it; the steps read their results from those files and from the step's log,
never from the containers.
"""
import json
import os
import pathlib
import re
import tarfile

# The trainer's per-epoch line: "#metrics epoch=N train_loss=.. test_loss=.. test_accuracy=.. ..".
METRICS_LINE = re.compile(r"#metrics\s+(.*)")
METRICS_FILE = "metrics.json"
# What the training toolkit writes to /opt/ml/output/failure when a job fails.
FAILURE_FILE = "failure"


def local_path(uri):
    """The path of a file:// URI (local mode's model_data); anything else as it is."""
    return uri.removeprefix("file://")


def _files_named(output_tar, name):
    """The contents of every regular file called name, in any folder of output_tar, in tar order."""
    with tarfile.open(output_tar) as tar:
        return [tar.extractfile(member).read() for member in tar.getmembers()
                if os.path.basename(member.name) == name and member.isfile()]


def failure_reason(output_tar):
    """The text of the training job's /opt/ml/output/failure file, if the job wrote one."""
    blobs = _files_named(output_tar, FAILURE_FILE) if pathlib.Path(output_tar).exists() else []
    if not blobs:
        return None
    return " ".join(blobs[0].decode("utf-8", "replace").split())[:1000]


def training_metrics(model_data, log_path):
    """The last epoch's metrics: from output/data/metrics.json if the job wrote it, else its log."""
    output_tar = pathlib.Path(local_path(model_data)).parent / "output.tar.gz"
    if output_tar.exists():
        for blob in _files_named(output_tar, METRICS_FILE):
            metrics = last_epoch(json.loads(blob))
            if metrics:
                return metrics
    found = {}
    with open(log_path, errors="replace") as log:
        for line in log:
            match = METRICS_LINE.search(line)
            if match:
                found = dict(pair.split("=", 1) for pair in match.group(1).split() if "=" in pair)
    return {k: _number(v) for k, v in found.items()}


def last_epoch(metrics):
    """The final-epoch entry of a metrics.json document (a dict or a list of epochs)."""
    if isinstance(metrics, dict):
        for key in ("final", "epochs", "history"):
            if key in metrics:
                return last_epoch(metrics[key])
        return metrics if "test_accuracy" in metrics else None
    if isinstance(metrics, list) and metrics:
        return last_epoch(metrics[-1])
    return None


def _number(value):
    """A metric value of the log line as a number where it is one ("2" -> 2, "0.991" -> 0.991)."""
    try:
        return float(value) if "." in value or "e" in value.lower() else int(value)
    except ValueError:
        return value
