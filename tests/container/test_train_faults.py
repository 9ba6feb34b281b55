"""Every way a training job fails, one row each, in the real image run as SageMaker runs it.

Each row breaks the tiny job one way (training_job.FAILURES, which the contract tests also run
without Docker, then the faults only Docker makes: a read-only or full mount, a signal, a killed
process), runs the image and checks what SageMaker would see: the container's exit status (143
when stopped, 1 for everything else), and one line in /opt/ml/output/failure (its FailureReason)
holding the row's key words and no traceback or toolkit report. Where /opt/ml/output itself
cannot be written, the line is in the log. Rows that fail before training check that no epoch ran.
"""
from dataclasses import dataclass, field

import pytest

from images import docker
from sagemaker_mnist import checkpoints
from sagemaker_mnist.failures import EXIT_FAILURE, EXIT_STOPPED
from support import write_subset
from test_train_image import HOST, TIMEOUT, Container
from training_job import (FAILURES, NEVER_IN_FAILURE, TINY_HYPERPARAMETERS, TINY_TEST, TINY_TRAIN,
                          assert_one_actionable_line, metrics, sdk2_framework, tiny_job)

pytestmark = pytest.mark.container

# Long enough that a signal sent once training has started finds it still training.
LONG = dict(TINY_HYPERPARAMETERS, epochs=30)
ONE_EPOCH = dict(TINY_HYPERPARAMETERS, epochs=1)


@dataclass(frozen=True)
class Fault:
    id: str
    breaker: object = None  # (job) -> None: breaks the tiny job's files
    words: tuple = ()  # what the failure line holds
    status: int = EXIT_FAILURE  # the container's exit status
    hyperparameters: dict = None  # instead of TINY_HYPERPARAMETERS
    mounts: dict = field(default_factory=dict)  # docker_run's: {folder under /opt/ml: "ro" | "tmpfs:..."}
    options: tuple = ()  # docker run options
    during: object = None  # (container) -> None: acts on the container while it runs
    in_log: bool = False  # no failure file can be written: the line is in the log
    trains: bool = False  # the fault comes after training started


def _when_training(act):
    def during(container):
        container.running.wait_for_line(r"^training on ", timeout=TIMEOUT)
        act(container)
    return during


def _stop(container):
    # What StopTrainingJob and a spot interruption do: SIGTERM to the container's first process,
    # SIGKILL when the grace period ends (30 s here, the deadline of a prompt stop).
    docker("stop", "--time", "30", container.name, timeout=120)


def _kill_trainer(container):
    # What the kernel's out-of-memory killer does to the training process.
    docker("exec", container.name, "python", "-c",
           "import psutil\n"
           "for p in psutil.process_iter(['cmdline']):\n"
           "    if any(a.endswith('train.py') for a in p.info['cmdline'] or []): p.kill()", timeout=60)


def _wait_for_the_hosts(container):
    # The toolkit waits (up to 15 minutes) for every host's name to resolve before it starts the
    # training process; stopped then, the job has nothing to save.
    container.running.wait_for_line(r"Imported framework sagemaker_mnist_container", timeout=TIMEOUT)
    _stop(container)


def _two_hosts(job):
    job.hosts = (HOST, "algo-2")
    job.write_config()


FAULTS = [Fault(case, breaker, words) for case, breaker, words in FAILURES] + [
    Fault("model-read-only", mounts={"model": "ro"},
          words=("/opt/ml/model is not writable (Read-only file system)", "saves the model there",
                 "mount it read-write")),
    Fault("checkpoints-read-only", mounts={"checkpoints": "ro"},
          words=("/opt/ml/checkpoints is not writable (Read-only file system)",
                 "a checkpoint there every epoch")),
    Fault("output-data-read-only", mounts={"output/data": "ro"},
          words=("/opt/ml/output/data is not writable (Read-only file system)", "evaluation report")),
    Fault("output-read-only", mounts={"output": "ro"}, in_log=True,
          words=("/opt/ml/output is not writable (Read-only file system)", "failure and success files")),
    Fault("checkpoints-full", mounts={"checkpoints": "tmpfs:size=8k"}, hyperparameters=ONE_EPOCH, trains=True,
          words=("no space left to write /opt/ml/checkpoints/checkpoint.pt", "larger volume")),
    Fault("model-full", mounts={"model": "tmpfs:size=4k"}, hyperparameters=ONE_EPOCH, trains=True,
          words=("no space left to write /opt/ml/model", "larger volume")),
    Fault("sigterm-while-training", hyperparameters=LONG, during=_when_training(_stop), status=EXIT_STOPPED,
          trains=True, words=("training stopped by SIGTERM",
                              "checkpoint saved to /opt/ml/checkpoints/checkpoint.pt", "resumes from it")),
    Fault("sigterm-before-training", breaker=_two_hosts, options=("--network", "none"),
          during=_wait_for_the_hosts, status=EXIT_STOPPED,
          words=("training stopped by SIGTERM before the training process started", "nothing was trained")),
    Fault("trainer-killed", hyperparameters=LONG, during=_when_training(_kill_trainer), trains=True,
          words=("the MNIST trainer (train.py) was killed by SIGKILL", "out-of-memory killer")),
]


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    return write_subset(tmp_path_factory.mktemp("subset"), TINY_TRAIN, TINY_TEST)


def run_fault(fault, root, subset):
    """Runs the image on the tiny job broken as `fault` says; returns (job, exit status, log)."""
    job = tiny_job(root, subset, fault.hyperparameters, encode=sdk2_framework, hosts=(HOST,))
    if fault.breaker:
        fault.breaker(job)
    mounts = dict(fault.mounts)
    if (job.root / "code").exists():
        mounts["code"] = "rw"
    with Container(job, mounts=mounts, options=fault.options) as container:
        if fault.during:
            fault.during(container)
        code, _, log = container.wait(timeout=TIMEOUT)
    return job, code, log


def test_the_table_has_at_least_twenty_faults_with_distinct_ids():
    ids = [f.id for f in FAULTS]
    assert len(ids) >= 20 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_fault_fails_the_job_with_one_actionable_line(tmp_path, subset, fault):
    job, code, log = run_fault(fault, tmp_path / "opt_ml", subset)
    assert code == fault.status, log
    if fault.in_log:
        assert job.failure is None
        (line,) = [line for line in log.splitlines()
                   if line.startswith("FAILURE: ") and "could not be written" not in line]
        assert_one_actionable_line(line[len("FAILURE: "):] + "\n", fault.words)
    else:
        assert_one_actionable_line(job.failure, fault.words)
        # The same line is in the log, for CloudWatch.
        assert "FAILURE: " + job.failure.strip() in log
    assert not (job.output / "success").exists()
    if not fault.trains:
        assert not metrics(log), log
    if "model" not in fault.mounts:
        assert not list(job.model.iterdir())
    if fault.status == EXIT_STOPPED and fault.trains:
        # Stopped mid-training: the checkpoint the line names is there and resumes.
        assert checkpoints.load(str(job.checkpoints))["epoch"] < LONG["epochs"]


def test_no_row_expects_what_no_line_may_hold():
    for fault in FAULTS:
        assert not any(bad in word for word in fault.words for bad in NEVER_IN_FAILURE), fault.id
