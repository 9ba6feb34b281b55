"""Cold start of a real inference image, for bench/serve_speed.py: seconds from `docker run` to a
healthy /ping, and to the first answered invocation."""
import http.client
import json
import os
import subprocess
import time

from harness import bodies
from harness.digits import mnist
from harness.model_server import free_port

DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"


def docker(*args, **kwargs):
    return subprocess.run([DOCKER, *args], check=True, capture_output=True, text=True, **kwargs)


def cold_start(image, model_dir, stock):
    """(seconds to /ping 200, seconds to the first answer) of `image` serving `model_dir`: through
    `serve`, or with `stock`, sagemaker-inference's start_model_server and its default handler."""
    port = free_port()
    args = ["run", "-d", "-p", "127.0.0.1:%d:8080" % port, "-v", "%s:/opt/ml/model:ro" % model_dir]
    if stock:
        args += ["--entrypoint", "python3", image, "-c",
                 "from sagemaker_inference import model_server; model_server.start_model_server()"]
    else:
        args += [image, "serve"]
    body = bodies.json_body(mnist("t10k")[0][0]).encode()
    started = time.monotonic()
    container = docker(*args).stdout.strip()
    healthy = answered = None
    try:
        while time.monotonic() - started < 300:
            now = time.monotonic()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                if healthy is None:
                    connection.request("GET", "/ping")
                    response = connection.getresponse()
                    response.read()
                    if response.status == 200:
                        healthy = now - started
                if healthy is not None:
                    connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
                    response = connection.getresponse()
                    response.read()
                    if response.status == 200:
                        answered = time.monotonic() - started
                        break
                connection.close()
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
    finally:
        subprocess.run([DOCKER, "rm", "-f", container], capture_output=True)
    return healthy, answered


def readable(path):
    """Makes a model folder readable by the image's serving user."""
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def image_facts(name):
    """The cold starts' image: its id, tags (build.sh tags the commit it was built from) and date."""
    try:
        inspected = json.loads(docker("image", "inspect", name).stdout)[0]
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return {"name": name}
    return {"name": name, "id": inspected["Id"], "tags": inspected.get("RepoTags") or [],
            "created": inspected.get("Created")}
