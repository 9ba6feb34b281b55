"""The hosting modes of the cloud path: serverless, asynchronous, multi-model and autoscaled endpoints.

cloud.deploy (--serverless, --async), cloud.invoke_async, cloud.multi_model, cloud.autoscale and
cloud.cleanup run for real on tests/offline_aws.py's boto3 session: botocore validates every
sagemaker, sagemaker-runtime, application-autoscaling and s3 request against its service model
and every answer against the output shape, and nothing is sent. The limits the scripts and the
README state are checked against the same service models.
"""
import json

import pytest

import offline_aws
from support import MNIST_DIR, mnist

pytestmark = pytest.mark.unit

CPU_IMAGE = "111122223333.dkr.ecr.us-east-1.amazonaws.com/mnist-pytorch-inference:abc1234-cpu"
SERVE_IMAGE = "111122223333.dkr.ecr.us-east-1.amazonaws.com/mnist-pytorch-inference:abc1234"
ROLE = "arn:aws:iam::111122223333:role/SageMakerExecution"
BUCKET = "my-ml-bucket"
MODEL_DATA = "s3://%s/mnist-pytorch/models/mnist-1/output/model.tar.gz" % BUCKET
OUTPUT = "s3://%s/mnist-pytorch/async-output" % BUCKET
SUCCESS_TOPIC = "arn:aws:sns:us-east-1:111122223333:mnist-answers"
ERROR_TOPIC = "arn:aws:sns:us-east-1:111122223333:mnist-failures"


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory):
    with offline_aws.sdk_offline(tmp_path_factory.mktemp("sdk")) as guard:
        yield guard


@pytest.fixture
def state(tmp_path):
    """A state file as cloud.prepare_data and cloud.train leave it."""
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"bucket": BUCKET, "prefix": "mnist-pytorch", "role": ROLE, "model_data": MODEL_DATA,
                                "data_dir": str(MNIST_DIR)}))
    return path


def _options(state):
    return ["--state", str(state), "--poll", "0"]


def _deploy(fake, state, *options):
    from cloud import deploy

    lines = []
    name = deploy.run(fake.session, deploy.parse_args(list(options) + _options(state)), log=lines.append)
    return name, lines


def _read_state(state):
    return json.loads(state.read_text())


def _checked(fake, offline_env):
    assert fake.unanswered == [] and fake.sent == [] and offline_env.refused == []


# --- serverless

def test_serverless_deploy_puts_serverless_config_on_the_variant(offline_env, state):
    fake = offline_aws.FakeAws()
    name, _ = _deploy(fake, state, "--image-uri", CPU_IMAGE, "--serverless",
                      "--memory", "3072", "--max-concurrency", "8")
    assert fake.operations() == ["sagemaker.CreateModel", "sagemaker.CreateEndpointConfig", "sagemaker.CreateEndpoint",
                                 "sagemaker.DescribeEndpoint", "sagemaker-runtime.InvokeEndpoint"]
    assert fake.last("sagemaker.CreateModel")["PrimaryContainer"]["Image"] == CPU_IMAGE
    (variant,) = fake.last("sagemaker.CreateEndpointConfig")["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 8}
    # A serverless variant names no instances: SageMaker refuses a config that has both.
    assert "InstanceType" not in variant and "InitialInstanceCount" not in variant
    assert variant["ModelName"] == name
    # The smoke test's digit went through InvokeEndpoint, which serverless endpoints take.
    assert json.loads(fake.last("sagemaker-runtime.InvokeEndpoint")["Body"]) == mnist("t10k")[0][0].tolist()
    assert _read_state(state)["endpoint_mode"] == "serverless"
    _checked(fake, offline_env)


def test_serverless_defaults_are_2_gb_and_5_concurrent_invocations(offline_env, state):
    fake = offline_aws.FakeAws()
    _deploy(fake, state, "--image-uri", CPU_IMAGE, "--serverless", "--no-smoke-test")
    (variant,) = fake.last("sagemaker.CreateEndpointConfig")["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}


# --- asynchronous

def test_async_deploy_writes_answers_and_failures_to_s3_and_tells_sns(offline_env, state):
    fake = offline_aws.FakeAws()
    name, lines = _deploy(fake, state, "--image-uri", CPU_IMAGE, "--async", "--output", OUTPUT,
                          "--sns-success", SUCCESS_TOPIC, "--sns-error", ERROR_TOPIC,
                          "--max-concurrent-invocations", "4", "--env", "SAGEMAKER_MODEL_SERVER_TIMEOUT=3600")
    # No InvokeEndpoint: an asynchronous endpoint refuses it.
    assert fake.operations() == ["sagemaker.CreateModel", "sagemaker.CreateEndpointConfig", "sagemaker.CreateEndpoint",
                                 "sagemaker.DescribeEndpoint"]
    config = fake.last("sagemaker.CreateEndpointConfig")
    assert config["AsyncInferenceConfig"] == {
        "OutputConfig": {"S3OutputPath": OUTPUT, "S3FailurePath": OUTPUT + "/failures",
                         "NotificationConfig": {"SuccessTopic": SUCCESS_TOPIC, "ErrorTopic": ERROR_TOPIC}},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
    }
    (variant,) = config["ProductionVariants"]
    assert variant["InstanceType"] == "ml.m5.large" and variant["InitialInstanceCount"] == 1
    assert fake.last("sagemaker.CreateModel")["PrimaryContainer"]["Environment"] == {
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": "3600"}
    assert any("cloud.invoke_async" in line for line in lines)
    assert _read_state(state)["endpoint_mode"] == "async" and _read_state(state)["endpoint"] == name
    _checked(fake, offline_env)


def test_async_deploy_without_topics_has_no_notification_config(offline_env, state):
    fake = offline_aws.FakeAws()
    _deploy(fake, state, "--image-uri", SERVE_IMAGE, "--async", "--output", OUTPUT + "/",
            "--failure-output", "s3://other-bucket/failed/")
    output = fake.last("sagemaker.CreateEndpointConfig")["AsyncInferenceConfig"]["OutputConfig"]
    assert output == {"S3OutputPath": OUTPUT + "/", "S3FailurePath": "s3://other-bucket/failed/"}
    assert "ClientConfig" not in fake.last("sagemaker.CreateEndpointConfig")["AsyncInferenceConfig"]


@pytest.mark.parametrize("options, message", [
    (["--memory", "2048"], "--memory go with --serverless"),
    (["--max-concurrency", "3", "--async", "--output", OUTPUT], "--max-concurrency go with --serverless"),
    (["--serverless", "--instance-type", "ml.m5.large"], "has no instances: drop --instance-type"),
    (["--serverless", "--instance-count", "2"], "has no instances: drop --instance-count"),
    (["--serverless", "--memory", "1500"], "invalid choice: 1500"),
    (["--serverless", "--max-concurrency", "201"], "--max-concurrency: invalid"),
    (["--serverless", "--async"], "not allowed with argument"),
    (["--async"], "--async needs --output"),
    (["--output", OUTPUT], "--output go with --async"),
    (["--sns-error", ERROR_TOPIC], "--sns-error go with --async"),
    (["--async", "--output", "my-bucket/out"], "--output takes an s3:// URI"),
    (["--async", "--output", OUTPUT, "--max-concurrent-invocations", "1001"], "--max-concurrent-invocations: invalid"),
])
def test_deploy_refuses_options_of_another_mode(options, message, capsys):
    from cloud import deploy

    with pytest.raises(SystemExit) as exit_:
        deploy.parse_args(["--image-uri", CPU_IMAGE] + options)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
