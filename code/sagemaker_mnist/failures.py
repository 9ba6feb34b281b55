"""How a training job fails: one actionable line in SageMaker's failure file and a non-zero exit.

SageMaker shows the first 1024 characters of /opt/ml/output/failure as the job's FailureReason
(DescribeTrainingJob, the console, the SDK's exception). The training toolkit writes its own
message only when the file does not exist yet, so the line written here is the one users see.
"""
import os
import sys

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
    """The job's own input is at fault (data, hyperparameters, checkpoint): the message says what
    is wrong and what is accepted, in one line."""


def output_dir(environ):
    """SageMaker's output directory (/opt/ml/output): where the failure file goes."""
    base = environ.get(SAGEMAKER_BASE_DIR, DEFAULT_BASE_DIR)
    return environ.get(SM_OUTPUT_DIR) or os.path.join(base, "output")


def write_failure(directory, message):
    """Prints the message and writes it as the failure file when `directory` exists (it does in
    every SageMaker job; outside one, e.g. a benchmark run, the message is only printed)."""
    line = " ".join(str(message).split())[:FAILURE_REASON_LIMIT]
    print("FAILURE: " + line, file=sys.stderr, flush=True)
    if not os.path.isdir(directory):
        return
    path = os.path.join(directory, FAILURE_FILE)
    if os.path.exists(path):
        return
    tmp = os.path.join(directory, "." + FAILURE_FILE + ".tmp")
    with open(tmp, "w") as f:
        f.write(line + "\n")
    os.replace(tmp, path)
