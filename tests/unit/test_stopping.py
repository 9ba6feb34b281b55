"""sagemaker_mnist.stopping: SIGTERM is remembered, a job of one process stops at the next batch, and
the failure line says where the job stopped and that the same checkpoint location resumes it."""
import os
import signal

import pytest
import torch

from sagemaker_mnist import checkpoints, stopping
from sagemaker_mnist.distributed import Cluster

pytestmark = pytest.mark.unit

ONE_PROCESS = Cluster(rank=0, world_size=1, local_rank=0, local_world_size=1, device=torch.device("cpu"))


def test_sigterm_is_remembered_and_a_single_process_stops_at_the_next_batch():
    previous = signal.getsignal(signal.SIGTERM)
    try:
        stop = stopping.StopRequest().install()
        assert not stop.agreed(ONE_PROCESS, step=0, steps_per_epoch=50)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested
        assert stop.agreed(ONE_PROCESS, step=1, steps_per_epoch=50)
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("epoch,step,where", [
    (1, 17, "at step 17 of 62 in epoch 2 of 3"),
    (0, 1, "at step 1 of 62 in epoch 1 of 3"),
    (2, 0, "after epoch 2 of 3"),
])
def test_the_stop_says_where_and_how_to_resume(tmp_path, epoch, step, where):
    progress = checkpoints.Progress(epoch=epoch, step=step)
    stopped = stopping.stopped(progress, epochs=3, steps_per_epoch=62, checkpoint_dir=str(tmp_path))
    assert isinstance(stopped, stopping.Stopped)
    assert str(stopped) == ("training stopped by SIGTERM %s; checkpoint saved to %s: a job started with the "
                            "same checkpoint location resumes from it" % (where, tmp_path / "checkpoint.pt"))
