"""Checkpoints in SageMaker's checkpoint directory (/opt/ml/checkpoints): what one holds, how it is
written and read, and whether a job may resume from it.

SageMaker uploads that directory to the job's checkpoint S3 URI while the job runs and puts the
files back when a job (a managed-spot restart, or a new job given the same URI) starts. One file,
replaced atomically: a reader, S3 sync included, sees the previous checkpoint or the new one,
never a half-written file.

A checkpoint holds what a resumed job needs to go on as if it had never stopped: the weights, the
optimizer, the schedule, the gradient scaler, every process's augmentation generator and the job's
Progress. It resumes only a job with the hyperparameters that wrote it (RESUME_INDIFFERENT aside).
"""
import io
import os
from dataclasses import dataclass, field

import torch

from sagemaker_mnist import failures, hyperparameters
from sagemaker_mnist.failures import TrainingError

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_VERSION = 1
# Hyperparameters that do not change what is trained: a checkpoint resumes across changes to them.
RESUME_INDIFFERENT = ("eval_batch_size", "amp")
# Hyperparameters newer than some checkpoints, with the value that an older checkpoint's job trained
# with: such a checkpoint resumes a job that leaves them at it.
ADDED_LATER = {"mnist_share": 0.0, "validation_fraction": 0.0}


def no_partial():
    """The `partial` of a job between epochs."""
    return torch.zeros(3, dtype=torch.float64)


@dataclass
class Progress:
    """Where a job is: what a checkpoint records beside the model and optimizer."""
    epoch: int = 0  # epochs finished
    step: int = 0  # batches finished of the epoch after them
    # Loss sum, count and seconds of the batches done of an unfinished epoch, over all processes.
    partial: torch.Tensor = field(default_factory=no_partial)
    history: list = field(default_factory=list)  # the metrics of every finished epoch
    train_seconds: float = 0.0  # training time of the finished epochs, evaluation excluded


def path(directory):
    return os.path.join(directory, CHECKPOINT_FILE)


def save(directory, state):
    """Writes `state` (tensors, numbers, strings, lists and dicts of them) atomically. A write that
    fails (a full volume) leaves the previous checkpoint and raises TrainingError."""
    final = path(directory)
    tmp = os.path.join(directory, "." + CHECKPOINT_FILE + ".tmp")
    # Serialized in memory first: torch.save into a file that hits a full disk raises an opaque
    # RuntimeError from its zip writer, a plain write the OSError that says so.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        os.makedirs(directory, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise failures.cannot_write(final, e) from None
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
            % (final, failures.reason(e))) from None


def build_state(hp, world_size, progress, model, optimizer, scheduler, scaler, generators):
    """The state `save` writes. `scheduler` may be None; `generators` are the augmentation
    generators' states of all the job's processes, by rank."""
    return {
        "version": CHECKPOINT_VERSION,
        "hyperparameters": hp.as_dict(),
        "world_size": world_size,
        "epoch": progress.epoch,
        "step": progress.step,
        "partial": progress.partial,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict(),
        "generators": generators,
        "history": progress.history,
        "train_seconds": progress.train_seconds,
    }


def check_compatible(state, hp, checkpoint_path):
    """Raises TrainingError unless this trainer version wrote `state` with the hyperparameters `hp`
    (RESUME_INDIFFERENT aside)."""
    if state.get("version") != CHECKPOINT_VERSION:
        raise TrainingError("checkpoint %s is from another trainer version (%r): give the job an empty "
                            "checkpoint location" % (checkpoint_path, state.get("version")))
    saved, now = state["hyperparameters"], hp.as_dict()
    changed = ["%s=%s (checkpoint: %s)" % (hyperparameters.display(k), now[k], saved.get(k))
               for k in now if k not in RESUME_INDIFFERENT and saved.get(k, ADDED_LATER.get(k)) != now[k]]
    if changed:
        raise TrainingError("checkpoint %s was written by a job with other hyperparameters: %s; resume with "
                            "the checkpoint's values or give the job an empty checkpoint location"
                            % (checkpoint_path, ", ".join(changed)))


def restore(state, model, optimizer, scheduler, scaler, generator, cluster):
    """Loads a compatible `state` into this process's objects (as build_state took them) and returns
    its Progress. A job with another number of processes keeps its fresh augmentation generator."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    if state["world_size"] == cluster.world_size:
        generator.set_state(state["generators"][cluster.rank])
    # The partial sums are the whole job's: rank 0 alone adds them to its epoch's.
    return Progress(epoch=state["epoch"], step=state["step"],
                    partial=state["partial"] if cluster.is_main else no_partial(),
                    history=list(state["history"]), train_seconds=state["train_seconds"])
