"""What the training toolkit's `train` command runs (the image's SAGEMAKER_TRAINING_MODULE).

As in AWS's framework images, a job that names an entry point (script mode: the SDK's
`sagemaker_program` and `sagemaker_submit_directory` hyperparameters) runs that script;
any other job runs the built-in MNIST trainer. With `sagemaker_torch_distributed_enabled`
(the SDK's `distribution={"torch_distributed": {"enabled": True}}`) the script starts under
torchrun, one process per GPU on every host.

Every job's process gets the distributed environment AWS's PyTorch training images set
(sagemaker-pytorch-training-toolkit): MASTER_ADDR, MASTER_PORT and the NCCL settings, so that a
script written for those images can call `init_process_group()` with its default env:// on one
host or several, with or without torchrun.
"""
import os
import signal

import sagemaker_mnist
import psutil
from sagemaker_training import entry_point, environment, runner

# The directory holding the built-in trainer's train.py and the sagemaker_mnist package (code/ in the
# repository, /opt/mnist/code in the image).
BUILTIN_CODE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(sagemaker_mnist.__file__)))
BUILTIN_ENTRY_POINT = "train.py"
TORCH_DISTRIBUTED_ENABLED = "sagemaker_torch_distributed_enabled"

# torch.distributed's env:// rendezvous and NCCL's knobs, with the values AWS's PyTorch training
# images give every job; user scripts written for those images rely on them. SageMaker lists the
# hosts sorted, and the first one is the rendezvous (rank 0 of a script that ranks hosts by their
# place in SM_HOSTS, and of the built-in trainer). 7777 is also the port of the toolkit's torchrun
# launcher. NCCL talks over the job's network interface, over IP sockets rather than InfiniBand.
MASTER_ADDR = "MASTER_ADDR"
MASTER_PORT = "MASTER_PORT"
NCCL_SOCKET_IFNAME = "NCCL_SOCKET_IFNAME"
NCCL_IB_DISABLE = "NCCL_IB_DISABLE"
NCCL_DEBUG = "NCCL_DEBUG"
DEFAULT_MASTER_PORT = "7777"


def main():
    # SageMaker stops a job (StopTrainingJob, a spot interruption) with SIGTERM to the container's
    # first process, this one, and kills it when the grace period ends. The trainer runs as a child
    # and needs the signal to write its checkpoint; left alone, this process would die without
    # passing it on (or, as PID 1 in the container, ignore it).
    signal.signal(signal.SIGTERM, _forward_to_children)
    env = environment.Environment()
    if env.user_entry_point:
        code_uri, program = env.module_dir, env.user_entry_point
    else:
        code_uri, program = BUILTIN_CODE_DIR, BUILTIN_ENTRY_POINT
    torchrun = env.additional_framework_parameters.get(TORCH_DISTRIBUTED_ENABLED, False)
    # The hosts of a job start at different moments, and a host's name may not resolve before that
    # host is up: entry_point.run waits until every name resolves (up to 15 minutes, as AWS's
    # PyTorch images do) before it starts the process.
    entry_point.run(
        uri=code_uri,
        user_entry_point=program,
        args=env.to_cmd_args(),
        env_vars={**env.to_env_vars(), **distributed_env(env, os.environ)},
        capture_error=True,
        runner_type=runner.TorchDistributedRunnerType if torchrun else runner.ProcessRunnerType,
    )


def distributed_env(env, environ):
    """The distributed variables for the job's processes (see above), less those `environ` (the
    container's environment: an estimator's `environment=`) already sets, which stay as they are."""
    defaults = {
        MASTER_ADDR: env.master_hostname,
        MASTER_PORT: DEFAULT_MASTER_PORT,
        NCCL_SOCKET_IFNAME: env.network_interface_name,
        NCCL_IB_DISABLE: "1",
        NCCL_DEBUG: "WARN",
    }
    return {name: value for name, value in defaults.items() if name not in environ}


def _forward_to_children(signum, frame):
    # torchrun, when it is the child, passes the signal on to its workers.
    for child in psutil.Process().children():
        try:
            child.send_signal(signum)
        except psutil.NoSuchProcess:
            pass
