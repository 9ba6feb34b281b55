"""The trainer's settings: hyperparameters as SageMaker passes them, and the job's paths and hosts.

The training toolkit runs `train.py --name value ...`, one pair per hyperparameter of the job, and
puts the job's layout in SM_* environment variables. The same values reach us spelled three ways:
  SDK v2 framework estimators JSON-encode them ('"sgd"', '0.1', 'true'),
  SDK v2's generic Estimator sends str() ('sgd', '0.1', 'True'),
  SDK v3's ModelTrainer sends JSON for non-strings ('sgd', '0.1', 'true').
Every spelling parses to the same value here, and a value that is not accepted fails the job with
one line naming the hyperparameter and what it accepts. Unset hyperparameters come from the
recipe's preset (`preset`, default 'default').
"""
import argparse
import json
import math
import os
from dataclasses import dataclass, fields

from sagemaker_mnist import fonts, formats, recipe
from sagemaker_mnist.failures import TrainingError, output_dir

# SageMaker's environment, as the training toolkit sets it for the script.
SM_CHANNEL_TRAINING = "SM_CHANNEL_TRAINING"
SM_CHANNEL_TRAIN = "SM_CHANNEL_TRAIN"  # the other common name for the training channel
SM_CHANNEL_TEST = "SM_CHANNEL_TEST"
SM_CHANNEL_VALIDATION = "SM_CHANNEL_VALIDATION"
SM_CHANNEL_FONTS = "SM_CHANNEL_FONTS"  # optional: the user's own fonts for printed digits
# Optional: an earlier job's model.tar.gz (or its files) to fine-tune (sagemaker_mnist.pretrained).
SM_CHANNEL_MODEL = "SM_CHANNEL_MODEL"
# Optional: MNIST's own files, the handwriting mixed into a user's digits (mnist-share).
SM_CHANNEL_MNIST = "SM_CHANNEL_MNIST"
SM_MODEL_DIR = "SM_MODEL_DIR"
SM_OUTPUT_DATA_DIR = "SM_OUTPUT_DATA_DIR"
SM_HOSTS = "SM_HOSTS"
SM_CURRENT_HOST = "SM_CURRENT_HOST"
SM_NUM_CPUS = "SM_NUM_CPUS"
SM_NUM_GPUS = "SM_NUM_GPUS"
SAGEMAKER_BASE_DIR = "SAGEMAKER_BASE_DIR"
DEFAULT_BASE_DIR = "/opt/ml"
# CheckpointConfig's default LocalPath; SageMaker syncs it with the job's checkpoint S3 URI.
CHECKPOINTS = "checkpoints"

AMP_MODES = ("auto", "off")

# Names SageMaker itself adds to a job's hyperparameters: the toolkit strips `sagemaker_*`, and
# HyperparameterTuner adds `_tuning_objective_metric`. They are not the trainer's to check.
_SAGEMAKER_PREFIXES = ("sagemaker_", "_")


@dataclass(frozen=True)
class Hyperparameters:
    preset: str
    epochs: int
    batch_size: int  # global: split across all processes of a distributed job
    lr: float
    optimizer: str
    momentum: float
    weight_decay: float
    scheduler: str
    label_smoothing: float
    augmentation: str
    width: int
    seed: int
    eval_batch_size: int
    amp: str
    printed_share: float  # of the training set: rendered printed digits; 0: none, and no kind head
    printed_fonts: str  # comma-separated font sources (sagemaker_mnist.fonts.SOURCES)
    data_format: str  # how the channels are read (sagemaker_mnist.formats.FORMATS); auto: from their contents
    label_attribute: str  # a Ground Truth manifest's label attribute; "": the one beside source-ref
    mnist_share: float  # of the training set: MNIST digits from the `mnist` channel mixed in; 0: none
    validation_fraction: float  # of the training channel's digits, held out to validate on; 0: none

    def as_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}


# Defaults of the hyperparameters that no preset sets.
_BASE_DEFAULTS = dict(seed=0, eval_batch_size=1000, amp="auto", printed_fonts=",".join(fonts.SOURCES),
                      data_format=formats.AUTO, label_attribute="", mnist_share=0.0,
                      validation_fraction=0.0)

_CHOICES = {
    "preset": tuple(recipe.PRESETS),
    "optimizer": recipe.OPTIMIZERS,
    "scheduler": recipe.SCHEDULERS,
    "augmentation": recipe.AUGMENTATIONS,
    "amp": AMP_MODES,
    "data_format": formats.FORMATS,
}

_LIMITS = {
    "epochs": ("an integer >= 1", lambda v: v >= 1),
    "batch_size": ("an integer >= 1", lambda v: v >= 1),
    "lr": ("a number > 0", lambda v: v > 0),
    "momentum": ("a number in [0, 1)", lambda v: 0 <= v < 1),
    "weight_decay": ("a number >= 0", lambda v: v >= 0),
    "label_smoothing": ("a number in [0, 1)", lambda v: 0 <= v < 1),
    "width": ("an integer >= 1", lambda v: v >= 1),
    "seed": ("an integer >= 0", lambda v: v >= 0),
    "eval_batch_size": ("an integer >= 1", lambda v: v >= 1),
    "printed_share": ("a number in [0, 0.5]", lambda v: 0 <= v <= 0.5),
    # At 0.9 the user's digits are a tenth of what the net sees: beyond that it barely learns them.
    "mnist_share": ("a number in [0, 0.9]", lambda v: 0 <= v <= 0.9),
    # Past half the channel, the training set is the smaller part.
    "validation_fraction": ("a number in [0, 0.5]", lambda v: 0 <= v <= 0.5),
    "printed_fonts": ("a comma-separated list of %s" % ", ".join(fonts.SOURCES),
                      lambda v: bool(v) and all(part.strip() in fonts.SOURCES for part in v.split(","))),
    # Ground Truth names the label attribute after the labeling job; source-ref and *-metadata are
    # the picture and the job's bookkeeping, never the label.
    "label_attribute": ("the name of the manifest's label attribute (not source-ref, not a *-metadata one)",
                        lambda v: v != "source-ref" and not v.endswith("-metadata")),
}

_KIND_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


@dataclass(frozen=True)
class Settings:
    hp: Hyperparameters
    train_dir: str | None
    test_dir: str | None
    validation_dir: str | None
    model_dir: str
    output_data_dir: str
    output_dir: str
    checkpoint_dir: str
    hosts: tuple
    current_host: str
    num_cpus: int
    train_channel: str = "training"  # the name of the job's channel train_dir comes from
    fonts_dir: str | None = None
    pretrained_dir: str | None = None  # the `model` channel: the model to fine-tune
    mnist_dir: str | None = None  # the `mnist` channel: MNIST's digits for mnist-share
    explicit: frozenset = frozenset()  # the hyperparameters the job set (the others: the preset's)


def hyperparameter_names():
    return [f.name for f in fields(Hyperparameters)]


def display(name):
    return name.replace("_", "-")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise TrainingError("bad command line: %s" % message)


def _build_parser(environ):
    base = environ.get(SAGEMAKER_BASE_DIR, DEFAULT_BASE_DIR)
    p = _Parser(prog="train.py", allow_abbrev=False, add_help=False,
                description="Trains the MNIST CNN; every hyperparameter also accepts its underscore "
                            "spelling.")
    for name in hyperparameter_names():
        flags = {"--" + display(name), "--" + name}
        p.add_argument(*sorted(flags), dest=name, default=None)
    training = environ.get(SM_CHANNEL_TRAINING) or environ.get(SM_CHANNEL_TRAIN)
    p.add_argument("--train", "--training", dest="train_dir", default=training)
    p.add_argument("--test", dest="test_dir", default=environ.get(SM_CHANNEL_TEST))
    p.add_argument("--validation", dest="validation_dir", default=environ.get(SM_CHANNEL_VALIDATION))
    p.add_argument("--fonts", dest="fonts_dir", default=environ.get(SM_CHANNEL_FONTS))
    p.add_argument("--pretrained", dest="pretrained_dir", default=environ.get(SM_CHANNEL_MODEL))
    p.add_argument("--mnist", dest="mnist_dir", default=environ.get(SM_CHANNEL_MNIST))
    p.add_argument("--model-dir", "--model_dir", dest="model_dir",
                   default=environ.get(SM_MODEL_DIR) or os.path.join(base, "model"))
    p.add_argument("--output-data-dir", "--output_data_dir", dest="output_data_dir",
                   default=environ.get(SM_OUTPUT_DATA_DIR) or os.path.join(base, "output", "data"))
    p.add_argument("--checkpoint-dir", "--checkpoint_dir", dest="checkpoint_dir",
                   default=os.path.join(base, CHECKPOINTS))
    p.add_argument("--hosts", dest="hosts", default=environ.get(SM_HOSTS))
    p.add_argument("--current-host", "--current_host", dest="current_host",
                   default=environ.get(SM_CURRENT_HOST))
    p.add_argument("--num-cpus", "--num_cpus", dest="num_cpus", default=environ.get(SM_NUM_CPUS))
    return p


def parse(argv, environ):
    """Settings from the command line (`argv` without the program name) and the environment."""
    parser = _build_parser(environ)
    args, rest = parser.parse_known_args(argv)
    _reject_unknown(rest)
    raw = {name: getattr(args, name) for name in hyperparameter_names()}
    preset = parse_value("preset", raw["preset"]) if raw["preset"] is not None else _default_preset(args)
    defaults = dict(_BASE_DEFAULTS, **recipe.PRESETS[preset], preset=preset)
    values = {}
    for f in fields(Hyperparameters):
        if raw[f.name] is None:
            values[f.name] = defaults[f.name]
        else:
            values[f.name] = parse_value(f.name, raw[f.name])
    current_host = args.current_host or "localhost"
    hosts = _parse_hosts(args.hosts) or (current_host,)
    if current_host not in hosts:
        raise TrainingError("current host %r is not among the job's hosts %s" % (current_host, list(hosts)))
    return Settings(
        hp=Hyperparameters(**values),
        train_dir=args.train_dir,
        test_dir=args.test_dir,
        validation_dir=args.validation_dir,
        model_dir=args.model_dir,
        output_data_dir=args.output_data_dir,
        output_dir=output_dir(environ),
        checkpoint_dir=args.checkpoint_dir,
        hosts=hosts,
        current_host=current_host,
        num_cpus=_parse_count("num-cpus", args.num_cpus) or os.cpu_count() or 1,
        train_channel="train" if not environ.get(SM_CHANNEL_TRAINING) and environ.get(SM_CHANNEL_TRAIN)
        else "training",
        fonts_dir=args.fonts_dir,
        pretrained_dir=args.pretrained_dir,
        mnist_dir=args.mnist_dir,
        explicit=frozenset(name for name in hyperparameter_names() if raw[name] is not None),
    )


def _default_preset(args):
    """The preset of a job that names none: fine-tune when it has a model to start from (SageMaker's
    pretrained-model pattern: a `model` channel), else default."""
    return recipe.FINE_TUNE if args.pretrained_dir else "default"


def parse_value(name, raw):
    """One hyperparameter's value from any of the spellings SageMaker's SDKs send."""
    kind = {f.name: f.type for f in fields(Hyperparameters)}[name]
    text = _unquote(raw)
    if name in _CHOICES:
        value = text.lower()
        if value not in _CHOICES[name]:
            _invalid(name, raw, "one of " + ", ".join(_CHOICES[name]))
        return value
    if name == "printed_fonts":
        text = ",".join(part.strip().lower() for part in text.split(","))
    try:
        value = _convert(kind, text)
    except ValueError:
        _invalid(name, raw, _LIMITS[name][0] if name in _LIMITS else _KIND_WORDS[kind])
    if name in _LIMITS and not _LIMITS[name][1](value):
        _invalid(name, raw, _LIMITS[name][0])
    return value


def _unquote(raw):
    """'"sgd"' (SDK v2 framework estimators JSON-encode strings) -> 'sgd'."""
    text = str(raw).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            decoded = json.loads(text)
        except ValueError:
            return text
        if isinstance(decoded, str):
            return decoded.strip()
    return text


def _convert(kind, text):
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(text)
    if kind is int:
        try:
            return int(text)
        except ValueError:
            number = float(text)  # '12.0' from a tuner's or a JSON encoder's float
            if not number.is_integer():
                raise
            return int(number)
    if kind is float:
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(text)
        return number
    return text


def _invalid(name, raw, accepted):
    raise TrainingError("hyperparameter %s=%r is not valid: %s must be %s"
                        % (display(name), str(raw), display(name), accepted))


def _reject_unknown(rest):
    for token in rest:
        if not token.startswith("-") or _is_number(token):
            continue
        name = token.lstrip("-").split("=", 1)[0]
        if name.startswith(_SAGEMAKER_PREFIXES):
            continue
        raise TrainingError("unknown hyperparameter %r: accepted are %s" % (
            name, ", ".join(display(n) for n in hyperparameter_names())))


def _is_number(token):
    try:
        float(token)
    except ValueError:
        return False
    return True


def _parse_hosts(raw):
    if not raw:
        return ()
    try:
        hosts = json.loads(raw)
    except ValueError:
        hosts = [h.strip() for h in raw.split(",") if h.strip()]
    if isinstance(hosts, str):
        hosts = [hosts]
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise TrainingError("SM_HOSTS=%r is not a JSON list of host names" % raw)
    return tuple(hosts)


def _parse_count(name, raw):
    if raw in (None, ""):
        return None
    try:
        return max(1, int(raw))
    except ValueError:
        raise TrainingError("%s=%r is not an integer" % (name, raw)) from None
