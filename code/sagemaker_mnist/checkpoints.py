"""Checkpoints in SageMaker's checkpoint directory (/opt/ml/checkpoints).

SageMaker uploads that directory to the job's checkpoint S3 URI while the job runs and puts the
files back when a job (a managed-spot restart, or a new job given the same URI) starts. One file,
replaced atomically: a reader, S3 sync included, sees the previous checkpoint or the new one,
never a half-written file.
"""
import os

import torch

from sagemaker_mnist.failures import TrainingError

CHECKPOINT_FILE = "checkpoint.pt"


def path(directory):
    return os.path.join(directory, CHECKPOINT_FILE)


def save(directory, state):
    """Writes `state` (tensors, numbers, strings, lists and dicts of them) atomically."""
    os.makedirs(directory, exist_ok=True)
    final = path(directory)
    tmp = os.path.join(directory, "." + CHECKPOINT_FILE + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    return final


def load(directory):
    """The saved state, or None when the directory holds no checkpoint."""
    final = path(directory)
    if not os.path.exists(final):
        return None
    try:
        # weights_only: a checkpoint from S3 is data, and loading it must not run pickled code.
        return torch.load(final, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad or truncated file
        raise TrainingError(
            "checkpoint %s cannot be read (%s): delete it, or give the job an empty checkpoint location"
            % (final, str(e).splitlines()[0] if str(e) else type(e).__name__)) from None
