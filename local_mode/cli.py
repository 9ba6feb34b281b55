"""The command line of the flow (python -m local_mode): options -> Settings, then one run.

The whole SageMaker workflow on this machine, offline: SDK v2 local mode on the real images.

Steps (all by default, in this order; `--steps` picks some):
  estimator    train with the generic Estimator(image_uri=...): the image's built-in trainer
  script       train in script mode with sagemaker.pytorch.PyTorch(entry_point='train.py',
               source_dir='code'), the way AWS's PyTorch examples train
  distributed  the same script on instance_count=2: two containers, DDP over the local network
               (torchrun, gloo), compared with the one-host run
  sdk3         the same training with SDK v3's ModelTrainer in Mode.LOCAL_CONTAINER (a separate
               virtual environment: SDK v3 cannot share one with v2)
  deploy       a local endpoint of the estimator's model: predict a JSON digit and a PNG picture
               of a digit, then delete the endpoint
  transform    batch transform of the 10,000 MNIST test digits as CSV (MultiRecord) and the
               accuracy computed from the transform output
  finetune     fine-tune the estimator's model on a folder of digits (--finetune-digits, else
               seven-segment pictures the flow draws), with MNIST mixed in; serve the model
               before and after and score both on the held-out quarter of the digits

The run never reaches AWS (local_mode.offline), and whatever happens it removes the containers
it started and its temporary folder. It prints one progress line per step and a summary, in
which the steps left out are `skipped`; artifacts (model.tar.gz of each training, the transform
output, step logs, summary.json) stay under --output-dir.
"""
import argparse
import os
import pathlib
import signal

from data import mnist_files
from local_mode import finetune, runner
from local_mode.context import (
    DEFAULT_HYPERPARAMETERS,
    DEFAULT_OUTPUT_DIR,
    DEFAULT_SDK3_PYTHON,
    DEFAULT_SERVE_IMAGE,
    DEFAULT_TRAIN_IMAGE,
    MIN_TRANSFORM_ACCURACY,
    STEPS,
    Settings,
    StepFailed,
)
from local_mode.session import LOCAL_INSTANCE_TYPE

# Why a step of STEPS does not run, as the summary says it.
LEFT_OUT_BY_SKIP = "left out by --skip"
NOT_IN_STEPS = "not in --steps"


def parse_hyperparameter(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME=VALUE, got %r" % text)
    return name, value


def select_steps(steps, skip):
    """The steps to run, in the flow's order, and step -> why it does not run for the others."""
    selected = tuple(s for s in STEPS if s in steps and s not in skip)
    skipped = {s: LEFT_OUT_BY_SKIP if s in skip else NOT_IN_STEPS for s in STEPS if s not in selected}
    return selected, skipped


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m local_mode",
        description="Train, deploy and batch-transform MNIST with SageMaker SDK local mode on the "
                    "project's images, offline, then clean up.")
    p.add_argument("--train-image", default=DEFAULT_TRAIN_IMAGE, help="training image (default %(default)s)")
    p.add_argument("--serve-image", default=DEFAULT_SERVE_IMAGE, help="inference image (default %(default)s)")
    p.add_argument("--data-dir", type=pathlib.Path,
                   help="folder with the four MNIST .gz files; missing files are downloaded into it "
                        "and checksummed (default: $%s, else the repository's copy, %s)" % (
                            mnist_files.MNIST_DIR_VARIABLE, mnist_files.REPO_COPY))
    p.add_argument("--output-dir", type=pathlib.Path, default=DEFAULT_OUTPUT_DIR,
                   help="artifacts go to OUTPUT_DIR/RUN_ID (default %(default)s)")
    p.add_argument("--steps", default=",".join(STEPS),
                   help="comma-separated subset of %s (default: all)" % ",".join(STEPS))
    p.add_argument("--skip", default="", help="comma-separated steps to leave out")
    p.add_argument("--hyperparameter", "-H", action="append", type=parse_hyperparameter, default=[],
                   metavar="NAME=VALUE",
                   help="trainer hyperparameter; repeatable (default preset=fast seed=1)")
    p.add_argument("--instance-type", default=LOCAL_INSTANCE_TYPE, choices=("local", "local_gpu"))
    p.add_argument("--serving-port", type=int, default=0,
                   help="host port of local endpoints and transforms (default: a free one)")
    p.add_argument("--sdk3-python", type=pathlib.Path, default=DEFAULT_SDK3_PYTHON,
                   help="python of the SDK v3 environment (default %(default)s; the step is skipped "
                        "if it does not exist)")
    p.add_argument("--model-data", help="model.tar.gz (file:// or a path) for deploy/transform "
                                        "when no training step runs")
    p.add_argument("--comparison-digits", type=int, default=0, metavar="N",
                   help="train the script, distributed and sdk3 steps on the first N training digits "
                        "only, to save time (default: all 60,000); the estimator step, whose model is "
                        "deployed and batch-transformed, always trains on all of them")
    p.add_argument("--min-accuracy", type=float, default=MIN_TRANSFORM_ACCURACY,
                   help="fail when the batch transform accuracy is lower (default %(default)s)")
    p.add_argument("--finetune-digits", type=pathlib.Path, metavar="DIR",
                   help="the finetune step's digits: DIR/0/ ... DIR/9/ holding PNG or JPEG pictures "
                        "(default: seven-segment display digits the flow draws)")
    p.add_argument("--max-payload-mb", type=int, default=6, help="batch transform MaxPayloadInMB")
    p.add_argument("--run-id", help="name of this run (default: time and a random suffix)")
    p.add_argument("--verbose", "-v", action="store_true", help="also stream container output to the console")
    args = p.parse_args(argv)
    steps = [s for s in args.steps.split(",") if s]
    skip = {s for s in args.skip.split(",") if s}
    unknown = sorted((set(steps) | skip) - set(STEPS))
    if unknown:
        p.error("unknown step(s) %s; choose from %s" % (", ".join(unknown), ", ".join(STEPS)))
    selected, skipped = select_steps(steps, skip)
    hyperparameters = dict(DEFAULT_HYPERPARAMETERS)
    hyperparameters.update(args.hyperparameter)
    data_dir = args.data_dir or mnist_files.default_dir(os.environ)
    model_data = args.model_data
    finetune_digits = args.finetune_digits and args.finetune_digits.resolve()
    if finetune_digits and "finetune" in selected:
        try:
            finetune.class_files(finetune_digits)  # a folder that cannot be used fails now, not after training
        except StepFailed as e:
            p.error(str(e))
    if model_data and "://" not in model_data:
        model_data = "file://%s" % os.path.abspath(model_data)
    return Settings(
        train_image=args.train_image, serve_image=args.serve_image, data_dir=data_dir,
        output_dir=args.output_dir, steps=selected, skipped=skipped,
        hyperparameters=hyperparameters, instance_type=args.instance_type, serving_port=args.serving_port,
        sdk3_python=args.sdk3_python, model_data=model_data, comparison_digits=args.comparison_digits,
        min_accuracy=args.min_accuracy,
        max_payload_mb=args.max_payload_mb, finetune_digits=finetune_digits, verbose=args.verbose,
        run_id=args.run_id,
    )


def _raise_on_sigterm(signum, frame):
    # CI and `timeout` stop a run with SIGTERM: unwind through the cleanup like Ctrl-C does.
    raise KeyboardInterrupt("terminated by signal %d" % signum)


def main(argv=None):
    settings = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    summary = runner.run(settings)
    return 0 if summary["ok"] else 1
