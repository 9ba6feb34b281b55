"""The training image's `train` command (container/train, first on the image's PATH): what SageMaker
runs as `docker run IMAGE train`, and SDK v3's ModelTrainer with no command.

It runs the toolkit's own `train` (sagemaker_training.trainer.train, which reads the job and calls
SAGEMAKER_TRAINING_MODULE, sagemaker_mnist_container.training:main) and adds what that leaves out:
  - Before it: the toolkit reads /opt/ml/input/config's three JSON files before any code of the
    image runs, and a file that is not JSON, or lacks a key, ends the job with "Framework Error:"
    and a traceback as its FailureReason. They are checked here first (check_config), and so is
    /opt/ml/output, where the failure and success files go: a fault fails the job with one line.
  - SIGTERM: SageMaker stops a job (StopTrainingJob, a spot interruption) with SIGTERM to this
    process, the container's first, and SIGKILL when the grace period ends. The signal goes on to
    the training process, which saves a checkpoint; with no training process yet, the job ends now.
  - The exit status: the toolkit exits 1 for every failed job, and 0 when its own failure report
    fails (its `finally` exits with the status it had so far). The container exits 143 (128 +
    SIGTERM) when stopped, 0 only beside the success file, else non-zero (exit_status).
"""
import json
import os
import signal
import sys

import psutil

from sagemaker_mnist import failures
from sagemaker_mnist.failures import EXIT_FAILURE, EXIT_STOPPED, TrainingError

# The toolkit's names (sagemaker_training.environment): its base folder, and the variable that
# moves it (the contract tests' temporary /opt/ml).
SAGEMAKER_BASE_DIR = "SAGEMAKER_BASE_DIR"
DEFAULT_BASE_DIR = "/opt/ml"
HYPERPARAMETERS_FILE = "hyperparameters.json"
INPUT_DATA_CONFIG_FILE = "inputdataconfig.json"
RESOURCE_CONFIG_FILE = "resourceconfig.json"
SUCCESS_FILE = "success"

# What each file of /opt/ml/input/config holds, as SageMaker writes it at the start of a job.
_HOLDS = {
    HYPERPARAMETERS_FILE: "a JSON object of hyperparameter names to values, as SageMaker writes it "
                          "from the job's HyperParameters",
    INPUT_DATA_CONFIG_FILE: "a JSON object of channel names to their settings, as SageMaker writes it "
                            "from the job's InputDataConfig",
    RESOURCE_CONFIG_FILE: 'a JSON object with "current_host" and "hosts" (every host of the job), as '
                          "SageMaker writes it",
}
_FIX = "fix what wrote it (a local runner, a test harness)"


def base_dir(environ):
    """The job's /opt/ml, or None where the toolkit would make a scratch tree of its own (no /opt/ml,
    no SAGEMAKER_BASE_DIR: a developer's machine)."""
    if SAGEMAKER_BASE_DIR in environ:
        return environ[SAGEMAKER_BASE_DIR]
    return DEFAULT_BASE_DIR if os.path.exists(DEFAULT_BASE_DIR) else None


def check_config(config_dir):
    """Raises TrainingError, with one line, unless the three files of /opt/ml/input/config hold
    what the toolkit reads from them."""
    _read_object(config_dir, HYPERPARAMETERS_FILE)  # any values: the trainer (or a user's script) checks them
    channels = _read_object(config_dir, INPUT_DATA_CONFIG_FILE)
    for name, settings in channels.items():
        if not isinstance(settings, dict):
            raise _bad(config_dir, INPUT_DATA_CONFIG_FILE, "channel %r maps to %s, not an object"
                       % (name, json.dumps(settings)[:80]))
    resources = _read_object(config_dir, RESOURCE_CONFIG_FILE)
    current, hosts = resources.get("current_host"), resources.get("hosts")
    if not isinstance(current, str) or not current:
        raise _bad(config_dir, RESOURCE_CONFIG_FILE, "no current_host")
    if not (isinstance(hosts, list) and hosts and all(isinstance(h, str) and h for h in hosts)):
        raise _bad(config_dir, RESOURCE_CONFIG_FILE, "hosts is not a list of host names")
    if current not in hosts:
        raise TrainingError("%s: current_host %r is not among its hosts %s: list every host of the job in "
                            "hosts, this one included"
                            % (os.path.join(config_dir, RESOURCE_CONFIG_FILE), current, hosts))


def _read_object(config_dir, name):
    path = os.path.join(config_dir, name)
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        raise _bad(config_dir, name, "the file is missing") from None
    except (OSError, UnicodeDecodeError) as e:
        raise _bad(config_dir, name, "it cannot be read (%s)" % (getattr(e, "strerror", None) or e)) from None
    try:
        value = json.loads(text)
    except ValueError as e:
        raise TrainingError("%s is not valid JSON (%s): it must be %s; %s"
                            % (path, e, _HOLDS[name], _FIX)) from None
    if not isinstance(value, dict):
        raise _bad(config_dir, name, "it holds a JSON %s" % type(value).__name__)
    return value


def _bad(config_dir, name, what):
    return TrainingError("%s is not what SageMaker writes: %s; it must be %s; %s"
                         % (os.path.join(config_dir, name), what, _HOLDS[name], _FIX))


class StopSignal:
    """Remembers SIGTERM and passes it on to the training process (torchrun, when it is the child,
    passes it on to its workers). Before there is one, nothing can be saved: the job ends at once."""

    def __init__(self, output_dir):
        self.output_dir = output_dir
        self.received = False

    def install(self):
        signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        self.received = True
        children = psutil.Process().children()
        for child in children:
            try:
                child.send_signal(signum)
            except psutil.NoSuchProcess:
                pass
        if not children:
            failures.write_failure(self.output_dir, "training stopped by SIGTERM before the training process "
                                                    "started: nothing was trained or saved")
            sys.stdout.flush()
            # Nothing to save or wait for; raising here would be caught or turned into exit 0 by
            # the toolkit's handlers.
            os._exit(EXIT_STOPPED)


def exit_status(toolkit_status, stopped, succeeded):
    """The container's exit status from the toolkit's, whether SIGTERM came, and whether the
    success file was written."""
    if succeeded and toolkit_status == 0:
        return 0
    if stopped:
        return EXIT_STOPPED
    return toolkit_status if toolkit_status else EXIT_FAILURE


def _status(code):
    """A SystemExit's code as an exit status."""
    if code is None:
        return 0
    return code if isinstance(code, int) else EXIT_FAILURE


def main():
    environ = os.environ
    output = failures.output_dir(environ)
    stop = StopSignal(output).install()
    base = base_dir(environ)
    if base is not None:
        try:
            failures.check_writable(output, "SageMaker reads the job's failure and success files there")
            check_config(os.path.join(base, "input", "config"))
        except TrainingError as e:
            failures.write_failure(output, str(e))
            sys.exit(EXIT_FAILURE)
    # Imported after the checks: the toolkit's environment module acts on /opt/ml as it loads.
    from sagemaker_training import trainer

    try:
        trainer.train()
        status = 0
    except SystemExit as e:
        status = _status(e.code)
    succeeded = os.path.exists(os.path.join(output, SUCCESS_FILE))
    code = exit_status(status, stop.received, succeeded)
    if code == EXIT_FAILURE and not status:
        failures.write_failure(output, "the training toolkit ended without reporting success: the job's log "
                                       "says what failed")
    sys.exit(code)
