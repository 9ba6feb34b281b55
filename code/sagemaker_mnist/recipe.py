"""How the net is trained: presets of hyperparameters, optimizer, learning-rate schedule, loss,
augmentation and mixed precision. The trainer (sagemaker_mnist.trainer) owns the loop; this module
owns the choices.

`hp` below is the trainer's parsed hyperparameters object (attribute access: hp.lr, hp.optimizer...).
"""
import contextlib
import ctypes
import ctypes.util
import math

import torch
from torch import nn

FINE_TUNE = "fine-tune"
# Values a job gets for every hyperparameter it does not set. `preset` picks the row; a job's own
# hyperparameters override single values of it.
PRESETS = {
    # Accuracy first: the default for training jobs and tuning. 99.6-99.7% in about two minutes
    # on two CPU cores (bench/README.md); stronger augmentation (2 px, 15 degrees) or 10
    # epochs of width 20 measured no better.
    "default": dict(
        epochs=12, batch_size=128, lr=0.02, optimizer="adamw", momentum=0.9, weight_decay=0.01,
        scheduler="onecycle", label_smoothing=0.1, augmentation="affine", width=16,
        # A fifth of the training set printed digits, and twice as many of MNIST's scanned
        # (sagemaker_mnist.kinds); bench/printed_digits.py measures what it costs and gives.
        printed_share=0.2,
    ),
    # Time to 99% first (bench/train_speed.py): one epoch of the narrowest net that clears 99%
    # with a margin (99.07-99.24% over seeds 0-5, about 5 s on two CPU cores). AdamW warmed up
    # to a high rate beats SGD by about 0.13% after one epoch; batch 256 saves 10-15% of the time
    # but loses 0.2% of accuracy.
    "fast": dict(
        epochs=1, batch_size=128, lr=0.02, optimizer="adamw", momentum=0.9, weight_decay=0.01,
        scheduler="onecycle", label_smoothing=0.1, augmentation="none", width=8,
        # No printed digits: with a kind head to train, its one epoch no longer clears 99% (98.9-
        # 99.0% at printed-share 0.02 and 0.05, seeds 0-2); a job adds them with printed-share.
        printed_share=0.0,
    ),
    # Starting from an earlier job's model (a `model` channel), the preset of a job that names
    # none: the net already reads digits, so a few epochs at a tenth of the rate adapt it to new
    # ones without unlearning the old. Cosine decays from the start: onecycle's warm-up to a
    # high rate would first undo much of what the model knew. Smaller batches give a user's few
    # hundred digits more steps. width: the model's own (sagemaker_mnist.pretrained).
    FINE_TUNE: dict(
        epochs=3, batch_size=64, lr=0.002, optimizer="adamw", momentum=0.9, weight_decay=0.01,
        scheduler="cosine", label_smoothing=0.1, augmentation="affine", width=16,
        printed_share=0.0,
    ),
}

OPTIMIZERS = ("sgd", "adamw", "adadelta")
SCHEDULERS = ("onecycle", "cosine", "step", "none")
AUGMENTATIONS = ("none", "affine")


def make_optimizer(model, hp):
    """The optimizer over the model's parameters (already on their device).

    SGD and AdamW run fused (one kernel over all parameters, on CPU as on CUDA): the default
    per-parameter loop costs more than the whole update for a net this small.
    """
    params = list(model.parameters())
    if hp.optimizer == "sgd":
        return torch.optim.SGD(params, lr=hp.lr, momentum=hp.momentum, nesterov=hp.momentum > 0,
                               weight_decay=hp.weight_decay, fused=True)
    if hp.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay, fused=True)
    if hp.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=hp.lr, weight_decay=hp.weight_decay)
    raise ValueError("optimizer must be one of %s, not %r" % (", ".join(OPTIMIZERS), hp.optimizer))


def make_scheduler(optimizer, hp, steps_per_epoch):
    """A scheduler stepped once per batch, or None."""
    total = max(1, hp.epochs * steps_per_epoch)
    if hp.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=hp.lr, total_steps=total,
                                                   pct_start=0.25)
    if hp.scheduler == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total)))
    if hp.scheduler == "step":
        # pytorch/examples' StepLR(gamma=0.7) once an epoch, expressed per batch.
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.7 ** (step // steps_per_epoch))
    if hp.scheduler == "none":
        return None
    raise ValueError("scheduler must be one of %s, not %r" % (", ".join(SCHEDULERS), hp.scheduler))


def make_loss(hp):
    return nn.CrossEntropyLoss(label_smoothing=hp.label_smoothing)


def amp_dtype(hp, device):
    """The dtype of mixed precision (torch.autocast) on `device`, or None for float32 throughout."""
    if device.type != "cuda" or hp.amp == "off":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(dtype, device):
    """The context that runs a forward pass in `dtype` (amp_dtype's), or one that changes nothing."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def augment(images, hp, generator):
    """Returns a randomly shifted/rotated/scaled copy of a batch (N x 1 x 28 x 28), or the batch
    itself with augmentation 'none'. Runs on the batch's device."""
    if hp.augmentation == "none":
        return images
    if hp.augmentation != "affine":
        raise ValueError("augmentation must be one of %s, not %r"
                         % (", ".join(AUGMENTATIONS), hp.augmentation))
    n = images.shape[0]
    rand = torch.rand(n, 4, generator=generator, device="cpu").to(images.device)
    angle = (rand[:, 0] - 0.5) * math.radians(20)
    scale = 1 + (rand[:, 1] - 0.5) * 0.2
    shift = (rand[:, 2:] - 0.5) * 0.2  # fraction of half the image: about +-1.4 pixels
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
    return nn.functional.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


# mallopt(3) parameters of glibc.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP_BYTES = 1 << 30


def keep_freed_memory():
    """Makes the C allocator keep freed memory for reuse instead of handing it back to the kernel.

    glibc's malloc serves large blocks (a batch's activations, megabytes each) with mmap and unmaps
    them when freed, so every training step page-faults the same memory in again; on CPU that was a
    third of a small net's step time here. Raising the mmap and trim thresholds keeps those blocks
    in the heap. Returns whether it took effect (False where the C library is not glibc).
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES))
