"""What the container tests share: image names, the docker client, and polling with deadlines."""
import os
import shutil
import socket
import subprocess
import time

from support import REPO

TRAIN_IMAGE = os.environ.get("TRAIN_IMAGE", "mnist-pytorch-training:latest")
SERVE_IMAGE = os.environ.get("SERVE_IMAGE", "mnist-pytorch-inference:latest")
# The same Dockerfile.serve with PyTorch's CPU build (./build.sh --cpu).
SERVE_CPU_IMAGE = os.environ.get("SERVE_CPU_IMAGE", "mnist-pytorch-inference-cpu:latest")
SERVE_IMAGES = {"cuda": SERVE_IMAGE, "cpu": SERVE_CPU_IMAGE}

# Debian's client speaks BuildKit to this engine; a static client first on PATH may not.
DOCKER = os.environ.get("DOCKER") or ("/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker"))


def docker(*args, check=True, timeout=600, **kwargs):
    """Runs the docker CLI; returns the CompletedProcess (text mode)."""
    return subprocess.run([DOCKER, *args], check=check, timeout=timeout, capture_output=True, text=True, **kwargs)


def engine_answers():
    try:
        return DOCKER is not None and docker("info", check=False, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def image_exists(name):
    return docker("image", "inspect", name, check=False).returncode == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, interval=0.2, what="condition"):
    """Polls predicate() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("%s not met within %s s" % (what, timeout))
        time.sleep(interval)


def build_sh(*args, env=None, timeout=1800):
    """Runs ./build.sh from the repository root."""
    return subprocess.run(
        ["./build.sh", *args], cwd=REPO, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=timeout,
    )


def require_engine_and_images():
    """Fails the session with what to do when the engine or the built images are missing."""
    import pytest

    if not engine_answers():
        pytest.fail("no Docker engine answers: run scripts/install-docker-engine.sh")
    missing = [name for name in (TRAIN_IMAGE, SERVE_IMAGE, SERVE_CPU_IMAGE) if not image_exists(name)]
    if missing:
        pytest.fail("images not built: %s; run ./build.sh --cpu" % ", ".join(missing))
