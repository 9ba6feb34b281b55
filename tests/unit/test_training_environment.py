"""The distributed environment the training module gives a job's processes
(sagemaker_mnist_container.training.distributed_env), from the toolkit's own reading of a
resourceconfig.json."""
import json
import os

import pytest
from sagemaker_training import environment

from sagemaker_mnist_container import training

pytestmark = pytest.mark.unit

CHANNELS = {"training": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                         "RecordWrapperType": "None"}}


@pytest.fixture(autouse=True)
def _environ_restored():
    # The toolkit's Environment writes SM_CURRENT_HOST and a few others into os.environ.
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _job(hosts, current_host, network_interface_name="eth0", hyperparameters=None):
    """The toolkit's Environment for a job as resourceconfig.json describes it."""
    return environment.Environment(
        resource_config={"current_host": current_host, "hosts": hosts,
                         "network_interface_name": network_interface_name},
        input_data_config=CHANNELS, hyperparameters=hyperparameters or {"epochs": 1})


AWS_DEFAULTS = {"MASTER_PORT": "7777", "NCCL_SOCKET_IFNAME": "eth0", "NCCL_IB_DISABLE": "1",
                "NCCL_DEBUG": "WARN"}


@pytest.mark.parametrize("hosts,current_host", [
    (["algo-1"], "algo-1"),
    (["algo-1", "algo-2"], "algo-1"),
    (["algo-1", "algo-2"], "algo-2"),
    (["algo-1", "algo-2", "algo-3"], "algo-3"),
])
def test_every_host_gets_the_first_host_as_rendezvous_and_aws_nccl_settings(hosts, current_host):
    assert training.distributed_env(_job(hosts, current_host), {}) == dict(AWS_DEFAULTS, MASTER_ADDR="algo-1")


def test_the_rendezvous_is_the_first_host_listed_the_one_scripts_rank_0():
    # SageMaker lists hosts sorted; whatever the order, MASTER_ADDR is SM_HOSTS[0], where a script
    # that ranks hosts by their place in SM_HOSTS (and the built-in trainer) puts rank 0.
    job = _job(["algo-2", "algo-1"], "algo-1")
    assert training.distributed_env(job, {})["MASTER_ADDR"] == "algo-2"
    assert json.loads(job.to_env_vars()["SM_HOSTS"])[0] == "algo-2"


def test_the_network_interface_is_the_jobs():
    env = training.distributed_env(_job(["algo-1", "algo-2"], "algo-2", network_interface_name="ethwe"), {})
    assert env["NCCL_SOCKET_IFNAME"] == "ethwe"


@pytest.mark.parametrize("name,value", [
    ("MASTER_ADDR", "10.0.0.5"),
    ("MASTER_PORT", "29500"),
    ("NCCL_SOCKET_IFNAME", "eth1"),
    ("NCCL_IB_DISABLE", "0"),
    ("NCCL_DEBUG", "INFO"),
])
def test_a_value_the_job_already_sets_is_kept(name, value):
    env = training.distributed_env(_job(["algo-1", "algo-2"], "algo-2"), {name: value, "PATH": "/usr/bin"})
    assert name not in env
    assert set(env) == {"MASTER_ADDR", *AWS_DEFAULTS} - {name}


@pytest.mark.parametrize("hyperparameters,runner_type", [
    ({}, "ProcessRunnerType"),
    ({"sagemaker_program": "train.py", "sagemaker_submit_directory": "/opt/ml/code"}, "ProcessRunnerType"),
    ({"sagemaker_program": "train.py", "sagemaker_submit_directory": "/opt/ml/code",
      "sagemaker_torch_distributed_enabled": True}, "TorchDistributedRunnerType"),
])
def test_main_hands_the_variables_to_the_process_with_the_users_own_kept(monkeypatch, hyperparameters,
                                                                         runner_type):
    # The container's environment sets MASTER_PORT (an estimator's `environment=`): the toolkit
    # writes env_vars over os.environ, so what main passes must leave it out.
    monkeypatch.setenv("MASTER_PORT", "29500")
    job = _job(["algo-1", "algo-2"], "algo-2", hyperparameters=hyperparameters)
    calls = []
    monkeypatch.setattr(training.environment, "Environment", lambda: job)
    monkeypatch.setattr(training.entry_point, "run", lambda **kwargs: calls.append(kwargs))
    training.main()
    (call,) = calls
    assert call["runner_type"] is getattr(training.runner, runner_type)
    env_vars = call["env_vars"]
    seen = {name: env_vars.get(name) for name in ("MASTER_ADDR", *AWS_DEFAULTS)}
    assert seen == dict(AWS_DEFAULTS, MASTER_ADDR="algo-1", MASTER_PORT=None)
    # The toolkit's own variables are all still there.
    assert job.to_env_vars().items() <= env_vars.items()


def test_the_rendezvous_port_is_the_one_the_built_in_trainer_defaults_to():
    from sagemaker_mnist import distributed

    assert training.DEFAULT_MASTER_PORT == distributed.DEFAULT_MASTER_PORT
