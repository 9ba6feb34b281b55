"""The inference images within the memory SageMaker gives them: `docker run --memory 2048m` (a
serverless endpoint's 2048 MB; the container sizes its workers and JVM heap from the cgroup, as
sagemaker_mnist_container.memory plans), under concurrent load, and with one 100 MB CSV request
as an asynchronous endpoint sends it once its payload and timeout settings are raised. No process
may be killed for memory, and every answer must be the model's. Both images (`serve_image`)."""
import concurrent.futures
import os

import numpy as np
import pytest
import requests

from answers import decode_output
from images import docker, wait_for
from serve_container import STARTUP_TIMEOUT, processes, readable, running
from sagemaker_mnist_container import memory
from serving_fixtures import csv_body, json_body, npy_body, trained_model  # noqa: F401

pytestmark = pytest.mark.container

# The smallest memory these tests hold the images to, with no swap to fall back on.
MEMORY_MB = 2048
LIMITED = ("--memory", "%dm" % MEMORY_MB, "--memory-swap", "%dm" % MEMORY_MB)
CLIENTS = 16
REQUESTS_PER_CLIENT = 25
BIG_CSV_BYTES = 100 * 2**20
ASYNC_ENV = {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "128", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "600"}


def _labels(response):
    assert response.status_code == 200, response.text[:500]
    return decode_output(response.content, response.headers["Content-Type"])[0]


def _peak_memory_mb(container):
    """The cgroup's highest usage so far, read inside the container (v2 memory.peak, v1
    memory.max_usage_in_bytes); None where the kernel keeps neither."""
    for path in ("/sys/fs/cgroup/memory.peak", "/sys/fs/cgroup/memory/memory.max_usage_in_bytes"):
        done = docker("exec", container.id, "cat", path, check=False)
        if done.returncode == 0 and done.stdout.strip().isdigit():
            return int(done.stdout) // 2**20
    return None


def _jvm_arguments(container):
    (jvm,) = [p["cmdline"] for p in processes(container) if "com.amazonaws.ml.mms.ModelServer" in p["cmdline"]]
    return jvm


def _wait_for_workers(container, count):
    def ready():
        workers = requests.get(container.url + "/models/model", timeout=10).json()["workers"]
        return [worker["status"] for worker in workers] == ["READY"] * count
    wait_for(ready, STARTUP_TIMEOUT, 0.5, "%d workers ready" % count)


def _oom_kills(container):
    """How many of the container's processes the kernel killed for memory (v2 memory.events, v1
    memory.oom_control: `oom_kill N`). Docker's OOMKilled tells only of its first process."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        done = docker("exec", container.id, "cat", path, check=False)
        counts = dict(line.split() for line in done.stdout.splitlines() if len(line.split()) == 2)
        if done.returncode == 0 and "oom_kill" in counts:
            return int(counts["oom_kill"])
    raise AssertionError("the container's cgroup counts no oom_kill")


def _not_killed(container):
    state, logs = container.state(), container.logs()
    assert not state["OOMKilled"] and state["Running"], logs[-3000:]
    assert _oom_kills(container) == 0, logs[-3000:]
    assert "Worker disconnected" not in logs and "Backend worker process died" not in logs, logs[-3000:]


def test_under_load_in_2048_mb(trained_model, tmp_path, serve_image):  # noqa: F811
    model_dir = readable(trained_model.copy_to(tmp_path / "model"))
    plan = memory.plan(MEMORY_MB * 2**20, len(os.sched_getaffinity(0)), 6)
    with running({model_dir: "/opt/ml/model"}, image=serve_image, docker_args=LIMITED) as container:
        container.wait_healthy()
        _wait_for_workers(container, plan.workers)
        assert "-Xmx%dm" % plan.heap_mb in _jvm_arguments(container)
        images, predicted = trained_model.images[:50], trained_model.predicted[:50]
        bodies = [(json_body(images), "application/json"), (csv_body(images), "text/csv"),
                  (npy_body(images), "application/x-npy")]

        def client(number):
            with requests.Session() as session:
                for i in range(REQUESTS_PER_CLIENT):
                    body, content_type = bodies[(number + i) % len(bodies)]
                    response = session.post(container.url + "/invocations", data=body, timeout=120,
                                            headers={"Content-Type": content_type})
                    np.testing.assert_array_equal(_labels(response), predicted)
            return REQUESTS_PER_CLIENT

        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            answered = sum(pool.map(client, range(CLIENTS)))
        assert answered == CLIENTS * REQUESTS_PER_CLIENT
        _not_killed(container)
        print("%s: %d workers, heap %d MB, peak %s MB of %d" % (serve_image, plan.workers, plan.heap_mb,
                                                               _peak_memory_mb(container), MEMORY_MB))


def test_one_100_mb_csv_request_in_2048_mb(trained_model, tmp_path, serve_image):  # noqa: F811
    model_dir = readable(trained_model.copy_to(tmp_path / "model"))
    rows = csv_body(trained_model.images).encode().splitlines(keepends=True)
    # The test digits over and over, to 100 MB: row i is test digit i % len(rows).
    per_pass = sum(map(len, rows))
    passes = -(-BIG_CSV_BYTES // per_pass)
    body = b"".join(rows) * passes
    count = passes * len(rows)
    assert len(body) >= BIG_CSV_BYTES
    with running({model_dir: "/opt/ml/model"}, ASYNC_ENV, image=serve_image, docker_args=LIMITED) as container:
        container.wait_healthy()
        response = container.invoke(body, "text/csv", accept="text/csv", timeout=900)
        assert response.status_code == 200, response.text[:500] + container.logs()[-5000:]
        labels = _labels(response)
        assert len(labels) == count == response.content.count(b"\n")
        np.testing.assert_array_equal(labels, np.tile(trained_model.predicted, passes))
        _not_killed(container)
        print("%s: %d rows in %.1f MB, peak %s MB of %d" % (serve_image, count, len(body) / 2**20,
                                                           _peak_memory_mb(container), MEMORY_MB))
