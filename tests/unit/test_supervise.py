"""What `serve` does when one of its processes dies (sagemaker_mnist_container.supervise), and how
the launcher tells it that the JVM ended (sagemaker_mnist_container.server_exit), on real child
processes."""
import os
import signal
import subprocess
import sys
import time

import pytest

from images import wait_for
from sagemaker_mnist_container import server_exit, supervise

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("script, status", [
    ("raise SystemExit(0)", 0),
    ("raise SystemExit(3)", 3),
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 137),
    ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", server_exit.STOPPED),
])
def test_exit_status_is_what_a_shell_reports(script, status):
    pid = subprocess.Popen([sys.executable, "-c", script]).pid
    _, wait_status = os.waitpid(pid, 0)
    assert server_exit.exit_status(wait_status) == status


def test_the_report_reaches_the_supervisor_with_its_status(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    received = []
    previous = signal.signal(server_exit.SIGNAL, lambda signo, frame: received.append(signo))
    try:
        assert server_exit.reported(os.getpid()) == (None, None)
        assert server_exit.report(137, {server_exit.SUPERVISOR_PID_ENV: str(os.getpid())})
        wait_for(lambda: received, 5, 0.01, "the signal")
        assert server_exit.reported(os.getpid()) == (137, server_exit.MODEL_SERVER)
    finally:
        signal.signal(server_exit.SIGNAL, previous)


def test_without_a_supervisor_nothing_is_reported():
    assert server_exit.report(1, {}) is False


def test_the_preloader_is_started_again_when_it_dies():
    started = []

    def start():
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        started.append(process)
        return process

    first = start()
    supervise.preloader(first, start)
    first.kill()
    first.wait()
    wait_for(lambda: len(started) == 2, 10, 0.05, "a second preloader")
    second = started[1]
    assert second.poll() is None
    second.kill()
    second.wait()
    wait_for(lambda: len(started) == 3, 10, 0.05, "a third preloader")
    started[2].kill()
    started[2].wait()


def test_a_preloader_that_keeps_dying_is_given_up(monkeypatch):
    monkeypatch.setattr(supervise, "MAX_RESTARTS", 2)
    started = []

    def start():
        process = subprocess.Popen([sys.executable, "-c", "pass"])
        started.append(process)
        return process

    thread = supervise.preloader(start(), start)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(started) == supervise.MAX_RESTARTS + 1
    for process in started:
        process.wait()


def test_a_crashed_server_ends_serve_with_1_and_a_stop_with_0(tmp_path):
    # serve's two outcomes after start_model_server returns, in a child process that plays serve.
    script = """
import os, sys, tempfile
tempfile.tempdir = sys.argv[1]
from sagemaker_mnist_container import server_exit, supervise
os.environ[server_exit.SUPERVISOR_PID_ENV] = str(os.getpid())
with open(server_exit.report_path(os.getpid()), "w") as f:
    f.write(sys.argv[2])
supervise.after_model_server(lambda: print("stopped the rest"), wait_s=1)
print("returned")
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    crashed = subprocess.run([sys.executable, "-c", script, str(tmp_path), "137"], capture_output=True,
                             text=True, env=env, timeout=60)
    assert crashed.returncode == 1
    assert "stopped the rest" in crashed.stdout and "returned" not in crashed.stdout
    assert "the model server (its JVM) ended with status 137 without being asked to stop" in crashed.stderr
    stopped = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(server_exit.STOPPED)],
                             capture_output=True, text=True, env=env, timeout=60)
    assert stopped.returncode == 0 and "returned" in stopped.stdout, stopped.stderr


def test_serve_waits_briefly_for_a_late_report(tmp_path, monkeypatch):
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = server_exit.report_path(os.getpid())

    def write_later():
        time.sleep(0.2)
        with open(path, "w") as f:
            f.write("%d\n" % server_exit.STOPPED)

    import threading
    threading.Thread(target=write_later).start()
    supervise.after_model_server(lambda: pytest.fail("a stop must not stop the rest"), wait_s=10)
