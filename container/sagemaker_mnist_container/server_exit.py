"""How `serve` learns that multi-model-server's JVM has ended, and with what status.

SageMaker replaces an instance whose container exits; it cannot repair a container whose model
server is gone while `serve` keeps running. sagemaker-inference's start_model_server finds the
JVM by its command line and waits for it, but it cannot tell a crash from a stop, and a JVM that
ends before it is found (a plugin rewrite that cannot apply stops it at once) leaves it retrying
for SAGEMAKER_STARTUP_TIMEOUT (10 minutes). So this image's launcher (sagemaker_mnist_container.launcher),
the JVM's parent, waits for the JVM, writes its exit status to report_path() and signals `serve`
(SIGNAL); `serve` exits 1 unless that status is the one its own stop produces, or it is stopping.
The preloader reports the same way when an endpoint's model backend ends (MMS 1.1.11 does not
start that process again: preload.py).

Both sides import this module: the launcher runs with the image's packages but not torch.
"""
import os
import signal
import tempfile

# Set by `serve` for the launcher: the process to tell when the JVM ends.
SUPERVISOR_PID_ENV = "MNIST_SUPERVISOR_PID"
SIGNAL = signal.SIGUSR2
# What a JVM ends with after SIGTERM (128 + 15): `serve`'s own stop, and SageMaker's, end it so.
STOPPED = 143


def report_path(supervisor_pid):
    return os.path.join(tempfile.gettempdir(), "mnist-serve-%s-server-exit.txt" % supervisor_pid)


def exit_status(wait_status):
    """os.wait's status as a shell reports it: the exit code, or 128 + the signal that ended it."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


MODEL_SERVER = "the model server (its JVM)"


def report(status, environ=None, what=MODEL_SERVER):
    """Tells the supervisor named in the environment (if any) that `what` ended with `status`."""
    environ = os.environ if environ is None else environ
    supervisor = environ.get(SUPERVISOR_PID_ENV)
    if not supervisor:
        return False
    path = report_path(supervisor)
    # A file of its own first: the preloader and worker-python may report the same end at once.
    partial = "%s.%d.tmp" % (path, os.getpid())
    with open(partial, "w") as f:
        f.write("%d %s\n" % (status, what))
    os.replace(partial, path)
    os.kill(int(supervisor), SIGNAL)
    return True


def reported(supervisor_pid):
    """(status, what ended) as last reported to `supervisor_pid`, or (None, None) if nothing was."""
    try:
        with open(report_path(supervisor_pid)) as f:
            status, _, what = f.read().strip().partition(" ")
        return int(status), what or MODEL_SERVER
    except (OSError, ValueError):
        return None, None
