"""The preloader (sagemaker_mnist_container.preload) and worker-python, the Python `serve` gives
multi-model-server: backends are forked with torch already imported, get MMS's command line,
environment and streams, pass on signals and exit statuses, die with their client, and
worker-python runs the real interpreter when there is no preloader. (The model-server tests run
MMS itself through them.)"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

import support
from sagemaker_mnist_container import preload, server_exit

pytestmark = pytest.mark.server

CLIENT = str(support.REPO / "container" / "bin" / "worker-python")
# What a backend reports: enough to check what it inherited and what it was given.
BACKEND = textwrap.dedent("""
    import json, os, sys
    import sagemaker_mnist
    print(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "argv": sys.argv[1:], "cwd": os.getcwd(),
                      "torch": "torch" in sys.modules, "marker": os.environ.get("MARKER"),
                      "package": sagemaker_mnist.__file__}), flush=True)
    if sys.argv[1] == "wait":
        open(sys.argv[2], "w").write(str(os.getpid()))
        import time
        time.sleep(120)
    sys.exit(int(sys.argv[1]) if sys.argv[1].isdigit() else 0)
""")


@pytest.fixture(scope="module")
def preloader(tmp_path_factory):
    folder = tmp_path_factory.mktemp("preload")
    socket_path = str(folder / "preload.sock")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(support.REPO / "code"), str(support.REPO / "container")])}
    process = preload.start(socket_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Ready once it says so: it listens at once, and answers after the imports.
    assert "imported torch" in process.stdout.readline()
    yield process, socket_path
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
def backend(tmp_path):
    script = tmp_path / "backend.py"
    script.write_text(BACKEND)
    return script


@pytest.fixture
def supervisor():
    """This test process as the supervisor (`serve`) that a backend's end is reported to
    (server_exit): the environment that names it, and the reports it gets."""
    got = []
    path = server_exit.report_path(os.getpid())
    if os.path.exists(path):
        os.remove(path)
    previous = signal.signal(server_exit.SIGNAL, lambda signo, frame: got.append(server_exit.reported(os.getpid())))
    yield {server_exit.SUPERVISOR_PID_ENV: str(os.getpid())}, got
    signal.signal(server_exit.SIGNAL, previous)
    if os.path.exists(path):
        os.remove(path)


def run_client(socket_path, *argv, env=None, **kwargs):
    environ = {**os.environ, **preload.environment(socket_path), "MARKER": "from-the-client",
               "PYTHONPATH": str(support.REPO / "code"), **(env or {})}
    return subprocess.Popen([CLIENT, *map(str, argv)], env=environ, stdout=subprocess.PIPE, text=True, **kwargs)


def test_a_backend_is_forked_with_what_the_client_gives_it(preloader, backend, tmp_path):
    process, socket_path = preloader
    client = run_client(socket_path, backend, 3, "--sock-type", "unix", cwd=tmp_path)
    out, _ = client.communicate(timeout=60)
    report = json.loads(out)
    assert client.returncode == 3
    assert report["ppid"] == process.pid and report["pid"] != client.pid
    assert report["torch"] is True, "torch should come imported"
    assert report["argv"] == ["3", "--sock-type", "unix"]
    assert report["cwd"] == str(tmp_path)
    assert report["marker"] == "from-the-client"
    assert report["package"] == str(support.REPO / "code" / "sagemaker_mnist" / "__init__.py")


def test_a_model_that_carries_its_own_copy_of_the_package_gets_it(preloader, backend, tmp_path):
    _, socket_path = preloader
    own = tmp_path / "code" / "sagemaker_mnist"
    own.mkdir(parents=True)
    (own / "__init__.py").write_text("")
    client = run_client(socket_path, backend, 0, env={"PYTHONPATH": os.pathsep.join([str(own.parent), str(support.REPO / "code")])})
    out, _ = client.communicate(timeout=60)
    assert client.returncode == 0
    assert json.loads(out)["package"] == str(own / "__init__.py")


def _wait_for_file(path, timeout=30):
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, "the backend never started"
        time.sleep(0.05)
    return int(path.read_text())


def test_signals_reach_the_backend(preloader, backend, tmp_path, supervisor):
    _, socket_path = preloader
    environment, reports = supervisor
    pid_file = tmp_path / "pid"
    client = run_client(socket_path, backend, "wait", pid_file, env=environment)
    _wait_for_file(pid_file)
    client.send_signal(signal.SIGTERM)
    client.communicate(timeout=30)
    assert client.returncode == 128 + signal.SIGTERM
    # The preloader answers the client after its own report, if any: a signal passed on is no crash.
    assert reports == []


def test_a_backend_that_dies_on_its_own_is_reported_even_if_its_client_is_killed_first(
        preloader, backend, tmp_path, supervisor):
    """On a multi-model server MMS may kill worker-python (destroyForcibly) as soon as the model's
    workers are gone, before it has told serve: the preloader tells it."""
    _, socket_path = preloader
    environment, reports = supervisor
    pid_file = tmp_path / "pid"
    client = run_client(socket_path, backend, "wait", pid_file, env=environment)
    backend_pid = _wait_for_file(pid_file)
    client.send_signal(signal.SIGSTOP)  # it cannot tell anyone now
    os.kill(backend_pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not reports and time.monotonic() < deadline:
        time.sleep(0.05)
    client.kill()
    client.communicate(timeout=30)
    assert reports and reports[0][0] == 128 + signal.SIGKILL, reports
    assert "pid %d" % backend_pid in reports[0][1], reports


def test_a_killed_client_takes_its_backend_with_it(preloader, backend, tmp_path, supervisor):
    """MMS stops a backend by killing the process it started (destroyForcibly): worker-python."""
    _, socket_path = preloader
    environment, reports = supervisor
    pid_file = tmp_path / "pid"
    client = run_client(socket_path, backend, "wait", pid_file, env=environment)
    backend_process = psutil.Process(_wait_for_file(pid_file))
    client.kill()
    client.communicate(timeout=30)
    backend_process.wait(timeout=30)
    assert not backend_process.is_running()
    # The preloader reaps that backend and goes on serving: the next backend is forked by it.
    next_client = run_client(socket_path, backend, 0)
    out, _ = next_client.communicate(timeout=60)
    assert next_client.returncode == 0 and json.loads(out)["torch"] is True
    assert preloader[0].poll() is None
    # An unload, not a crash: nobody tells serve (the preloader reaped it before it forked the next).
    assert reports == []


def test_a_malformed_request_is_dropped_and_the_next_is_served(preloader, backend):
    import socket

    _, socket_path = preloader
    with socket.socket(socket.AF_UNIX) as connection:
        connection.connect(socket_path)
        connection.sendall(b"\x00\x00\x00\x05hello")  # no streams attached
        try:
            assert connection.recv(100) == b"", "the preloader should close the connection"
        except ConnectionResetError:
            pass
    client = run_client(socket_path, backend, 0)
    client.communicate(timeout=60)
    assert client.returncode == 0


def test_without_a_preloader_it_runs_the_real_interpreter(backend, tmp_path):
    client = run_client(str(tmp_path / "nothing-here.sock"), backend, 4,
                        env={preload.WORKER_PYTHON_ENV: sys.executable})
    out, _ = client.communicate(timeout=120)
    report = json.loads(out)
    assert client.returncode == 4
    assert report["pid"] == client.pid, "worker-python should have become the interpreter"
    assert report["torch"] is False
