"""The flow's steps, one function each over the run's Context; each returns its result (a dict).

A step raises StepFailed when it ran but its outcome is not what the flow promises (a model
worse than it should be, a wrong prediction, a request towards AWS); local_mode.runner runs them
in order, inside the offline environment, each with its own log.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys

from data import mnist_files
from local_mode import data, finetune, offline, printed
from local_mode.context import REPO, StepFailed
from local_mode.results import failure_reason, local_path, training_metrics

CODE_DIR = REPO / "code"
ENTRY_POINT = "train.py"
SDK3_SETUP = "python3 -m venv .venv-sdk3 && .venv-sdk3/bin/pip install -r requirements/sdk3.txt"
# How much worse the two-host model may be and still count as good as the one-host model:
# the two runs see the same data in a different order, and even one host's accuracy moves by a
# few tenths of a point between runs of a short training (thread timing in CPU kernels).
DISTRIBUTED_TOLERANCE = 0.005
# The deploy step's kind check: this many handwritten test digits and printed ones, as PNG. The
# accuracy a model of the flow's hyperparameters must reach on them (it reads about 99% of
# MNIST and 96% of printed digits; a model without the kind head fails the kind check).
KIND_SAMPLES = 20
KIND_MIN_ACCURACY = 0.8
# The fine-tuning job: MNIST makes 90% of its training set. bench/fine_tuning.py (the default
# model, 500 seven-segment digits): at 0.9 MNIST 99.55% -> 99.67% and the style 69% -> 99.7%; at
# 0.5 MNIST fell to 99.20%, at 0 to 98.38%. The flow's 2-epoch model, on its 300: 99.18% -> 99.09%.
FINETUNE_HYPERPARAMETERS = {"mnist-share": 0.9}
# The fine-tuned model may lose this much of the MNIST test accuracy it started with.
FINETUNE_MNIST_TOLERANCE = 0.005


def prepare_data(ctx):
    """The `data` step: stages the channels and the transform input under the run's temporary root."""
    data_dir = mnist_files.locate(ctx.settings.data_dir, log=print)
    ctx.channels = data.stage_channels(data_dir, ctx.tmp / "data")
    ctx.comparison_channels = dict(ctx.channels)
    digits = ctx.settings.comparison_digits
    if digits:
        ctx.comparison_channels[data.TRAINING_CHANNEL] = data.stage_subset(
            data_dir, ctx.tmp / "data" / "training-subset", digits)
    ctx.test_images, ctx.test_labels = data.test_split(data_dir)
    transform_dir = ctx.tmp / "data" / "transform"
    transform_dir.mkdir()
    ctx.transform_input = data.write_transform_csv(ctx.test_images, transform_dir / data.TRANSFORM_INPUT_NAME)
    return {"data_dir": str(data_dir), "test_digits": len(ctx.test_labels)}


def _fit(ctx, name, estimator, channels, training_digits=None):
    inputs = {channel: "file://%s" % path for channel, path in channels.items()}
    try:
        estimator.fit(inputs, job_name="mnist-%s-%s" % (name, ctx.run_id), wait=True, logs="None")
    except RuntimeError as e:
        # Local mode says only that docker-compose failed; the job's own reason is in the
        # failure file that the training toolkit wrote, which the SDK still collected.
        reason = failure_reason(ctx.out / name / "output.tar.gz")
        if reason:
            raise StepFailed("training failed: %s" % reason) from e
        raise
    model_data = estimator.model_data
    ctx.models[name] = model_data
    metrics = training_metrics(model_data, ctx.results[name]["log"])
    return {"model_data": local_path(model_data), "test_accuracy": metrics.get("test_accuracy"),
            "epochs": metrics.get("epoch"), "training_digits": training_digits or _digits(channels)}


def _digits(channels):
    labels = pathlib.Path(channels[data.TRAINING_CHANNEL]) / mnist_files.TRAIN_FILES[1]
    return int(data.read_idx(labels).shape[0])


def _output_path(ctx, name):
    path = ctx.out / name
    path.mkdir(parents=True, exist_ok=True)
    return "file://%s" % path


def train_estimator(ctx):
    """The `estimator` step: the generic Estimator(image_uri=...), the image's built-in trainer."""
    from sagemaker.estimator import Estimator

    estimator = Estimator(
        image_uri=ctx.settings.train_image,
        role=offline.FAKE_ROLE_ARN,
        instance_count=1,
        instance_type=ctx.settings.instance_type,
        output_path=_output_path(ctx, "estimator"),
        hyperparameters=dict(ctx.settings.hyperparameters),
        sagemaker_session=ctx.local_session(),
    )
    return _fit(ctx, "estimator", estimator, ctx.channels)


def _pytorch(ctx, name, instance_count, distribution=None):
    from sagemaker.pytorch import PyTorch

    return PyTorch(
        image_uri=ctx.settings.train_image,
        entry_point=ENTRY_POINT,
        source_dir=str(CODE_DIR),
        role=offline.FAKE_ROLE_ARN,
        instance_count=instance_count,
        instance_type=ctx.settings.instance_type,
        output_path=_output_path(ctx, name),
        hyperparameters=dict(ctx.settings.hyperparameters),
        distribution=distribution,
        sagemaker_session=ctx.local_session(),
    )


def train_script(ctx):
    """The `script` step: script mode, PyTorch(entry_point='train.py', source_dir='code')."""
    return _fit(ctx, "script", _pytorch(ctx, "script", 1), ctx.comparison_channels)


def train_distributed(ctx):
    """The `distributed` step: the script on two hosts, checked against the one-host model."""
    # torchrun on each of the two containers; the trainer joins them into one gloo group
    # and averages gradients, so the two hosts train one model on half the data each.
    estimator = _pytorch(ctx, "distributed", 2, distribution={"torch_distributed": {"enabled": True}})
    result = _fit(ctx, "distributed", estimator, ctx.comparison_channels)
    result["hosts"] = 2
    single = ctx.results.get("script", {}).get("test_accuracy")
    if single is not None and result["test_accuracy"] is not None:
        result["one_host_test_accuracy"] = single
        result["as_good_as_one_host"] = result["test_accuracy"] >= single - DISTRIBUTED_TOLERANCE
        if not result["as_good_as_one_host"]:
            raise StepFailed("two hosts reached %.4f test accuracy, one host %.4f" % (
                result["test_accuracy"], single))
    return result


def train_sdk3(ctx):
    """The `sdk3` step: local_mode.sdk3 in SDK v3's own environment; skipped when there is none."""
    python = pathlib.Path(ctx.settings.sdk3_python)
    if not python.exists():
        return {"skipped": "no SDK v3 environment at %s (make it with: %s)" % (python, SDK3_SETUP)}
    result_path = ctx.tmp / "sdk3-result.json"
    command = [
        str(python), "-m", "local_mode.sdk3",
        "--train-image", ctx.settings.train_image,
        "--training", str(ctx.comparison_channels[data.TRAINING_CHANNEL]),
        "--test", str(ctx.channels[data.TEST_CHANNEL]),
        "--output-dir", str(ctx.out / "sdk3"),
        "--work-dir", str(ctx.tmp / "sdk3"),
        "--run-id", ctx.run_id,
        "--hyperparameters", json.dumps(ctx.settings.hyperparameters),
        "--result", str(result_path),
    ]
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=pythonpath)
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        for line in process.stdout:
            sys.stdout.write(line)
    finally:
        if process.poll() is None:
            # Interrupted: the child cleans up its containers on SIGTERM.
            process.terminate()
        process.wait()
    if process.returncode != 0:
        raise StepFailed("SDK v3 ModelTrainer run failed (exit %d); see its log" % process.returncode)
    result = json.loads(result_path.read_text())
    result["training_digits"] = _digits(ctx.comparison_channels)
    if result.get("refused_requests"):
        ctx.guard.refused.extend(result["refused_requests"])
        raise StepFailed("SDK v3 run tried to reach AWS: %s" % result["refused_requests"])
    return result


def _model_data(ctx):
    if ctx.settings.model_data:
        return ctx.settings.model_data
    for name in ("estimator", "script", "distributed"):
        if name in ctx.models:
            return ctx.models[name]
    raise StepFailed("no model to serve: run a training step or pass --model-data")


def _model(ctx, name, model_data=None):
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor

    return Model(
        image_uri=ctx.settings.serve_image,
        model_data=model_data or _model_data(ctx),
        role=offline.FAKE_ROLE_ARN,
        name="mnist-%s-%s" % (name, ctx.run_id),
        predictor_cls=Predictor,
        sagemaker_session=ctx.local_session(),
    )


def deploy(ctx):
    """The `deploy` step: a local endpoint; a JSON digit and a PNG of it must come back right, and
    handwritten and printed digits sent as PNG must be read and told apart (kind_check)."""
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import IdentitySerializer, JSONSerializer

    model = _model(ctx, "endpoint")
    digit, label = ctx.test_images[0], int(ctx.test_labels[0])
    # wait=False: local mode's create_endpoint already waits for /ping; wait=True would
    # add a fixed 30 s sleep of the SDK's endpoint waiter.
    predictor = model.deploy(
        initial_instance_count=1, instance_type=ctx.settings.instance_type,
        endpoint_name="mnist-%s" % ctx.run_id, serializer=JSONSerializer(),
        deserializer=JSONDeserializer(), wait=False,
    )
    try:
        json_answer = predictor.predict(digit.tolist())
        png = Predictor(predictor.endpoint_name, sagemaker_session=ctx.local_session(),
                        serializer=IdentitySerializer("image/png"), deserializer=JSONDeserializer())
        png_answer = png.predict(data.png_digit(digit))
        kinds = kind_check(ctx, lambda body: data.predictions(json.dumps(png.predict(body)))[0])
    finally:
        predictor.delete_endpoint()
        model.delete_model()
    json_label = data.prediction_label(data.predictions(json.dumps(json_answer))[0])
    png_label = data.prediction_label(data.predictions(json.dumps(png_answer))[0])
    result = {"endpoint": predictor.endpoint_name, "true_label": label, "json_prediction": json_label,
              "png_prediction": png_label, "serving_port": ctx.serving_port, "kinds": kinds}
    if json_label != label or png_label != label:
        raise StepFailed("the endpoint predicted %d (JSON) and %d (PNG) for a %d" % (
            json_label, png_label, label))
    for kind, scores in kinds.items():
        for what in ("digit_accuracy", "kind_accuracy"):
            if scores[what] < KIND_MIN_ACCURACY:
                raise StepFailed("%s digits sent as PNG: %s %.2f, below %.2f (misread, true:digit/kind: %s)" % (
                    kind, what.replace("_", " "), scores[what], KIND_MIN_ACCURACY, scores["misread"]))
    return result


def kind_check(ctx, predict):
    """{kind: digits, digit_accuracy, kind_accuracy, misread} of KIND_SAMPLES handwritten test
    digits and as many printed ones (local_mode.printed), each sent alone as PNG through
    `predict` (PNG bytes -> the answer's prediction object). An answer without a kind counts as
    a wrong kind."""
    samples = {
        "handwritten": [(int(ctx.test_labels[i]), data.png_digit(ctx.test_images[i]))
                        for i in range(1, KIND_SAMPLES + 1)],
        "printed": printed.samples(KIND_SAMPLES),
    }
    scores = {}
    for kind, pairs in samples.items():
        answers = [predict(body) for _, body in pairs]
        digits = sum(data.prediction_label(a) == label for (label, _), a in zip(pairs, answers))
        right_kind = sum(a.get("kind") == kind for a in answers)
        scores[kind] = {"digits": len(pairs), "digit_accuracy": digits / len(pairs),
                        "kind_accuracy": right_kind / len(pairs),
                        "misread": ["%d:%s/%s" % (label, data.prediction_label(a), a.get("kind"))
                                    for (label, _), a in zip(pairs, answers)
                                    if data.prediction_label(a) != label or a.get("kind") != kind]}
    return scores


def transform(ctx):
    """The `transform` step: batch transform of the test digits, scored against their labels."""
    model = _model(ctx, "transform")
    output_dir = ctx.out / "transform"
    transformer = model.transformer(
        instance_count=1, instance_type=ctx.settings.instance_type, strategy="MultiRecord",
        assemble_with="Line", output_path="file://%s" % output_dir, accept="application/jsonlines",
        max_payload=ctx.settings.max_payload_mb,
    )
    try:
        # wait=False then wait(logs=False): with logs the SDK's waiter polls CloudWatch.
        transformer.transform("file://%s" % ctx.transform_input.parent, content_type="text/csv",
                              split_type="Line", job_name="mnist-transform-%s" % ctx.run_id, wait=False)
        transformer.wait(logs=False)
    finally:
        model.delete_model()
    output = output_dir / (data.TRANSFORM_INPUT_NAME + data.TRANSFORM_OUTPUT_SUFFIX)
    accuracy, _ = data.transform_accuracy(output, ctx.test_labels)
    result = {"output": str(output), "records": len(ctx.test_labels), "accuracy": accuracy}
    if accuracy < ctx.settings.min_accuracy:
        raise StepFailed("batch transform accuracy %.4f is below %.4f" % (
            accuracy, ctx.settings.min_accuracy))
    return result


def fine_tune(ctx):
    """The `finetune` step: fine-tunes the flow's model (or --model-data) on a folder of digits,
    the user's (--finetune-digits) or seven-segment ones the flow draws (local_mode.finetune), with
    MNIST mixed in; serves the model before and after and scores both on the held-out part."""
    from sagemaker.estimator import Estimator

    start = _model_data(ctx)
    root = ctx.tmp / "data" / "finetune"
    digits = ctx.settings.finetune_digits or finetune.make_digits(root / "digits")
    held_out = finetune.split(digits, root / "training")
    model_channel = root / "model"
    model_channel.mkdir(parents=True)
    shutil.copyfile(local_path(start), model_channel / "model.tar.gz")
    before = score_endpoint(ctx, "before", start, held_out)
    hyperparameters = {"seed": ctx.settings.hyperparameters.get("seed", 1), **FINETUNE_HYPERPARAMETERS}
    estimator = Estimator(
        image_uri=ctx.settings.train_image, role=offline.FAKE_ROLE_ARN, instance_count=1,
        instance_type=ctx.settings.instance_type, output_path=_output_path(ctx, "finetune"),
        hyperparameters=hyperparameters, sagemaker_session=ctx.local_session(),
    )
    # model: the job starts from it (and takes the fine-tune preset); mnist: the handwriting
    # mixed in; test: MNIST's test digits, so the job reports what fine-tuning left of MNIST.
    channels = {data.TRAINING_CHANNEL: root / "training", "model": model_channel,
                "mnist": ctx.channels[data.TRAINING_CHANNEL], data.TEST_CHANNEL: ctx.channels[data.TEST_CHANNEL]}
    job = _fit(ctx, "finetune", estimator, channels, finetune.training_count(root / "training"))
    after = score_endpoint(ctx, "after", ctx.models["finetune"], held_out)
    mnist_before = ctx.results.get("estimator", {}).get("test_accuracy")
    result = {"digits": str(ctx.settings.finetune_digits or "seven-segment pictures drawn by the flow"),
              "training_digits": job["training_digits"], "held_out_digits": len(held_out),
              "hyperparameters": hyperparameters, "model_data": job["model_data"], "epochs": job["epochs"],
              "before": {"accuracy": before["accuracy"], "mnist_accuracy": mnist_before,
                         "misread": before["misread"]},
              "after": {"accuracy": after["accuracy"], "mnist_accuracy": job["test_accuracy"],
                        "misread": after["misread"]}}
    if after["accuracy"] < before["accuracy"]:
        raise StepFailed("the fine-tuned model reads %.4f of the held-out digits, the model it started from %.4f"
                         % (after["accuracy"], before["accuracy"]))
    if mnist_before is not None and job["test_accuracy"] < mnist_before - FINETUNE_MNIST_TOLERANCE:
        raise StepFailed("fine-tuning cost MNIST %.4f -> %.4f, more than %.3f" % (
            mnist_before, job["test_accuracy"], FINETUNE_MNIST_TOLERANCE))
    return result


def score_endpoint(ctx, name, model_data, pictures):
    """{accuracy, misread} of a local endpoint of model_data on [(label, picture file)], each
    sent alone with its image Content-Type."""
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import IdentitySerializer

    model = _model(ctx, "finetune-%s" % name, model_data)
    endpoint = model.deploy(initial_instance_count=1, instance_type=ctx.settings.instance_type,
                            endpoint_name="mnist-finetune-%s-%s" % (name, ctx.run_id), wait=False)
    try:
        predictors = {}
        labels = []
        for _, path in pictures:
            kind = finetune.content_type(path)
            if kind not in predictors:
                predictors[kind] = Predictor(endpoint.endpoint_name, sagemaker_session=ctx.local_session(),
                                             serializer=IdentitySerializer(kind), deserializer=JSONDeserializer())
            answer = predictors[kind].predict(path.read_bytes())
            labels.append(data.prediction_label(data.predictions(json.dumps(answer))[0]))
    finally:
        endpoint.delete_endpoint()
        model.delete_model()
    right = sum(label == predicted for (label, _), predicted in zip(pictures, labels))
    return {"accuracy": right / len(pictures),
            "misread": ["%d:%d" % (label, predicted) for (label, _), predicted in zip(pictures, labels)
                        if label != predicted]}


# Step name (context.STEPS) -> the function that runs it.
BY_NAME = {
    "estimator": train_estimator,
    "script": train_script,
    "distributed": train_distributed,
    "sdk3": train_sdk3,
    "deploy": deploy,
    "transform": transform,
    "finetune": fine_tune,
}
