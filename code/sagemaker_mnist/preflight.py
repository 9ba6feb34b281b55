"""What a job checks before its first epoch, so that a fault visible from the start fails the job
in seconds, not after the training: the training channel is declared (sagemaker_mnist.channels),
and every folder it writes is writable. The data itself is read before training too, and its
faults are found there (sagemaker_mnist.data).
"""
from sagemaker_mnist import channels, data, failures
from sagemaker_mnist.failures import TrainingError

# What to do about a folder the trainer cannot write, by what it writes there.
_WRITES = {
    "model_dir": "the trainer saves the model there at the end of the job",
    "output_data_dir": "the trainer writes the evaluation report there at the end of the job",
    "checkpoint_dir": "the trainer saves a checkpoint there every epoch",
}


def check_inputs(settings, environ):
    """The training channel is the job's. (It may come in any input mode: File, FastFile, Pipe.)"""
    declared = channels.declared(environ)
    if not settings.train_dir:
        if declared is not None:
            raise channels.not_declared(settings.train_channel, declared, data.ACCEPTED)
        raise TrainingError("no training data: pass --train DIR, the folder of the job's %r channel"
                            % settings.train_channel)


def check_outputs(settings):
    """Every folder the trainer writes can be written (created when missing, as SageMaker leaves
    /opt/ml/checkpoints to a job without checkpoint_s3_uri)."""
    for field, what in _WRITES.items():
        failures.check_writable(getattr(settings, field), what)
