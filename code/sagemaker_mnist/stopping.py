"""How a training job obeys a stop: SageMaker stops a job (StopTrainingJob, a spot interruption)
with SIGTERM and kills it when the grace period ends.

The trainer remembers the signal (StopRequest), notices it between batches, saves a checkpoint at
the step it reached and raises Stopped, which main() turns into the failure file's line and exit
status 143 (sagemaker_mnist.failures.EXIT_STOPPED).
"""
import signal

from sagemaker_mnist import checkpoints, distributed

# How often the processes of a distributed job agree on whether a stop was requested: often
# enough to stop within a second, seldom enough to cost nothing.
_STOP_POLL_STEPS = 10


class Stopped(Exception):
    """SIGTERM arrived; the checkpoint is written."""


class StopRequest:
    """Remembers SIGTERM, which SageMaker sends to stop a job (StopTrainingJob, a spot
    interruption) before it kills it; the loop notices between batches."""

    def __init__(self):
        self.requested = False

    def install(self):
        signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def agreed(self, cluster, step, steps_per_epoch):
        """After batch `step` (0-based) of an epoch: whether the job's processes stop now. A
        distributed job's processes agree every few steps and at the epoch's end, so that all stop
        at the same step."""
        if not cluster.distributed:
            return self.requested
        if (step + 1) % _STOP_POLL_STEPS and step + 1 != steps_per_epoch:
            return False
        return distributed.any_true(cluster, self.requested)


def stopped(progress, epochs, steps_per_epoch, checkpoint_dir):
    """The Stopped of a job whose checkpoint in `checkpoint_dir` holds `progress`."""
    where = ("after epoch %d of %d" % (progress.epoch, epochs) if progress.step == 0
             else "at step %d of %d in epoch %d of %d" % (progress.step, steps_per_epoch, progress.epoch + 1,
                                                          epochs))
    return Stopped("training stopped by SIGTERM %s; checkpoint saved to %s: a job started with the same "
                   "checkpoint location resumes from it" % (where, checkpoints.path(checkpoint_dir)))
