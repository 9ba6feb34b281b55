"""What a worker does when the model cannot be loaded: log why, tell `serve`, and exit.

A worker whose model failed to load must not stay up: MMS would count it as holding the model and
answer 500 for ever. For an endpoint's single model the whole container must stop, so that
SageMaker sees the failure; `serve` (sagemaker_mnist_container.serving) does that when told. A
multi-model server leaves SERVE_PID_ENV unset: there a failed load fails only its load request,
and the worker leaves its reason in settings.LOAD_FAILURES_DIR, from where the plugin puts it in
the answer to that request (mms_plugin/LoadFailures.java), with 507 when memory ran out and 400
when the model's files or code are at fault.

Both sides import this module; the worker never imports the `serve` entry point itself.
"""
import json
import logging
import os
import signal
import sys
import tempfile

from sagemaker_mnist_container.settings import LOAD_FAILURES_DIR

logger = logging.getLogger(__name__)

# Set for the workers when serving one model: the process to tell when that model cannot be loaded.
SERVE_PID_ENV = "MNIST_SERVE_PID"


def failure_report(serve_pid):
    """Where a worker leaves the reason its model failed to load, for `serve` to print."""
    return os.path.join(tempfile.gettempdir(), "mnist-serve-%s-load-failure.txt" % serve_pid)


# What the SageMaker multi-model contract asks of a load that fails: 507 when the model does not fit.
MODEL_AT_FAULT = 400
INSUFFICIENT_MEMORY = 507


def give_up(model_dir, error, trace, model_name=None):
    """Logs why the model in model_dir failed to load, tells `serve` (SIGUSR1, with the reason in
    failure_report) or, on a multi-model server, the plugin (report_load_failure), and ends this
    worker with status 1."""
    # The reason last, on one line: it is what a reader of the endpoint's log looks for.
    reason = "%s: %s" % (type(error).__name__, one_line(str(error)))
    logger.error("%sthe model in %s failed to load: %s", trace, model_dir, reason)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    serve_pid = os.environ.get(SERVE_PID_ENV)
    if serve_pid:
        try:
            # serve stops the server at once, before it has relayed this worker's log; it prints
            # the reason from this report itself.
            report = failure_report(serve_pid)
            with open(report + ".tmp", "w") as f:
                f.write("%s: %s\n%s" % (model_dir, reason, trace))
            os.replace(report + ".tmp", report)
            os.kill(int(serve_pid), signal.SIGUSR1)
        except (ValueError, OSError) as e:
            logger.error("could not tell serve (pid %s) that the model failed to load: %s", serve_pid, e)
    elif os.environ.get(LOAD_FAILURES_DIR) and model_name:
        report_load_failure(os.environ[LOAD_FAILURES_DIR], model_name, load_status(error), reason)
    os._exit(1)


def load_status(error):
    """The status a multi-model load request answers for `error`: 507 when memory ran out
    (Python's MemoryError, or torch's allocators on CPU and GPU), else 400."""
    if isinstance(error, MemoryError):
        return INSUFFICIENT_MEMORY
    text = str(error).lower()
    if isinstance(error, RuntimeError) and any(
            words in text for words in ("out of memory", "can't allocate memory", "not enough memory")):
        return INSUFFICIENT_MEMORY
    return MODEL_AT_FAULT


def report_name(model_name):
    """The report's file name: the name in hexadecimal UTF-8 (LoadFailures.fileName reads the same)."""
    return model_name.encode("utf-8").hex() + ".json"


def report_load_failure(folder, model_name, status, reason):
    try:
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, report_name(model_name))
        with open(path + ".tmp", "w") as f:
            json.dump({"status": status, "reason": reason}, f)
        os.replace(path + ".tmp", path)
    except OSError as e:
        logger.error("could not report why model %s failed to load: %s", model_name, e)


def one_line(text):
    return " ".join(str(text).split())
