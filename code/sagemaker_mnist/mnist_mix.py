"""MNIST's handwriting mixed into a user's training digits (hyperparameter mnist-share), so that a
net fine-tuned on a few hundred digits of one style does not forget the handwriting it learnt.

The MNIST digits come from the job's `mnist` channel, in any form a training channel may take
(the training image carries no data set: its size and licence stay out of it, and a job names the
data it trains on). cloud.prepare_data uploads MNIST's training files to s3://BUCKET/PREFIX/
data/training/, which is such a channel. A share s of the training set is MNIST: for n digits of
the user's, n * s / (1 - s) of MNIST's (all of them, when it has fewer), drawn from the job's seed.
"""
import torch

from sagemaker_mnist.failures import TrainingError

CHANNEL = "mnist"
_SEED_OFFSET = 104729


def count(own, share):
    """How many MNIST digits make `share` of a training set with `own` digits of the user's."""
    return int(round(own * share / (1.0 - share))) if share > 0 else 0


def required(mnist_dir, share):
    """Fails the job at once when mnist-share asks for digits the job has no channel of."""
    if share > 0 and not mnist_dir:
        raise TrainingError("hyperparameter mnist-share=%s mixes in MNIST's digits, but the job has no %r "
                            "channel: give it one holding MNIST's training files (as cloud.prepare_data "
                            "uploads to s3://BUCKET/PREFIX/data/training/), or set mnist-share to 0"
                            % (share, CHANNEL))


def mix(own, mnist, share, seed, make_split):
    """The training Split: the user's digits, then `share` of the whole drawn from MNIST's."""
    wanted = min(count(len(own), share), len(mnist))
    generator = torch.Generator().manual_seed(seed * _SEED_OFFSET + 1)
    chosen = torch.randperm(len(mnist), generator=generator)[:wanted].sort().values
    return make_split(torch.cat([own.images, mnist.images[chosen]]),
                      torch.cat([own.labels, mnist.labels[chosen]]),
                      "%s + %d of MNIST's digits from %s (mnist-share=%s)"
                      % (own.source, wanted, mnist.source, share))
