"""A SageMaker training job's /opt/ml tree in a temporary directory, as SageMaker lays it out for
the container, and the three ways the SDKs encode hyperparameters into it.

Contract tests run the image's `train` (container/train, around the toolkit's real one) on it
(SAGEMAKER_BASE_DIR); container tests mount its input, model, output and checkpoints directories
into the real image.
"""
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time

import numpy as np
import torch

from cloud import common
from sagemaker_mnist import artifacts
from sagemaker_mnist import model as mnist_model
from support import REPO, mnist, write_idx
from user_data import (PipeWriter, csv_cell, picture, recordio, rewrite_manifest, write_class_folders,
                       write_csv_channel, write_manifest_channel)

CHANNEL_NAMES = ("training", "test", "validation")
METRIC_LINE = re.compile(r"^#metrics (.*)$", re.MULTILINE)

# The bar a tiny job (TINY_HYPERPARAMETERS on 2000 training digits) clears: a net that learned
# nothing scores about 0.1.
TINY_ACCURACY = 0.85
# Printed digits off: each job of the contract would otherwise render 2,000 printed validation
# digits for a kind head that only the printed-digit tests look at.
TINY_HYPERPARAMETERS = {"preset": "fast", "epochs": 2, "width": 8, "batch-size": 32, "printed-share": 0}
TINY_TRAIN, TINY_TEST = 2000, 500

# Test machines share two cores among many processes: OpenMP threads that spin while they wait
# for work (libgomp's default) then slow training down tenfold. Passive waiting keeps the tests'
# timing sane there; it changes no result.
TEST_RUNTIME_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def sdk2_framework(hyperparameters):
    """SDK v2 framework estimators (PyTorch, ...): every value JSON-encoded."""
    return {k: json.dumps(v) for k, v in hyperparameters.items()}


def sdk2_generic(hyperparameters):
    """SDK v2's generic Estimator: str() of every value ('True', 'sgd')."""
    return {k: str(v) for k, v in hyperparameters.items()}


def sdk3(hyperparameters):
    """SDK v3 ModelTrainer: strings as they are, anything else JSON-encoded ('true')."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in hyperparameters.items()}


class OptMl:
    """The /opt/ml tree of one host of a job."""

    def __init__(self, root, hyperparameters, channels=("training",), hosts=("localhost",), current_host=None):
        self.root = root
        self.config = root / "input" / "config"
        self.data = root / "input" / "data"
        self.model = root / "model"
        self.output = root / "output"
        self.output_data = self.output / "data"
        self.checkpoints = root / "checkpoints"
        for d in (self.config, self.data, self.model, self.output_data, self.checkpoints):
            d.mkdir(parents=True, exist_ok=True)
        for name in channels:
            (self.data / name).mkdir(exist_ok=True)
        self.hyperparameters, self.channels = hyperparameters, tuple(channels)
        self.hosts, self.current_host = tuple(hosts), current_host or hosts[0]
        self.write_config()

    def write_config(self, hyperparameters=None, channels=None):
        """(Re)writes input/config as SageMaker does at the start of a job; arguments replace the
        job's hyperparameters (already encoded) or channel names."""
        if hyperparameters is not None:
            self.hyperparameters = hyperparameters
        if channels is not None:
            self.channels = tuple(channels)
        (self.config / "hyperparameters.json").write_text(json.dumps(self.hyperparameters))
        (self.config / "resourceconfig.json").write_text(json.dumps(
            {"current_host": self.current_host, "hosts": list(self.hosts), "network_interface_name": "eth0"}))
        (self.config / "inputdataconfig.json").write_text(json.dumps({
            name: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
            for name in self.channels}))

    def channel(self, name):
        return self.data / name

    @property
    def failure(self):
        path = self.output / "failure"
        return path.read_text() if path.exists() else None

    def clear_outputs(self):
        """A fresh output directory, as a new job (a spot restart) gets; checkpoints stay."""
        for path in (self.output / "failure", self.output / "success"):
            if path.exists():
                path.unlink()


def toolkit_env(opt_ml, extra=None):
    """The environment the image gives the toolkit's `train`, pointed at a temporary /opt/ml."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SAGEMAKER_"))}
    env.update(
        SAGEMAKER_BASE_DIR=str(opt_ml.root),
        SAGEMAKER_TRAINING_MODULE="sagemaker_mnist_container.training:main",
        PYTHONPATH=os.pathsep.join([str(REPO / "code"), str(REPO / "container")]),
        PYTHONUNBUFFERED="1",
        # The image has its virtual environment first on PATH; the toolkit finds torchrun there.
        PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
        **TEST_RUNTIME_ENV,
    )
    env.update(extra or {})
    return env


def train_command():
    """The image's `train` (container/train, which runs the toolkit's), with the Python running the tests."""
    return [sys.executable, str(REPO / "container" / "train")]


def run_train(opt_ml, timeout=300, extra_env=None):
    """Runs `train` to the end; returns the CompletedProcess (stdout and stderr merged)."""
    return subprocess.run(train_command(), env=toolkit_env(opt_ml, extra_env), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, cwd=opt_ml.root)


def metrics(log):
    """[{key: value}] of every `#metrics` line in a log, values as floats."""
    return [{k: float(v) for k, v in (pair.split("=") for pair in line.split())}
            for line in METRIC_LINE.findall(log)]


class Running:
    """A training command running in the background (the toolkit's `train`, or `docker run` of the
    image), its log read as it comes, so a test can act at a given point of training (stop the
    job after an epoch, lose the instance...)."""

    def __init__(self, command, env=None, cwd=None):
        # A session of its own: a test can kill the command and its children together, as losing
        # the instance would, without touching anything else.
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=cwd, start_new_session=True)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def toolkit(cls, opt_ml, extra_env=None):
        return cls(train_command(), env=toolkit_env(opt_ml, extra_env), cwd=opt_ml.root)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def log(self):
        return "".join(self.lines)

    def wait_for_line(self, pattern, timeout):
        """Polls the log until a line matches `pattern` (a regex); fails past the deadline or
        when the process ends first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while not any(regex.search(line) for line in list(self.lines)):
            if self.proc.poll() is not None and not self._reader.is_alive():
                raise AssertionError("train exited (%s) before logging %r:\n%s" % (self.proc.returncode, pattern, self.log))
            if time.monotonic() > deadline:
                raise AssertionError("no line matching %r within %s s:\n%s" % (pattern, timeout, self.log))
            time.sleep(0.05)

    def wait(self, timeout):
        """Waits for the end; returns (exit code, seconds waited, log)."""
        started = time.monotonic()
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._reader.join(timeout=10)
        return code, time.monotonic() - started, self.log

    def kill(self):
        """SIGKILL to the command and its children: the instance is gone."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self._reader.join(timeout=10)


def tiny_job(root, subset, hyperparameters=None, encode=sdk2_framework, **kwargs):
    """An /opt/ml tree for the tiny job, its training channel a copy of `subset` (write_subset's)."""
    job = OptMl(root, encode(TINY_HYPERPARAMETERS if hyperparameters is None else hyperparameters), **kwargs)
    shutil.rmtree(job.channel("training"))
    shutil.copytree(subset, job.channel("training"))
    return job


def saved_model_accuracy(model_dir):
    """The saved model's accuracy on the tiny job's test digits, computed here, not by the trainer."""
    net = mnist_model.load(str(model_dir))
    images, labels = mnist("t10k")
    x = torch.from_numpy(images[:TINY_TEST].astype(np.float32) / 255).unsqueeze(1)
    with torch.no_grad():
        predicted = net(x).argmax(1).numpy()
    return float((predicted == labels[:TINY_TEST]).mean())


def pack_model(model_dir, dest, prefix="./"):
    """model.tar.gz of a job's /opt/ml/model, as SageMaker packs it at the end of the job (every
    file under the folder, named from it: ./model.pth, ./code/inference.py ...)."""
    with tarfile.open(dest, "w:gz") as archive:
        for path in sorted(pathlib.Path(model_dir).rglob("*")):
            archive.add(path, arcname=prefix + str(path.relative_to(model_dir)), recursive=False)
    return dest


def metric_definitions_read(log):
    """Applies the metric definitions the cloud scripts give SageMaker to every line of a job's log,
    as SageMaker does: each must match the metric lines alone, once each, and read the value of the
    key its name says (test:accuracy, test_accuracy=...), or match nothing in a line without that
    key (the kind's metrics without printed digits). Returns (metric lines, the keys read)."""
    lines = log.splitlines()
    metric_lines = [line for line in lines if line.startswith("#metrics ")]
    assert metric_lines, log
    read = set()
    for definition in common.METRIC_DEFINITIONS:
        key = definition["Name"].replace(":", "_")
        for line in lines:
            found = re.findall(definition["Regex"], line)
            if line in metric_lines:
                (values,) = metrics(line)
                expected = [values[key]] if key in values else []
                assert [float(v) for v in found] == expected, (definition, line)
                read.update([key] if found else [])
            else:
                assert not found, (definition, line)
    return len(metric_lines), read


def hidden_files(*dirs):
    """Temporary files (dot names) left in the given directories: a half-written artifact."""
    return [p for d in dirs for p in d.rglob(".*")]


def same_epoch(a, b):
    """Two metric lines report the same training (times aside)."""
    strip = [{k: v for k, v in m.items() if not k.endswith("seconds")} for m in (a, b)]
    return strip[0] == strip[1]


# --- broken jobs: (case, how to break a good tiny job, words its failure line must hold) --------
# Every one fails before the first epoch. tests/container/test_train_faults.py runs them all in the
# image, beside the faults that need Docker (read-only mounts, a full disk, signals).

def _write_raw(job, name, text):
    (job.config / name).write_text(text)


def _hyperparameters_not_json(job):
    _write_raw(job, "hyperparameters.json", '{"preset": "fast", "epochs": 2,')


def _inputdataconfig_not_json(job):
    _write_raw(job, "inputdataconfig.json", "training: File")


def _resourceconfig_not_json(job):
    _write_raw(job, "resourceconfig.json", "")


def _host_not_listed(job):
    _write_raw(job, "resourceconfig.json", json.dumps({"current_host": job.current_host, "hosts": ["algo-7"],
                                                       "network_interface_name": "eth0"}))


def _hyperparameter(**changes):
    def breaker(job):
        job.write_config(hyperparameters=sdk2_framework(dict(TINY_HYPERPARAMETERS, **changes)))
    return breaker


def _unknown_hyperparameter(job):
    job.write_config(hyperparameters=sdk2_generic(dict(TINY_HYPERPARAMETERS, learning_rate=0.1)))


def _no_training_channel(job):
    shutil.rmtree(job.channel("training"))
    job.write_config(channels=["test"])


def _channel_folder_missing(job):
    shutil.rmtree(job.channel("training"))


def _empty_channel(job):
    for f in job.channel("training").iterdir():
        f.unlink()


def _truncated(job):
    path = job.channel("training") / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:4000])


def _bad_magic(job):
    write_idx(job.channel("training") / "t10k-labels-idx1-ubyte.gz", np.zeros((TINY_TEST, 28, 28), np.uint8))


def _counts_disagree(job):
    write_idx(job.channel("training") / "train-labels-idx1-ubyte.gz", mnist("train")[1][:TINY_TRAIN - 7])


def _labels_out_of_range(job):
    labels = mnist("train")[1][:TINY_TRAIN].copy()
    labels[11] = 12
    write_idx(job.channel("training") / "train-labels-idx1-ubyte.gz", labels)


def _no_test_digits(job):
    for f in job.channel("training").glob("t10k-*"):
        f.unlink()


def _only_npz(job, **arrays):
    _empty_channel(job)
    np.savez(job.channel("training") / "mnist.npz", **arrays)


def _npz_corrupt(job):
    _empty_channel(job)
    (job.channel("training") / "mnist.npz").write_bytes(b"\x93NUMPY not really" + bytes(200))


def _npz_objects(job):
    images, labels = mnist("train")
    _only_npz(job, x_train=np.array([images[i] for i in range(50)] + [None], dtype=object),
              y_train=labels[:51], x_test=images[:10], y_test=labels[:10])


# A user's own digits in the training channel (File mode), each form with one fault: 50 of MNIST's
# training digits, five of each, so that only the fault fails the job.
OWN_DIGITS = 50


def _own_digits():
    images, labels = mnist("train")
    order = np.concatenate([np.flatnonzero(labels == d)[:OWN_DIGITS // 10] for d in range(10)])
    return images[order], labels[order]


def _class_folders(job):
    _empty_channel(job)
    return write_class_folders(job.channel("training"), *_own_digits())


def _folders_unreadable_picture(job):
    channel = _class_folders(job)
    (channel / "3" / "0017.png").write_bytes(b"\x89PNG\r\n\x1a\ncut short")


def _folders_empty_class_folder(job):
    channel = _class_folders(job)
    for path in (channel / "6").iterdir():
        path.unlink()


def _folders_class_without_examples(job):
    channel = _class_folders(job)
    shutil.rmtree(channel / "6")


def _csv_label_outside_digits(job):
    _empty_channel(job)
    write_csv_channel(job.channel("training"), *_own_digits(), csv_cell(6, 0, "12"))


def _manifest_channel(job, change):
    _empty_channel(job)
    channel = write_manifest_channel(job.channel("training"), *_own_digits())
    rewrite_manifest(channel, lambda lines: change(channel, lines))


def _manifest_label_attribute_missing(job):
    _manifest_channel(job, lambda channel, lines: lines[8].pop("digits"))


def _manifest_picture_missing(job):
    _manifest_channel(job, lambda channel, lines: (channel / "images" / "0011.png").unlink())


def pipe_channel(job, channel, stream, wrapper="RecordIO", passes=1):
    """Turns `channel` of the job into a Pipe-mode channel as SageMaker lays it out (no folder, the
    FIFO <channel>_0 beside where it would be, declared Pipe in inputdataconfig.json) and starts
    SageMaker's side of it: a thread that writes `stream` once the job opens the FIFO, `passes`
    times (a FIFO <channel>_<epoch> each: a job of N epochs reads N)."""
    shutil.rmtree(job.channel(channel), ignore_errors=True)
    config = json.loads((job.config / "inputdataconfig.json").read_text())
    config[channel] = {"TrainingInputMode": "Pipe", "S3DistributionType": "FullyReplicated",
                       "RecordWrapperType": wrapper}
    _write_raw(job, "inputdataconfig.json", json.dumps(config))
    return PipeWriter(job.data, channel, [stream] * passes)


def _pipe_pictures(labels):
    """An augmented manifest's stream: MNIST's first training digits as pictures, with `labels` (raw
    JSON values, None for none: the label attribute left out of AttributeNames)."""
    images = mnist("train")[0]
    records = []
    for digit, label in zip(images, labels):
        records += [picture(digit)] + ([] if label is None else [label])
    return b"".join(recordio(r) for r in records)


def _pipe_label_outside_digits(job):
    pipe_channel(job, "training", _pipe_pictures([b"3", b"1", b"12", b"4"]))


def _pipe_label_attribute_missing(job):
    pipe_channel(job, "training", _pipe_pictures([None] * 4))


def add_channel(job, name):
    """A new File-mode channel of the job (its folder, and its entry in inputdataconfig.json)."""
    job.channel(name).mkdir(exist_ok=True)
    config = json.loads((job.config / "inputdataconfig.json").read_text())
    config[name] = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                    "RecordWrapperType": "None"}
    _write_raw(job, "inputdataconfig.json", json.dumps(config))
    return job.channel(name)


def _model_channel(job, width, config=None, drop=()):
    """A `model` channel holding the model.tar.gz of a (fresh) net of `width`, its model.json
    `config`, its weights without the keys `drop`."""
    folder = job.root / "earlier-model"
    net = mnist_model.MnistNet(width)
    artifacts.write(str(folder), net, {"width": width})
    if config is not None or drop:
        state = {k: v for k, v in net.state_dict().items() if k not in drop}
        torch.save(state, folder / mnist_model.WEIGHTS_FILE)
        (folder / mnist_model.CONFIG_FILE).write_text(json.dumps(config or {"width": width}))
    pack_model(folder, add_channel(job, "model") / "model.tar.gz")


def _model_not_a_model(job):
    add_channel(job, "model")
    (job.channel("model") / "model.tar.gz").write_bytes(b"<Error><Code>AccessDenied</Code></Error>")


def _model_of_another_width(job):
    _model_channel(job, TINY_HYPERPARAMETERS["width"] // 2)


def _model_of_another_architecture(job):
    _model_channel(job, TINY_HYPERPARAMETERS["width"], drop=("classifier.1.weight",))


def _mnist_share_without_mnist(job):
    _hyperparameter(**{"mnist-share": 0.3})(job)


def _validation_twice(job):
    _hyperparameter(**{"validation-fraction": 0.2})(job)
    for path in job.channel("training").glob("t10k-*"):
        shutil.copy(path, add_channel(job, "validation"))


def _corrupt_checkpoint(job):
    (job.checkpoints / "checkpoint.pt").write_bytes(b"PK\x03\x04 cut short")


def _script_fails(job):
    # Script mode: a user's entry point in /opt/ml/code, which the toolkit runs as it is.
    code = job.root / "code"
    code.mkdir(exist_ok=True)
    (code / "boom.py").write_text("raise ValueError('the labels column is missing')\n")
    job.write_config(hyperparameters=sdk2_framework(dict(
        TINY_HYPERPARAMETERS, sagemaker_program="boom.py", sagemaker_submit_directory="/opt/ml/code")))


FAILURES = [
    ("hyperparameters-not-json", _hyperparameters_not_json,
     ("hyperparameters.json is not valid JSON", "JSON object of hyperparameter names")),
    ("inputdataconfig-not-json", _inputdataconfig_not_json,
     ("inputdataconfig.json is not valid JSON", "channel names")),
    ("resourceconfig-not-json", _resourceconfig_not_json,
     ("resourceconfig.json is not valid JSON", '"hosts"')),
    ("host-not-listed", _host_not_listed,
     ("resourceconfig.json: current_host", "is not among its hosts ['algo-7']")),
    ("hyperparameter-wrong-type", _hyperparameter(epochs="two"),
     ("hyperparameter epochs='two' is not valid", "epochs must be an integer >= 1")),
    ("hyperparameter-out-of-range", _hyperparameter(momentum=1.5),
     ("hyperparameter momentum='1.5' is not valid", "momentum must be a number in [0, 1)")),
    ("hyperparameter-bad-choice", _hyperparameter(optimizer="adam"),
     ("hyperparameter optimizer='adam' is not valid", "one of sgd, adamw, adadelta")),
    ("hyperparameter-unknown", _unknown_hyperparameter,
     ("unknown hyperparameter 'learning_rate'", "accepted are")),
    ("channel-not-declared", _no_training_channel, ("the job has no 'training' channel (its channels: test)",
                                                    "give it a 'training' input channel")),
    ("channel-folder-missing", _channel_folder_missing, ("channel 'training' is missing: no folder",
                                                         "input/data/training")),
    ("channel-empty", _empty_channel, ("channel 'training' is empty", "upload")),
    ("idx-truncated", _truncated, ("training/train-images-idx3-ubyte.gz is truncated or corrupt",
                                   "upload the complete file")),
    ("idx-bad-magic", _bad_magic, ("training/t10k-labels-idx1-ubyte.gz is not an MNIST labels file",
                                   "IDX magic number 0x00000803, expected 0x00000801")),
    ("counts-disagree", _counts_disagree, ("%d images but %d labels" % (TINY_TRAIN, TINY_TRAIN - 7),)),
    ("labels-out-of-range", _labels_out_of_range, ("labels must be digits 0-9", "found values 0 to 12")),
    ("no-test-digits", _no_test_digits, ("no test digits", "add a 'test' or 'validation' channel")),
    ("npz-corrupt", _npz_corrupt, ("training/mnist.npz is not a numpy .npz archive (not a zip file)",
                                   "numpy.savez")),
    ("npz-object-arrays", _npz_objects, ("training/mnist.npz: x_train is an array of Python objects",
                                         "save it as a numeric array")),
    # A user's own digits in File mode: class folders, CSV, a Ground Truth manifest.
    ("folders-unreadable-picture", _folders_unreadable_picture,
     ("training/3/0017.png is not a readable picture of a digit", "could not be decoded")),
    ("folders-empty-class-folder", _folders_empty_class_folder, ("class folder training/6/ is empty",)),
    ("folders-class-without-examples", _folders_class_without_examples,
     ("channel 'training' has no examples of the digit 6", "every digit 0-9")),
    ("csv-label-outside-digits", _csv_label_outside_digits,
     ("training/train.csv line 7: label 12 is not a digit 0-9",)),
    ("manifest-label-attribute-missing", _manifest_label_attribute_missing,
     ("training/output.manifest line 9 has no label attribute (only digits-metadata, source-ref)",
      "label-attribute hyperparameter")),
    ("manifest-picture-missing", _manifest_picture_missing,
     ("training/output.manifest line 12: the picture s3://amzn-s3-demo-bucket/labeling/images/0011.png "
      "is not in channel 'training'", "upload the pictures under the channel's S3 prefix")),
    # Pipe mode: SageMaker's FIFO training_0, written by the test as SageMaker writes it.
    ("pipe-label-outside-digits", _pipe_label_outside_digits,
     ("training_0 record 5: label 12 is not a digit 0-9", "categories 0 to 9")),
    ("pipe-label-attribute-missing", _pipe_label_attribute_missing,
     ("training_0 streams pictures with no label between them (missing label attribute)", "AttributeNames")),
    # Fine-tuning: a `model` channel that holds no model of this image, or one the job cannot take.
    ("model-not-a-model", _model_not_a_model,
     ("model/model.tar.gz is not a model.tar.gz (a gzipped tar archive",
      "give the model.tar.gz of a training job of this image (S3ModelArtifacts), or its model.pth and "
      "model.json")),
    ("model-of-another-width", _model_of_another_width,
     ("hyperparameter width=8 does not fit the 'model' channel's model model/model.tar.gz, of width 4",
      "leave width unset")),
    ("model-of-another-architecture", _model_of_another_architecture,
     ("model/model.tar.gz holds weights of another architecture than this image's MnistNet of width 8 "
      "(no classifier.1.weight)", "train afresh without a 'model' channel")),
    ("mnist-share-without-mnist-channel", _mnist_share_without_mnist,
     ("hyperparameter mnist-share=0.3 mixes in MNIST's digits, but the job has no 'mnist' channel",
      "MNIST's training files")),
    ("validation-fraction-and-validation-channel", _validation_twice,
     ("hyperparameter validation-fraction=0.2 holds validation digits out", "give one or the other")),
    # torch's reader follows its reason with a paragraph of advice: the line keeps the reason.
    ("checkpoint-corrupt", _corrupt_checkpoint,
     ("checkpoints/checkpoint.pt cannot be read",
      "not a ZIP archive): delete it, or give the job an empty checkpoint location")),
    ("script-fails", _script_fails, ("the entry point boom.py exited with status 1",
                                     "ValueError: the labels column is missing")),
]

# What no failure line may hold: the toolkit's reports, a traceback, numpy's advice to unpickle.
NEVER_IN_FAILURE = ("Framework Error", "ExecuteUserScriptError", "Traceback", "allow_pickle", "\n ")


def assert_one_actionable_line(failure, words):
    """The failure file's text is one line holding every one of `words` and none of NEVER_IN_FAILURE."""
    assert failure is not None, "no failure file"
    assert failure.count("\n") == 1 and failure.endswith("\n"), failure
    assert len(failure) <= 1025, failure
    for word in words:
        assert word in failure, (word, failure)
    for word in NEVER_IN_FAILURE:
        assert word not in failure, (word, failure)
