"""Validation digits from a user's training channel (validation-fraction: sagemaker_mnist.holdout)
and MNIST's mixed into the rest (mnist-share: sagemaker_mnist.mnist_mix), through job_data.load_job:
which digits, how many, drawn the same for the same seed, and the faults in one line each."""
import numpy as np
import pytest

from sagemaker_mnist import data, hyperparameters, job_data, mnist_mix
from sagemaker_mnist.failures import TrainingError
from support import mnist, write_idx, write_subset
from user_data import csv_text

pytestmark = pytest.mark.unit

N = 200


@pytest.fixture
def channels(tmp_path):
    """A training channel of N of MNIST's digits as CSV rows, and an `mnist` channel of 1000."""
    x, y = mnist("train")
    training = tmp_path / "training"
    training.mkdir()
    (training / "train.csv").write_text(csv_text(x[3000:3000 + N], y[3000:3000 + N]))
    mnist_dir = write_subset(tmp_path / "mnist", 1000, 0)
    return training, mnist_dir


def _load(training, *flags, mnist_dir=None):
    argv = ["--train", str(training)] + (["--mnist", str(mnist_dir)] if mnist_dir else []) + list(flags)
    return job_data.load_job(hyperparameters.parse(argv, {}), {})


def _rows(split):
    return {split.images[i].numpy().tobytes() for i in range(len(split))}


def test_a_fraction_of_each_digit_is_held_out_and_serves_as_the_test_digits(channels):
    training, _ = channels
    dataset = _load(training, "--validation-fraction", "0.25")
    counts = np.bincount(mnist("train")[1][3000:3000 + N], minlength=10)
    held = np.bincount(dataset.validation.labels.numpy(), minlength=10)
    assert held.tolist() == [round(c * 0.25) for c in counts]
    assert len(dataset.train) + len(dataset.validation) == N
    assert not _rows(dataset.train) & _rows(dataset.validation)
    # No test channel and no MNIST test files: the held-out digits are the test digits too.
    assert dataset.test is dataset.validation
    assert dataset.validation.source == ("%d digits held out of training (CSV: training/train.csv) "
                                         "(validation-fraction=0.25)" % held.sum())


def test_the_same_seed_holds_out_the_same_digits(channels):
    training, _ = channels
    first, again = (_load(training, "--validation-fraction", "0.2", "--seed", "4") for _ in range(2))
    other = _load(training, "--validation-fraction", "0.2", "--seed", "5")
    assert _rows(first.validation) == _rows(again.validation)
    assert _rows(first.validation) != _rows(other.validation)


def test_a_test_channel_stays_the_test_digits(channels, tmp_path):
    training, _ = channels
    test = tmp_path / "test"
    test.mkdir()
    x, y = mnist("t10k")
    write_idx(test / "t10k-images-idx3-ubyte.gz", x[:30])
    write_idx(test / "t10k-labels-idx1-ubyte.gz", y[:30])
    dataset = _load(training, "--validation-fraction", "0.1", "--test", str(test))
    assert len(dataset.test) == 30 and len(dataset.validation) == pytest.approx(N * 0.1, abs=5)


@pytest.mark.parametrize("share", [0.5, 0.2])
def test_mnist_share_mixes_mnists_digits_into_the_training_digits_only(channels, share):
    training, mnist_dir = channels
    dataset = _load(training, "--validation-fraction", "0.2", "--mnist-share", str(share),
                    mnist_dir=mnist_dir)
    own = N - len(dataset.validation)
    added = mnist_mix.count(own, share)
    assert len(dataset.train) == own + added
    assert added / len(dataset.train) == pytest.approx(share, abs=0.01)
    mnist_rows = {digit.tobytes() for digit in mnist("train")[0][:1000]}
    train_rows = [dataset.train.images[i].numpy().tobytes() for i in range(len(dataset.train))]
    assert sum(row in mnist_rows for row in train_rows[own:]) == added
    assert not _rows(dataset.validation) & mnist_rows
    assert "+ %d of MNIST's digits from mnist/train-images-idx3-ubyte.gz" % added in dataset.train.source


def test_mnist_share_takes_all_of_a_small_mnist_channel(channels, tmp_path):
    training, _ = channels
    small = write_subset(tmp_path / "small", 50, 0)
    dataset = _load(training, "--mnist-share", "0.9", "--validation-fraction", "0.1", mnist_dir=small)
    assert len(dataset.train) == N - len(dataset.validation) + 50


def test_mnist_share_without_an_mnist_channel_fails_with_one_line(channels):
    training, _ = channels
    with pytest.raises(TrainingError) as failure:
        _load(training, "--mnist-share", "0.3")
    assert str(failure.value).startswith(
        "hyperparameter mnist-share=0.3 mixes in MNIST's digits, but the job has no 'mnist' channel: give it "
        "one holding MNIST's training files")


def test_a_small_fraction_still_holds_out_one_of_each_digit_but_a_lone_one_stays(tmp_path):
    x, y = mnist("train")
    first = [int(np.flatnonzero(y == d)[0]) for d in range(10)]
    training = tmp_path / "training"
    training.mkdir()
    (training / "train.csv").write_text(csv_text(x[first + first[:3]], y[first + first[:3]]))
    dataset = _load(training, "--validation-fraction", "0.001", "--test", str(training))
    assert sorted(dataset.validation.labels.tolist()) == [0, 1, 2]
    (training / "train.csv").write_text(csv_text(x[first], y[first]))
    with pytest.raises(TrainingError) as failure:
        _load(training, "--validation-fraction", "0.3")
    assert str(failure.value).startswith(
        "hyperparameter validation-fraction=0.3 holds out no digits of training (CSV: training/train.csv) "
        "(10 digits): give the training channel more digits, or a 'validation' channel")


def test_a_validation_channel_and_a_fraction_are_refused_together(channels):
    training, _ = channels
    with pytest.raises(TrainingError, match=r"validation-fraction=0.2 .* and the job has a 'validation' "
                                            r"channel too: give one or the other"):
        _load(training, "--validation-fraction", "0.2", "--validation", str(training))


def test_evaluate_gives_each_digits_accuracy_and_none_for_an_absent_digit():
    import torch

    from sagemaker_mnist import model, trainer
    from sagemaker_mnist.distributed import Cluster

    x, y = mnist("train")
    keep = np.flatnonzero(y[:300] != 9)
    split = data.Split(torch.from_numpy(x[keep].copy()), torch.from_numpy(y[keep].astype(np.int64)), "x")
    torch.manual_seed(0)
    net = model.MnistNet(4)
    cluster = Cluster(rank=0, world_size=1, local_rank=0, local_world_size=1, device=torch.device("cpu"))
    result = trainer.evaluate(net, split, 64, cluster, None)
    predicted = result.predictions.numpy()
    labels = y[keep]
    assert result.class_accuracy[9] is None
    for digit in range(9):
        assert result.class_accuracy[digit] == pytest.approx((predicted[labels == digit] == digit).mean())
    assert result.accuracy == pytest.approx((predicted == labels).mean())
