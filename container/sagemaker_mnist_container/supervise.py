"""What `serve` does when one of the processes it started dies.

The container runs `serve`, the preloader (preload.py) and its backends, MMS's launcher, the JVM
and, per worker, the process MMS starts for it (bin/worker-python). A part that can be replaced
without the client noticing is replaced; when the model server itself is gone, `serve` exits 1,
so that SageMaker replaces the container instead of keeping one that cannot answer:

  - the preloader: started again (it only makes backends start faster; a backend MMS starts
    while it is gone runs on the real interpreter, and the backends it forked keep serving);
  - the JVM: `serve` exits 1, unless the JVM ended as `serve`'s own stop ends it (SIGTERM);
  - an endpoint's model backend (MMS's process for the model, or the process MMS started for
    it): MMS 1.1.11 does not start it again, so the preloader reports it and `serve` exits 1.

The rest is MMS's: it starts a new backend when one dies. README.md ("When a process dies") has
the whole table, and tests/container/test_process_kills.py checks it under load.
"""
import logging
import os
import select
import signal
import threading
import time

from sagemaker_mnist_container import server_exit

logger = logging.getLogger("serve")

# More preloader deaths than this within RESTART_WINDOW_S: stop restarting it (backends then
# start on the real interpreter, a few seconds slower each) rather than loop.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60


# Set once serve has been asked to stop (SIGTERM or SIGINT): what ends then is no crash.
STOPPING = threading.Event()
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def model_server(stop):
    """Has a report (server_exit) end this process with status 1 unless what ended did so as a
    stop does; `stop()` ends the rest of the container's processes first. Call from the main
    thread, before the server starts."""
    os.environ[server_exit.SUPERVISOR_PID_ENV] = str(os.getpid())
    _watch_stop_signals()

    def ended(signo, frame):
        status, what = server_exit.reported(os.getpid())
        if STOPPING.is_set() or status == server_exit.STOPPED:
            return  # serve's own stop: start_model_server returns and serve exits as it does
        crashed(status, stop, what)

    signal.signal(server_exit.SIGNAL, ended)


def _watch_stop_signals():
    # sagemaker-inference installs its own SIGTERM handler once MMS runs, in place of any of ours;
    # the wakeup fd is told of every signal whatever handler runs.
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def watch():
        while True:
            data = os.read(read_end, 512)
            if any(signo in data for signo in STOP_SIGNALS):
                STOPPING.set()

    threading.Thread(target=watch, name="stop-signals", daemon=True).start()


def after_model_server(stop, wait_s=5):
    """Called once start_model_server has returned (the JVM is gone): returns normally if it
    ended as a stop does, else ends this process with status 1."""
    deadline = time.monotonic() + wait_s
    status, what = server_exit.reported(os.getpid())
    while status is None and time.monotonic() < deadline and not STOPPING.is_set():
        time.sleep(0.05)  # the launcher writes its report as soon as the JVM has ended
        status, what = server_exit.reported(os.getpid())
    if not STOPPING.is_set() and status != server_exit.STOPPED:
        crashed(status, stop, what)


def crashed(status, stop, what=None):
    logger.error("%s ended with status %s without being asked to stop; "
                 "exiting 1 so that SageMaker replaces this container",
                 what or server_exit.MODEL_SERVER, "unknown" if status is None else status)
    try:
        stop()
    finally:
        logging.shutdown()
        os._exit(1)


def preloader(process, start):
    """Watches the preloader `process` (a Popen) in a daemon thread and, whenever it ends, starts
    another with `start()` (which returns its Popen); returns the thread."""
    thread = threading.Thread(target=_keep, args=(process, start), name="preloader-watch", daemon=True)
    thread.start()
    return thread


def _keep(process, start):
    deaths = []
    while True:
        _wait_for_end(process.pid)
        now = time.monotonic()
        deaths = [t for t in deaths if now - t < RESTART_WINDOW_S] + [now]
        if len(deaths) > MAX_RESTARTS:
            logger.error("the preloader ended %d times within %d s; not starting it again: backends "
                         "now start on the real interpreter", len(deaths), RESTART_WINDOW_S)
            return
        logger.warning("the preloader (pid %d) ended; starting another: the backends it started "
                       "keep serving", process.pid)
        process = start()


def _wait_for_end(pid):
    # A pidfd, not Popen.wait: sagemaker-inference's SIGCHLD handler reaps every child of serve.
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([fd], [], [])
    finally:
        os.close(fd)
