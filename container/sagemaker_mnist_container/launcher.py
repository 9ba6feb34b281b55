"""multi-model-server's launcher as this image runs it: bin/multi-model-server, which `serve` puts
first on the PATH sagemaker-inference's start_model_server finds the launcher on. It is MMS's own
launcher (mms.model_server.start), with two changes:

  - the JVM gets bin/worker-python as the Python to start model backends with (the launcher passes
    its own sys.executable), so that backends fork from the preloader (sagemaker_mnist_container.preload);
  - MMS logs through this image's log4j2.xml, not the one sagemaker-inference names: each line
    once, to standard output (see the file);
  - it stays, as the JVM's parent, until the JVM ends, then reports how it ended to `serve`
    (sagemaker_mnist_container.server_exit) and exits with the JVM's status.
"""
import os
import sys

from sagemaker_mnist_container import server_exit

BIN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin")
WORKER_PYTHON = os.path.join(BIN_DIR, "worker-python")
LOG_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log4j2.xml")


def main():
    from mms import model_server

    sys.executable = WORKER_PYTHON
    sys.argv = with_log_config(sys.argv, LOG_CONFIG)
    try:
        # Starts the JVM (its only child) and returns; it exits itself when it cannot start one.
        model_server.start()
        status = wait_for_child()
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 1
    if status is None:
        sys.exit(0)  # no JVM to wait for: `--stop`
    server_exit.report(status)
    sys.exit(status)


def wait_for_child():
    """The exit status of this process's child (the JVM) once it ends; None if there is none."""
    try:
        _, wait_status = os.wait()
    except ChildProcessError:
        return None
    return server_exit.exit_status(wait_status)


def with_log_config(argv, path):
    """argv with `--log-config path` in place of any --log-config given."""
    result, skip = [], False
    for argument in argv:
        if skip:
            skip = False
        elif argument == "--log-config":
            skip = True
        elif not argument.startswith("--log-config="):
            result.append(argument)
    return result + ["--log-config", path]
