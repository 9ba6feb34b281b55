"""The job's input channels as SageMaker delivers them, and which delivery this trainer reads.

SageMaker gives a channel to the container in one of its input modes (the channel's InputMode, or
the job's TrainingInputMode for channels that set none; inputdataconfig.json holds the result per
channel, and the toolkit passes that file on as SM_INPUT_DATA_CONFIG):
  - File and FastFile: a folder, /opt/ml/input/data/<channel>, holding the S3 prefix's files;
  - Pipe: no folder; a FIFO /opt/ml/input/data/<channel>_<epoch> per pass over the data, each
    streaming the prefix's objects once.
This trainer reads both: a channel is read from its FIFOs (sagemaker_mnist.formats.pipe) when the
job declares it in Pipe mode, or, outside the toolkit, when it has FIFOs and no folder.
"""
import json
import os
import re
import stat

from sagemaker_mnist.failures import TrainingError

# SageMaker's names, as the training toolkit passes them to the training script.
SM_INPUT_DATA_CONFIG = "SM_INPUT_DATA_CONFIG"
TRAINING_INPUT_MODE = "TrainingInputMode"
PIPE = "Pipe"
READ_MODES = ("File", "FastFile")

_FIFO_NAME = r"^%s_[0-9]+$"

def declared(environ):
    """{channel: its inputdataconfig.json entry} of the job, or None outside the training toolkit
    (no SM_INPUT_DATA_CONFIG, e.g. `python train.py --train DIR`)."""
    raw = environ.get(SM_INPUT_DATA_CONFIG)
    if raw is None:
        return None
    try:
        config = json.loads(raw)
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise TrainingError("%s is not the JSON object of inputdataconfig.json: %r" % (SM_INPUT_DATA_CONFIG,
                                                                                       raw[:200]))
    return config


def pipe_fifos(channel_dir):
    """The FIFOs of SageMaker's Pipe layout for the channel whose folder would be `channel_dir`:
    <channel>_<epoch> beside that folder, sorted."""
    if not channel_dir:
        return []
    parent, name = os.path.split(os.path.normpath(channel_dir))
    try:
        entries = os.listdir(parent or ".")
    except OSError:
        return []
    pattern = re.compile(_FIFO_NAME % re.escape(name))
    return sorted(os.path.join(parent, entry) for entry in entries
                  if pattern.match(entry) and _is_fifo(os.path.join(parent, entry)))


def _is_fifo(path):
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def is_pipe(channel_dir, config):
    """Whether the channel (its folder `channel_dir`, its inputdataconfig.json entry `config` or None)
    comes in Pipe mode: the job says so, or there is no folder and SageMaker's FIFOs are there."""
    if (config or {}).get(TRAINING_INPUT_MODE) == PIPE:
        return True
    return bool(channel_dir) and not os.path.isdir(channel_dir) and bool(pipe_fifos(channel_dir))


def not_declared(channel, declared_channels, accepted):
    """The TrainingError of a required channel the job does not have."""
    names = ", ".join(sorted(declared_channels)) if declared_channels else "none"
    return TrainingError("the job has no %r channel (its channels: %s): give it a %r input channel holding %s"
                         % (channel, names, channel, accepted))
