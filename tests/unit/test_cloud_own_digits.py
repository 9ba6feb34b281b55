"""The cloud path of a user's own digits, offline against botocore's service models (nothing sent,
as in test_cloud_requests): cloud.prepare_data --images uploads class folders of pictures and a
Ground Truth-style manifest of them, which the trainer reads back as those digits; cloud.train
--manifest streams that manifest in Pipe mode (AugmentedManifestFile, RecordIO), --model gives an
earlier job's model.tar.gz as the `model` channel, -H mnist-share adds the `mnist` channel; and
cloud.tune --objective maximises the accuracy on the user's validation digits."""
import base64
import hashlib
import json

import numpy as np
import pytest

import offline_aws
from sagemaker_mnist import hyperparameters, job_data
from support import MNIST_DIR, mnist
from user_data import write_class_folders

pytestmark = pytest.mark.unit

TRAIN_IMAGE = "111122223333.dkr.ecr.us-east-1.amazonaws.com/mnist-pytorch-training:abc1234"
ROLE = "arn:aws:iam::111122223333:role/SageMakerExecution"
BUCKET = "my-ml-bucket"
N = 30  # the first 30 of MNIST's training digits hold every digit


@pytest.fixture
def folder(tmp_path):
    x, y = mnist("train")
    return write_class_folders(tmp_path / "digits", x[:N], y[:N], nested=True)


def _prepare(fake, tmp_path, *flags):
    from cloud import prepare_data

    state = tmp_path / "state.json"
    prepare_data.run(fake.session, prepare_data.parse_args(
        ["--bucket", BUCKET, "--data-dir", str(MNIST_DIR), "--state", str(state)] + list(flags)), log=lambda _: None)
    return state


def test_prepare_data_uploads_the_pictures_and_a_manifest_the_trainer_reads(offline_env, tmp_path, folder):
    fake = offline_aws.FakeAws()
    state = _prepare(fake, tmp_path, "--images", str(folder))
    puts = fake.params("s3.PutObject")
    # MNIST's four files and the transform input as before, then every picture, then the manifest.
    assert len(puts) == 5 + N + 1
    pictures = puts[5:-1]
    assert all(p["Key"].startswith("mnist-pytorch/data/images/") and p["ContentType"] == "image/png"
               for p in pictures)
    assert pictures[0]["Key"] == "mnist-pytorch/data/images/0/batch-1/0001.png"
    for put in pictures:
        local = folder / put["Key"][len("mnist-pytorch/data/images/"):]
        assert base64.b64decode(put["ContentMD5"]) == hashlib.md5(local.read_bytes()).digest()
    manifest = puts[-1]
    assert manifest["Key"] == "mnist-pytorch/data/images/output.manifest"
    lines = [json.loads(line) for line in fake.objects[(BUCKET, manifest["Key"])].decode().splitlines()]
    assert [line["source-ref"] for line in lines] == ["s3://%s/%s" % (BUCKET, p["Key"]) for p in pictures]
    assert [line["digit"] for line in lines] == [int(p["Key"].split("/")[3]) for p in pictures]
    assert lines[0]["digit-metadata"] == {"class-name": "0", "human-annotated": "yes",
                                          "type": "groundtruth/image-classification"}
    saved = json.loads(state.read_text())
    assert saved["data"]["manifest"] == "s3://%s/mnist-pytorch/data/images/output.manifest" % BUCKET
    assert saved["data"]["images"] == "s3://%s/mnist-pytorch/data/images/" % BUCKET
    assert saved["label_attribute"] == "digit"

    # The prefix as a File-mode channel (SageMaker copies its objects): the trainer reads the
    # manifest and finds every picture, each with the label of its class folder.
    channel = tmp_path / "channel"
    for (bucket, key), body in fake.objects.items():
        if bucket == BUCKET and key.startswith("mnist-pytorch/data/images/"):
            path = channel / key[len("mnist-pytorch/data/images/"):]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
    dataset = job_data.load_job(hyperparameters.parse(["--train", str(channel), "--test", str(channel)], {}), {})
    assert dataset.train.source == "training (manifest: training/output.manifest)"
    assert sorted(dataset.train.labels.tolist()) == sorted(mnist("train")[1][:N].tolist())
    assert fake.unanswered == [] and fake.sent == []


@pytest.mark.parametrize("breaker,words", [
    (lambda f: [p.unlink() for p in f.rglob("*.png")] and None, "holds no pictures"),
    (lambda f: (f / "3" / "notes.txt").write_text("scanned on Monday"), "notes.txt is not a PNG or JPEG picture"),
    (lambda f: [p.rename(f / ("digit-" + p.name)) for p in f.iterdir()], "has no class folders 0/ to 9/"),
], ids=["empty-class-folder", "not-a-picture", "no-class-folders"])
def test_a_folder_that_will_not_do_fails_before_any_upload(offline_env, tmp_path, folder, breaker, words):
    breaker(folder)
    fake = offline_aws.FakeAws()
    with pytest.raises(SystemExit) as failure:
        _prepare(fake, tmp_path, "--images", str(folder))
    assert words in str(failure.value)
    assert fake.calls == []


def test_a_label_attribute_ground_truth_keeps_for_itself_is_refused(capsys):
    from cloud import prepare_data

    with pytest.raises(SystemExit):
        prepare_data.parse_args(["--bucket", BUCKET, "--label-attribute", "digit-metadata"])
    assert "source-ref and *-metadata are the picture and its bookkeeping" in capsys.readouterr().err


def _train(fake, state, *flags):
    from cloud import train

    train.run(fake.session, train.parse_args(["--image-uri", TRAIN_IMAGE, "--role", ROLE, "--no-wait",
                                              "--state", str(state), "--poll", "0"] + list(flags)),
              log=lambda _: None)
    job = fake.last("sagemaker.CreateTrainingJob")
    return job, {c["ChannelName"]: c for c in job["InputDataConfig"]}


def test_train_streams_the_manifest_in_pipe_mode(offline_env, tmp_path, folder):
    fake = offline_aws.FakeAws()
    state = _prepare(fake, tmp_path, "--images", str(folder), "--label-attribute", "digits")
    job, channels = _train(fake, state, "--manifest", "-H", "validation-fraction=0.2")
    training = channels["training"]
    assert training["InputMode"] == "Pipe" and training["RecordWrapperType"] == "RecordIO"
    assert training["DataSource"]["S3DataSource"] == {
        "S3DataType": "AugmentedManifestFile",
        "S3Uri": "s3://%s/mnist-pytorch/data/images/output.manifest" % BUCKET,
        "S3DataDistributionType": "FullyReplicated",
        "AttributeNames": ["source-ref", "digits"]}
    # The test channel stays MNIST's files, in the job's File mode.
    assert channels["test"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://%s/mnist-pytorch/data/test/" % BUCKET
    assert "InputMode" not in channels["test"] and job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert job["HyperParameters"] == {"validation-fraction": "0.2"}
    assert fake.unanswered == [] and fake.sent == []


def test_a_manifest_uri_and_its_attribute_from_the_command_line(offline_env, tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"bucket": BUCKET, "prefix": "p"}))
    fake = offline_aws.FakeAws()
    _, channels = _train(fake, state, "--manifest", "s3://labels/job-7/manifests/output/output.manifest",
                         "--label-attribute", "job-7")
    source = channels["training"]["DataSource"]["S3DataSource"]
    assert source["S3Uri"] == "s3://labels/job-7/manifests/output/output.manifest"
    assert source["AttributeNames"] == ["source-ref", "job-7"] and set(channels) == {"training"}


def test_train_fine_tunes_the_earlier_model_with_mnist_mixed_in(offline_env, tmp_path):
    state = tmp_path / "state.json"
    model_data = "s3://%s/p/models/mnist-pytorch-1/output/model.tar.gz" % BUCKET
    state.write_text(json.dumps({"bucket": BUCKET, "prefix": "p", "model_data": model_data,
                                 "data": {"training": "s3://%s/p/data/training/" % BUCKET,
                                          "test": "s3://%s/p/data/test/" % BUCKET}}))
    fake = offline_aws.FakeAws()
    _, channels = _train(fake, state, "--model", "--training", "s3://%s/mine/" % BUCKET, "--validation",
                         "s3://%s/mine-validation/" % BUCKET, "-H", "mnist-share=0.3")
    uris = {name: c["DataSource"]["S3DataSource"]["S3Uri"] for name, c in channels.items()}
    assert uris == {"training": "s3://%s/mine/" % BUCKET, "test": "s3://%s/p/data/test/" % BUCKET,
                    "validation": "s3://%s/mine-validation/" % BUCKET, "model": model_data,
                    "mnist": "s3://%s/p/data/training/" % BUCKET}
    assert channels["model"]["ContentType"] == "application/x-sagemaker-model"
    assert channels["model"]["InputMode"] == "File"


def test_a_missing_manifest_or_model_says_what_to_run(offline_env, tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"bucket": BUCKET, "prefix": "p", "data": {"training": "s3://b/t/"}}))
    for flags, words in ((["--manifest"], "run python -m cloud.prepare_data --images DIR first"),
                         (["--model"], "model_data is not in")):
        with pytest.raises(SystemExit) as failure:
            _train(offline_aws.FakeAws(), state, *flags)
        assert words in str(failure.value)


def test_tune_maximises_the_accuracy_on_the_users_validation_digits(offline_env, tmp_path):
    from cloud import tune

    state = tmp_path / "state.json"
    state.write_text(json.dumps({"bucket": BUCKET, "prefix": "p", "data": {"training": "s3://%s/mine/" % BUCKET}}))
    fake = offline_aws.FakeAws()
    tune.run(fake.session, tune.parse_args(["--image-uri", TRAIN_IMAGE, "--role", ROLE, "--no-wait", "--state",
                                            str(state), "--objective", "validation:accuracy_7", "-H",
                                            "validation-fraction=0.2"]), log=lambda _: None)
    config = fake.last("sagemaker.CreateHyperParameterTuningJob")["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:accuracy_7"}
    definitions = fake.last("sagemaker.CreateHyperParameterTuningJob")["TrainingJobDefinition"][
        "AlgorithmSpecification"]["MetricDefinitions"]
    assert "validation:accuracy_7" in {d["Name"] for d in definitions}
    assert np.isin(["validation:accuracy", "validation:loss"], [d["Name"] for d in definitions]).all()


def test_the_pipe_channels_names_are_the_service_models():
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    assert "AugmentedManifestFile" in model.shape_for("S3DataType").enum
    assert "RecordIO" in model.shape_for("RecordWrapper").enum
    assert "Pipe" in model.shape_for("TrainingInputMode").enum
    assert "AttributeNames" in model.shape_for("S3DataSource").members
    # The SDK's TrainingInput takes them under these argument names (sagemaker.inputs).
    import inspect

    from sagemaker.inputs import TrainingInput

    arguments = inspect.signature(TrainingInput).parameters
    assert {"s3_data_type", "attribute_names", "input_mode", "record_wrapping", "content_type"} <= set(arguments)
