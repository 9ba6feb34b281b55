"""The image's `train` (sagemaker_mnist_container.train_command) and the failure lines of the job's
process (sagemaker_mnist_container.training.process_failure): the config files are checked before the
toolkit reads them, the container's exit status is 143 when stopped and never 0 without success, and
a process that wrote no line of its own gets one from its exit status."""
import json

import pytest
from sagemaker_training import errors

from sagemaker_mnist.failures import EXIT_FAILURE, EXIT_STOPPED, TrainingError
from sagemaker_mnist_container import train_command, training

pytestmark = pytest.mark.unit

GOOD = {
    "hyperparameters.json": json.dumps({"epochs": "1"}),
    "inputdataconfig.json": json.dumps({"training": {"TrainingInputMode": "File"}}),
    "resourceconfig.json": json.dumps({"current_host": "algo-1", "hosts": ["algo-1", "algo-2"]}),
}


def _config(tmp_path, **files):
    for name, text in {**GOOD, **{k.replace("_", "") + ".json": v for k, v in files.items()}}.items():
        if text is not None:
            (tmp_path / name).write_text(text)
    return str(tmp_path)


def test_a_good_config_passes(tmp_path):
    train_command.check_config(_config(tmp_path))


@pytest.mark.parametrize("files,words", [
    ({"hyperparameters": "{epochs: 1"}, ["hyperparameters.json is not valid JSON (Expecting property name",
                                         "a JSON object of hyperparameter names to values"]),
    ({"hyperparameters": "[]"}, ["hyperparameters.json is not what SageMaker writes: it holds a JSON list"]),
    ({"hyperparameters": None}, ["hyperparameters.json is not what SageMaker writes: the file is missing"]),
    ({"inputdataconfig": ""}, ["inputdataconfig.json is not valid JSON", "channel names to their settings"]),
    ({"inputdataconfig": json.dumps({"training": "File"})},
     ["channel 'training' maps to \"File\", not an object"]),
    ({"resourceconfig": "{"}, ["resourceconfig.json is not valid JSON", '"current_host" and "hosts"']),
    ({"resourceconfig": json.dumps({"hosts": ["algo-1"]})},
     ["resourceconfig.json is not what SageMaker writes: no current_host"]),
    ({"resourceconfig": json.dumps({"current_host": "algo-1", "hosts": "algo-1"})}, ["hosts is not a list"]),
    ({"resourceconfig": json.dumps({"current_host": "algo-3", "hosts": ["algo-1", "algo-2"]})},
     ["current_host 'algo-3' is not among its hosts ['algo-1', 'algo-2']", "this one included"]),
])
def test_a_bad_config_file_fails_with_one_line_naming_it(tmp_path, files, words):
    with pytest.raises(TrainingError) as bad:
        train_command.check_config(_config(tmp_path, **files))
    message = str(bad.value)
    assert "\n" not in message and message.startswith(str(tmp_path))
    for word in words:
        assert word in message


@pytest.mark.parametrize("toolkit_status,stopped,succeeded,expected", [
    (0, False, True, 0),
    (1, False, False, EXIT_FAILURE),
    (2, False, False, 2),  # the toolkit's errno of a framework error
    (0, False, False, EXIT_FAILURE),  # the toolkit's `finally` after its own report failed
    (1, True, False, EXIT_STOPPED),  # StopTrainingJob: the trainer saved its checkpoint
    (0, True, False, EXIT_STOPPED),
    (0, True, True, 0),  # the job had ended when the signal came
])
def test_the_containers_exit_status(toolkit_status, stopped, succeeded, expected):
    assert train_command.exit_status(toolkit_status, stopped, succeeded) == expected


def test_the_base_folder_is_the_toolkits(tmp_path):
    assert train_command.base_dir({"SAGEMAKER_BASE_DIR": str(tmp_path)}) == str(tmp_path)


def _exited(code, output=None):
    return errors.ExecuteUserScriptError(cmd="python train.py", return_code=code, output=output)


@pytest.mark.parametrize("error,builtin,expected", [
    (_exited(-9), True, "the MNIST trainer (train.py) was killed by SIGKILL: most often the kernel's "
                        "out-of-memory killer; lower batch-size or use an instance type with more memory "
                        "(the job's log has its output)"),
    (_exited(-15), True, "training stopped by SIGTERM before the MNIST trainer (train.py) began to train: "
                         "nothing was saved"),
    (_exited(-15), False, "the entry point train.py was killed by SIGTERM (the job's log has its output)"),
    (_exited(-11), False, "the entry point train.py was killed by SIGSEGV (the job's log has its output)"),
    (_exited(1, "Traceback (most recent call last):\n  File \"train.py\", line 1\nValueError: no labels\n"),
     False,
     "the entry point train.py exited with status 1: ValueError: no labels (the job's log has its output)"),
    (_exited(3), False, "the entry point train.py exited with status 3 (the job's log has its output)"),
    (errors.ClientError("bad entry point"), False, "bad entry point"),
])
def test_a_process_that_wrote_no_line_gets_one_from_its_exit(error, builtin, expected):
    assert training.process_failure("train.py", error, builtin) == expected


@pytest.mark.parametrize("existing", [None, "the trainer's own line\n"])
def test_main_writes_the_processs_line_unless_it_wrote_its_own(tmp_path, monkeypatch, existing):
    from sagemaker_training import environment

    output = tmp_path / "output"
    output.mkdir()
    if existing:
        (output / "failure").write_text(existing)
    monkeypatch.setenv("SM_OUTPUT_DIR", str(output))
    job = environment.Environment(
        resource_config={"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"},
        input_data_config={"training": {"TrainingInputMode": "File"}}, hyperparameters={"epochs": 1})
    monkeypatch.setattr(training.environment, "Environment", lambda: job)

    def killed(**kwargs):
        raise _exited(-9)
    monkeypatch.setattr(training.entry_point, "run", killed)
    with pytest.raises(errors.ExecuteUserScriptError):
        training.main()  # the toolkit's train turns it into exit 1; its own report finds the file there
    text = (output / "failure").read_text()
    assert text == (existing or "the MNIST trainer (train.py) was killed by SIGKILL: most often the "
                    "kernel's out-of-memory killer; lower batch-size or use an instance type with more "
                    "memory (the job's log has its output)\n")


# How Python writes an uncaught exception to an unbuffered stderr: one write per piece. (The toolkit
# keeps the output from the first line that names a built-in exception on: here the raise.)
def _traceback(module, name):
    return ["Traceback (most recent call last):\n", '  File "/opt/ml/code/boom.py", line 1, in <module>\n',
            "    raise %s('the labels column is missing')\n" % (module + "." + name if module else name),
            *([module, "."] if module else []), name, ": ", "the labels column is missing", "\n"]


class _Pipe:
    """A process's stderr as the toolkit's watch() reads it: each read returns what has been written
    since the last one; `reads` says after which writes a read came."""

    def __init__(self, writes, reads):
        bounds = [0, *reads, len(writes)]
        self.chunks = ["".join(writes[a:b]).encode() for a, b in zip(bounds, bounds[1:]) if a < b]

    async def read(self, size):
        return self.chunks.pop(0) if self.chunks else b""


@pytest.mark.parametrize("module,name", [("", "ValueError"), ("labels", "LabelValueError")])
@pytest.mark.parametrize("reads", [[], [3], [4], [5], [6], [7], [3, 4, 5, 6, 7], [4, 6], [8]])
def test_the_exceptions_type_stays_in_front_of_its_message_wherever_the_toolkit_read_the_pipe(module, name, reads):
    import asyncio

    from sagemaker_training import process

    writes = _traceback(module, name)
    output = asyncio.run(process.watch(_Pipe(writes, [r for r in reads if r < len(writes)]), 1))
    expected = "%s: the labels column is missing" % (module + "." + name if module else name)
    assert training.error_line(output) == expected, output


@pytest.mark.parametrize("output,expected", [
    ("raise\nValueError\nno labels\n", "ValueError: no labels"),
    ("raise ValueError\nValueError: no labels\n", "ValueError: no labels"),
    ("step one\ndone\n", "done"),  # a name on a line of its own that is no exception's stays out
    ("ValueError\n", "ValueError"),
])
def test_the_error_line_joins_only_pieces_of_an_exceptions_name(output, expected):
    assert training.error_line(output) == expected
