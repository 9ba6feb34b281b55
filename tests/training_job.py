"""A SageMaker training job's /opt/ml tree in a temporary directory, as SageMaker lays it out for
the container, and the three ways the SDKs encode hyperparameters into it.

Contract tests run the toolkit's real `train` on it (SAGEMAKER_BASE_DIR); container tests mount
its input, model, output and checkpoints directories into the real image.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import torch

from sagemaker_mnist import model as mnist_model
from support import REPO, mnist, write_idx

CHANNEL_NAMES = ("training", "test", "validation")
METRIC_LINE = re.compile(r"^#metrics (.*)$", re.MULTILINE)

# The bar a tiny job (TINY_HYPERPARAMETERS on 2000 training digits) clears: a net that learned
# nothing scores about 0.1.
TINY_ACCURACY = 0.85
TINY_HYPERPARAMETERS = {"preset": "fast", "epochs": 2, "width": 8, "batch-size": 32}
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
    """The toolkit's `train` console script of the environment running the tests."""
    return [os.path.join(os.path.dirname(sys.executable), "train")]


def run_train(opt_ml, timeout=300, extra_env=None):
    """Runs the toolkit's `train` to the end; returns the CompletedProcess (stdout and stderr merged)."""
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


def hidden_files(*dirs):
    """Temporary files (dot names) left in the given directories: a half-written artifact."""
    return [p for d in dirs for p in d.rglob(".*")]


def same_epoch(a, b):
    """Two metric lines report the same training (times aside)."""
    strip = [{k: v for k, v in m.items() if not k.endswith("seconds")} for m in (a, b)]
    return strip[0] == strip[1]


# --- broken jobs: (case, how to break a good tiny job, what its failure line must say) ----------

def _no_training_channel(job):
    shutil.rmtree(job.channel("training"))
    job.write_config(channels=["test"])


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


def _bad_hyperparameter(job):
    job.write_config(hyperparameters=sdk2_framework(dict(TINY_HYPERPARAMETERS, optimizer="adam")))


def _unknown_hyperparameter(job):
    job.write_config(hyperparameters=sdk2_generic(dict(TINY_HYPERPARAMETERS, learning_rate=0.1)))


FAILURES = [
    ("channel-missing", _no_training_channel, "channel 'training' is missing"),
    ("channel-empty", _empty_channel, "channel 'training' is empty"),
    ("truncated", _truncated, "training/train-images-idx3-ubyte.gz is truncated or corrupt"),
    ("bad-magic", _bad_magic, "training/t10k-labels-idx1-ubyte.gz is not an MNIST labels file: IDX magic number "
                              "0x00000803, expected 0x00000801"),
    ("counts-disagree", _counts_disagree, "%d images but %d labels" % (TINY_TRAIN, TINY_TRAIN - 7)),
    ("bad-hyperparameter", _bad_hyperparameter, "hyperparameter optimizer='adam' is not valid: optimizer must be "
                                                "one of sgd, adamw, adadelta"),
    ("unknown-hyperparameter", _unknown_hyperparameter, "unknown hyperparameter 'learning_rate'"),
]
