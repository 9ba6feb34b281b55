"""The local flow's pure parts: options, scoring the transform output, metrics, failure reasons."""
import io
import json
import tarfile

import numpy as np
import pytest

from local_mode import cli, context, data, results, steps
from support import MNIST_DIR, REPO, mnist

pytestmark = pytest.mark.unit


def _tar(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            blob = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def test_default_options_run_every_step_with_the_fast_preset_and_printed_digits():
    settings = cli.parse_args(["--data-dir", str(MNIST_DIR)])
    assert settings.steps == context.STEPS
    assert settings.skipped == {}
    assert settings.hyperparameters == {"preset": "fast", "seed": 1, "epochs": 3, "printed-share": 0.1}
    assert settings.train_image == "mnist-pytorch-training:latest"
    assert settings.serve_image == "mnist-pytorch-inference:latest"


def test_steps_keep_their_order_and_skip_wins():
    settings = cli.parse_args(["--steps", "transform,estimator,deploy", "--skip", "deploy", "-H", "epochs=1",
                               "--model-data", "/x/model.tar.gz"])
    assert settings.steps == ("estimator", "transform")
    assert settings.skipped == {"script": "not in --steps", "distributed": "not in --steps",
                                "sdk3": "not in --steps", "deploy": "left out by --skip",
                                "finetune": "not in --steps"}
    assert settings.hyperparameters == {"preset": "fast", "seed": 1, "epochs": "1", "printed-share": 0.1}
    assert settings.model_data == "file:///x/model.tar.gz"


def test_every_step_has_its_function():
    assert tuple(steps.BY_NAME) == context.STEPS


@pytest.mark.parametrize("argv, message", [
    (["--steps", "estimator,nope"],
     "error: unknown step(s) nope; choose from estimator, script, distributed, sdk3, deploy, transform, "
     "finetune"),
    (["-H", "epochs"], "error: argument --hyperparameter/-H: expected NAME=VALUE, got 'epochs'"),
])
def test_bad_options_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.parse_args(argv)
    # argparse's usage error: status 2, the usage and the reason on stderr.
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m local_mode ") and err.rstrip().endswith(message), err


def test_data_dir_is_the_option_then_mnist_dir_then_the_repository_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "env"))
    assert cli.parse_args(["--data-dir", str(tmp_path)]).data_dir == tmp_path
    assert cli.parse_args([]).data_dir == tmp_path / "env"
    monkeypatch.delenv("MNIST_DIR")
    assert cli.parse_args([]).data_dir == REPO / "data" / "mnist"


@pytest.mark.parametrize("body", [
    '{"predictions": [{"label": 7, "probabilities": []}, {"label": 2, "probabilities": []}]}',
    '{"label": 7, "probabilities": []}\n{"label": 2, "probabilities": []}\n',
    '[{"label": 7}, {"label": 2}]',
    # Two MultiRecord mini-batches answered as JSON, joined by batch transform with a newline.
    '{"predictions": [{"label": 7}]}\n{"predictions": [{"label": 2}]}\n',
])
def test_predictions_are_read_from_every_answer_shape(body):
    assert [data.prediction_label(p) for p in data.predictions(body)] == [7, 2]


def test_transform_accuracy_counts_and_checks_the_length(tmp_path):
    labels = np.array([7, 2, 1, 0])
    output = tmp_path / "out"
    output.write_text("".join(json.dumps({"label": v}) + "\n" for v in [7, 2, 1, 1]))
    accuracy, predicted = data.transform_accuracy(output, labels)
    assert accuracy == 0.75 and predicted.tolist() == [7, 2, 1, 1]
    with pytest.raises(ValueError, match="3 inputs"):
        data.transform_accuracy(output, labels[:3])


def test_training_metrics_prefer_metrics_json(tmp_path):
    (tmp_path / "output.tar.gz").write_bytes(b"")
    _tar(tmp_path / "output.tar.gz", {"data/metrics.json": json.dumps(
        {"epochs": [{"epoch": 1, "test_accuracy": 0.98}, {"epoch": 2, "test_accuracy": 0.991}]})})
    log = tmp_path / "log"
    log.write_text("x | #metrics epoch=2 train_loss=0.5 test_loss=0.1 test_accuracy=0.5\n")
    assert results.training_metrics("file://%s/model.tar.gz" % tmp_path, log)["test_accuracy"] == 0.991


def test_training_metrics_fall_back_to_the_last_log_line(tmp_path):
    log = tmp_path / "log"
    log.write_text("algo-1 | #metrics epoch=1 test_accuracy=0.97 epoch_seconds=3.5\n"
                   "algo-1 | #metrics epoch=2 test_accuracy=0.991 epoch_seconds=3.4\n")
    metrics = results.training_metrics("file://%s/model.tar.gz" % tmp_path, log)
    assert metrics == {"epoch": 2, "test_accuracy": 0.991, "epoch_seconds": 3.4}


def test_failure_reason_reads_the_toolkits_failure_file(tmp_path):
    output = _tar(tmp_path / "output.tar.gz",
                  {"failure": "epochs must be an integer >= 1, not 0\n", "data/x": ""})
    assert results.failure_reason(output) == "epochs must be an integer >= 1, not 0"
    assert results.failure_reason(tmp_path / "missing.tar.gz") is None


def test_staged_channels_and_subset(tmp_path):
    channels = data.stage_channels(MNIST_DIR, tmp_path)
    assert sorted(p.name for p in channels["training"].iterdir()) == ["train-images-idx3-ubyte.gz",
                                                                     "train-labels-idx1-ubyte.gz"]
    subset = data.stage_subset(MNIST_DIR, tmp_path / "subset", 1000)
    images = data.read_idx(subset / "train-images-idx3-ubyte.gz")
    assert images.shape == (1000, 28, 28)
    assert np.array_equal(images, mnist("train")[0][:1000])


def test_sample_requests_are_the_digit():
    from PIL import Image

    digit = mnist("t10k")[0][0]
    assert json.loads(data.json_digit(digit)) == digit.tolist()
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data.png_digit(digit)))), digit)
