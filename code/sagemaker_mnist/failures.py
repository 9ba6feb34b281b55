"""How a training job fails: one actionable line in SageMaker's failure file and a non-zero exit.

SageMaker shows the first 1024 characters of /opt/ml/output/failure as the job's FailureReason
(DescribeTrainingJob, the console, the SDK's exception). The training toolkit writes its own
message only when the file does not exist yet, so the line written here is the one users see.
Tracebacks go to the log, never to the file.
"""
import errno
import os
import re
import sys
import tempfile

# SageMaker's names, as the toolkit passes them to the training script.
SM_OUTPUT_DIR = "SM_OUTPUT_DIR"
SAGEMAKER_BASE_DIR = "SAGEMAKER_BASE_DIR"
DEFAULT_BASE_DIR = "/opt/ml"
FAILURE_FILE = "failure"
FAILURE_REASON_LIMIT = 1024

EXIT_FAILURE = 1
# 128 + SIGTERM, the status a process killed by SIGTERM reports in a shell.
EXIT_STOPPED = 143


class TrainingError(Exception):
    """The job's own input is at fault (data, hyperparameters, checkpoint, its folders): the message
    says what is wrong and what is accepted, in one line."""


# A write that fails for these is the job's volume's fault, not the trainer's.
_VOLUME_FULL = (errno.ENOSPC, errno.EDQUOT)


def cannot_write(path, error):
    """The TrainingError of an OSError raised while writing `path`."""
    if error.errno in _VOLUME_FULL:
        return TrainingError("no space left to write %s (%s): give the job a larger volume (the estimator's "
                             "volume_size, VolumeSizeInGB) or a folder with room" % (path, error.strerror))
    return TrainingError("cannot write %s (%s): give the container a writable folder there"
                         % (path, error.strerror or error))


def check_writable(directory, what):
    """Raises TrainingError unless a file can be created in `directory` (made when missing).
    `what` says what is written there. A real file is tried: root passes every permission check,
    not a read-only mount."""
    try:
        os.makedirs(directory, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise TrainingError("%s is not writable (%s): %s; give the container a writable folder there "
                            "(SageMaker does; with docker run or a volume of your own, mount it read-write)"
                            % (directory, e.strerror or e, what)) from None


def output_dir(environ):
    """SageMaker's output directory (/opt/ml/output): where the failure file goes."""
    base = environ.get(SAGEMAKER_BASE_DIR, DEFAULT_BASE_DIR)
    return environ.get(SM_OUTPUT_DIR) or os.path.join(base, "output")


def reason(error):
    """What a library's exception says, short: its first sentence (torch's readers follow theirs
    with paragraphs of advice), or its type when it says nothing."""
    text = str(error).strip()
    if not text:
        return type(error).__name__
    return re.split(r"(?<=[^.])\. ", text.splitlines()[0], maxsplit=1)[0]


def one_line(message):
    """The message as the failure file holds it: one line, at most FAILURE_REASON_LIMIT characters."""
    return " ".join(str(message).split())[:FAILURE_REASON_LIMIT]


def write_failure(directory, message):
    """Prints the message (stderr: the job's log) and writes it as the failure file when `directory`
    exists (it does in every SageMaker job; outside one, e.g. a benchmark run, the message is only
    printed) and the file is not there yet. Never raises: a failure file that cannot be written
    (a read-only or full /opt/ml/output) leaves the printed line. Returns whether the file holds it."""
    line = one_line(message)
    print("FAILURE: " + line, file=sys.stderr, flush=True)
    if not os.path.isdir(directory):
        return False
    path = os.path.join(directory, FAILURE_FILE)
    if os.path.exists(path):
        return False
    tmp = os.path.join(directory, "." + FAILURE_FILE + ".tmp")
    try:
        with open(tmp, "w") as f:
            f.write(line + "\n")
        os.replace(tmp, path)
    except OSError as e:
        print("FAILURE: the line above could not be written to %s (%s)" % (path, e.strerror or e),
              file=sys.stderr, flush=True)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    return True
