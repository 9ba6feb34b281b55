"""What a job checks before its first epoch (sagemaker_mnist.preflight, sagemaker_mnist.channels): the
training channel is the job's, in whichever input mode it comes (Pipe mode told by the job or by its
FIFOs), every folder the trainer writes is writable; and a write that fails later says which file and
why, in one line."""
import builtins
import dataclasses
import json
import os

import pytest
import torch

from sagemaker_mnist import channels, checkpoints, failures, hyperparameters, preflight
from sagemaker_mnist.failures import TrainingError

pytestmark = pytest.mark.unit

FILE = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
PIPE = dict(FILE, TrainingInputMode="Pipe")


def _settings(tmp_path, environ=None, **dirs):
    base = {"SAGEMAKER_BASE_DIR": str(tmp_path)}
    settings = hyperparameters.parse([], {**base, **(environ or {})})
    return dataclasses.replace(settings, **dirs)


def _environ(tmp_path, config, channel_dirs=None):
    env = {channels.SM_INPUT_DATA_CONFIG: json.dumps(config)}
    for name in config if channel_dirs is None else channel_dirs:
        env["SM_CHANNEL_" + name.upper()] = str(tmp_path / "input" / "data" / name)
    return env


def test_declared_channels_come_from_the_toolkits_variable():
    assert channels.declared({}) is None
    declared = channels.declared({channels.SM_INPUT_DATA_CONFIG: json.dumps({"training": FILE})})
    assert declared == {"training": FILE}
    with pytest.raises(TrainingError, match="SM_INPUT_DATA_CONFIG is not the JSON object"):
        channels.declared({channels.SM_INPUT_DATA_CONFIG: "[1]"})


def test_fifos_of_the_pipe_layout_are_found_beside_the_channels_folder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("training_0", "training_1", "test_0"):
        os.mkfifo(data / name)
    (data / "training_x").write_text("not a fifo")
    (data / "training_2").write_text("a file, not a fifo")
    assert channels.pipe_fifos(str(data / "training")) == [str(data / "training_0"), str(data / "training_1")]
    assert channels.pipe_fifos(str(data / "validation")) == []
    assert channels.pipe_fifos(None) == []


@pytest.mark.parametrize("config,fifo,folder,pipe", [
    (PIPE, False, False, True),  # the job says so: its FIFO may come later
    (PIPE, True, False, True),
    (PIPE, False, True, True),  # the job's word wins over a folder
    (FILE, True, False, True),  # no folder, SageMaker's FIFO beside where it would be
    (None, True, False, True),  # outside the toolkit: the layout tells
    (FILE, True, True, False),  # a folder: File mode, whatever lies beside it
    (FILE, False, True, False),
    (dict(FILE, TrainingInputMode="FastFile"), False, True, False),
    ({}, False, True, False),
    (None, False, False, False),
])
def test_a_channel_is_in_pipe_mode_when_the_job_says_so_or_its_fifos_show_it(tmp_path, config, fifo, folder,
                                                                              pipe):
    if fifo:
        os.mkfifo(tmp_path / "training_0")
    if folder:
        (tmp_path / "training").mkdir()
    assert channels.is_pipe(str(tmp_path / "training"), config) is pipe


def test_a_training_channel_the_job_does_not_declare_is_named_with_the_jobs_channels(tmp_path):
    env = _environ(tmp_path, {"test": FILE, "extra": FILE})
    with pytest.raises(TrainingError) as missing:
        preflight.check_inputs(_settings(tmp_path, env), env)
    message = str(missing.value)
    assert message.startswith("the job has no 'training' channel (its channels: extra, test): give it a "
                              "'training' input channel holding the four IDX files")
    assert "None" not in message


def test_outside_the_toolkit_a_missing_training_folder_asks_for_train(tmp_path):
    with pytest.raises(TrainingError, match=r"no training data: pass --train DIR"):
        preflight.check_inputs(_settings(tmp_path), {})


def test_the_train_channel_is_named_as_the_job_names_it(tmp_path):
    env = _environ(tmp_path, {"train": PIPE})
    settings = _settings(tmp_path, env)
    assert settings.train_channel == "train"
    preflight.check_inputs(settings, env)


@pytest.mark.parametrize("modes", [{"training": FILE, "validation": FILE}, {"training": PIPE, "test": PIPE},
                                   {"training": FILE, "test": PIPE}])
def test_file_and_pipe_channels_pass(tmp_path, modes):
    env = _environ(tmp_path, modes)
    preflight.check_inputs(_settings(tmp_path, env), env)


def test_the_output_folders_are_made_and_tried(tmp_path):
    settings = _settings(tmp_path)
    preflight.check_outputs(settings)
    for folder in (settings.model_dir, settings.output_data_dir, settings.checkpoint_dir):
        assert os.path.isdir(folder) and os.listdir(folder) == []


@pytest.mark.parametrize("field,words", [
    ("model_dir", "saves the model there"),
    ("output_data_dir", "evaluation report"),
    ("checkpoint_dir", "a checkpoint there every epoch"),
])
def test_a_folder_that_cannot_be_written_fails_before_training(tmp_path, field, words):
    # A regular file where the folder should be: no file can be made in it, even by root.
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    settings = _settings(tmp_path, **{field: str(blocker / "sub")})
    with pytest.raises(TrainingError) as refused:
        preflight.check_outputs(settings)
    message = str(refused.value)
    assert message.startswith("%s is not writable (" % (blocker / "sub")) and words in message
    assert "mount it read-write" in message


def test_a_full_volume_names_the_file_and_says_what_to_do():
    full = failures.cannot_write("/opt/ml/checkpoints/checkpoint.pt", OSError(28, "No space left on device"))
    assert str(full) == ("no space left to write /opt/ml/checkpoints/checkpoint.pt (No space left on "
                         "device): give the job a larger volume (the estimator's volume_size, "
                         "VolumeSizeInGB) or a folder with room")
    other = failures.cannot_write("/opt/ml/model", OSError(30, "Read-only file system"))
    assert str(other).startswith("cannot write /opt/ml/model (Read-only file system)")


def test_a_checkpoint_that_cannot_be_written_keeps_the_previous_one(tmp_path, monkeypatch):
    checkpoints.save(str(tmp_path), {"epoch": 1})
    # /dev/full: every write fails with ENOSPC, as on a full volume.
    monkeypatch.setattr(checkpoints, "open", lambda path, mode: builtins.open("/dev/full", mode),
                        raising=False)
    with pytest.raises(TrainingError) as full:
        checkpoints.save(str(tmp_path), {"epoch": 2, "weights": torch.zeros(1000)})
    assert str(full.value).startswith("no space left to write %s" % (tmp_path / "checkpoint.pt"))
    monkeypatch.undo()
    assert checkpoints.load(str(tmp_path)) == {"epoch": 1}
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.pt"]


def test_a_failure_file_that_cannot_be_written_leaves_the_line_in_the_log(tmp_path, capsys):
    blocked = tmp_path / "output"
    blocked.mkdir()
    (blocked / ".failure.tmp").mkdir()  # the temporary name is taken: open() fails
    assert failures.write_failure(str(blocked), "the line") is False
    err = capsys.readouterr().err
    assert "FAILURE: the line\n" in err and "could not be written to %s" % (blocked / "failure") in err
    assert not (blocked / "failure").exists()
