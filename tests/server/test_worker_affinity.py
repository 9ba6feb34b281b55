"""Worker affinity (mms_plugin/WorkerAffinity.java): the MMS worker that became idle last takes the
next request. Checked on MMS's own Model class as the plugin agent rewrites it (driven by
tests/server/java/WorkerAffinityCheck.java, with and without the agent's rewrite), and on a real
server: one request at a time stays on one backend, concurrent requests still use every worker."""
import json
import pathlib
import subprocess
import textwrap
import threading

import pytest

from mnist_container import plugin
from mnist_container.settings import DEFAULT_VMARGS
from serving_fixtures import ModelServer, json_body

pytestmark = pytest.mark.server

HARNESS = pathlib.Path(__file__).resolve().parent / "java" / "WorkerAffinityCheck.java"
STOCK_ORDER = "-Dmnist.worker_affinity=false"


@pytest.fixture(scope="module")
def harness(plugin_jar, tmp_path_factory):
    classes = tmp_path_factory.mktemp("harness")
    plugin.javac([HARNESS], classes, [plugin.model_server_jar()])

    def run(*vmargs):
        command = ["java", *vmargs, "-javaagent:%s" % plugin_jar,
                   "-cp", "%s:%s" % (plugin.model_server_jar(), classes), "WorkerAffinityCheck"]
        # cwd: MMS's logging configuration writes a logs/ folder where the JVM runs.
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=classes)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run


def test_mms_model_hands_each_job_to_the_last_idle_worker(harness):
    result = harness()
    assert result["lock"] == "mnist.mms.PassThroughLock"
    assert result["queue"] == "mnist.mms.WorkerAffinityQueue"
    # One job at a time, each after both workers are idle again: the same worker takes every one.
    assert sorted(result["sequential"].values()) == [40]
    # Forty jobs at once to workers that take 5 ms each: both work.
    assert sum(result["concurrent"].values()) == 40 and min(result["concurrent"].values()) >= 5
    # Batches fill as in stock MMS: four jobs within the batch delay are one batch, not split.
    assert result["batches"] == [4]
    # A worker stopped (interrupted) while waiting takes nothing with it: the other one answers.
    assert result["interrupted_in_poll"] is True
    assert result["served_after_stop_by"] == "worker-0"
    # The job queue keeps MMS's capacity (a full queue refuses, MMS answers 503) and its order.
    assert result["accepted"] == [True, True, False]
    assert result["stored_order_kept"] is True


def test_without_the_rewrite_mms_alternates_its_workers(harness):
    result = harness(STOCK_ORDER)
    assert result["lock"] == "java.util.concurrent.locks.ReentrantLock"
    assert result["queue"] == "java.util.concurrent.LinkedBlockingDeque"
    # Stock MMS: the worker waiting behind the lock takes the next job, so both share the work.
    assert len(result["sequential"]) == 2 and min(result["sequential"].values()) >= 5
    assert result["batches"] == [4]
    assert result["accepted"] == [True, True, False]
    assert result["stored_order_kept"] is True


WHICH_BACKEND = """
    import json
    import os
    import time
    from mnist.inference import input_fn, model_fn, predict_fn
    def output_fn(prediction, accept):
        time.sleep(0.02)  # long enough that concurrent requests find the first worker busy
        return json.dumps({"pid": os.getpid(), "digits": prediction.argmax(1).tolist()}), "application/json"
"""


def _backends(server, body, clients, requests_each):
    pids, errors = [], []

    def client():
        for _ in range(requests_each):
            response = server.invoke(body, "application/json")
            if response.status_code != 200:
                errors.append(response.text)
            else:
                pids.append(response.json()["pid"])

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]
    return {pid: pids.count(pid) for pid in set(pids)}


@pytest.mark.parametrize("vmargs", [None, STOCK_ORDER])
def test_a_server_keeps_one_request_at_a_time_on_one_backend(trained_model, plugin_jar, tmp_path, vmargs):
    model_dir = trained_model.copy_to(tmp_path / "model")
    (model_dir / "code" / "inference.py").write_text(textwrap.dedent(WHICH_BACKEND))
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}
    if vmargs:
        env["SAGEMAKER_MODEL_SERVER_VMARGS"] = DEFAULT_VMARGS + " " + vmargs
    body = json_body(trained_model.images[:1])
    with ModelServer(tmp_path / "server", plugin_jar, model_dir, env, preload=True) as server:
        server.wait_healthy()
        answer = server.invoke(body, "application/json").json()
        assert answer["digits"] == trained_model.predicted[:1].tolist()
        sequential = _backends(server, body, clients=1, requests_each=30)
        if vmargs == STOCK_ORDER:
            # MMS's own order: its two workers take turns.
            assert len(sequential) == 2 and min(sequential.values()) >= 10, sequential
        else:
            # The worker idle last takes each request. (A worker thread descheduled between its
            # answer and its next wait is not idle yet; the other one then rightly takes one.)
            assert max(sequential.values()) >= 28, sequential
        concurrent = _backends(server, body, clients=8, requests_each=5)
        assert len(concurrent) == 2 and sum(concurrent.values()) == 40, concurrent
