"""multi-model-server's launcher as this image runs it: bin/multi-model-server, which `serve` puts
first on the PATH sagemaker-inference's start_model_server finds the launcher on. It is MMS's own
launcher (mms.model_server.start), with two changes:

  - the JVM gets bin/worker-python as the Python to start model backends with (the launcher passes
    its own sys.executable), so that backends fork from the preloader (sagemaker_mnist_container.preload);
  - MMS logs through this image's log4j2.xml, not the one sagemaker-inference names: each line
    once, to standard output (see the file).
"""
import os
import sys

BIN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin")
WORKER_PYTHON = os.path.join(BIN_DIR, "worker-python")
LOG_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log4j2.xml")


def main():
    from mms import model_server

    sys.executable = WORKER_PYTHON
    sys.argv = with_log_config(sys.argv, LOG_CONFIG)
    sys.exit(model_server.start())


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
