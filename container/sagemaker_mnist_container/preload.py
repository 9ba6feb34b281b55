"""Python workers that start in milliseconds: one process imports torch and the handlers while the
JVM starts, and multi-model-server's Python backends are forked from it.

On a cold start MMS starts a model's Python backend (mms/model_service_worker.py) only once its
JVM is up, 1.5-2 s after `serve`, and that backend then spends about 3 s importing torch before it
can load the model: together most of the time to a healthy /ping. `serve` starts this preloader
first (start()), so the import runs while the JVM starts. MMS starts backends with the
interpreter its launcher ran on; sagemaker_mnist_container.launcher makes that bin/worker-python, which hands
its command line, environment and standard streams to the preloader (preload_client). The
preloader forks; the child takes them over and runs model_service_worker.py as MMS asked, with
torch already imported. Nothing is shared but imported code: each model is still loaded by its
own backend, after the fork, and CUDA is never touched before it.

If the preloader is not there (never started, failed, gone), worker-python runs the real
interpreter instead, exactly as MMS would have.
"""
import importlib
import importlib.machinery
import dataclasses
import json
import logging
import os
import runpy
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

from sagemaker_mnist_container import logs, server_exit
from sagemaker_mnist_container.launcher import BIN_DIR
from sagemaker_mnist_container.load_failure import SERVE_PID_ENV
from sagemaker_mnist_container.settings import log_settings
# The wire format and names are the client's: it runs with the standard library alone.
from sagemaker_mnist_container.preload_client import HEADER, SIGNALLED, SOCKET_ENV, WORKER_PYTHON_ENV

logger = logging.getLogger("preload")

# What every backend imports before it can load a model; torch, numpy and PIL come with them.
PRELOADED = ("sagemaker_mnist_container.handler_service", "mms.model_service_worker", "mms.service")
# Packages a model's own code/ may carry a copy of (the trainer's artifacts do): a backend whose
# path finds another copy imports that one, as it would without the preloader.
OWN_PACKAGES = ("sagemaker_mnist", "sagemaker_mnist_container")
MAX_REQUEST = 16 * 2**20
# Process names (at most 15 characters): MMS's backend for a model (mms/model_service_worker.py,
# forked from here), which listens on the model's socket, and the process it forks per worker.
LISTENER_NAME = "mms-listener"
BACKEND_NAME = "mms-backend"
PR_SET_PDEATHSIG = 1


# --- In `serve`

def start(socket_path, **popen_args):
    """Starts the preloader (subprocess.Popen's own arguments pass through); returns its Popen.
    It dies with this process."""
    return subprocess.Popen([sys.executable, "-m", __name__, socket_path], **popen_args)


def environment(socket_path, environ=None):
    """What `serve` adds to its environment (`environ`, default os.environ) so that MMS's launcher
    and backends use the preloader."""
    environ = os.environ if environ is None else environ
    return {
        "PATH": BIN_DIR + os.pathsep + environ.get("PATH", ""),
        SOCKET_ENV: socket_path,
        WORKER_PYTHON_ENV: sys.executable,
    }


# --- The preloader

def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit("usage: python -m sagemaker_mnist_container.preload SOCKET")
    # serve has checked the settings already; their log level and format are the container's.
    log = log_settings()
    logs.configure(log["log_level"], log["log_format"])
    _die_with_parent()
    # Listening before the imports: a backend that asks early waits in the backlog, not elsewhere.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(argv[0]):
        os.unlink(argv[0])
    listener.bind(argv[0])
    listener.listen(64)
    # MMS's backend sets this before anything imports torch (one OpenMP thread per worker);
    # OpenMP reads it when torch loads it, here.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    started = time.monotonic()
    base_path = _base_path()
    for name in PRELOADED:
        importlib.import_module(name)
    if sys.modules["torch"].cuda.is_initialized():
        # A forked child cannot use CUDA that its parent initialised: backends must start without us.
        logger.error("CUDA was initialised while importing; backends will start without the preloader")
        sys.exit(1)
    logger.info("imported torch and the handlers in %.1f s; backends start from here", time.monotonic() - started)
    Preloader(listener, base_path).run()


@dataclasses.dataclass
class _Backend:
    """What the preloader keeps of a backend it forked, until the backend is reaped."""
    connection: object  # the client's connection; None once the client is gone
    environ: dict  # the environment the client gave it
    signalled: bool = False  # the client has passed a signal on to it


class Preloader:
    """Forks a backend per request and reports its pid and, later, its exit status. A client
    that goes away (MMS kills worker-python to stop a backend) takes its backend with it."""

    def __init__(self, listener, base_path):
        self.listener = listener
        self.base_path = base_path
        self.backends = {}  # pid -> _Backend
        self.selector = selectors.DefaultSelector()
        self.wakeup_r, wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_r, False)
        os.set_blocking(wakeup_w, False)
        signal.set_wakeup_fd(wakeup_w)
        signal.signal(signal.SIGCHLD, lambda signo, frame: None)
        signal.signal(signal.SIGTERM, self._stop)

    def run(self):
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wakeup_r, selectors.EVENT_READ, "signal")
        while True:
            for key, _ in self.selector.select():
                if key.data == "accept":
                    self._accept()
                elif key.data == "signal":
                    self._reap()
                else:
                    self._client_gone(key.data)

    def _accept(self):
        connection, _ = self.listener.accept()
        try:
            request, fds = receive_request(connection)
        except (OSError, ValueError) as e:
            logger.warning("dropped a request: %s", e)
            connection.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self._become_backend(request, fds, connection)  # never returns
        for fd in fds:
            os.close(fd)
        try:
            os.setpgid(pid, pid)  # also in the child: whichever runs first
        except OSError:
            pass
        try:
            connection.sendall(b'{"pid": %d}\n' % pid)
        except OSError:
            _kill_group(pid, signal.SIGKILL)
        self.backends[pid] = _Backend(connection, request["env"])
        self.selector.register(connection, selectors.EVENT_READ, pid)

    def _become_backend(self, request, fds, connection):
        code = 70
        try:
            signal.set_wakeup_fd(-1)
            for signo in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(signo, signal.SIG_DFL)
            self.selector.close()
            clients = [backend.connection.fileno() for backend in self.backends.values() if backend.connection]
            for fd in [self.listener.fileno(), self.wakeup_r] + clients:
                os.close(fd)
            # A group of its own: stopping a backend stops the workers it forks.
            os.setpgid(0, 0)
            _end_with_client(connection)
            # Their command lines stay the preloader's; their names tell them apart (top,
            # /proc/PID/comm): the process MMS asked for listens, and forks one per worker.
            _set_name(LISTENER_NAME)
            os.register_at_fork(after_in_child=_become_worker_process)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                os.close(fd)
            # The backend configures logging as it would in a fresh interpreter.
            for handler in logging.root.handlers[:]:
                logging.root.removeHandler(handler)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            adopt_python_path(request["env"].get("PYTHONPATH", ""), self.base_path)
            script, *arguments = request["argv"]
            sys.argv = [script, *arguments]
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # noqa: BLE001 - report it in the backend's own log, then exit
            logging.exception("the backend failed")
            code = 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(code)

    def _reap(self):
        while True:
            try:
                os.read(self.wakeup_r, 512)
            except BlockingIOError:
                break
        while self.backends:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            # MMS's backend listens on the model's socket and forks one process per worker; they
            # share its group. Without it no worker that dies can be replaced (MMS reconnects to
            # the socket, and nobody listens), so they go with it: MMS then sees every worker gone
            # and starts the model's process again.
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            backend = self.backends.pop(pid, None) or _Backend(None, {})
            environ, connection = backend.environ, backend.connection
            gone, signalled = _client_news(connection) if connection is not None else (True, False)
            signalled = signalled or backend.signalled
            # MMS 1.1.11 never starts a model's backend again once it has ended (its workers only
            # try to reconnect), so `serve` must be told: always for an endpoint's model; on a
            # multi-model server, where MMS unloads a model by killing the client first, when the
            # backend ended while its client was still there and had passed it no signal. The
            # client tells serve too, but MMS may kill it (destroyForcibly, on its workers' loss)
            # before it has.
            if environ.get(SERVE_PID_ENV) or not (gone or signalled):
                try:
                    server_exit.report(server_exit.exit_status(status), environ,
                                       "the model's backend (mms/model_service_worker.py, pid %d), which MMS "
                                       "does not start again," % pid)
                except OSError as e:
                    logger.error("could not tell serve that backend %d ended: %s", pid, e)
            if connection is not None:
                self.selector.unregister(connection)
                try:
                    connection.sendall(b'{"exit": %d}\n' % os.waitstatus_to_exitcode(status))
                except OSError:
                    pass
                connection.close()

    def _client_gone(self, pid):
        backend = self.backends[pid]
        gone, signalled = _client_news(backend.connection)
        backend.signalled = backend.signalled or signalled
        if gone:
            # The backend stays in backends until it is reaped, with no client left to tell.
            self.selector.unregister(backend.connection)
            backend.connection.close()
            backend.connection = None
            _kill_group(pid, signal.SIGKILL)

    def _stop(self, signo, frame):
        for pid in list(self.backends):
            _kill_group(pid, signal.SIGTERM)
        os._exit(0)


def _client_news(connection):
    """(gone, signalled): what the client's end holds now, read without waiting; signalled if
    it has passed a signal on (SIGNALLED) since the last read."""
    signalled = False
    while True:
        try:
            data = connection.recv(64, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False, signalled
        except OSError:
            return True, signalled
        if not data:
            return True, signalled
        signalled = signalled or SIGNALLED in data


def _become_worker_process():
    """In each process MMS's backend forks for a worker: named apart, and ended with the backend
    (killed by SIGKILL, it cannot end them itself)."""
    _set_name(BACKEND_NAME)
    _set_parent_death_signal(signal.SIGKILL)


def _set_parent_death_signal(signo):
    """Has the kernel send signo to this process when its parent ends (Linux only)."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signo) == 0
    except (OSError, AttributeError):
        return False


def _set_name(name):
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(name)
    except OSError:
        pass


def _end_with_client(connection):
    """Ends this backend (and the workers it forks) when its client, the process MMS started for
    it, is gone. The preloader does the same, but may itself be gone. It waits for the client's
    end to close without reading: what the client sends (SIGNALLED) is the preloader's to read."""
    def watch():
        poller = select.poll()
        poller.register(connection.fileno(), select.POLLRDHUP)
        try:
            while not any(events & (select.POLLRDHUP | select.POLLHUP | select.POLLERR)
                          for _, events in poller.poll()):
                pass
        except OSError:
            pass
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="client-watch", daemon=True).start()


def adopt_python_path(python_path, base_path):
    """Makes sys.path what a fresh interpreter would build from `python_path` (a PYTHONPATH), and
    drops the preloaded copies of this project's packages if that path finds others first."""
    sys.path[:] = [entry for entry in python_path.split(os.pathsep) if entry] + base_path
    importlib.invalidate_caches()
    for name in OWN_PACKAGES:
        module = sys.modules.get(name)
        spec = importlib.machinery.PathFinder.find_spec(name, sys.path)
        found = spec.origin if spec is not None else None
        if module is not None and (found is None or os.path.realpath(found) != os.path.realpath(module.__file__)):
            for loaded in [n for n in sys.modules if n.split(".")[0] in OWN_PACKAGES]:
                del sys.modules[loaded]
            return


def receive_request(connection):
    """One request: {"argv", "cwd", "env"} and the client's three standard streams."""
    data, fds, _, _ = socket.recv_fds(connection, 65536, 3)
    try:
        if len(fds) != 3 or len(data) < HEADER.size:
            raise ValueError("expected a request with 3 file descriptors, got %d bytes and %d" % (len(data), len(fds)))
        (size,) = HEADER.unpack_from(data)
        if size > MAX_REQUEST:
            raise ValueError("a request of %d bytes" % size)
        data = data[HEADER.size:]
        while len(data) < size:
            chunk = connection.recv(size - len(data))
            if not chunk:
                raise ValueError("the client went away mid-request")
            data += chunk
        request = json.loads(data)
        if not (isinstance(request.get("argv"), list) and request["argv"] and isinstance(request.get("env"), dict)
                and isinstance(request.get("cwd"), str)):
            raise ValueError("a request needs argv, cwd and env")
        return request, fds
    except (ValueError, OSError):
        for fd in fds:
            os.close(fd)
        raise


def _base_path():
    """sys.path without the script's folder and PYTHONPATH: what every interpreter here starts with."""
    own = {os.path.abspath(entry) for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry}
    return [entry for entry in sys.path[1:] if os.path.abspath(entry) not in own]


def _kill_group(pid, signo):
    try:
        os.killpg(pid, signo)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signo)
        except ProcessLookupError:
            pass


def _die_with_parent():
    """SIGTERM when `serve` ends, however it ends (Linux only; elsewhere the container's end does it)."""
    parent = os.getppid()
    if not _set_parent_death_signal(signal.SIGTERM):
        return
    if os.getppid() != parent:
        sys.exit(0)


if __name__ == "__main__":
    main()
