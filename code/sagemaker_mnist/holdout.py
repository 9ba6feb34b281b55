"""Validation digits held out of the training channel (hyperparameter validation-fraction), for a
user who has one set of digits and wants the job to report, and a tuner to optimise, accuracy on
digits like them that it did not train on.

The same fraction of each digit is held out (at least one of a digit the channel has two of), so
a small set keeps every digit on both sides; which ones is drawn from the job's seed alone, so a
job run again, resumed or tuned holds out the same digits.
"""
import torch

from sagemaker_mnist.failures import TrainingError

# The hold-out's draws apart from the other seeded streams of a job (shuffles, augmentation).
_SEED_OFFSET = 7919


def split(digits, fraction, seed, make_split):
    """(training digits, validation digits) of a Split; `make_split(images, labels, source)` builds
    each (sagemaker_mnist.data.Split)."""
    generator = torch.Generator().manual_seed(seed * _SEED_OFFSET + 1)
    held = []
    for digit in range(10):
        where = torch.nonzero(digits.labels == digit).flatten()
        if len(where) < 2:
            continue  # a lone example stays in training (data checks that every digit is there)
        count = min(len(where) - 1, max(1, round(len(where) * fraction)))
        held.append(where[torch.randperm(len(where), generator=generator)[:count]])
    if not held:
        raise TrainingError("hyperparameter validation-fraction=%s holds out no digits of %s (%d digits): "
                            "give the training channel more digits, or a 'validation' channel"
                            % (fraction, digits.source, len(digits)))
    held = torch.cat(held).sort().values
    keep = torch.ones(len(digits), dtype=torch.bool)
    keep[held] = False
    return (make_split(digits.images[keep], digits.labels[keep], digits.source),
            make_split(digits.images[held], digits.labels[held],
                       "%d digits held out of %s (validation-fraction=%s)"
                       % (len(held), digits.source, fraction)))
