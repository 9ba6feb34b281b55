"""In the json log format, every line of the container's output is one JSON object, including the
lines no logger writes: MMS's Python launcher prints a warning about its JVM options, the JVM and
log4j print a few lines of their own at start, a Python process may die with a traceback.

`serve` (PID 1: it lives as long as the container) puts a pipe in place of its standard output
and error before it starts anything (relay), so that every process it starts writes into the
pipes; a thread per pipe copies each line to the real stream: a line that already is one of the
container's JSON objects (logs.JsonFormatter, log4j2.xml's JSON layout) as it is, any other as
{"time", "level": INFO for stdout and WARNING for stderr, "logger": "stdout" or "stderr",
"message": the line}. `serve` writes its own lines to the real stream (Relay.stdout), so they are
never behind the pipe when it exits.
"""
import fcntl
import json
import os
import sys
import termios
import threading
import time

from sagemaker_mnist_container import logs

# What a line of the container's own JSON begins with (both formatters write time first).
OWN_JSON = b'{"time":'
STREAMS = ((1, "INFO", "stdout"), (2, "WARNING", "stderr"))


def as_json(line, level, name):
    """One output line (bytes, without its newline) as one JSON line (bytes)."""
    if line.startswith(OWN_JSON) and line.endswith(b"}"):
        return line
    return json.dumps({"time": logs.utc_time(time.time()), "level": level, "logger": name,
                       "message": line.decode("utf-8", "replace")}, separators=(",", ":")).encode()


def copy(read_fd, write_fd, level, name):
    """Copies lines from read_fd to write_fd as JSON lines until read_fd's end (all its writers
    gone). Blank lines are dropped."""
    with open(read_fd, "rb", closefd=True) as source, open(write_fd, "wb", buffering=0, closefd=False) as sink:
        for line in source:
            line = line.rstrip(b"\r\n")
            if line.strip():
                sink.write(as_json(line, level, name) + b"\n")


class Relay:
    """Standard output and error of this process, and of every process it starts from now on,
    through a pipe each; see the module's docstring."""

    def __init__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self._pipes = []
        originals = {}
        for fd, level, name in STREAMS:
            original = os.dup(fd)
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            thread = threading.Thread(target=copy, args=(read_end, original, level, name),
                                      name="json-lines-%s" % name, daemon=True)
            thread.start()
            self._pipes.append(read_end)
            originals[name] = original
        # The real standard output, for this process's own log lines.
        self.stdout = open(originals["stdout"], "w", buffering=1, closefd=False)

    def drain(self, timeout=2.0):
        """Waits (up to `timeout` s) until what the pipes hold has been copied: before this process
        exits, while other processes may still hold the pipes open."""
        sys.stdout.flush()
        sys.stderr.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_waiting(fd) for fd in self._pipes):
            time.sleep(0.01)


def _waiting(fd):
    try:
        return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder) > 0
    except OSError:
        return False
