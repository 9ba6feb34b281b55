"""sagemaker_mnist.checkpoints: the file (atomic, absent, corrupt), what a checkpoint holds and how a
job resumes from it, and which hyperparameters a resume refuses with one line that says what to do."""
import dataclasses

import numpy as np
import pytest
import torch

from sagemaker_mnist import checkpoints, hyperparameters, model, recipe
from sagemaker_mnist.distributed import Cluster
from sagemaker_mnist.failures import TrainingError

pytestmark = pytest.mark.unit

HP = hyperparameters.parse(["--preset", "default", "--width", "4", "--epochs", "2"], {}).hp
PATH = "/opt/ml/checkpoints/checkpoint.pt"
ONE_PROCESS = Cluster(rank=0, world_size=1, local_rank=0, local_world_size=1, device=torch.device("cpu"))
SECOND_OF_TWO = Cluster(rank=1, world_size=2, local_rank=1, local_world_size=2, device=torch.device("cpu"))
STEPS_PER_EPOCH = 5


def test_checkpoint_round_trip_leaves_no_temporary_file(tmp_path):
    state = {"epoch": 2, "model": {"w": torch.arange(4.0)}, "rng": torch.Generator().get_state(),
             "history": [{"epoch": 1, "test_accuracy": 0.9}]}
    checkpoints.save(str(tmp_path), state)
    loaded = checkpoints.load(str(tmp_path))
    assert loaded["epoch"] == 2 and torch.equal(loaded["model"]["w"], torch.arange(4.0))
    assert loaded["history"] == state["history"]
    assert [p.name for p in tmp_path.iterdir()] == [checkpoints.CHECKPOINT_FILE]


def test_no_checkpoint(tmp_path):
    assert checkpoints.load(str(tmp_path)) is None
    assert checkpoints.load(str(tmp_path / "absent")) is None


def test_corrupt_checkpoint_says_what_to_do(tmp_path):
    (tmp_path / checkpoints.CHECKPOINT_FILE).write_bytes(np.arange(10, dtype=np.uint8).tobytes())
    with pytest.raises(TrainingError, match=r"checkpoint .* cannot be read .*empty checkpoint location"):
        checkpoints.load(str(tmp_path))


class _Job:
    """The objects a job trains with (as the trainer builds them, on the CPU), from one seed."""

    def __init__(self, seed, rank=0):
        torch.manual_seed(seed)
        self.model = model.build_model({"width": HP.width})
        self.optimizer = recipe.make_optimizer(self.model, HP)
        self.scheduler = recipe.make_scheduler(self.optimizer, HP, STEPS_PER_EPOCH)
        self.scaler = torch.amp.GradScaler("cuda", enabled=False)
        self.generator = torch.Generator().manual_seed(seed * 1009 + rank + 1)

    def step(self, images, labels):
        loss = recipe.make_loss(HP)(self.model(recipe.augment(images, HP, self.generator)), labels)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()

    def state(self, progress, world_size=1, generators=None):
        return checkpoints.build_state(HP, world_size, progress, self.model, self.optimizer, self.scheduler,
                                       self.scaler, generators or [self.generator.get_state()])

    def restore(self, state, cluster=ONE_PROCESS):
        return checkpoints.restore(state, self.model, self.optimizer, self.scheduler, self.scaler,
                                   self.generator, cluster)


def _batches(n):
    data = torch.Generator().manual_seed(7)
    return [(torch.rand(16, 1, 28, 28, generator=data), torch.randint(0, 10, (16,), generator=data))
            for _ in range(n)]


def _weights(job):
    return [p.detach().clone() for p in job.model.parameters()]


def test_a_resumed_job_goes_on_exactly_as_the_one_that_saved(tmp_path):
    batches = _batches(5)
    saver = _Job(seed=3)
    for images, labels in batches[:3]:
        saver.step(images, labels)
    partial = torch.tensor([4.5, 48.0, 0.75], dtype=torch.float64)
    progress = checkpoints.Progress(epoch=0, step=3, partial=partial, history=[], train_seconds=0.0)
    checkpoints.save(str(tmp_path), saver.state(progress))

    resumed = _Job(seed=11)  # another seed: everything that matters comes from the checkpoint
    state = checkpoints.load(str(tmp_path))
    checkpoints.check_compatible(state, HP, checkpoints.path(str(tmp_path)))
    restored = resumed.restore(state)
    assert (restored.epoch, restored.step, restored.history, restored.train_seconds) == (0, 3, [], 0.0)
    assert torch.equal(restored.partial, partial)
    for images, labels in batches[3:]:
        saver.step(images, labels)
        resumed.step(images, labels)
    # Weights, optimizer moments, schedule and augmentation stream all continued.
    assert all(torch.equal(a, b) for a, b in zip(_weights(saver), _weights(resumed)))
    assert saver.scheduler.get_last_lr() == resumed.scheduler.get_last_lr()
    assert torch.equal(saver.generator.get_state(), resumed.generator.get_state())


def test_state_records_the_progress_and_the_hyperparameters():
    history = [{"epoch": 1, "train_loss": 0.5, "test_accuracy": 0.97, "train_seconds": 3.0}]
    progress = checkpoints.Progress(epoch=1, step=0, history=history, train_seconds=3.0)
    state = _Job(seed=0).state(progress, world_size=2, generators=["rank 0", "rank 1"])
    assert state["version"] == checkpoints.CHECKPOINT_VERSION
    assert state["hyperparameters"] == HP.as_dict() and state["world_size"] == 2
    assert (state["epoch"], state["step"], state["history"], state["train_seconds"]) == (1, 0, history, 3.0)
    assert torch.equal(state["partial"], torch.zeros(3, dtype=torch.float64))
    assert state["generators"] == ["rank 0", "rank 1"]


def test_a_job_with_another_number_of_processes_keeps_its_own_augmentation_stream():
    state = _Job(seed=3).state(checkpoints.Progress(epoch=1))
    job = _Job(seed=5, rank=1)
    fresh = job.generator.get_state()
    job.restore(state, SECOND_OF_TWO)
    assert torch.equal(job.generator.get_state(), fresh)


def test_only_rank_0_carries_the_unfinished_epochs_sums():
    partial = torch.tensor([4.5, 48.0, 0.75], dtype=torch.float64)
    state = _Job(seed=3).state(checkpoints.Progress(epoch=0, step=3, partial=partial), world_size=2,
                               generators=[torch.Generator().get_state()] * 2)
    assert torch.equal(_Job(seed=3, rank=1).restore(state, SECOND_OF_TWO).partial, checkpoints.no_partial())
    first_of_two = dataclasses.replace(SECOND_OF_TWO, rank=0, local_rank=0)
    assert torch.equal(_Job(seed=3).restore(state, first_of_two).partial, partial)


def _saved(**changes):
    """A checkpoint's state as a job with HP (and `changes` to it) wrote it."""
    return {"version": checkpoints.CHECKPOINT_VERSION,
            "hyperparameters": dataclasses.replace(HP, **changes).as_dict()}


@pytest.mark.parametrize("name,value", [("eval_batch_size", 77), ("amp", "off")])
def test_a_checkpoint_resumes_across_a_change_to_what_does_not_change_the_training(name, value):
    assert name in checkpoints.RESUME_INDIFFERENT
    checkpoints.check_compatible(_saved(**{name: value}), HP, PATH)


def test_the_resume_indifferent_are_hyperparameters():
    assert set(checkpoints.RESUME_INDIFFERENT) <= set(hyperparameters.hyperparameter_names())


def test_a_checkpoint_older_than_mnist_share_and_validation_fraction_resumes_a_job_without_them():
    older = _saved()
    for name in checkpoints.ADDED_LATER:
        del older["hyperparameters"][name]
    checkpoints.check_compatible(older, HP, PATH)
    with pytest.raises(TrainingError, match=r"mnist-share=0.3 \(checkpoint: None\)"):
        checkpoints.check_compatible(older, dataclasses.replace(HP, mnist_share=0.3), PATH)
    assert set(checkpoints.ADDED_LATER) <= set(hyperparameters.hyperparameter_names())


@pytest.mark.parametrize("saved,changed", [
    ({"lr": 0.01}, "lr=0.02 (checkpoint: 0.01)"),
    ({"batch_size": 64}, "batch-size=128 (checkpoint: 64)"),
    ({"augmentation": "none"}, "augmentation=affine (checkpoint: none)"),
    ({"epochs": 3}, "epochs=2 (checkpoint: 3)"),
    ({"seed": 1, "width": 8, "amp": "off"}, "width=4 (checkpoint: 8), seed=0 (checkpoint: 1)"),
])
def test_a_checkpoint_from_other_hyperparameters_is_refused_in_one_line(saved, changed):
    with pytest.raises(TrainingError) as refused:
        checkpoints.check_compatible(_saved(**saved), HP, PATH)
    assert str(refused.value) == (
        "checkpoint %s was written by a job with other hyperparameters: %s; resume with the checkpoint's "
        "values or give the job an empty checkpoint location" % (PATH, changed))


@pytest.mark.parametrize("version", [None, 0, checkpoints.CHECKPOINT_VERSION + 1])
def test_a_checkpoint_of_another_trainer_version_is_refused_in_one_line(version):
    state = dict(_saved(lr=0.5), version=version)  # the version is checked first
    if version is None:
        del state["version"]
    with pytest.raises(TrainingError) as refused:
        checkpoints.check_compatible(state, HP, PATH)
    assert str(refused.value) == ("checkpoint %s is from another trainer version (%r): give the job an empty "
                                  "checkpoint location" % (PATH, version))
