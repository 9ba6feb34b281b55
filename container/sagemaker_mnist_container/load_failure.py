"""What a worker does when the model cannot be loaded: log why, tell `serve`, and exit.

A worker whose model failed to load must not stay up: MMS would count it as holding the model and
answer 500 for ever. For an endpoint's single model the whole container must stop, so that
SageMaker sees the failure; `serve` (sagemaker_mnist_container.serving) does that when told. A
multi-model server leaves SERVE_PID_ENV unset: there a failed load fails only its load request.

Both sides import this module; the worker never imports the `serve` entry point itself.
"""
import logging
import os
import signal
import sys
import tempfile

logger = logging.getLogger(__name__)

# Set for the workers when serving one model: the process to tell when that model cannot be loaded.
SERVE_PID_ENV = "MNIST_SERVE_PID"


def failure_report(serve_pid):
    """Where a worker leaves the reason its model failed to load, for `serve` to print."""
    return os.path.join(tempfile.gettempdir(), "mnist-serve-%s-load-failure.txt" % serve_pid)


def give_up(model_dir, error, trace):
    """Logs why the model in model_dir failed to load, tells `serve` (SIGUSR1, with the reason in
    failure_report) and ends this worker with status 1."""
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
    os._exit(1)


def one_line(text):
    return " ".join(str(text).split())
