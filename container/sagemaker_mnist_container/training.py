"""What the training toolkit's `train` runs (the image's SAGEMAKER_TRAINING_MODULE), under the
image's own `train` command (train_command: config checks, SIGTERM, the exit status).

As in AWS's framework images, a job that names an entry point (script mode: the SDK's
`sagemaker_program` and `sagemaker_submit_directory` hyperparameters) runs that script;
any other job runs the built-in MNIST trainer. With `sagemaker_torch_distributed_enabled`
(the SDK's `distribution={"torch_distributed": {"enabled": True}}`) the script starts under
torchrun, one process per GPU on every host.

Every job's process gets the distributed environment AWS's PyTorch training images set
(sagemaker-pytorch-training-toolkit): MASTER_ADDR, MASTER_PORT and the NCCL settings, so that a
script written for those images can call `init_process_group()` with its default env:// on one
host or several, with or without torchrun.

A job's process that fails leaves one line in /opt/ml/output/failure: the built-in trainer writes
its own; for a process that wrote none (a user's script, a process the kernel killed) main writes
one from its exit status and last error line, before the toolkit would write its multi-line report.
"""
import os
import re
import signal
import traceback

import sagemaker_mnist
from sagemaker_mnist import failures
from sagemaker_training import entry_point, environment, errors, runner

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
    env = environment.Environment()
    if env.user_entry_point:
        code_uri, program = env.module_dir, env.user_entry_point
    else:
        code_uri, program = BUILTIN_CODE_DIR, BUILTIN_ENTRY_POINT
    torchrun = env.additional_framework_parameters.get(TORCH_DISTRIBUTED_ENABLED, False)
    output = failures.output_dir(os.environ)
    try:
        # The hosts of a job start at different moments, and a host's name may not resolve before
        # that host is up: entry_point.run waits until every name resolves (up to 15 minutes, as
        # AWS's PyTorch images do) before it starts the process.
        entry_point.run(
            uri=code_uri,
            user_entry_point=program,
            args=env.to_cmd_args(),
            env_vars={**env.to_env_vars(), **distributed_env(env, os.environ)},
            capture_error=True,
            runner_type=runner.TorchDistributedRunnerType if torchrun else runner.ProcessRunnerType,
        )
    except errors.ClientError as e:
        _report(output, process_failure(program, e, builtin=not env.user_entry_point))
        raise
    except Exception as e:
        traceback.print_exc()
        _report(output, "the training image failed to run %s: %s: %s (the job's log has the traceback)"
                % (program, type(e).__name__, _last_line(str(e))))
        raise


def process_failure(program, error, builtin):
    """The failure line of a job's process that ended with `error` (the toolkit's, for a non-zero
    exit: its return_code and the process's captured error output)."""
    code = getattr(error, "return_code", None)
    if code is None:
        return str(error)
    code = int(code)
    what = "the MNIST trainer (%s)" % program if builtin else "the entry point %s" % program
    if code == -signal.SIGTERM and builtin:
        # The trainer saves and exits 143 on SIGTERM once it runs: it had not got that far.
        return "training stopped by SIGTERM before %s began to train: nothing was saved" % what
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else "signal %d" % -code
        cause = (": most often the kernel's out-of-memory killer; lower batch-size or use an instance type "
                 "with more memory" if code == -signal.SIGKILL else "")
        return "%s was killed by %s%s (the job's log has its output)" % (what, name, cause)
    last = error_line(getattr(error, "output", None) or "")
    return "%s exited with status %d%s (the job's log has its output)" % (what, code,
                                                                          ": " + last if last else "")


def _last_line(text):
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1] if lines else ""


# A piece of a dotted name: `ValueError`, `errors.`, `.BadInput`.
_NAME_PIECE = re.compile(r"\.?[A-Za-z_][\w.]*|\.")
_ERROR_NAME = re.compile(r"(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Failure)")


def error_line(output):
    """The last line of a process's error output as the toolkit captured it, with an uncaught
    exception's type put back in front of its message.

    sagemaker-training (process.watch) reads stderr in whatever pieces the pipe holds and strips
    each of " :". Python writes an uncaught exception's module, name, ": " and message as separate
    writes (stderr is unbuffered: the image sets PYTHONUNBUFFERED), so a read that ends between
    them leaves `ValueError` on one line and `the labels column is missing` on the next."""
    lines = [line.strip() for line in str(output).splitlines() if line.strip()]
    if not lines:
        return ""
    message, i = lines[-1], len(lines) - 2
    while i >= 0 and _NAME_PIECE.fullmatch(lines[i]) and (message.startswith(".") or lines[i].endswith(".")):
        message, i = lines[i] + message, i - 1  # `labels.` then `LabelError: ...`
    name = ""
    while i >= 0 and _NAME_PIECE.fullmatch(lines[i]) and (not name or lines[i].endswith(".") or name.startswith(".")):
        name, i = lines[i] + name, i - 1
    if name and _ERROR_NAME.fullmatch(name):
        return "%s: %s" % (name, message)
    return message


def _report(output, line):
    # The process's own line, when it wrote one, is the better one: it stays.
    if not os.path.exists(os.path.join(output, failures.FAILURE_FILE)):
        failures.write_failure(output, line)


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
