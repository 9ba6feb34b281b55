"""Every process of the inference image may die; under load, each SIGKILL ends in one of two ways
(README.md, "When a process dies"): requests succeed again within 2 s and the dead part is
replaced, or the container exits non-zero within 5 s so that SageMaker replaces it. (`docker stop`
still ends it with 0: test_serve_image.py.)

The processes are told apart by reading the container's /proc (the image has no `ps`). A process
of a kind this table does not know fails the census test: a new kind needs a row here."""
import threading
import time

import pytest
import requests

from answers import decode_output
from images import docker, wait_for
from serve_container import processes, readable, running
from serving_fixtures import json_body, trained_model  # noqa: F401

pytestmark = pytest.mark.container

RECOVERY_S = 2
EXIT_S = 5
# Long enough after the recovery to show that it lasts.
STEADY_S = 3
CONCURRENCY = 4
WORKERS = 2
# MMS restarts a dead backend after a back-off; this only bounds how long the test waits.
REPLACED_TIMEOUT_S = 60


def kind(process):
    """What a process of the container is, from its pid, parent, name and command line."""
    cmdline = " ".join(process["cmdline"])
    if process["pid"] == 1:
        return "serve"
    if "com.amazonaws.ml.mms.ModelServer" in cmdline:
        return "jvm"
    if "sagemaker_mnist_container.launcher" in cmdline:
        return "launcher"
    if "preload_client.py" in cmdline:
        return "worker-python"
    if process["comm"] == "mms-backend":
        return "backend"  # one per worker, forked by the listener
    if process["comm"] == "mms-listener":
        return "listener"  # MMS's backend for the model: listens on its socket, forks the backends
    if "sagemaker_mnist_container.preload" in cmdline:
        return "preloader"
    if "-I -S -c" in cmdline and "/proc" in cmdline:
        return "census"  # the docker exec that lists them
    return "unknown: " + cmdline


def exited(container):
    """Waits EXIT_S for the container's exit; if it still runs, fails with what runs in it and
    the end of its log."""
    try:
        wait_for(lambda: not container.state()["Running"], EXIT_S, 0.1, "the container's exit")
    except TimeoutError as e:
        # Java's stack frames left out: the lines around them tell what happened.
        lines = [line for line in container.logs().splitlines()
                 if not line.lstrip().startswith("at ") and not line.lstrip().startswith("... ")]
        raise AssertionError("%s; still running: %s; the log ends:\n%s"
                             % (e, census(container), "\n".join(lines)[-8000:])) from None


def census(container):
    """{kind: [pids]} of the container's running processes."""
    kinds = {}
    for process in processes(container):
        kinds.setdefault(kind(process), []).append(process["pid"])
    kinds.pop("census", None)
    return kinds


class Load:
    """CONCURRENCY clients sending one real digit each, as fast as answered; every answer is
    recorded as (start, end, ok), where ok means 200 with the right digit."""

    def __init__(self, container, model):
        self.url = container.url + "/invocations"
        self.model = model
        self.results = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(CONCURRENCY)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=70)

    def _client(self, number):
        session = requests.Session()
        index = self.model.correct[number % len(self.model.correct)]
        body, label = json_body(self.model.images[index:index + 1]), int(self.model.labels[index])
        while not self.stopping.is_set():
            start = time.monotonic()
            try:
                response = session.post(self.url, data=body, headers={"Content-Type": "application/json"},
                                        timeout=30)
                ok = response.status_code == 200 and \
                    int(decode_output(response.content, response.headers["Content-Type"])[0][0]) == label
            except requests.RequestException:
                session = requests.Session()
                ok = False
            self.results.append((start, time.monotonic(), ok))

    def answered_since(self, moment):
        return [ok for start, _, ok in list(self.results) if start >= moment]

    def failures_started_after(self, moment):
        return [(start, end) for start, end, ok in list(self.results) if start >= moment and not ok]


def kill(container, pids):
    # By the container's own Python, as its user: the image has no kill(1).
    docker("exec", container.id, "python3", "-I", "-S", "-c",
           "import os, sys\nfor pid in sys.argv[1:]: os.kill(int(pid), 9)", *map(str, pids))
    return time.monotonic()


@pytest.fixture(scope="module")
def endpoint(trained_model, tmp_path_factory):  # noqa: F811
    model_dir = readable(trained_model.copy_to(tmp_path_factory.mktemp("kills") / "model"))
    with running({model_dir: "/opt/ml/model"}, {"SAGEMAKER_MODEL_SERVER_WORKERS": str(WORKERS)}) as container:
        container.wait_healthy()
        wait_for(lambda: len(census(container).get("backend", [])) == WORKERS, REPLACED_TIMEOUT_S, 0.3,
                 "%d backends" % WORKERS)
        yield container


def test_every_process_is_of_a_known_kind(endpoint):
    kinds = census(endpoint)
    assert not [k for k in kinds if k.startswith("unknown")], kinds
    assert {k: len(pids) for k, pids in kinds.items()} == {
        "serve": 1, "preloader": 1, "launcher": 1, "jvm": 1, "worker-python": 1, "listener": 1, "backend": WORKERS}


def _replaced(container, victim_kind, killed, count):
    def back():
        pids = census(container).get(victim_kind, [])
        return len(pids) == count and not set(pids) & set(killed)
    return back


# In this order on one container: the preloader's case is followed by a backend's, which must be
# replaced although the preloader that forked it is gone.
RECOVERING = [
    ("one backend", "backend", 1),
    ("every backend", "backend", WORKERS),
    ("the preloader", "preloader", 1),
    ("a backend after the preloader", "backend", 1),
    ("the launcher", "launcher", 1),
]


@pytest.mark.parametrize("victim_kind, how_many", [(k, n) for _, k, n in RECOVERING], ids=[i for i, _, _ in RECOVERING])
def test_a_killed_part_is_replaced_and_requests_succeed_again(endpoint, trained_model, victim_kind, how_many):  # noqa: F811
    before = census(endpoint)
    victims = before[victim_kind][:how_many]
    with Load(endpoint, trained_model) as load:
        wait_for(lambda: sum(load.answered_since(0)) >= 20, 30, 0.1, "answers before the kill")
        killed_at = kill(endpoint, victims)
        if victim_kind != "launcher":  # nothing restarts the launcher: the JVM does not need it
            wait_for(_replaced(endpoint, victim_kind, victims, len(before[victim_kind])), REPLACED_TIMEOUT_S, 0.2,
                     "%s replaced" % victim_kind)
        wait_for(lambda: time.monotonic() > killed_at + RECOVERY_S + STEADY_S, RECOVERY_S + STEADY_S + 60, 0.1)
        recovered = killed_at + RECOVERY_S
        late_failures = load.failures_started_after(recovered)
        answered_late = load.answered_since(recovered)
    assert not late_failures, "%d requests started more than %d s after the kill failed (of %d):\n%s" % (
        len(late_failures), RECOVERY_S, len(answered_late), endpoint.logs()[-4000:])
    assert len(answered_late) >= STEADY_S, "too few requests answered after the recovery"
    assert endpoint.ping().status_code == 200
    after = census(endpoint)
    assert len(after["backend"]) == WORKERS and len(after["listener"]) == 1, after
    assert docker("inspect", "-f", "{{.State.Running}}", endpoint.id).stdout.strip() == "true"


# MMS 1.1.11 never starts the model's listener again once it has ended (its workers only try to
# reconnect to its socket), whichever of the two processes was killed: `serve` is told and exits 1.
EXITING = {
    "jvm": "the model server (its JVM) ended with status 137",
    "listener": "the model's backend (mms/model_service_worker.py, pid",
    "worker-python": "the model's backend (mms/model_service_worker.py, pid",
    # The listener then has no parent of its own to report it: worker-python does.
    "listener after the preloader": "the model's backend (mms/model_service_worker.py, pid",
    "serve": None,
}


@pytest.mark.parametrize("victim_kind", list(EXITING))
def test_a_killed_server_ends_the_container_with_a_non_zero_status(trained_model, tmp_path, victim_kind):  # noqa: F811
    model_dir = readable(trained_model.copy_to(tmp_path / "model"))
    with running({model_dir: "/opt/ml/model"}, {"SAGEMAKER_MODEL_SERVER_WORKERS": str(WORKERS)}) as container:
        container.wait_healthy()
        with Load(container, trained_model) as load:
            wait_for(lambda: sum(load.answered_since(0)) >= 20, 30, 0.1, "answers before the kill")
            if victim_kind == "serve":
                # PID 1 ignores signals sent from inside its own namespace; SIGKILL from outside ends it.
                docker("kill", "-s", "KILL", container.id)
            elif victim_kind == "listener after the preloader":
                old = census(container)["preloader"]
                kill(container, old)
                wait_for(lambda: census(container).get("preloader", old) != old, REPLACED_TIMEOUT_S, 0.2,
                         "the preloader's replacement")
                kill(container, census(container)["listener"])
            else:
                kill(container, census(container)[victim_kind])
            exited(container)
        state = container.state()
        logs = container.logs()
    if victim_kind == "serve":
        assert state["ExitCode"] == 137
    else:
        assert state["ExitCode"] == 1, logs[-3000:]
        assert EXITING[victim_kind] in logs and "without being asked to stop" in logs, logs[-3000:]


def test_a_killed_listener_ends_a_multi_model_endpoint_and_an_unload_does_not(trained_model, tmp_path):  # noqa: F811
    models = tmp_path / "models"
    for name in ("first", "second"):
        trained_model.copy_to(models / name / "model")
    readable(models)
    with running({models: "/opt/ml/models"}, {"SAGEMAKER_MULTI_MODEL": "true",
                                              "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}) as container:
        container.wait_healthy()
        models_url = container.url + "/models"
        for name in ("first", "second"):
            response = requests.post(models_url, json={"model_name": name, "url": "/opt/ml/models/%s/model" % name},
                                     timeout=180)
            assert response.status_code == 200, response.text
        assert len(census(container)["listener"]) == 2
        # Unloading kills that model's processes (MMS kills its worker-python): not a crash.
        assert requests.delete(models_url + "/first", timeout=60).status_code == 200
        wait_for(lambda: len(census(container).get("listener", [])) == 1, 30, 0.2, "the unloaded model's listener gone")
        body = json_body(trained_model.images[:2])
        invoked = requests.post(models_url + "/second/invoke", data=body,
                                headers={"Content-Type": "application/json"}, timeout=30)
        assert invoked.status_code == 200, invoked.text
        assert container.state()["Running"]
        # A listener that dies on its own leaves its model unanswerable for good (MMS 1.1.11):
        # the container ends, and SageMaker replaces it.
        kill(container, census(container)["listener"])
        exited(container)
        state, logs = container.state(), container.logs()
    assert state["ExitCode"] == 1, logs[-3000:]
    assert "the model's backend (mms/model_service_worker.py, pid" in logs, logs[-3000:]
