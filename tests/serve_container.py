"""The inference image as SageMaker runs it (`docker run IMAGE serve`), for the container tests:
one running container, its HTTP calls, its state and its processes."""
import contextlib
import json
import os
import stat

import requests

from images import SERVE_IMAGE, docker, free_port, wait_for

STARTUP_TIMEOUT = 180


def readable(path):
    """Opens a host folder to the image's serving user (uid 1000), as an unpacked model.tar.gz is."""
    for root, dirs, files in os.walk(path):
        os.chmod(root, os.stat(root).st_mode | stat.S_IRWXU | stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            full = os.path.join(root, name)
            os.chmod(full, os.stat(full).st_mode | stat.S_IROTH)
    os.chmod(path, os.stat(path).st_mode | stat.S_IROTH | stat.S_IXOTH)
    return path


class Container:
    """`docker run IMAGE serve`: `image` is the CUDA inference image unless given; `docker_args`
    come before the image (`--memory 2048m`)."""

    def __init__(self, mounts, env=None, container_port=8080, image=SERVE_IMAGE, docker_args=()):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        args = ["run", "-d", "-p", "127.0.0.1:%d:%d" % (self.port, container_port), *docker_args]
        for source, target in mounts.items():
            args += ["-v", "%s:%s:ro" % (source, target)]
        for key, value in (env or {}).items():
            args += ["-e", "%s=%s" % (key, value)]
        self.id = docker(*args, image, "serve").stdout.strip()

    def ping(self):
        try:
            return requests.get(self.url + "/ping", timeout=5)
        except requests.ConnectionError:
            return None

    def state(self):
        return json.loads(docker("inspect", "-f", "{{json .State}}", self.id).stdout)

    def wait_healthy(self):
        def healthy():
            if not self.state()["Running"]:
                raise AssertionError("the container exited:\n" + self.logs())
            response = self.ping()
            return response is not None and response.status_code == 200
        wait_for(healthy, STARTUP_TIMEOUT, 0.3, "/ping 200")
        return self

    def invoke(self, body, content_type, accept=None, path="/invocations", headers=None, timeout=60):
        all_headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {}), **(headers or {})}
        return requests.post(self.url + path, data=body, headers=all_headers, timeout=timeout)

    def logs(self):
        result = docker("logs", self.id, check=False)
        return result.stdout + result.stderr

    def remove(self):
        docker("rm", "-f", self.id, check=False)


@contextlib.contextmanager
def running(mounts, env=None, container_port=8080, image=SERVE_IMAGE, docker_args=()):
    container = Container(mounts, env, container_port, image, docker_args)
    try:
        yield container
    finally:
        container.remove()


# Run inside the container by its own Python: the image has no `ps`, and /proc is all it needs.
_LIST_PROCESSES = r"""
import json, os
rows = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            cmdline = f.read().split(b"\0")
        with open("/proc/%s/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/%s/comm" % pid) as f:
            comm = f.read().strip()
    except OSError:
        continue
    rows.append({"pid": int(pid), "ppid": int(fields[1]), "state": fields[0], "comm": comm,
                 "cmdline": [part.decode(errors="replace") for part in cmdline if part]})
print(json.dumps(rows))
"""


def processes(container):
    """The container's processes as {pid, ppid, state, comm, cmdline}, read from its /proc."""
    done = docker("exec", container.id, "python3", "-I", "-S", "-c", _LIST_PROCESSES)
    return [row for row in json.loads(done.stdout) if row["cmdline"] and row["state"] != "Z"]
