"""Fine-tuning: the model of an earlier job of this image, which a job starts from when it has a
`model` channel (SageMaker's pretrained-model pattern: the earlier job's S3ModelArtifacts, its
model.tar.gz, given as an input channel; SageMaker copies it to /opt/ml/input/data/model).

The channel holds that model.tar.gz, or the two files sagemaker_mnist.model writes (model.pth,
model.json) taken out of it. The archive is read in memory, never extracted: only those two
members are looked at, so no path inside it can write anywhere.

The job trains the net that model.json describes, at its width: a `width` hyperparameter that
differs fails the job, since weights of one width do not fit a net of another. The kind head
(handwritten or printed) follows printed-share, as in a job that starts afresh: with
printed-share above 0 the model's head is kept and trained further, or added untrained when the
model has none; with printed-share 0 the fine-tuned model has no kind head, since one left
untrained while the features under it change would answer with a confidence it no longer has.
"""
import io
import json
import os
import tarfile
from dataclasses import dataclass, replace

import torch

from sagemaker_mnist import failures
from sagemaker_mnist.failures import TrainingError
from sagemaker_mnist.model import CONFIG_FILE, WEIGHTS_FILE, build_model

CHANNEL = "model"
# What SageMaker names a training job's packed /opt/ml/model.
ARTIFACT = "model.tar.gz"
# model.json's keys, as sagemaker_mnist.model.MnistNet takes them.
_CONFIG_KEYS = {"width": int, "kinds": bool}
_KIND_PREFIX = "kind."
ACCEPTED = ("the %s of a training job of this image (S3ModelArtifacts), or its %s and %s"
            % (ARTIFACT, WEIGHTS_FILE, CONFIG_FILE))


@dataclass(frozen=True)
class Pretrained:
    config: dict  # the model's model.json
    state: dict  # its state dict
    source: str  # how messages name it: the channel and the file

    @property
    def width(self):
        return self.config["width"]

    @property
    def has_kind(self):
        return bool(self.config.get("kinds"))


def read(channel_dir, channel=CHANNEL):
    """The model in the channel's folder; TrainingError for anything that is not one of this
    image's models, each in one line naming the file and what is accepted."""
    if not os.path.isdir(channel_dir):
        raise TrainingError("channel %r has no folder %s (a model channel cannot come in Pipe mode): give "
                            "it in File mode, holding %s" % (channel, channel_dir, ACCEPTED))
    files = _files(channel_dir)
    names = {os.path.basename(path): path for path in files}
    if CONFIG_FILE in names and WEIGHTS_FILE in names:
        source = "%s/%s" % (channel, os.path.relpath(names[WEIGHTS_FILE], channel_dir))
        with open(names[CONFIG_FILE], "rb") as f:
            config_bytes = f.read()
        with open(names[WEIGHTS_FILE], "rb") as f:
            weights = f.read()
        return _checked(config_bytes, weights, source)
    if not files:
        raise TrainingError("channel %r is empty (%s): give it %s" % (channel, channel_dir, ACCEPTED))
    if len(files) != 1:
        shown = ", ".join(os.path.relpath(path, channel_dir) for path in files[:5])
        raise TrainingError("channel %r holds %d files (%s) but no %s and %s: give it one %s, %s"
                            % (channel, len(files), shown, WEIGHTS_FILE, CONFIG_FILE, ARTIFACT, ACCEPTED))
    path = files[0]
    source = "%s/%s" % (channel, os.path.relpath(path, channel_dir))
    return _checked(*_from_archive(path, source), source)


def _files(channel_dir):
    found = []
    for root, dirs, names in os.walk(channel_dir):
        dirs.sort()
        found += [os.path.join(root, name) for name in sorted(names) if not name.startswith(".")]
    return found


def _from_archive(path, source):
    """(model.json's bytes, model.pth's bytes) of a model.tar.gz, read without extracting it."""
    try:
        with tarfile.open(path, "r:*") as archive:
            members = {os.path.normpath(m.name): m for m in archive.getmembers() if m.isfile()}
            missing = [name for name in (WEIGHTS_FILE, CONFIG_FILE) if name not in members]
            if missing:
                raise TrainingError("%s has no %s at its top (it holds %s): give %s"
                                    % (source, " or ".join(missing),
                                       ", ".join(sorted(members)[:6]) or "no files", ACCEPTED))
            return (archive.extractfile(members[CONFIG_FILE]).read(),
                    archive.extractfile(members[WEIGHTS_FILE]).read())
    except (tarfile.TarError, EOFError, OSError) as e:
        raise TrainingError("%s is not a %s (a gzipped tar archive: %s): give %s"
                            % (source, ARTIFACT, failures.reason(e), ACCEPTED)) from None


def _checked(config_bytes, weights, source):
    try:
        config = json.loads(config_bytes)
    except ValueError:
        config = None
    if not (isinstance(config, dict) and set(config) <= set(_CONFIG_KEYS) and "width" in config
            and all(type(config[k]) is kind for k, kind in _CONFIG_KEYS.items() if k in config)
            and config["width"] >= 1):
        raise TrainingError("%s: %s is %s, not this image's architecture (a JSON object of width, an "
                            "integer, and kinds, true or false): give %s"
                            % (source, CONFIG_FILE, config_bytes[:120].decode("utf-8", "replace").strip(),
                               ACCEPTED))
    try:
        # weights_only: a model from S3 is data, and reading it must not run pickled code.
        state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a file that is not its own
        raise TrainingError("%s: %s cannot be read as PyTorch weights (%s): give %s"
                            % (source, WEIGHTS_FILE, failures.reason(e), ACCEPTED)) from None
    expected = build_model(config).state_dict()
    problem = _mismatch(state, expected)
    if problem:
        raise TrainingError("%s holds weights of another architecture than this image's MnistNet of width %d "
                            "(%s): fine-tune a model trained by this version of the image, or train afresh "
                            "without a %r channel" % (source, config["width"], problem, CHANNEL))
    return Pretrained(config, state, source)


def _mismatch(state, expected):
    """What differs between a state dict and the one a net of this image has, or ''."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return "not a state dict of tensors"
    missing = [k for k in expected if k not in state]
    if missing:
        return "no %s" % missing[0]
    extra = [k for k in state if k not in expected]
    if extra:
        return "an unknown %s" % extra[0]
    for key, value in expected.items():
        if state[key].shape != value.shape:
            return "%s is %s, this image's is %s" % (key, "x".join(map(str, state[key].shape)),
                                                    "x".join(map(str, value.shape)))
    return ""


def resolve(hp, explicit, pretrained):
    """The job's hyperparameters with the model's width: a job that sets another width fails."""
    if "width" in explicit and hp.width != pretrained.width:
        raise TrainingError("hyperparameter width=%d does not fit the %r channel's model %s, of width %d: "
                            "leave width unset to fine-tune at the model's width, or train afresh without "
                            "the %r channel"
                            % (hp.width, CHANNEL, pretrained.source, pretrained.width, CHANNEL))
    return replace(hp, width=pretrained.width)


def load_into(model, pretrained):
    """Starts `model` (built for the job: with a kind head when printed-share > 0) from the weights;
    returns what became of the kind head, for the log: kept, added, dropped or ''."""
    has_kind = getattr(model, "has_kind", False)
    state = {k: v for k, v in pretrained.state.items() if has_kind or not k.startswith(_KIND_PREFIX)}
    result = model.load_state_dict(state, strict=False)
    # The only weights the net may lack are those of a kind head that the model did not have.
    assert not result.unexpected_keys and all(k.startswith(_KIND_PREFIX) for k in result.missing_keys), result
    if has_kind:
        return "kept" if pretrained.has_kind else "added"
    return "dropped" if pretrained.has_kind else ""
