"""The training contract through the toolkit's real `train` entry point, without Docker.

Each test lays out a temporary /opt/ml (SAGEMAKER_BASE_DIR) with a small real-MNIST subset and
runs `train` with SAGEMAKER_TRAINING_MODULE=mnist_container.training:main, as the image does.
"""
import json
import shutil
import signal
import socket

import numpy as np
import pytest
import torch

from mnist import checkpoints, model as mnist_model
from support import REPO, mnist, write_idx, write_subset
from training_job import (TINY_ACCURACY, TINY_HYPERPARAMETERS, TINY_TEST, TINY_TRAIN, OptMl, Running, metrics,
                          run_train, sdk2_framework, sdk2_generic, sdk3)

pytestmark = pytest.mark.contract

STYLES = {"sdk2-framework": sdk2_framework, "sdk2-generic": sdk2_generic, "sdk3": sdk3}
TIMEOUT = 300
REPORT_FILES = ("metrics.json", "confusion_matrix.png", "misclassified.png", "curves.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def subset(tmp_path_factory):
    """The tiny job's four IDX files, written once."""
    return write_subset(tmp_path_factory.mktemp("subset"), TINY_TRAIN, TINY_TEST)


def _job(root, subset, hyperparameters=None, encode=sdk2_framework, **kwargs):
    job = OptMl(root, encode(TINY_HYPERPARAMETERS if hyperparameters is None else hyperparameters), **kwargs)
    shutil.rmtree(job.channel("training"))
    shutil.copytree(subset, job.channel("training"))
    return job


@pytest.fixture(scope="module")
def style_runs(tmp_path_factory, subset):
    """The same tiny job as each SDK encodes it, run to the end: {style: (job, completed process)}."""
    runs = {}
    for style, encode in STYLES.items():
        job = _job(tmp_path_factory.mktemp(style), subset, encode=encode)
        runs[style] = (job, run_train(job, timeout=TIMEOUT))
    return runs


def _test_accuracy(model_dir):
    """The saved model's accuracy on the tiny job's test digits, computed here, not by the trainer."""
    net = mnist_model.load(str(model_dir))
    images, labels = mnist("t10k")
    x = torch.from_numpy(images[:TINY_TEST].astype(np.float32) / 255).unsqueeze(1)
    with torch.no_grad():
        predicted = net(x).argmax(1).numpy()
    return float((predicted == labels[:TINY_TEST]).mean())


def _hidden_files(*dirs):
    return [p for d in dirs for p in d.rglob(".*")]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_each_sdk_style_trains_a_good_model(style_runs, style):
    job, run = style_runs[style]
    assert run.returncode == 0, run.stdout
    assert (job.output / "success").exists() and job.failure is None
    lines = metrics(run.stdout)
    assert [m["epoch"] for m in lines] == [1, 2]
    assert list(lines[0]) == ["epoch", "train_loss", "test_loss", "test_accuracy", "epoch_seconds", "train_seconds"]
    accuracy = _test_accuracy(job.model)
    assert accuracy >= TINY_ACCURACY
    assert accuracy == pytest.approx(lines[-1]["test_accuracy"], abs=1e-6)
    assert lines[1]["train_seconds"] > lines[0]["train_seconds"] > 0

    # The artifact serves on its own: weights, architecture, handlers and the package they import.
    assert json.loads((job.model / "model.json").read_text()) == {"width": TINY_HYPERPARAMETERS["width"]}
    code = job.model / "code"
    assert (code / "mnist" / "model.py").read_text() == (REPO / "code" / "mnist" / "model.py").read_text()
    if (REPO / "code" / "inference.py").exists():
        assert (code / "inference.py").read_text() == (REPO / "code" / "inference.py").read_text()
    assert not list(code.rglob("__pycache__")) and not list(code.rglob("*.pyc"))
    assert not _hidden_files(job.model, job.output_data, job.checkpoints)

    # The evaluation report.
    for name in REPORT_FILES:
        assert (job.output_data / name).stat().st_size > 1000, name
    for name in REPORT_FILES[1:]:
        assert (job.output_data / name).read_bytes()[:8] == PNG_MAGIC
    report = json.loads((job.output_data / "metrics.json").read_text())
    assert report["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert np.array(report["confusion_matrix"]).sum() == TINY_TEST
    assert np.trace(report["confusion_matrix"]) == round(accuracy * TINY_TEST)
    assert report["misclassified"] == TINY_TEST - np.trace(report["confusion_matrix"])
    assert [e["epoch"] for e in report["epochs"]] == [1, 2]
    assert report["hyperparameters"]["preset"] == "fast" and report["hyperparameters"]["batch_size"] == 32

    # The checkpoint of the last epoch.
    state = checkpoints.load(str(job.checkpoints))
    assert (state["epoch"], state["step"]) == (2, 0)


def test_all_sdk_styles_give_the_same_run(style_runs):
    results = {}
    for style, (job, run) in style_runs.items():
        assert run.returncode == 0, run.stdout
        results[style] = [{k: v for k, v in m.items() if not k.endswith("seconds")} for m in metrics(run.stdout)]
    first = results.pop("sdk2-framework")
    for style, result in results.items():
        assert result == first, style


# --- failures -----------------------------------------------------------------------------------

def _no_training_channel(job):
    shutil.rmtree(job.channel("training"))
    job.write_config(sdk2_framework(TINY_HYPERPARAMETERS), ["test"], ["localhost"], "localhost")


def _empty_channel(job):
    for f in job.channel("training").iterdir():
        f.unlink()


def _truncated(job):
    path = job.channel("training") / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:4000])


def _bad_magic(job):
    write_idx(job.channel("training") / "t10k-labels-idx1-ubyte.gz", np.zeros((500, 28, 28), np.uint8))


def _counts_disagree(job):
    labels = mnist("train")[1][:TINY_TRAIN - 7]
    write_idx(job.channel("training") / "train-labels-idx1-ubyte.gz", labels)


def _bad_hyperparameter(job):
    job.write_config(sdk2_framework(dict(TINY_HYPERPARAMETERS, optimizer="adam")), ["training"], ["localhost"],
                     "localhost")


def _unknown_hyperparameter(job):
    job.write_config(sdk2_generic(dict(TINY_HYPERPARAMETERS, learning_rate=0.1)), ["training"], ["localhost"],
                     "localhost")


FAILURES = [
    ("channel-missing", _no_training_channel, "channel 'training' is missing"),
    ("channel-empty", _empty_channel, "channel 'training' is empty"),
    ("truncated", _truncated, "training/train-images-idx3-ubyte.gz is truncated or corrupt"),
    ("bad-magic", _bad_magic, "training/t10k-labels-idx1-ubyte.gz is not an MNIST labels file: IDX magic number "
                              "0x00000803, expected 0x00000801"),
    ("counts-disagree", _counts_disagree, "2000 images but 1993 labels"),
    ("bad-hyperparameter", _bad_hyperparameter, "hyperparameter optimizer='adam' is not valid: optimizer must be "
                                                "one of sgd, adamw, adadelta"),
    ("unknown-hyperparameter", _unknown_hyperparameter, "unknown hyperparameter 'learning_rate'"),
]


@pytest.mark.parametrize("case,breaker,expected", FAILURES, ids=[f[0] for f in FAILURES])
def test_failure_writes_one_actionable_line(tmp_path, subset, case, breaker, expected):
    job = _job(tmp_path / "opt_ml", subset)
    breaker(job)
    run = run_train(job, timeout=TIMEOUT)
    assert run.returncode != 0
    failure = job.failure
    assert failure is not None, run.stdout
    assert failure.count("\n") == 1 and failure.endswith("\n"), failure
    assert expected in failure
    assert not (job.output / "success").exists()
    assert list(job.model.iterdir()) == []


# --- checkpoints and stops ----------------------------------------------------------------------

def _same_epochs(a, b):
    strip = [{k: v for k, v in m.items() if not k.endswith("seconds")} for m in (a, b)]
    return strip[0] == strip[1]


def test_resumes_from_the_checkpoint_after_the_instance_is_lost(tmp_path, subset, style_runs):
    job = _job(tmp_path / "opt_ml", subset)
    first = Running(job)
    try:
        first.wait_for_line(r"^#metrics epoch=1 ", timeout=TIMEOUT)
    finally:
        first.kill()
    assert checkpoints.load(str(job.checkpoints))["epoch"] >= 1
    assert not list(job.model.iterdir())

    job.clear_outputs()
    run = run_train(job, timeout=TIMEOUT)
    assert run.returncode == 0, run.stdout
    assert "resuming from checkpoint" in run.stdout
    resumed = metrics(run.stdout)
    assert resumed and resumed[0]["epoch"] >= 2
    # The resumed job ends where the uninterrupted one did.
    reference = metrics(style_runs["sdk2-framework"][1].stdout)
    assert _same_epochs(resumed[-1], reference[-1])
    report = json.loads((job.output_data / "metrics.json").read_text())
    assert [e["epoch"] for e in report["epochs"]] == [1, 2]


def test_sigterm_checkpoints_mid_epoch_exits_promptly_and_resumes(tmp_path, subset, style_runs):
    job = _job(tmp_path / "opt_ml", subset)
    first = Running(job)
    try:
        first.wait_for_line(r"^#metrics epoch=1 ", timeout=TIMEOUT)
        first.proc.send_signal(signal.SIGTERM)  # to the toolkit, as SageMaker signals the container
        code, seconds, log = first.wait(timeout=60)
    finally:
        first.kill()
    assert code != 0, log
    assert seconds < 20, log
    assert "training stopped by SIGTERM in epoch 2 at step" in job.failure
    assert "a job started with the same checkpoint location resumes from it" in job.failure
    assert job.failure.count("\n") == 1
    state = checkpoints.load(str(job.checkpoints))
    assert state["epoch"] == 1 and state["step"] > 0
    assert not list(job.model.iterdir()) and not _hidden_files(job.checkpoints)

    job.clear_outputs()
    run = run_train(job, timeout=TIMEOUT)
    assert run.returncode == 0, run.stdout
    assert "resuming from checkpoint %s: epoch 2 of 2, step %d" % (job.checkpoints / "checkpoint.pt",
                                                                   state["step"]) in run.stdout
    # Model, optimizer, schedule, shuffle and augmentation all continue: the same run as without the stop.
    reference = metrics(style_runs["sdk2-framework"][1].stdout)
    assert _same_epochs(metrics(run.stdout)[-1], reference[-1])
    assert _test_accuracy(job.model) >= TINY_ACCURACY


def test_checkpoint_from_other_hyperparameters_is_refused(tmp_path, subset, style_runs):
    job = _job(tmp_path / "opt_ml", subset, dict(TINY_HYPERPARAMETERS, lr=0.05))
    source = style_runs["sdk2-framework"][0].checkpoints / "checkpoint.pt"
    shutil.copy(source, job.checkpoints)
    run = run_train(job, timeout=TIMEOUT)
    assert run.returncode != 0
    assert "was written by a job with other hyperparameters: lr=0.05 (checkpoint: 0.1)" in job.failure


# --- channels -----------------------------------------------------------------------------------

def test_test_and_validation_channels(tmp_path):
    job = OptMl(tmp_path / "opt_ml", sdk3(dict(TINY_HYPERPARAMETERS, epochs=1)),
                channels=("training", "test", "validation"))
    write_subset(job.channel("training"), TINY_TRAIN, TINY_TEST, test_in=job.channel("test"))
    images, labels = mnist("t10k")
    write_idx(job.channel("validation") / "t10k-images.idx3-ubyte", images[-300:])
    write_idx(job.channel("validation") / "t10k-labels.idx1-ubyte", labels[-300:])
    run = run_train(job, timeout=TIMEOUT)
    assert run.returncode == 0, run.stdout
    (line,) = metrics(run.stdout)
    assert list(line)[3:6] == ["test_accuracy", "validation_loss", "validation_accuracy"]
    assert line["validation_accuracy"] > 0.5
    report = json.loads((job.output_data / "metrics.json").read_text())
    assert report["test_samples"] == TINY_TEST and report["validation_samples"] == 300


# --- distributed --------------------------------------------------------------------------------

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_hosts_train_one_model_as_good_as_one_host(tmp_path, subset, style_runs):
    # Two names of this machine stand for the job's two hosts; the first is the rendezvous.
    hosts = ["localhost", "127.0.0.1"]
    jobs = [_job(tmp_path / host, subset, hosts=hosts, current_host=host) for host in hosts]
    port = {"MASTER_PORT": str(_free_port()), "SM_NUM_CPUS": "1"}
    running = [Running(job, extra_env=port) for job in jobs]
    try:
        results = [r.wait(timeout=TIMEOUT) for r in running]
    finally:
        for r in running:
            r.kill()
    for code, _, log in results:
        assert code == 0, log
    assert "training on cpu (2 processes)" in results[0][2]
    # Only the first host writes the model, checkpoints and report; the other only logs nothing.
    assert _test_accuracy(jobs[0].model) >= _single_process_accuracy(style_runs) - 0.03
    assert (jobs[0].checkpoints / "checkpoint.pt").exists() and (jobs[0].output_data / "metrics.json").exists()
    assert not list(jobs[1].model.iterdir()) and not list(jobs[1].checkpoints.iterdir())
    assert not list(jobs[1].output_data.iterdir())
    assert not metrics(results[1][2])


def test_torchrun_two_processes_on_one_host(tmp_path, subset, style_runs):
    hps = dict(TINY_HYPERPARAMETERS, sagemaker_torch_distributed_enabled=True,
               sagemaker_mpi_num_of_processes_per_host=2)
    job = _job(tmp_path / "opt_ml", subset, hps)
    run = run_train(job, timeout=TIMEOUT, extra_env={"MASTER_PORT": str(_free_port())})
    assert run.returncode == 0, run.stdout
    assert "torch.distributed.run" in run.stdout or "torchrun" in run.stdout
    assert "training on cpu (2 processes)" in run.stdout
    assert len(metrics(run.stdout)) == 2  # one line per epoch: rank 0 alone logs metrics
    assert _test_accuracy(job.model) >= _single_process_accuracy(style_runs) - 0.03


def _single_process_accuracy(style_runs):
    job, run = style_runs["sdk2-framework"]
    assert run.returncode == 0, run.stdout
    return metrics(run.stdout)[-1]["test_accuracy"]

