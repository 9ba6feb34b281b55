"""Fine-tuning and validation on a user's digits through the toolkit's real `train`, without Docker.

An earlier job trains the tiny model; its /opt/ml/model, packed as SageMaker packs it
(model.tar.gz), is the next job's `model` channel. That job starts where the earlier one left off:
its first epoch's loss is close to the earlier job's last, far below the first epoch of the same job
started afresh. A job of a user's own digits (class folders) holds some out as validation digits,
reports their accuracy per digit in the metric line and the report, and mixes in MNIST's digits
from an `mnist` channel. The bad models are rows of training_job.FAILURES.
"""
import json

import pytest

from support import mnist, write_idx, write_subset
from training_job import (TINY_ACCURACY, TINY_HYPERPARAMETERS, TINY_TEST, TINY_TRAIN, add_channel,
                          metric_definitions_read, metrics, pack_model, run_train, saved_model_accuracy,
                          tiny_job)
from user_data import write_class_folders

pytestmark = pytest.mark.contract

TIMEOUT = 300
# The fine-tuning job: the fine-tune preset (chosen by the model channel), shortened.
FINE_TUNE = {"epochs": 2}
# How far along the way from the earlier job's last loss to a fresh job's first loss the fine-tuning
# job's first loss may be: it continues the earlier model, so it stays near its end.
NEAR = 0.25


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    return write_subset(tmp_path_factory.mktemp("subset"), TINY_TRAIN, TINY_TEST)


@pytest.fixture(scope="module")
def earlier(tmp_path_factory, subset):
    """The tiny job run to the end, and its model packed as model.tar.gz: (job, log, archive)."""
    job = tiny_job(tmp_path_factory.mktemp("earlier"), subset)
    run = run_train(job, timeout=TIMEOUT)
    assert run.returncode == 0, run.stdout
    archive = pack_model(job.model, tmp_path_factory.mktemp("artifact") / "model.tar.gz")
    return job, run.stdout, archive


def _with_model(job, archive):
    (add_channel(job, "model") / "model.tar.gz").write_bytes(archive.read_bytes())
    return job


def test_a_fine_tuning_job_starts_where_the_earlier_model_left_off(tmp_path, subset, earlier):
    _, earlier_log, archive = earlier
    job = _with_model(tiny_job(tmp_path / "fine", subset, FINE_TUNE), archive)
    run = run_train(job, timeout=TIMEOUT)
    assert run.returncode == 0, run.stdout
    assert "fine-tuning model/model.tar.gz" in run.stdout
    # No preset named, a model channel: the fine-tune preset, at the model's width.
    assert "preset=fine-tune" in run.stdout and "width=%d " % TINY_HYPERPARAMETERS["width"] in run.stdout
    fresh_job = tiny_job(tmp_path / "fresh", subset, dict(FINE_TUNE, preset="fine-tune",
                                                          width=TINY_HYPERPARAMETERS["width"]))
    fresh = run_train(fresh_job, timeout=TIMEOUT)
    assert fresh.returncode == 0, fresh.stdout
    assert "fine-tuning" not in fresh.stdout

    left_off = metrics(earlier_log)[-1]["train_loss"]
    fine_first = metrics(run.stdout)[0]["train_loss"]
    fresh_first = metrics(fresh.stdout)[0]["train_loss"]
    assert fine_first < left_off + NEAR * (fresh_first - left_off), (left_off, fine_first, fresh_first)
    assert fresh_first - left_off > 0.3, (left_off, fresh_first)  # the bar means something
    assert saved_model_accuracy(job.model) >= TINY_ACCURACY
    assert json.loads((job.model / "model.json").read_text()) == {"width": TINY_HYPERPARAMETERS["width"]}
    report = json.loads((job.output_data / "metrics.json").read_text())
    assert report["fine_tuned_from"] == "model/model.tar.gz"
    assert report["hyperparameters"]["preset"] == "fine-tune"


def test_a_job_of_a_users_digits_validates_on_them_digit_by_digit(tmp_path, subset, earlier):
    _, _, archive = earlier
    own = 300
    hyperparameters = dict(FINE_TUNE, **{"validation-fraction": 0.2, "mnist-share": 0.5})
    job = tiny_job(tmp_path / "own", subset, hyperparameters)
    for path in job.channel("training").iterdir():
        path.unlink()
    x, y = mnist("train")
    write_class_folders(job.channel("training"), x[5000:5000 + own], y[5000:5000 + own])
    xte, yte = mnist("t10k")
    test = add_channel(job, "test")
    write_idx(test / "t10k-images-idx3-ubyte.gz", xte[:TINY_TEST])
    write_idx(test / "t10k-labels-idx1-ubyte.gz", yte[:TINY_TEST])
    write_subset(add_channel(job, "mnist"), TINY_TRAIN, 0)
    _with_model(job, archive)
    run = run_train(job, timeout=TIMEOUT)
    assert run.returncode == 0, run.stdout

    report = json.loads((job.output_data / "metrics.json").read_text())
    validation = report["validation"]
    held = validation["digits"]
    assert held == pytest.approx(own * 0.2, abs=10) and report["validation_samples"] == held
    # The rest of the user's digits, then as many of MNIST's (mnist-share 0.5).
    assert "%d training digits" % (2 * (own - held)) in run.stdout
    assert "%d of MNIST's digits from mnist/" % (own - held) in report["data"]["train"]
    assert validation["source"].startswith("%d digits held out of training (class folders)" % held)
    assert sum(map(sum, validation["confusion_matrix"])) == held

    lines = metrics(run.stdout)
    last = lines[-1]
    assert list(last)[-10:] == ["validation_accuracy_%d" % d for d in range(10)]
    assert [validation["per_class_accuracy"][str(d)] for d in range(10)] == pytest.approx(
        [last["validation_accuracy_%d" % d] for d in range(10)], abs=1e-6)
    assert last["validation_accuracy"] == pytest.approx(validation["accuracy"], abs=1e-6)
    assert last["validation_accuracy"] > 0.8
    _, read = metric_definitions_read(run.stdout)
    per_digit = {"validation_accuracy_%d" % d for d in range(10)}
    assert {"validation_accuracy", "validation_loss"} | per_digit <= read
