"""A model's code/requirements.txt, installed by `serve` before anything else starts.

sagemaker-inference's start_model_server installs it too (pip with inherited output, then a
ValueError and a traceback when pip fails), but only after `serve` has started the preloader and
the endpoint's set-up. Installing it here, first:
  - a file that cannot be installed stops the container within seconds, exit 1, with one line
    that names the file and quotes pip's reason (its ERROR lines), and nothing else started;
  - pip's output goes through this process's logging, so in the json log format it is JSON too;
  - pip runs without prompts and without its check for a newer pip (a request to pypi.org
    that an endpoint in a VPC without internet access waits on).
pip reads PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_TRUSTED_HOST and the rest of its PIP_* settings
from the endpoint's environment (CreateModel's Environment) itself, as do sagemaker-inference's own
install and AWS's framework containers: a private index needs no more than those. The packages go
to PIP_TARGET (Dockerfile.serve), which the serving user owns and the workers' path includes.
"""
import logging
import os
import subprocess
import sys
import time

logger = logging.getLogger("pip")

FILENAME = "requirements.txt"
# Set for pip unless the endpoint's environment sets them otherwise.
PIP_DEFAULTS = {
    "PIP_NO_INPUT": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_PROGRESS_BAR": "off",
}
# pip's lines that say why it failed, and those that warn (an index it cannot reach, retried).
_REASON_PREFIX = "ERROR:"
_WARNING_PREFIX = "WARNING:"


class RequirementsError(RuntimeError):
    """The model's requirements.txt could not be installed; the message quotes pip."""


def path_in(code_dir):
    """The model's requirements file, or None when it has none."""
    path = os.path.join(code_dir, FILENAME)
    return path if os.path.isfile(path) else None


def install(path, environ=None):
    """Installs `path` with this interpreter's pip, relaying pip's output line by line; raises
    RequirementsError with pip's reason when pip fails."""
    env = dict(os.environ if environ is None else environ)
    for name, value in PIP_DEFAULTS.items():
        env.setdefault(name, value)
    started = time.monotonic()
    logger.info("installing %s", path)
    process = subprocess.Popen([sys.executable, "-m", "pip", "install", "-r", path], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace")
    reasons = []
    for line in process.stdout:
        line = line.rstrip()
        if not line:
            continue
        if line.startswith(_REASON_PREFIX):
            reasons.append(line[len(_REASON_PREFIX):].strip())
            logger.error("%s", line)
        elif line.startswith(_WARNING_PREFIX):
            logger.warning("%s", line)
        else:
            logger.info("%s", line)
    status = process.wait()
    if status != 0:
        raise RequirementsError("%s could not be installed (pip exited %d after %.1f s): %s"
                                % (path, status, time.monotonic() - started,
                                   " ".join(reasons) or "pip gave no reason; its output is above"))
    logger.info("installed %s in %.1f s", path, time.monotonic() - started)
