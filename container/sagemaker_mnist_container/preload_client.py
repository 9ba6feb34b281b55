"""worker-python: what multi-model-server runs as its Python when `serve` uses the preloader.

MMS runs `<python> .../mms/model_service_worker.py --sock-type unix ...` to start a model's
backend. This hands that command line, the environment and the three standard streams (MMS
reads the backend's log from them) to the preloader (sagemaker_mnist_container.preload), which forks a
backend with torch already imported; then it stands in for that backend: it passes on the
signals it gets and exits with the backend's status, and when MMS kills it, the preloader kills
the backend. Without a preloader it becomes the real interpreter, as if MMS had started that.

Either way the backend's PYTHONPATH lists the model's code/ folder last, not first where
sagemaker-inference puts it: the image's own packages then import from the image whatever a
model's code/ holds (a user's mnist.py, a copy of this project's package), and the handler
service puts code/ first itself once they are imported, for the user's modules.

Standard library only: it runs as `python3 -I -S`, in about 20 ms.
"""
import json
import os
import signal
import socket
import struct
import sys

SOCKET_ENV = "MNIST_PRELOAD_SOCKET"
# The interpreter to become when there is no preloader.
WORKER_PYTHON_ENV = "MNIST_WORKER_PYTHON"
# A request is one length-prefixed JSON document, sent with the client's stdin, stdout and stderr.
HEADER = struct.Struct("!I")
# sagemaker-inference's code directory for an endpoint's model (environment.code_dir), which its
# start_model_server puts first on PYTHONPATH.
SAGEMAKER_CODE_DIR = "/opt/ml/model/code"
# load_failure.SERVE_PID_ENV: set for an endpoint's single model, not for a multi-model server.
SERVE_PID_ENV = "MNIST_SERVE_PID"
# What it sends the preloader before it passes a signal on: the backend's end that follows is no crash.
SIGNALLED = b"s"
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    os.environ["PYTHONPATH"] = code_dir_last(os.environ.get("PYTHONPATH", ""))
    try:
        connection, replies, pid = ask_preloader(os.environ[SOCKET_ENV], argv)
    except (KeyError, OSError, ValueError):
        python = os.environ.get(WORKER_PYTHON_ENV) or "python3"
        os.execvp(python, [python, *argv])
    signalled = []

    def forward(signo, frame):
        signalled.append(signo)
        try:
            connection.send(SIGNALLED)
        except OSError:
            pass
        _forward(pid, signo)

    for signo in FORWARDED:
        signal.signal(signo, forward)
    try:
        line = replies.readline()
        code = int(json.loads(line)["exit"]) if line else 1
    except (OSError, ValueError, KeyError):
        code = 1
    # A backend ended by signal N exits as a shell reports it: 128 + N.
    status = 128 - code if code < 0 else code
    if os.environ.get(SERVE_PID_ENV) or not signalled:
        # MMS 1.1.11 does not start the model's backend (its listener) again (preload.py). The
        # preloader reports it too, but may be gone (this covers it) or this process may be
        # killed first (the preloader covers that); serve ignores both when it is stopping. On a
        # multi-model server, MMS stops a model's backend by killing this process (SIGKILL, on
        # unload), so a backend that ended while this one was neither killed nor signalled died
        # on its own, and its model would never answer again.
        _tell_serve(status, pid)
    return status


def _tell_serve(status, pid):
    # server_exit sits beside this script, and needs nothing but the standard library. Run as
    # `python3 -I`, this script's folder is not on sys.path (isolated mode leaves it out).
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import server_exit

    try:
        server_exit.report(status, what="the model's backend (mms/model_service_worker.py, pid %d), which "
                                        "MMS does not start again," % pid)
    except (OSError, ValueError):
        pass


def code_dir_last(python_path, code_dir=SAGEMAKER_CODE_DIR):
    """`python_path` (a PYTHONPATH) with `code_dir` moved to its end."""
    entries = [entry for entry in python_path.split(os.pathsep) if entry]
    code = [entry for entry in entries if os.path.normpath(entry) == code_dir]
    return os.pathsep.join([entry for entry in entries if entry not in code] + code)


def ask_preloader(path, argv):
    """Asks for a backend running `argv`; returns (connection, its reader, the backend's pid)."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
        request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
        socket.send_fds(connection, [HEADER.pack(len(request)) + request], [0, 1, 2])
        replies = connection.makefile("rb")
        # The preloader answers once it has imported everything: this waits out the import.
        line = replies.readline()
        if not line:
            raise ValueError("the preloader closed the connection")
        return connection, replies, int(json.loads(line)["pid"])
    except BaseException:
        connection.close()
        raise


def _forward(pid, signo):
    try:
        os.kill(pid, signo)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    sys.exit(main())
