"""sagemaker_mnist.hyperparameters: the three SDK spellings of one job parse to the same settings, defaults
come from the recipe's presets, and a bad value fails with one line naming it and what it accepts."""
import dataclasses
import json

import pytest

from sagemaker_mnist import hyperparameters, recipe
from sagemaker_mnist.failures import TrainingError
from sagemaker_mnist.hyperparameters import Hyperparameters, parse

pytestmark = pytest.mark.unit

JOB = {"preset": "fast", "epochs": 3, "batch-size": 64, "lr": 0.05, "optimizer": "adamw", "momentum": 0.8,
       "weight-decay": 0.0001, "scheduler": "cosine", "label-smoothing": 0.0, "augmentation": "affine",
       "width": 12, "seed": 7, "printed-share": 0.25, "printed-fonts": "Matplotlib, system"}
EXPECTED = dict(preset="fast", epochs=3, batch_size=64, lr=0.05, optimizer="adamw", momentum=0.8,
                weight_decay=0.0001, scheduler="cosine", label_smoothing=0.0, augmentation="affine",
                width=12, seed=7, eval_batch_size=1000, amp="auto", printed_share=0.25,
                printed_fonts="matplotlib,system", data_format="auto", label_attribute="", mnist_share=0.0,
                validation_fraction=0.0)

# What the training script's argv holds for each SDK, values exactly as they reach it:
#  - in hyperparameters.json (the raw encoding, for a script that is handed them unmodified),
#  - after the toolkit's json.loads + str() (what `train` passes on the command line).
STYLES = {
    "sdk2-framework-raw": lambda v: json.dumps(v),
    "sdk2-generic-raw": lambda v: str(v),
    "sdk3-raw": lambda v: v if isinstance(v, str) else json.dumps(v),
    "toolkit-cmd-args": lambda v: str(_toolkit_decoded(json.dumps(v))),
}


def _toolkit_decoded(value):
    # The toolkit json.loads each value of hyperparameters.json and keeps the string when that fails.
    try:
        return json.loads(value)
    except ValueError:
        return value


def _argv(job, encode, sep="-"):
    argv = []
    for k, v in job.items():
        argv += ["--" + k.replace("-", sep), encode(v)]
    return argv


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_sdk_spelling_gives_the_same_hyperparameters(style):
    settings = parse(_argv(JOB, STYLES[style]), {})
    assert settings.hp == Hyperparameters(**EXPECTED)


@pytest.mark.parametrize("style", sorted(STYLES))
def test_booleans_in_every_spelling(style):
    for value in (True, False):
        assert hyperparameters._convert(bool, hyperparameters._unquote(STYLES[style](value))) is value


def test_underscore_spelling_is_the_same():
    assert parse(_argv(JOB, str, sep="_"), {}).hp == parse(_argv(JOB, str), {}).hp


def test_equals_form():
    assert parse(["--batch-size=32", "--lr=0.2"], {}).hp.batch_size == 32


@pytest.mark.parametrize("preset", sorted(recipe.PRESETS))
def test_defaults_come_from_the_preset(preset):
    hp = parse(["--preset", preset], {}).hp
    for key, value in recipe.PRESETS[preset].items():
        assert getattr(hp, key) == value


def test_default_preset_when_none_is_given():
    hp = parse([], {}).hp
    assert hp.preset == "default"
    assert {k: getattr(hp, k) for k in recipe.PRESETS["default"]} == recipe.PRESETS["default"]


def test_every_preset_key_is_a_hyperparameter():
    names = set(hyperparameters.hyperparameter_names())
    for preset, values in recipe.PRESETS.items():
        assert set(values) <= names, "preset %r sets unknown hyperparameters" % preset


def test_a_job_value_overrides_one_preset_value():
    hp = parse(["--preset", "fast", "--epochs", "5"], {}).hp
    assert hp.epochs == 5
    assert hp.width == recipe.PRESETS["fast"]["width"]


def test_the_data_format_and_label_attribute_in_every_spelling():
    for encode in STYLES.values():
        hp = parse(["--data-format", encode("Manifest"), "--label_attribute", encode("digits")], {}).hp
        assert (hp.data_format, hp.label_attribute) == ("manifest", "digits")


def test_a_model_channel_picks_the_fine_tune_preset():
    env = {"SM_CHANNEL_TRAINING": "/opt/ml/input/data/training",
           "SM_CHANNEL_MODEL": "/opt/ml/input/data/model", "SM_CHANNEL_MNIST": "/opt/ml/input/data/mnist"}
    settings = parse(["--epochs", "5"], env)
    assert settings.pretrained_dir == "/opt/ml/input/data/model"
    assert settings.mnist_dir == "/opt/ml/input/data/mnist"
    assert settings.hp.preset == recipe.FINE_TUNE
    fine_tune = recipe.PRESETS[recipe.FINE_TUNE]
    assert settings.hp.lr == fine_tune["lr"] < recipe.PRESETS["default"]["lr"]
    assert fine_tune["epochs"] < recipe.PRESETS["default"]["epochs"]
    # The job's own values win: its epochs, and a preset it names.
    assert settings.hp.epochs == 5 and settings.explicit == {"epochs"}
    assert parse(["--preset", "default"], env).hp == parse(["--preset", "default"], {}).hp
    assert parse([], {}).hp.preset == "default"


def test_mnist_share_and_validation_fraction():
    hp = parse(["--mnist-share", "0.3", "--validation_fraction", '"0.2"'], {}).hp
    assert (hp.mnist_share, hp.validation_fraction) == (0.3, 0.2)


def test_integers_given_as_floats():
    assert parse(["--epochs", "4.0"], {}).hp.epochs == 4


BAD = [
    # (name, raw value, words the message must contain)
    ("lr", "fast", ["lr='fast'", "a number > 0"]),
    ("lr", "-0.1", ["lr='-0.1'", "a number > 0"]),
    ("lr", "nan", ["a number > 0"]),
    ("epochs", "0", ["epochs='0'", "an integer >= 1"]),
    ("epochs", "2.5", ["epochs='2.5'", "an integer >= 1"]),
    ("batch-size", "\"large\"", ["batch-size", "an integer >= 1"]),
    ("optimizer", "\"sgdd\"", ["optimizer", "one of " + ", ".join(recipe.OPTIMIZERS)]),
    ("scheduler", "linear", ["scheduler='linear'", "one of " + ", ".join(recipe.SCHEDULERS)]),
    ("augmentation", "True", ["augmentation='True'", "one of " + ", ".join(recipe.AUGMENTATIONS)]),
    ("preset", "turbo", ["preset='turbo'", "one of " + ", ".join(recipe.PRESETS)]),
    ("momentum", "1.5", ["momentum='1.5'", "a number in [0, 1)"]),
    ("label-smoothing", "1", ["label-smoothing='1'", "a number in [0, 1)"]),
    ("weight-decay", "-1", ["weight-decay='-1'", "a number >= 0"]),
    ("width", "0", ["width='0'", "an integer >= 1"]),
    ("amp", "fp8", ["amp='fp8'", "one of auto, off"]),
    ("mnist-share", "0.95", ["mnist-share='0.95'", "a number in [0, 0.9]"]),
    ("validation-fraction", "0.6", ["validation-fraction='0.6'", "a number in [0, 0.5]"]),
    ("preset", "finetune", ["preset='finetune'", "one of default, fast, fine-tune"]),
    ("data-format", "parquet", ["data-format='parquet'", "one of auto, mnist, folders, csv, manifest"]),
    ("label-attribute", "source-ref", ["label-attribute='source-ref'", "the manifest's label attribute"]),
    ("label-attribute", "\"digits-metadata\"", ["label-attribute", "not a *-metadata one"]),
]


@pytest.mark.parametrize("name,raw,words", BAD, ids=["%s=%s" % (n, r) for n, r, _ in BAD])
def test_bad_value_fails_with_one_line_naming_it(name, raw, words):
    with pytest.raises(TrainingError) as failure:
        parse(["--" + name, raw], {})
    message = str(failure.value)
    assert "\n" not in message and message.startswith("hyperparameter ")
    for word in words:
        assert word in message


def test_unknown_hyperparameter_lists_the_accepted_ones():
    with pytest.raises(TrainingError, match=r"unknown hyperparameter 'learning-rate': accepted are preset, epochs, "
                                            r"batch-size, lr"):
        parse(["--learning-rate", "0.1"], {})


def test_names_sagemaker_adds_are_ignored():
    settings = parse(["--_tuning_objective_metric", "test_accuracy", "--sagemaker_job_name", "x", "--lr", "0.3"], {})
    assert settings.hp.lr == 0.3


def test_flag_without_value():
    with pytest.raises(TrainingError, match=r"bad command line: argument --lr: expected one argument"):
        parse(["--lr"], {})


def test_paths_and_hosts_from_sagemaker_environment():
    env = {"SM_CHANNEL_TRAINING": "/opt/ml/input/data/training", "SM_CHANNEL_TEST": "/opt/ml/input/data/test",
           "SM_CHANNEL_VALIDATION": "/opt/ml/input/data/validation", "SM_MODEL_DIR": "/m",
           "SM_OUTPUT_DATA_DIR": "/o/data", "SM_OUTPUT_DIR": "/o", "SM_HOSTS": '["algo-1","algo-2"]',
           "SM_CURRENT_HOST": "algo-2", "SM_NUM_CPUS": "8", "SM_NUM_GPUS": "0"}
    s = parse([], env)
    assert (s.train_dir, s.test_dir, s.validation_dir) == (
        "/opt/ml/input/data/training", "/opt/ml/input/data/test", "/opt/ml/input/data/validation")
    assert (s.model_dir, s.output_data_dir, s.output_dir) == ("/m", "/o/data", "/o")
    assert s.checkpoint_dir == "/opt/ml/checkpoints"
    assert (s.hosts, s.current_host, s.num_cpus) == (("algo-1", "algo-2"), "algo-2", 8)


def test_base_dir_moves_every_default_path():
    s = parse([], {"SAGEMAKER_BASE_DIR": "/tmp/job"})
    assert (s.model_dir, s.output_data_dir, s.output_dir, s.checkpoint_dir) == (
        "/tmp/job/model", "/tmp/job/output/data", "/tmp/job/output", "/tmp/job/checkpoints")


def test_train_channel_named_train():
    assert parse([], {"SM_CHANNEL_TRAIN": "/data/train"}).train_dir == "/data/train"


def test_explicit_flags_outside_sagemaker():
    s = parse(["--train", "a", "--test", "b", "--model-dir", "c", "--output-data-dir", "d", "--checkpoint-dir", "e"],
              {"SM_CHANNEL_TRAINING": "x", "SM_MODEL_DIR": "y"})
    assert (s.train_dir, s.test_dir, s.model_dir, s.output_data_dir, s.checkpoint_dir) == ("a", "b", "c", "d", "e")
    assert s.hosts == ("localhost",)


def test_current_host_must_be_a_job_host():
    with pytest.raises(TrainingError, match=r"current host 'algo-3' is not among"):
        parse([], {"SM_HOSTS": '["algo-1","algo-2"]', "SM_CURRENT_HOST": "algo-3"})


def test_hyperparameters_are_frozen():
    hp = parse([], {}).hp
    with pytest.raises(dataclasses.FrozenInstanceError):
        hp.lr = 1.0
