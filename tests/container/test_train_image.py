"""The training image under a real Docker engine, run as SageMaker runs it.

SageMaker starts the container with `train` as its command (SDK v2, the API) or with none (SDK v3
ModelTrainer), with /opt/ml/input, /opt/ml/model, /opt/ml/output and /opt/ml/checkpoints provided
by the platform and the host named after its place in the job (algo-1). These tests mount each of
those from a temporary /opt/ml tree, never all of /opt/ml.
"""
import json
import uuid

import pytest

from images import DOCKER, TRAIN_IMAGE, docker
from sagemaker_mnist import checkpoints
from sagemaker_mnist.failures import EXIT_STOPPED
from support import REPO, write_subset
from training_job import (TEST_RUNTIME_ENV, TINY_ACCURACY, TINY_TEST, TINY_TRAIN, Running, hidden_files,
                          metrics, same_epoch, saved_model_accuracy, sdk2_framework, sdk2_generic, sdk3,
                          tiny_job)

pytestmark = pytest.mark.container

HOST = "algo-1"
TIMEOUT = 300


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    return write_subset(tmp_path_factory.mktemp("subset"), TINY_TRAIN, TINY_TEST)


def _job(root, subset, encode=sdk2_framework, hyperparameters=None):
    return tiny_job(root, subset, hyperparameters, encode=encode, hosts=(HOST,))


# What SageMaker mounts under /opt/ml, each from the folder of that name in the job's tree.
MOUNTS = {"input": "rw", "model": "rw", "output": "rw", "checkpoints": "rw"}


def docker_run(job, name, command=("train",), mounts=None, options=()):
    """`docker run` as SageMaker does it: the job's directories mounted one by one, the host
    named algo-1 (the toolkit waits until every host of the job resolves). `mounts` changes or
    adds to MOUNTS: {folder under /opt/ml: "rw", "ro", or "tmpfs:OPTIONS" (a fresh tmpfs)};
    `options` go to docker run as they are."""
    cmd = [DOCKER, "run", "--name", name, "--hostname", HOST, *options]
    for folder, mode in {**MOUNTS, **(mounts or {})}.items():
        target = "/opt/ml/" + folder
        if mode.startswith("tmpfs:"):
            cmd += ["--tmpfs", "%s:%s" % (target, mode[len("tmpfs:"):])]
        else:
            (job.root / folder).mkdir(parents=True, exist_ok=True)
            cmd += ["-v", "%s:%s%s" % (job.root / folder, target, ":ro" if mode == "ro" else "")]
    for key, value in TEST_RUNTIME_ENV.items():
        cmd += ["-e", "%s=%s" % (key, value)]
    return cmd + [TRAIN_IMAGE, *command]


class Container:
    """One `docker run` of the image (docker_run's arguments), removed afterwards whatever happened."""

    def __init__(self, job, command=("train",), mounts=None, options=()):
        self.name = "mnist-train-test-" + uuid.uuid4().hex[:10]
        self.running = Running(docker_run(job, self.name, command, mounts, options))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        docker("rm", "-f", self.name, check=False, timeout=60)
        self.running.kill()

    def wait(self, timeout=TIMEOUT):
        return self.running.wait(timeout)


def _run(job, command=("train",)):
    with Container(job, command) as container:
        code, _, log = container.wait()
    return code, log


# Each SDK's encoding, and the command line it gets: SDK v3 ModelTrainer gives none.
RUNS = {"sdk2-framework": (sdk2_framework, ("train",)), "sdk2-generic": (sdk2_generic, ("train",)),
        "sdk3-no-command": (sdk3, ())}


@pytest.fixture(scope="module")
def image_runs(tmp_path_factory, subset):
    runs = {}
    for name, (encode, command) in RUNS.items():
        job = _job(tmp_path_factory.mktemp(name), subset, encode)
        runs[name] = (job, *_run(job, command))
    return runs


@pytest.mark.parametrize("name", sorted(RUNS))
def test_image_trains_and_leaves_the_artifact_and_report(image_runs, name):
    job, code, log = image_runs[name]
    assert code == 0, log
    assert (job.output / "success").exists() and job.failure is None
    lines = metrics(log)
    assert [m["epoch"] for m in lines] == [1, 2]
    accuracy = saved_model_accuracy(job.model)
    assert accuracy >= TINY_ACCURACY
    assert accuracy == pytest.approx(lines[-1]["test_accuracy"], abs=1e-6)
    assert (job.model / "code" / "sagemaker_mnist" / "model.py").exists()
    if (REPO / "code" / "inference.py").exists():
        assert (job.model / "code" / "inference.py").read_text() == (REPO / "code" / "inference.py").read_text()
    report = json.loads((job.output_data / "metrics.json").read_text())
    assert report["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    for figure in ("confusion_matrix.png", "misclassified.png", "curves.png"):
        assert (job.output_data / figure).stat().st_size > 1000
    assert checkpoints.load(str(job.checkpoints))["epoch"] == 2
    assert not hidden_files(job.model, job.output_data, job.checkpoints)


def test_every_sdk_gives_the_same_run_in_the_image(image_runs):
    results = {}
    for name, (_, code, log) in image_runs.items():
        assert code == 0, log
        results[name] = metrics(log)
    first = results.pop("sdk2-framework")
    for name, lines in results.items():
        assert all(same_epoch(a, b) for a, b in zip(lines, first)) and len(lines) == len(first), name


def test_docker_stop_checkpoints_and_the_next_job_resumes(tmp_path, subset, image_runs):
    job = _job(tmp_path / "opt_ml", subset)
    with Container(job) as container:
        container.running.wait_for_line(r"^#metrics epoch=1 ", timeout=TIMEOUT)
        # What StopTrainingJob and a spot interruption do: SIGTERM to the container's first
        # process, SIGKILL when the grace period ends; 30 s here, the deadline of a prompt stop.
        docker("stop", "--time", "30", container.name, timeout=120)
        code, _, log = container.wait(timeout=120)
    # Stopped, not killed (137): the trainer saved its checkpoint and exited 143, and so does the
    # container (the toolkit alone would exit 1).
    assert code == EXIT_STOPPED and "ExitCode %d" % EXIT_STOPPED in log, log
    assert "training stopped by SIGTERM" in job.failure and "resumes from it" in job.failure
    assert checkpoints.load(str(job.checkpoints))["step"] > 0
    assert not list(job.model.iterdir()) and not hidden_files(job.checkpoints)

    job.clear_outputs()
    code, log = _run(job)
    assert code == 0, log
    assert "resuming from checkpoint /opt/ml/checkpoints/checkpoint.pt: epoch 2 of 2" in log
    reference = metrics(image_runs["sdk2-framework"][2])
    assert same_epoch(metrics(log)[-1], reference[-1])
    assert saved_model_accuracy(job.model) >= TINY_ACCURACY


def test_the_image_renders_printed_digits_from_its_own_fonts(tmp_path, subset):
    # printed-share with the image's system fonts only (fonts-dejavu, -liberation2, -freefont-ttf):
    # the image has them, and renders without the serving toolkit.
    hyperparameters = {"preset": "fast", "epochs": 1, "width": 8, "batch-size": 32, "printed-share": 0.2,
                       "printed-fonts": "system"}
    job = _job(tmp_path, subset, hyperparameters=hyperparameters)
    code, log = _run(job)
    assert code == 0, log[-3000:]
    assert "(500 of them printed, from" in log
    lines = metrics(log)
    # One tiny epoch: the kind head already tells most printed digits (a printed 1 is the last
    # to tell from a handwritten one).
    assert lines[-1]["printed_kind_accuracy"] > 0.75 and lines[-1]["printed_accuracy"] > 0.5, lines[-1]
    assert json.loads((job.model / "model.json").read_text()) == {"width": 8, "kinds": True}
