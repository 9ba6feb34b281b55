"""The training contract through the toolkit's real `train` entry point, without Docker.

Each test lays out a temporary /opt/ml (SAGEMAKER_BASE_DIR) with a small real-MNIST subset and
runs the image's `train` (container/train, around the toolkit's) with
SAGEMAKER_TRAINING_MODULE=sagemaker_mnist_container.training:main, as the image does.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

from sagemaker_mnist import checkpoints, failures, recipe
from support import REPO, mnist, write_idx, write_subset
from training_job import (FAILURES, TINY_ACCURACY, TINY_HYPERPARAMETERS, TINY_TEST, TINY_TRAIN, OptMl, Running,
                          assert_one_actionable_line, hidden_files, metric_definitions_read, metrics,
                          run_train, same_epoch, saved_model_accuracy, sdk2_framework, sdk2_generic, sdk3,
                          tiny_job)

pytestmark = pytest.mark.contract

STYLES = {"sdk2-framework": sdk2_framework, "sdk2-generic": sdk2_generic, "sdk3": sdk3}
TIMEOUT = 300
REPORT_FILES = ("metrics.json", "confusion_matrix.png", "misclassified.png", "curves.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def subset(tmp_path_factory):
    """The tiny job's four IDX files, written once."""
    return write_subset(tmp_path_factory.mktemp("subset"), TINY_TRAIN, TINY_TEST)


@pytest.fixture(scope="module")
def style_runs(tmp_path_factory, subset):
    """The same tiny job as each SDK encodes it, run to the end: {style: (job, completed process)}."""
    runs = {}
    for style, encode in STYLES.items():
        job = tiny_job(tmp_path_factory.mktemp(style), subset, encode=encode)
        runs[style] = (job, run_train(job, timeout=TIMEOUT))
    return runs


@pytest.mark.parametrize("style", sorted(STYLES))
def test_each_sdk_style_trains_a_good_model(style_runs, style):
    job, run = style_runs[style]
    assert run.returncode == 0, run.stdout
    assert (job.output / "success").exists() and job.failure is None
    lines = metrics(run.stdout)
    assert [m["epoch"] for m in lines] == [1, 2]
    assert list(lines[0]) == ["epoch", "train_loss", "test_loss", "test_accuracy", "epoch_seconds", "train_seconds"]
    accuracy = saved_model_accuracy(job.model)
    assert accuracy >= TINY_ACCURACY
    assert accuracy == pytest.approx(lines[-1]["test_accuracy"], abs=1e-6)
    assert lines[1]["train_seconds"] > lines[0]["train_seconds"] > 0

    # The artifact serves on its own: weights, architecture, handlers and the package they import.
    assert json.loads((job.model / "model.json").read_text()) == {"width": TINY_HYPERPARAMETERS["width"]}
    code = job.model / "code"
    assert (code / "sagemaker_mnist" / "model.py").read_text() == (REPO / "code" / "sagemaker_mnist" / "model.py").read_text()
    assert (code / "inference.py").read_text() == (REPO / "code" / "inference.py").read_text()
    assert not list(code.rglob("__pycache__")) and not list(code.rglob("*.pyc"))
    assert not hidden_files(job.model, job.output_data, job.checkpoints)

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


# AWS's PyTorch inference containers put model.tar.gz/code on sys.path and call these four, as
# here: in a process that sees nothing of this repository.
_SERVE_FROM_ARTIFACT = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1] + "/code")
import inference
model = inference.model_fn(sys.argv[1])
images = np.load(sys.argv[2])
body, content_type = inference.output_fn(
    inference.predict_fn(inference.input_fn(json.dumps(images.tolist()), "application/json"), model),
    "application/json")
print(json.dumps([p["label"] for p in json.loads(body)["predictions"]]))
"""


def test_artifact_serves_with_nothing_but_its_own_code(style_runs, tmp_path):
    job, run = style_runs["sdk2-framework"]
    assert run.returncode == 0, run.stdout
    images, labels = mnist("t10k")
    np.save(tmp_path / "digits.npy", images[:20])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SAGEMAKER_BASE_DIR")}
    served = subprocess.run([sys.executable, "-I", "-c", _SERVE_FROM_ARTIFACT, str(job.model), str(tmp_path / "digits.npy")],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert served.returncode == 0, served.stderr
    predicted = json.loads(served.stdout.strip().splitlines()[-1])
    assert np.mean(np.array(predicted) == labels[:20]) >= TINY_ACCURACY - 0.1


def test_all_sdk_styles_give_the_same_run(style_runs):
    results = {}
    for style, (job, run) in style_runs.items():
        assert run.returncode == 0, run.stdout
        results[style] = [{k: v for k, v in m.items() if not k.endswith("seconds")} for m in metrics(run.stdout)]
    first = results.pop("sdk2-framework")
    for style, result in results.items():
        assert result == first, style


def test_the_cloud_metric_definitions_read_a_real_runs_log(style_runs):
    job, run = style_runs["sdk2-framework"]
    assert run.returncode == 0, run.stdout
    count, _ = metric_definitions_read(run.stdout)
    assert count == TINY_HYPERPARAMETERS["epochs"]


# --- failures -----------------------------------------------------------------------------------

@pytest.mark.parametrize("case,breaker,words", FAILURES, ids=[f[0] for f in FAILURES])
def test_failure_writes_one_actionable_line(tmp_path, subset, case, breaker, words):
    job = tiny_job(tmp_path / "opt_ml", subset)
    breaker(job)
    run = run_train(job, timeout=TIMEOUT)
    assert run.returncode == failures.EXIT_FAILURE, run.stdout
    assert_one_actionable_line(job.failure, words)
    assert not (job.output / "success").exists()
    assert list(job.model.iterdir()) == []
    # Nothing was trained: every fault is found before the first epoch.
    assert not metrics(run.stdout), run.stdout


# --- checkpoints and stops ----------------------------------------------------------------------

def test_resumes_from_the_checkpoint_after_the_instance_is_lost(tmp_path, subset, style_runs):
    job = tiny_job(tmp_path / "opt_ml", subset)
    first = Running.toolkit(job)
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
    assert same_epoch(resumed[-1], reference[-1])
    report = json.loads((job.output_data / "metrics.json").read_text())
    assert [e["epoch"] for e in report["epochs"]] == [1, 2]


def test_sigterm_checkpoints_mid_epoch_exits_promptly_and_resumes(tmp_path, subset, style_runs):
    job = tiny_job(tmp_path / "opt_ml", subset)
    first = Running.toolkit(job)
    try:
        first.wait_for_line(r"^#metrics epoch=1 ", timeout=TIMEOUT)
        first.proc.send_signal(signal.SIGTERM)  # to `train`, as SageMaker signals the container
        # The deadline of a prompt exit; the checkpoint's step below says it came mid-epoch.
        code, _, log = first.wait(timeout=60)
    finally:
        first.kill()
    # The trainer's status for a stop, and the container's (the toolkit alone would exit 1).
    assert code == failures.EXIT_STOPPED and "ExitCode %d" % failures.EXIT_STOPPED in log, log
    assert "training stopped by SIGTERM at step " in job.failure and " in epoch 2 of 2; " in job.failure
    assert "a job started with the same checkpoint location resumes from it" in job.failure
    assert job.failure.count("\n") == 1
    state = checkpoints.load(str(job.checkpoints))
    assert state["epoch"] == 1 and state["step"] > 0
    assert not list(job.model.iterdir()) and not hidden_files(job.checkpoints)

    job.clear_outputs()
    run = run_train(job, timeout=TIMEOUT)
    assert run.returncode == 0, run.stdout
    assert "resuming from checkpoint %s: epoch 2 of 2, step %d" % (job.checkpoints / "checkpoint.pt",
                                                                   state["step"]) in run.stdout
    # Model, optimizer, schedule, shuffle and augmentation all continue: the same run as without the stop.
    reference = metrics(style_runs["sdk2-framework"][1].stdout)
    assert same_epoch(metrics(run.stdout)[-1], reference[-1])
    assert saved_model_accuracy(job.model) >= TINY_ACCURACY


def test_checkpoint_from_other_hyperparameters_is_refused(tmp_path, subset, style_runs):
    saved_lr = recipe.PRESETS[TINY_HYPERPARAMETERS["preset"]]["lr"]
    job = tiny_job(tmp_path / "opt_ml", subset, dict(TINY_HYPERPARAMETERS, lr=saved_lr * 2))
    source = style_runs["sdk2-framework"][0].checkpoints / "checkpoint.pt"
    shutil.copy(source, job.checkpoints)
    run = run_train(job, timeout=TIMEOUT)
    assert run.returncode != 0
    assert ("was written by a job with other hyperparameters: lr=%s (checkpoint: %s)" % (saved_lr * 2, saved_lr)
            in job.failure)


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
    # The validation keys between the others mislead none of the metric definitions.
    assert metric_definitions_read(run.stdout)[0] == 1
    assert line["validation_accuracy"] > 0.5
    # Each digit's validation accuracy ends the line, for a tuner's objective on one digit.
    per_digit = ["validation_accuracy_%d" % d for d in range(10)]
    assert list(line)[-10:] == per_digit
    counts = np.bincount(labels[-300:], minlength=10)
    assert all(0 <= line[key] <= 1 and (line[key] * counts[d]).round(3) % 1 == 0 for d, key in enumerate(per_digit))
    report = json.loads((job.output_data / "metrics.json").read_text())
    assert report["test_samples"] == TINY_TEST and report["validation_samples"] == 300
    validation = report["validation"]
    assert validation["digits"] == 300 and sum(map(sum, validation["confusion_matrix"])) == 300
    assert validation["per_class_accuracy"] == {str(d): pytest.approx(line[key], abs=1e-6)
                                                for d, key in enumerate(per_digit)}


# --- distributed --------------------------------------------------------------------------------

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_hosts_train_one_model_as_good_as_one_host(tmp_path, subset, style_runs):
    # Two names of this machine stand for the job's two hosts; the first is the rendezvous.
    hosts = ["localhost", "127.0.0.1"]
    jobs = [tiny_job(tmp_path / host, subset, hosts=hosts, current_host=host) for host in hosts]
    port = {"MASTER_PORT": str(_free_port()), "SM_NUM_CPUS": "1"}
    running = [Running.toolkit(job, extra_env=port) for job in jobs]
    try:
        results = [r.wait(timeout=TIMEOUT) for r in running]
    finally:
        for r in running:
            r.kill()
    for code, _, log in results:
        assert code == 0, log
    assert "training on cpu (2 processes)" in results[0][2]
    # Only the first host writes the model, checkpoints and report; the other only logs nothing.
    assert saved_model_accuracy(jobs[0].model) >= _single_process_accuracy(style_runs) - 0.03
    assert (jobs[0].checkpoints / "checkpoint.pt").exists() and (jobs[0].output_data / "metrics.json").exists()
    assert not list(jobs[1].model.iterdir()) and not list(jobs[1].checkpoints.iterdir())
    assert not list(jobs[1].output_data.iterdir())
    assert not metrics(results[1][2])


def test_torchrun_two_processes_on_one_host(tmp_path, subset, style_runs):
    hps = dict(TINY_HYPERPARAMETERS, sagemaker_torch_distributed_enabled=True,
               sagemaker_mpi_num_of_processes_per_host=2)
    job = tiny_job(tmp_path / "opt_ml", subset, hps)
    run = run_train(job, timeout=TIMEOUT, extra_env={"MASTER_PORT": str(_free_port())})
    assert run.returncode == 0, run.stdout
    assert "torch.distributed.run" in run.stdout or "torchrun" in run.stdout
    assert "training on cpu (2 processes)" in run.stdout
    assert len(metrics(run.stdout)) == 2  # one line per epoch: rank 0 alone logs metrics
    assert saved_model_accuracy(job.model) >= _single_process_accuracy(style_runs) - 0.03


def _single_process_accuracy(style_runs):
    job, run = style_runs["sdk2-framework"]
    assert run.returncode == 0, run.stdout
    return metrics(run.stdout)[-1]["test_accuracy"]



def test_printed_digits_train_the_kind_head_and_the_artifact_serves_it(tmp_path, subset):
    # printed-share 0.2 of the tiny job's 2,000 digits: 500 printed ones, rendered in the job.
    job = tiny_job(tmp_path, subset, dict(TINY_HYPERPARAMETERS, **{"printed-share": 0.2, "printed-fonts": "matplotlib"}))
    run = run_train(job, timeout=TIMEOUT)
    assert run.returncode == 0, run.stdout
    assert "2500 training digits (500 of them printed, from" in run.stdout
    lines = metrics(run.stdout)
    assert {"test_kind_accuracy", "printed_accuracy", "printed_kind_accuracy"} <= set(lines[-1])
    # The cloud scripts' metric definitions read all three from the real log.
    _, read = metric_definitions_read(run.stdout)
    assert {"test_kind_accuracy", "printed_accuracy", "printed_kind_accuracy"} <= read
    # Printed and handwritten digits differ at a glance: even the tiny job tells most apart.
    assert lines[-1]["test_kind_accuracy"] > 0.8 and lines[-1]["printed_kind_accuracy"] > 0.75
    assert json.loads((job.model / "model.json").read_text()) == {"width": 8, "kinds": True}
    report = json.loads((job.output_data / "metrics.json").read_text())
    assert report["kinds"]["names"] == ["handwritten", "printed"]
    kinds = np.array(report["kinds"]["confusion_matrix"])
    assert kinds.sum(axis=1).tolist() == [TINY_TEST, 2000]
    assert report["printed"]["digits"] == 2000
    for name in ("kind_confusion_matrix.png", "misread_printed.png"):
        assert (job.output_data / name).read_bytes()[:8] == PNG_MAGIC
    # The artifact's own handlers (code/, as AWS's PyTorch image imports them) give the kind.
    images, _ = mnist("t10k")
    script = ("import json, sys\nfrom inference import model_fn, input_fn, predict_fn, output_fn\n"
              "model = model_fn(sys.argv[1])\n"
              "body, _ = output_fn(predict_fn(input_fn(sys.stdin.read(), 'application/json'), model), 'application/json')\n"
              "print(body.decode() if isinstance(body, bytes) else body)\n")
    served = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[2]); " + script,
                             str(job.model), str(job.model / "code")],
                            input=json.dumps(images[:5].tolist()), capture_output=True, text=True, timeout=120)
    assert served.returncode == 0, served.stderr
    answers = json.loads(served.stdout)["predictions"]
    assert [a["kind"] for a in answers].count("handwritten") >= 4


@pytest.mark.parametrize("name, value, words", [
    ("printed-share", "0.9", "printed-share must be a number in [0, 0.5]"),
    ("printed-share", "some", "printed-share must be a number in [0, 0.5]"),
    ("printed-fonts", "system,comic", "printed-fonts must be a comma-separated list of system, matplotlib"),
])
def test_bad_printed_digit_hyperparameters_fail_with_one_line(tmp_path, subset, name, value, words):
    job = tiny_job(tmp_path, subset, dict(TINY_HYPERPARAMETERS, **{name: value}))
    run = run_train(job, timeout=TIMEOUT)
    assert run.returncode == 1
    assert words in job.failure, job.failure
