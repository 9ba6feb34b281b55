"""sagemaker_mnist.scanning: what paper and scanners do to a digit, given to both kinds of
training digit alike; and how kinds.py puts the scanned handwritten digits into the training set."""
import numpy as np
import pytest
import torch
from PIL import Image

from sagemaker_mnist import data, kinds, scanning
from support import mnist

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def digits():
    pictures, _ = mnist("t10k")
    return pictures[:scanning.CHUNK + 40]


def test_scanning_is_deterministic_per_seed_whatever_the_processes(digits):
    first = scanning.scan(digits, seed=1)
    np.testing.assert_array_equal(first, scanning.scan(digits, seed=1, processes=2))
    assert not np.array_equal(first, scanning.scan(digits, seed=2))
    assert first.dtype == np.uint8 and first.shape == digits.shape


def test_a_scanned_digit_is_still_its_digit_in_mnists_form(digits):
    scanned = scanning.scan(digits[:200], seed=0)
    for before, after in zip(digits[:200], scanned):
        rows = np.flatnonzero(after.max(axis=1) > 0)
        cols = np.flatnonzero(after.max(axis=0) > 0)
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in range(19, 23)
        assert after.max() == 255
    # The same shape, leaned, stretched and marked: each scanned digit is more like the digit it
    # was than like the typical digit of another class, and hardly any is left as it was.
    flat = [np.asarray(x, dtype=np.float64).reshape(len(x), -1) for x in (digits[:200], scanned)]
    before, after = [(x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True) for x in flat]
    similarity = after @ before.T / before.shape[1]
    labels = mnist("t10k")[1][:200]
    for i in range(200):
        assert similarity[i, i] > np.median(similarity[i][labels != labels[i]]), i
    assert np.mean([not np.array_equal(a, b) for a, b in zip(digits[:200], scanned)]) > 0.95


def test_picture_of_a_digit_is_dark_on_white_and_prepares_back_to_it(digits):
    canvas = scanning.picture_of(digits[0])
    grey = np.asarray(canvas, dtype=np.float32) / 255.0
    assert canvas.size == (scanning.CANVAS, scanning.CANVAS) and grey[0, 0] == 1.0 and grey.min() < 0.1
    back = scanning.prepare(grey).astype(np.float32)
    assert np.corrcoef(back.ravel(), digits[0].astype(np.float32).ravel())[0, 1] > 0.9


def test_without_the_scanner_only_the_shape_varies():
    canvas = Image.new("L", (scanning.CANVAS, scanning.CANVAS), 255)
    canvas.paste(0, (24, 16, 40, 48))
    grey = scanning.vary(canvas, np.random.default_rng(0), scanner=False)
    # No paper shade, ink tint or grain: white paper stays white and the bar's core stays black.
    assert grey[0, 0] == 1.0 and grey.min() == 0.0
    values = np.unique(np.round(grey, 3))
    scanned = scanning.vary(canvas, np.random.default_rng(0), scanner=True)
    assert len(np.unique(np.round(scanned, 3))) > len(values)


def test_a_failing_chunk_comes_back_as_one_render_error():
    with pytest.raises(scanning.RenderError, match="rendering printed digits failed: ValueError"):
        scanning.in_chunks(_fails, 3, (), processes=1)


def _fails(start, end, items):
    raise ValueError("broken")


def test_training_tensors_put_the_scanned_digits_in_place_and_weigh_the_kinds():
    handwritten = data.Split(torch.zeros(10, 28, 28, dtype=torch.uint8), torch.arange(10), "mnist")
    printed_train = data.Split(torch.full((2, 28, 28), 7, dtype=torch.uint8), torch.tensor([3, 4]), "fonts")
    splits = kinds.PrintedSplits(train=printed_train, validation=printed_train,
                                 scanned_index=torch.tensor([1, 5]),
                                 scanned=torch.full((2, 28, 28), 9, dtype=torch.uint8), font_count=1, seconds=0.0)
    pictures, labels, targets = kinds.training_tensors(handwritten, splits)
    assert pictures.shape == (12, 28, 28) and labels.tolist() == list(range(10)) + [3, 4]
    assert [int(p.max()) for p in pictures] == [0, 9, 0, 0, 0, 9, 0, 0, 0, 0, 7, 7]
    assert handwritten.images.max() == 0  # MNIST's own split is left as it was
    assert targets.labels.tolist() == [kinds.HANDWRITTEN] * 10 + [kinds.PRINTED] * 2
    # Ten handwritten and two printed digits would weigh in equally at 12 / (2 * 10) and
    # 12 / (2 * 2); a printed one weighs at most MAX_KIND_WEIGHT_RATIO handwritten ones.
    assert kinds.MAX_KIND_WEIGHT_RATIO < 5
    torch.testing.assert_close(targets.weight, torch.tensor([0.6, 0.6 * kinds.MAX_KIND_WEIGHT_RATIO]))


def test_kinds_whose_counts_are_within_the_cap_weigh_in_equally():
    handwritten = data.Split(torch.zeros(8, 28, 28, dtype=torch.uint8), torch.arange(8) % 10, "mnist")
    printed_train = data.Split(torch.zeros(2, 28, 28, dtype=torch.uint8), torch.tensor([3, 4]), "fonts")
    splits = kinds.PrintedSplits(train=printed_train, validation=printed_train,
                                 scanned_index=torch.tensor([], dtype=torch.int64),
                                 scanned=torch.zeros(0, 28, 28, dtype=torch.uint8), font_count=1, seconds=0.0)
    _, _, targets = kinds.training_tensors(handwritten, splits)
    torch.testing.assert_close(targets.weight, torch.tensor([10 / 16, 10 / 4]))
