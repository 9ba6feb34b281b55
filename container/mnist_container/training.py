"""What the training toolkit's `train` command runs (the image's SAGEMAKER_TRAINING_MODULE).

As in AWS's framework images, a job that names an entry point (script mode: the SDK's
`sagemaker_program` and `sagemaker_submit_directory` hyperparameters) runs that script;
any other job runs the built-in MNIST trainer. With `sagemaker_torch_distributed_enabled`
(the SDK's `distribution={"torch_distributed": {"enabled": True}}`) the script starts under
torchrun, one process per GPU on every host.
"""
import os
import signal

import mnist
import psutil
from sagemaker_training import entry_point, environment, runner

# The directory holding the built-in trainer's train.py and the mnist package (code/ in the
# repository, /opt/mnist/code in the image).
BUILTIN_CODE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(mnist.__file__)))
BUILTIN_ENTRY_POINT = "train.py"
TORCH_DISTRIBUTED_ENABLED = "sagemaker_torch_distributed_enabled"


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
    entry_point.run(
        uri=code_uri,
        user_entry_point=program,
        args=env.to_cmd_args(),
        env_vars=env.to_env_vars(),
        capture_error=True,
        runner_type=runner.TorchDistributedRunnerType if torchrun else runner.ProcessRunnerType,
    )


def _forward_to_children(signum, frame):
    # torchrun, when it is the child, passes the signal on to its workers.
    for child in psutil.Process().children():
        try:
            child.send_signal(signum)
        except psutil.NoSuchProcess:
            pass
