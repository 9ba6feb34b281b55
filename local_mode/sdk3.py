"""The flow's training with SageMaker Python SDK v3: ModelTrainer in Mode.LOCAL_CONTAINER.

Runs in SDK v3's own virtual environment (v3 cannot share one with v2):
    .venv-sdk3/bin/python -m local_mode.sdk3 --training DIR --test DIR --output-dir DIR
It trains with the image's built-in trainer (ModelTrainer starts the image with no command,
which the image's CMD turns into `train`), offline like the v2 flow, and writes a small JSON
result (model artifact, metrics, refused requests) for the caller.
"""
import argparse
import json
import pathlib
import re
import shutil
import signal
import sys
import tarfile
import time

from local_mode import cleanup, offline

TRAINING_CHANNEL = "training"
TEST_CHANNEL = "test"
METRICS_LINE = re.compile(r"#metrics\s+(.*)")
# SDK v3's name for CPU local mode (v2's "local").
LOCAL_CPU_INSTANCE_TYPE = "local_cpu"


class _Tee:
    """Keeps a copy of what the containers print, to read the trainer's #metrics lines."""

    def __init__(self, stream):
        self.stream, self.lines = stream, []

    def write(self, text):
        self.lines.append(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()

    def isatty(self):
        return False


def train(train_image, training, test, output_dir, work_dir, hyperparameters, instance_type, guard):
    """Trains once with ModelTrainer; returns (model.tar.gz path, last #metrics dict)."""
    import boto3
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData
    from sagemaker.train.model_trainer import Mode

    boto_session = guard.attach(boto3.Session(region_name=offline.REGION))
    session = Session(boto_session=boto_session, sagemaker_config=offline.SDK_CONFIG)
    trainer = ModelTrainer(
        training_mode=Mode.LOCAL_CONTAINER,
        sagemaker_session=session,
        role=offline.FAKE_ROLE_ARN,
        training_image=train_image,
        base_job_name="mnist-sdk3",
        compute=Compute(instance_type=instance_type, instance_count=1),
        hyperparameters=hyperparameters,
        local_container_root=str(work_dir),
    )
    inputs = [InputData(channel_name=TRAINING_CHANNEL, data_source=str(training))]
    if test:
        inputs.append(InputData(channel_name=TEST_CHANNEL, data_source=str(test)))
    tee = _Tee(sys.stdout)
    saved = sys.stdout
    sys.stdout = tee
    try:
        trainer.train(input_data_config=inputs, wait=True, logs=True)
    finally:
        sys.stdout = saved
    produced = pathlib.Path(work_dir) / "compressed_artifacts"
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for name in ("model.tar.gz", "output.tar.gz"):
        if (produced / name).exists():
            shutil.copyfile(produced / name, output_dir / name)
    metrics = {}
    for line in "".join(tee.lines).splitlines():
        match = METRICS_LINE.search(line)
        if match:
            metrics = dict(pair.split("=", 1) for pair in match.group(1).split() if "=" in pair)
    return output_dir / "model.tar.gz", {k: int(v) if v.isdigit() else float(v) for k, v in metrics.items()}


def model_files(model_tar):
    with tarfile.open(model_tar) as tar:
        return sorted(m.name for m in tar.getmembers() if m.isfile())


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m local_mode.sdk3", description=__doc__.splitlines()[0])
    p.add_argument("--train-image", default="mnist-pytorch-training:latest")
    p.add_argument("--training", required=True, help="folder of the training channel")
    p.add_argument("--test", help="folder of the test channel")
    p.add_argument("--output-dir", required=True, type=pathlib.Path)
    p.add_argument("--work-dir", required=True, type=pathlib.Path, help="ModelTrainer's local_container_root")
    p.add_argument("--hyperparameters", default='{"preset": "fast"}', type=json.loads)
    p.add_argument("--instance-type", default=LOCAL_CPU_INSTANCE_TYPE, choices=("local_cpu", "local_gpu"))
    p.add_argument("--run-id", default="sdk3")
    p.add_argument("--result", type=pathlib.Path, help="write the result as JSON here")
    args = p.parse_args(argv)

    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    # docker-compose names its project (and so the containers) after the compose file's
    # folder: a name unique to the run keeps parallel runs apart.
    container_root = args.work_dir / ("modeltrainer-%s" % re.sub(r"[^a-z0-9-]", "-", args.run_id.lower()))
    guard = offline.RequestGuard()
    result = {"sdk": None, "trainer": "ModelTrainer(training_mode=Mode.LOCAL_CONTAINER)"}
    start = time.monotonic()
    try:
        with offline.offline_environment(args.work_dir), guard:
            result["sdk"] = "sagemaker %s" % _version("sagemaker")
            model_tar, metrics = train(args.train_image, args.training, args.test, args.output_dir,
                                       container_root, args.hyperparameters, args.instance_type, guard)
        result.update(model_data=str(model_tar), model_files=model_files(model_tar),
                      test_accuracy=metrics.get("test_accuracy"), epochs=metrics.get("epoch"), ok=True)
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - reported in the result file
        result.update(ok=False, error="%s: %s" % (type(e).__name__, " ".join(str(e).split())[:500]))
    finally:
        # ModelTrainer leaves its compose containers (no labels: found by their compose folder).
        cleanup.remove_containers(args.run_id, args.work_dir)
        cleanup.remove_tree(container_root, helper_image=args.train_image)
    result["refused_requests"] = list(guard.refused)
    result["seconds"] = round(time.monotonic() - start, 1)
    if args.result:
        args.result.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0 if result["ok"] and not guard.refused else 1


def _raise_on_sigterm(signum, frame):
    raise KeyboardInterrupt("terminated by signal %d" % signum)


def _version(dist):
    from importlib import metadata

    return metadata.version(dist)


if __name__ == "__main__":
    sys.exit(main())
