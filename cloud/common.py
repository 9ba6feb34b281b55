"""What the cloud scripts share: sessions, S3 layout, metric definitions, the state file.

Each script is a few lines of `main()` over functions that take their AWS sessions as
arguments, so tests run them against botocore's service models with no request leaving the
machine (tests/unit/test_cloud_requests.py).

The state file (default .cloud-state.json in the current folder) records what each script
created, so the next script finds its input (the data URIs, the model artifact, the endpoint)
and `python -m cloud.cleanup` deletes exactly those resources.
"""
import argparse
import json
import os
import pathlib
import time

DEFAULT_PREFIX = "mnist-pytorch"
DEFAULT_STATE_FILE = ".cloud-state.json"

# S3 layout under s3://BUCKET/PREFIX/
DATA_TRAINING = "data/training"
DATA_TEST = "data/test"
DATA_TRANSFORM = "data/transform"
DATA_IMAGES = "data/images"  # a user's own digit pictures and their manifest (cloud.prepare_data --images)
MODELS = "models"
TRANSFORM_OUTPUT = "transform-output"
CHECKPOINTS = "checkpoints"

# CloudWatch metrics read from the trainer's per-epoch log line (sagemaker_mnist.report.metric_line)
#   #metrics epoch=N train_loss=.. test_loss=.. test_accuracy=.. epoch_seconds=.. train_seconds=..
# SageMaker keeps the last value of each and plots all of them; the tuner maximizes test:accuracy.
# The one definition of these regexes: they are the API's metric_definitions, which only the side
# that creates jobs hands to SageMaker; the trainer writes the line and never reads them, so they
# live here rather than in code/sagemaker_mnist, which the cloud scripts do not import (and the training
# image need not carry). The README's block mirrors this list, and tests check both against a
# real training run's log (tests/contract) and the README (tests/unit/test_training_outputs.py).
OBJECTIVE_METRIC = "test:accuracy"
VALIDATION_METRIC = "validation:accuracy"
METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": r"#metrics .*\btrain_loss=([0-9.eE+-]+)"},
    {"Name": "test:loss", "Regex": r"#metrics .*\btest_loss=([0-9.eE+-]+)"},
    {"Name": OBJECTIVE_METRIC, "Regex": r"#metrics .*\btest_accuracy=([0-9.]+)"},
    {"Name": "epoch:seconds", "Regex": r"#metrics .*\bepoch_seconds=([0-9.]+)"},
    {"Name": "epoch", "Regex": r"#metrics epoch=([0-9]+)"},
    # With printed digits (printed-share > 0): the kind head on MNIST's test set, the digit and
    # kind heads on the job's printed validation digits.
    {"Name": "test:kind_accuracy", "Regex": r"#metrics .*\btest_kind_accuracy=([0-9.]+)"},
    {"Name": "printed:accuracy", "Regex": r"#metrics .*\bprinted_accuracy=([0-9.]+)"},
    {"Name": "printed:kind_accuracy", "Regex": r"#metrics .*\bprinted_kind_accuracy=([0-9.]+)"},
    # With validation digits (a validation channel or validation-fraction: a user's own digits):
    # their loss and accuracy, and the accuracy on each digit, which a tuner may maximise instead
    # of test:accuracy (cloud.tune --objective).
    {"Name": "validation:loss", "Regex": r"#metrics .*\bvalidation_loss=([0-9.eE+-]+)"},
    {"Name": VALIDATION_METRIC, "Regex": r"#metrics .*\bvalidation_accuracy=([0-9.]+)"},
] + [{"Name": "validation:accuracy_%d" % digit,
       "Regex": r"#metrics .*\bvalidation_accuracy_%d=([0-9.]+)" % digit} for digit in range(10)]
# What cloud.tune may maximise: an accuracy the trainer reports.
OBJECTIVES = [d["Name"] for d in METRIC_DEFINITIONS if "accuracy" in d["Name"]]

# A GPU instance with one T4: the cheapest GPU training instance SageMaker offers widely.
DEFAULT_TRAIN_INSTANCE = "ml.g4dn.xlarge"
DEFAULT_ENDPOINT_INSTANCE = "ml.m5.large"
DEFAULT_TRANSFORM_INSTANCE = "ml.m5.xlarge"


def s3_uri(bucket, prefix, *parts):
    return "s3://" + "/".join(p.strip("/") for p in (bucket, prefix) + parts if p)


def parse_s3_uri(uri):
    if not uri.startswith("s3://"):
        raise ValueError("not an s3:// URI: %r" % uri)
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def unique_name(base, max_length=63):
    """base-YYYYmmdd-HHMMSS, within SageMaker's 63-character name limit."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return "%s-%s" % (base[: max_length - len(stamp) - 1], stamp)


class State:
    """The resources the scripts created, in a small JSON file."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, key, default=None):
        return self.data.get(key, default)

    def require(self, key, hint):
        if not self.data.get(key):
            raise SystemExit("%s is not in %s: %s" % (key, self.path, hint))
        return self.data[key]

    def set(self, **values):
        self.data.update(values)
        self.save()

    def add(self, key, value):
        """Appends value to the list under key (once)."""
        values = self.data.setdefault(key, [])
        if value not in values:
            values.append(value)
        self.save()

    def save(self):
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path)


def base_parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    p.add_argument("--profile", help="AWS profile (default: your AWS configuration's)")
    p.add_argument("--state", default=DEFAULT_STATE_FILE,
                   help="file recording what the scripts created (default %(default)s)")
    p.add_argument("--poll", type=float, default=15, help="seconds between status checks while waiting (default %(default)s)")
    return p


def boto_session(args):
    import boto3

    return boto3.Session(region_name=args.region, profile_name=args.profile)


def main(parse_args, run, argv=None):
    """Every script's entry: parse its arguments, run it on a boto3 session from them."""
    args = parse_args(argv)
    run(boto_session(args), args)
    return 0


def sagemaker_session(boto):
    from sagemaker.session import Session

    return Session(boto_session=boto)


def hyperparameter(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME=VALUE, got %r" % text)
    return name, value
