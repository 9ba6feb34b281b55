"""Script mode on two hosts: two containers of the training image, as SageMaker runs a job with
instance_count=2.

SageMaker puts a job's hosts on one network where each resolves the others by name (algo-1,
algo-2). Here that is a user-defined Docker network of its own, internal (no route out of it),
with each container reachable by its host name; nothing is published. Each container gets its
own /opt/ml tree (its resourceconfig.json names it the current host) and its own copy of the
user's code at /opt/ml/code, as local mode mounts a source_dir.
"""
import json
import shutil
import time
import uuid

import pytest

from images import DOCKER, TRAIN_IMAGE, docker
from support import REPO
from training_job import TEST_RUNTIME_ENV, OptMl, Running, sdk2_framework

pytestmark = pytest.mark.container

HOSTS = ("algo-1", "algo-2")
USER_SCRIPT = REPO / "tests" / "container" / "user_script" / "all_reduce.py"
TIMEOUT = 300
# What AWS's PyTorch training images give every job (sagemaker_mnist_container.training).
AWS_ENVIRONMENT = {"MASTER_ADDR": "algo-1", "MASTER_PORT": "7777", "NCCL_SOCKET_IFNAME": "eth0",
                   "NCCL_IB_DISABLE": "1", "NCCL_DEBUG": "WARN"}


def _script_mode(torchrun):
    """The hyperparameters SDK v2's PyTorch estimator sets for entry_point='all_reduce.py' and
    hyperparameters={'backend': 'gloo'}, code mounted as local mode does (local_code)."""
    hyperparameters = {"backend": "gloo", "sagemaker_program": USER_SCRIPT.name,
                       "sagemaker_submit_directory": "/opt/ml/code"}
    if torchrun:
        # distribution={"torch_distributed": {"enabled": True}}
        hyperparameters["sagemaker_torch_distributed_enabled"] = True
    return sdk2_framework(hyperparameters)


class _Cluster:
    """The job's hosts as containers on a network of their own; containers and network are
    removed at the end, whatever happened."""

    def __init__(self, root, hyperparameters, environment):
        self.tag = uuid.uuid4().hex[:10]
        self.network = "mnist-train-test-" + self.tag
        self.jobs, self.names, self.running = {}, [], []
        self.root, self.hyperparameters, self.environment = root, hyperparameters, environment

    def __enter__(self):
        docker("network", "create", "--internal", self.network, timeout=60)
        try:
            for host in HOSTS:
                job = OptMl(self.root / host, self.hyperparameters, hosts=HOSTS, current_host=host)
                code = self.root / host / "code"
                code.mkdir()
                shutil.copy(USER_SCRIPT, code)
                name = "mnist-train-test-%s-%s" % (self.tag, host)
                self.jobs[host] = job
                self.names.append(name)
                self.running.append(Running(self._docker_run(job, code, name, host)))
        except BaseException:
            self.__exit__()
            raise
        return self

    def _docker_run(self, job, code, name, host):
        mounts = [(job.root / "input", "/opt/ml/input"), (job.model, "/opt/ml/model"),
                  (job.output, "/opt/ml/output"), (job.checkpoints, "/opt/ml/checkpoints"),
                  (code, "/opt/ml/code")]
        cmd = [DOCKER, "run", "--name", name, "--hostname", host, "--network", self.network,
               "--network-alias", host]
        for source, target in mounts:
            cmd += ["-v", "%s:%s" % (source, target)]
        for key, value in {**TEST_RUNTIME_ENV, **self.environment}.items():
            cmd += ["-e", "%s=%s" % (key, value)]
        return cmd + [TRAIN_IMAGE, "train"]

    def wait(self, timeout=TIMEOUT):
        """Waits until every host has exited, or one has failed (the others would wait for it at
        the rendezvous); a host still running then is killed. Returns {host: (exit code, log)}."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            codes = [r.proc.poll() for r in self.running]
            if None not in codes or any(code not in (None, 0) for code in codes):
                break
            time.sleep(0.2)
        results = {}
        for host, r in zip(HOSTS, self.running):
            if r.proc.poll() is None:
                r.kill()
            code, _, log = r.wait(timeout=60)
            results[host] = (code, log)
        return results

    def __exit__(self, *exc):
        for name in self.names:
            docker("rm", "-f", name, check=False, timeout=60)
        for r in self.running:
            r.kill()
        docker("network", "rm", self.network, check=False, timeout=60)


RUNS = {
    # (torchrun, the container's own environment, what the script must see)
    "no-torchrun": (False, {}, AWS_ENVIRONMENT),
    "no-torchrun-user-port": (False, {"MASTER_PORT": "7788", "NCCL_DEBUG": "INFO"},
                              dict(AWS_ENVIRONMENT, MASTER_PORT="7788", NCCL_DEBUG="INFO")),
    # torchrun gives its workers the rendezvous it was started with (the toolkit's algo-1:7777).
    "torchrun": (True, {}, AWS_ENVIRONMENT),
}


@pytest.mark.parametrize("case", sorted(RUNS))
def test_a_script_joins_two_hosts_with_env_init(tmp_path, case):
    torchrun, environment, expected = RUNS[case]
    with _Cluster(tmp_path, _script_mode(torchrun), environment) as cluster:
        results = cluster.wait()
    assert docker("network", "inspect", cluster.network, check=False).returncode != 0
    assert not docker("ps", "-aq", "--filter", "name=" + cluster.tag).stdout.strip()
    for host, (code, log) in results.items():
        assert code == 0, "%s exited %s:\n%s" % (host, code, log)
    for rank, host in enumerate(HOSTS):
        job = cluster.jobs[host]
        assert (job.output / "success").exists() and job.failure is None
        written = [p.name for p in job.model.iterdir()]
        assert written == ["all_reduce-%d.json" % rank], written
        result = json.loads((job.model / written[0]).read_text())
        assert result == {"rank": rank, "world_size": 2, "sum": 1.0, "torchrun": torchrun, "host": host,
                          "environment": expected}
    if torchrun:
        assert "torchrun --nnodes 2" in results["algo-2"][1]
