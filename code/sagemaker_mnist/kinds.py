"""The handwritten-or-printed part of a training job (hyperparameter printed-share > 0).

The job renders printed digits once (sagemaker_mnist.printed, with the fonts of
sagemaker_mnist.fonts), trains on them beside MNIST's handwritten ones with a second head that
tells the two kinds apart (sagemaker_mnist.model.KINDS), and evaluates on printed digits rendered
afresh (another seed: other sizes, weights and distortions of the same fonts).
"""
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sagemaker_mnist import data, fonts, printed, scanning
from sagemaker_mnist.model import KINDS

HANDWRITTEN, PRINTED = KINDS.index("handwritten"), KINDS.index("printed")
# Printed digits a job evaluates on each epoch, rendered apart from its training ones.
VALIDATION_COUNT = 2000
# MNIST digits scanned per printed digit rendered.
SCANNED_PER_PRINTED = 2
# The most a printed digit weighs in the kind's loss against a handwritten one (KindTargets). At
# printed-share 0.2 the kinds' counts are 1:4 and the cap does not bind; at 0.02 a printed digit
# weighed 50 handwritten ones and cost the fast preset 0.6% of MNIST accuracy after one epoch
# (98.5% against 99.1%, seeds 0-2), with the cap 0.1% (and a kind head that misses more).
MAX_KIND_WEIGHT_RATIO = 4.0


@dataclass(frozen=True)
class PrintedSplits:
    train: data.Split
    validation: data.Split
    # MNIST training digits (their positions in the training split) replaced by themselves as
    # scanned (sagemaker_mnist.scanning.scan), so that both kinds carry a scanner's marks.
    scanned_index: torch.Tensor
    scanned: torch.Tensor
    font_count: int
    seconds: float  # spent rendering and scanning


def printed_count(handwritten, share):
    """How many printed digits make `share` of a training set with `handwritten` MNIST digits."""
    return int(round(handwritten * share / (1.0 - share))) if share > 0 else 0


def render_splits(hp, handwritten, fonts_dir=None, processes=1):
    """The job's printed training and validation digits and its scanned handwritten ones, or None
    when printed-share is 0; drawn by `processes` processes (the same digits whatever their
    number). `handwritten`: the training split of MNIST's digits."""
    count = printed_count(len(handwritten), hp.printed_share)
    if count == 0:
        return None
    started = time.perf_counter()
    paths = fonts.training_fonts(tuple(hp.printed_fonts.split(",")), fonts_dir)
    train_images, train_labels = printed.render(paths, count, seed=hp.seed * 2 + 1, processes=processes)
    test_images, test_labels = printed.render(paths, VALIDATION_COUNT, seed=hp.seed * 2 + 2, processes=processes)
    generator = torch.Generator().manual_seed(hp.seed * 2 + 1)
    scanned_index = torch.randperm(len(handwritten), generator=generator)[:min(count * SCANNED_PER_PRINTED,
                                                                               len(handwritten))]
    scanned = scanning.scan(handwritten.images[scanned_index].numpy(), seed=hp.seed * 2 + 1, processes=processes)
    source = "printed digits rendered from %d fonts" % len(paths)
    return PrintedSplits(
        train=data.Split(torch.from_numpy(train_images), torch.from_numpy(train_labels), source),
        validation=data.Split(torch.from_numpy(test_images), torch.from_numpy(test_labels), source),
        scanned_index=scanned_index,
        scanned=torch.from_numpy(scanned),
        font_count=len(paths),
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class KindTargets:
    """What the kind head learns: every training digit's kind, and a weight per kind."""
    labels: torch.Tensor
    # Printed digits are the smaller part of the training set (printed-share); unweighted, the
    # head learns to call a doubtful digit handwritten and misses printed ones of unseen fonts.
    # Each kind weighs in inversely to its count, as if the two were equally common, up to
    # MAX_KIND_WEIGHT_RATIO.
    weight: torch.Tensor

    def to(self, device):
        return KindTargets(self.labels.to(device), self.weight.to(device))

    def loss(self, kind_logits, batch):
        return F.cross_entropy(kind_logits, self.labels[batch], weight=self.weight)


def training_tensors(handwritten, printed_splits):
    """(images, digit labels, KindTargets or None) of the whole training set."""
    if printed_splits is None:
        return handwritten.images, handwritten.labels, None
    printed_split = printed_splits.train
    handwritten_images = handwritten.images.clone()
    handwritten_images[printed_splits.scanned_index] = printed_splits.scanned
    images = torch.cat([handwritten_images, printed_split.images])
    labels = torch.cat([handwritten.labels, printed_split.labels])
    kinds = torch.cat([torch.full((len(handwritten),), HANDWRITTEN, dtype=torch.int64),
                       torch.full((len(printed_split),), PRINTED, dtype=torch.int64)])
    counts = torch.bincount(kinds, minlength=len(KINDS)).double()
    weight = (len(kinds) / (len(KINDS) * counts.clamp(min=1))).float()
    weight = torch.minimum(weight, weight.min() * MAX_KIND_WEIGHT_RATIO)
    return images, labels, KindTargets(kinds, weight)


@torch.no_grad()
def predict(model, split, batch_size, device):
    """(digit predictions, kind predictions) of a net with the kind head over a whole split, as
    numpy arrays, for the training report."""
    model.eval()
    digits, kinds = [], []
    for start in range(0, len(split), batch_size):
        x = split.images[start:start + batch_size].to(device).unsqueeze(1).float().div_(255)
        digit_logits, kind_logits = model(x, with_kind=True)
        digits.append(digit_logits.argmax(1).cpu())
        kinds.append(kind_logits.argmax(1).cpu())
    return torch.cat(digits).numpy(), torch.cat(kinds).numpy()


def report_part(model, test, printed_splits, batch_size, device):
    """What the training report shows of the kinds (sagemaker_mnist.report.write's `printed`)."""
    _, test_kinds = predict(model, test, batch_size, device)
    digits, printed_kinds = predict(model, printed_splits.validation, batch_size, device)
    return {"images": printed_splits.validation.images.numpy(), "labels": printed_splits.validation.labels.numpy(),
            "predictions": digits, "kinds": printed_kinds, "test_kinds": test_kinds}
