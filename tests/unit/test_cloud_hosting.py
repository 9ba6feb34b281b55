"""The hosting modes of the cloud path: serverless, asynchronous, multi-model and autoscaled endpoints.

cloud.deploy (--serverless, --async), cloud.invoke_async, cloud.multi_model, cloud.autoscale and
cloud.cleanup run for real on tests/offline_aws.py's boto3 session: botocore validates every
sagemaker, sagemaker-runtime, application-autoscaling and s3 request against its service model
and every answer against the output shape, and nothing is sent. The limits the scripts and the
README state are checked against the same service models.
"""
import json
import re

import pytest
from botocore.exceptions import ClientError

import offline_aws
from support import MNIST_DIR, REPO, mnist

pytestmark = pytest.mark.unit

CPU_IMAGE = "111122223333.dkr.ecr.us-east-1.amazonaws.com/mnist-pytorch-inference:abc1234-cpu"
SERVE_IMAGE = "111122223333.dkr.ecr.us-east-1.amazonaws.com/mnist-pytorch-inference:abc1234"
ROLE = "arn:aws:iam::111122223333:role/SageMakerExecution"
BUCKET = "my-ml-bucket"
MODEL_DATA = "s3://%s/mnist-pytorch/models/mnist-1/output/model.tar.gz" % BUCKET
OUTPUT = "s3://%s/mnist-pytorch/async-output" % BUCKET
SUCCESS_TOPIC = "arn:aws:sns:us-east-1:111122223333:mnist-answers"
ERROR_TOPIC = "arn:aws:sns:us-east-1:111122223333:mnist-failures"


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
    (["--memory", "2048"], "--memory: only with --serverless"),
    (["--max-concurrency", "3", "--async", "--output", OUTPUT], "--max-concurrency: only with --serverless"),
    (["--serverless", "--instance-type", "ml.m5.large"], "has no instances: drop --instance-type"),
    (["--serverless", "--instance-count", "2"], "has no instances: drop --instance-count"),
    (["--serverless", "--memory", "1500"], "invalid choice: 1500"),
    (["--serverless", "--max-concurrency", "201"], "--max-concurrency takes 1 to 200, not 201"),
    (["--serverless", "--max-concurrency", "0"], "--max-concurrency takes 1 to 200, not 0"),
    (["--instance-count", "0"], "--instance-count takes 1 to your account's quota, not 0"),
    (["--serverless", "--async"], "not allowed with argument"),
    (["--async"], "--async needs --output"),
    (["--output", OUTPUT], "--output: only with --async"),
    (["--sns-error", ERROR_TOPIC], "--sns-error: only with --async"),
    (["--async", "--output", "my-bucket/out"], "--output takes an s3:// URI"),
    (["--async", "--output", OUTPUT, "--max-concurrent-invocations", "1001"],
     "--max-concurrent-invocations takes 1 to 1000, not 1001"),
])
def test_deploy_refuses_options_of_another_mode(options, message, capsys):
    from cloud import deploy

    with pytest.raises(SystemExit) as exit_:
        deploy.parse_args(["--image-uri", CPU_IMAGE] + options)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def _async_endpoint(fake, state):
    name, _ = _deploy(fake, state, "--image-uri", CPU_IMAGE, "--async", "--output", OUTPUT)
    return name


def _endpoint_writes(fake, after_polls, failed=False, body=b""):
    """HeadObject as S3 answers it while the endpoint works: the answer (or failure) object
    appears once the output has been looked for `after_polls` times."""
    polls = []

    def head(params, fake_):
        if params["Key"].endswith(".out") and not params["Key"].endswith("-error.out"):
            polls.append(params["Key"])
            if len(polls) == after_polls:
                request = fake_.last("sagemaker-runtime.InvokeEndpointAsync")
                told = offline_aws.default_answers()["sagemaker-runtime.InvokeEndpointAsync"](request, fake_)
                where = told["FailureLocation" if failed else "OutputLocation"]
                fake_.objects[tuple(where[len("s3://"):].split("/", 1))] = body
        return offline_aws.default_answers()["s3.HeadObject"](params, fake_)

    fake.answers["s3.HeadObject"] = head
    return polls


def _digits_csv(tmp_path, count):
    images, _ = mnist("t10k")
    path = tmp_path / "digits.csv"
    path.write_text("".join(",".join(map(str, image.reshape(-1))) + "\n" for image in images[:count]))
    return path


def test_invoke_async_uploads_invokes_and_waits_for_the_answer(offline_env, state, tmp_path):
    from cloud import invoke_async

    fake = offline_aws.FakeAws()
    endpoint = _async_endpoint(fake, state)
    start = len(fake.calls)
    digits = _digits_csv(tmp_path, 20)
    answer = "".join(json.dumps({"label": int(y), "probabilities": [0.1] * 10}) + "\n" for y in mnist("t10k")[1][:20])
    polls = _endpoint_writes(fake, after_polls=3, body=answer.encode())
    sleeps = []
    answer_file = tmp_path / "answer.jsonl"
    body = invoke_async.run(fake.session, invoke_async.parse_args(
        ["--input", str(digits), "--accept", "application/jsonlines", "--invocation-timeout", "1800",
         "--answer", str(answer_file), "--state", str(state), "--poll", "2"]), log=lambda _: None, sleep=sleeps.append)

    assert fake.operations()[start:] == (["s3.PutObject", "sagemaker-runtime.InvokeEndpointAsync"]
                                         + ["s3.HeadObject"] * 5 + ["s3.GetObject"])
    put = fake.last("s3.PutObject")
    assert put["Bucket"] == BUCKET
    assert re.fullmatch(r"mnist-pytorch/async-input/request-\d{8}-\d{6}/digits\.csv", put["Key"])
    assert fake.objects[(BUCKET, put["Key"])] == digits.read_bytes()
    invoke = fake.last("sagemaker-runtime.InvokeEndpointAsync")
    assert invoke == {"EndpointName": endpoint, "InputLocation": "s3://%s/%s" % (BUCKET, put["Key"]),
                      "ContentType": "text/csv", "Accept": "application/jsonlines", "InvocationTimeoutSeconds": 1800}
    # The output was looked for three times, the failure twice (not after the answer was there).
    heads = [p["Key"] for p in fake.params("s3.HeadObject")]
    output_key = "mnist-pytorch/async-output/%s.out" % "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    failure_key = "mnist-pytorch/async-output/failures/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b-error.out"
    assert heads == [output_key, failure_key, output_key, failure_key, output_key] and len(polls) == 3
    assert sleeps == [2, 2]
    assert fake.last("s3.GetObject")["Key"] == output_key
    assert body == answer.encode() and answer_file.read_bytes() == answer.encode()
    assert len(body.decode().splitlines()) == 20
    _checked(fake, offline_env)


def test_invoke_async_reports_the_failure_object(offline_env, state, tmp_path):
    from cloud import invoke_async

    fake = offline_aws.FakeAws()
    _async_endpoint(fake, state)
    _endpoint_writes(fake, after_polls=2, failed=True,
                     body=b'{"error": "BadRequest", "message": "row 3 holds 783 values: 784 are accepted"}')
    with pytest.raises(SystemExit) as exit_:
        invoke_async.run(fake.session, invoke_async.parse_args(["--input", str(_digits_csv(tmp_path, 3))]
                                                               + _options(state)),
                         log=lambda _: None, sleep=lambda _: None)
    message = str(exit_.value.code)
    assert message.startswith("the endpoint failed request 0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b")
    assert "row 3 holds 783 values" in message
    assert fake.last("s3.GetObject")["Key"].endswith("/failures/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b-error.out")


def test_invoke_async_gives_up_at_its_deadline(offline_env, state, tmp_path):
    from cloud import invoke_async

    fake = offline_aws.FakeAws()
    _async_endpoint(fake, state)
    now = [0.0]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    with pytest.raises(SystemExit) as exit_:
        invoke_async.run(fake.session, invoke_async.parse_args(
            ["--input", str(_digits_csv(tmp_path, 1)), "--deadline", "60", "--state", str(state), "--poll", "10"]),
            log=lambda _: None, clock=lambda: now[0], sleep=sleep)
    assert "no answer at s3://%s/mnist-pytorch/async-output/" % BUCKET in str(exit_.value.code)
    assert sleeps == [10] * 6 and now[0] == 60
    assert "s3.GetObject" not in fake.operations()


def test_invoke_async_on_a_real_time_endpoint_is_refused_by_sagemaker(offline_env, state, tmp_path):
    from cloud import invoke_async

    fake = offline_aws.FakeAws()
    _deploy(fake, state, "--image-uri", SERVE_IMAGE, "--no-smoke-test")
    with pytest.raises(ClientError) as error:
        invoke_async.run(fake.session, invoke_async.parse_args(["--input", str(_digits_csv(tmp_path, 1))]
                                                               + _options(state)), log=lambda _: None)
    assert error.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize("name, content_type", [
    ("d.csv", "text/csv"), ("d.JSON", "application/json"), ("d.jsonl", "application/jsonlines"),
    ("d.npy", "application/x-npy"), ("digit.png", "image/png"), ("digit.jpeg", "image/jpeg"),
])
def test_invoke_async_content_type_from_the_suffix(name, content_type):
    from cloud import invoke_async

    assert invoke_async.content_type_of(name) == content_type
    assert invoke_async.content_type_of(name, "text/csv") == "text/csv"


def test_invoke_async_unknown_suffix_needs_a_content_type():
    from cloud import invoke_async

    with pytest.raises(SystemExit) as exit_:
        invoke_async.content_type_of("digits.bin")
    assert "pass --content-type" in str(exit_.value.code) and "text/csv" in str(exit_.value.code)


# --- multi-model

def test_multi_model_endpoint_serves_each_model_under_its_prefix(offline_env, state):
    from cloud import multi_model

    fake = offline_aws.FakeAws()
    sources = {"wide": "s3://%s/mnist-pytorch/models/wide/output/model.tar.gz" % BUCKET,
               "fast": "s3://%s/mnist-pytorch/models/fast/output/model.tar.gz" % BUCKET}
    for uri in sources.values():
        fake.objects[tuple(uri[len("s3://"):].split("/", 1))] = b"a model.tar.gz: " + uri.encode()
    lines = []
    name = multi_model.run(fake.session, multi_model.parse_args(
        ["--image-uri", CPU_IMAGE, "--model", "wide=" + sources["wide"], "--model", "fast=" + sources["fast"]]
        + _options(state)), log=lines.append)

    assert fake.operations() == (["s3.CopyObject"] * 2 + ["sagemaker.CreateModel", "sagemaker.CreateEndpointConfig",
                                                          "sagemaker.CreateEndpoint", "sagemaker.DescribeEndpoint"]
                                 + ["sagemaker-runtime.InvokeEndpoint"] * 2)
    model = fake.last("sagemaker.CreateModel")
    prefix = "s3://%s/mnist-pytorch/multi-model/%s/" % (BUCKET, name)
    assert model["PrimaryContainer"] == {"Image": CPU_IMAGE, "Mode": "MultiModel", "ModelDataUrl": prefix}
    assert model["ExecutionRoleArn"] == ROLE and model["ModelName"] == name
    (variant,) = fake.last("sagemaker.CreateEndpointConfig")["ProductionVariants"]
    assert variant == {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large",
                       "InitialInstanceCount": 1}
    # CopySource as it goes out (the x-amz-copy-source header): bucket/key.
    copies = {p["Key"]: p["CopySource"] for p in fake.params("s3.CopyObject")}
    assert copies == {"mnist-pytorch/multi-model/%s/wide.tar.gz" % name: sources["wide"][len("s3://"):],
                      "mnist-pytorch/multi-model/%s/fast.tar.gz" % name: sources["fast"][len("s3://"):]}
    invokes = fake.params("sagemaker-runtime.InvokeEndpoint")
    assert [p["TargetModel"] for p in invokes] == ["wide.tar.gz", "fast.tar.gz"]
    # What SageMaker loads for each request, ModelDataUrl + TargetModel, is the copied artifact.
    for p, source in zip(invokes, sources.values()):
        assert p["EndpointName"] == name
        loaded = (prefix + p["TargetModel"])[len("s3://"):].split("/", 1)
        assert fake.objects[tuple(loaded)] == b"a model.tar.gz: " + source.encode()
    after = _read_state(state)
    assert name in after["endpoints"] and name in after["endpoint_configs"] and name in after["models"]
    _checked(fake, offline_env)


def test_multi_model_defaults_to_the_trained_model(offline_env, state):
    from cloud import multi_model

    fake = offline_aws.FakeAws()
    fake.objects[tuple(MODEL_DATA[len("s3://"):].split("/", 1))] = b"model"
    name = multi_model.run(fake.session, multi_model.parse_args(["--image-uri", CPU_IMAGE, "--no-smoke-test"]
                                                                + _options(state)), log=lambda _: None)
    (copy,) = fake.params("s3.CopyObject")
    assert copy["Key"] == "mnist-pytorch/multi-model/%s/mnist.tar.gz" % name
    assert "sagemaker-runtime.InvokeEndpoint" not in fake.operations()


def test_cleanup_deletes_the_multi_model_endpoint_and_its_artifacts(offline_env, state):
    from cloud import cleanup, multi_model

    fake = offline_aws.FakeAws()
    fake.objects[tuple(MODEL_DATA[len("s3://"):].split("/", 1))] = b"model"
    name = multi_model.run(fake.session, multi_model.parse_args(["--image-uri", CPU_IMAGE, "--no-smoke-test"]
                                                                + _options(state)), log=lambda _: None)
    start = len(fake.calls)
    cleanup.run(fake.session, cleanup.parse_args(["--delete-data"] + _options(state)), log=lambda _: None)
    assert fake.operations()[start:] == ["sagemaker.DeleteEndpoint", "sagemaker.DeleteEndpointConfig",
                                         "sagemaker.DeleteModel", "s3.ListObjectsV2", "s3.DeleteObjects"]
    assert fake.last("sagemaker.DeleteEndpoint")["EndpointName"] == name
    assert fake.last("sagemaker.DeleteModel")["ModelName"] == name
    assert not [key for _, key in fake.objects if key.startswith("mnist-pytorch/")]
    after = _read_state(state)
    assert "multi_model_endpoint" not in after and "multi_model_prefix" not in after


@pytest.mark.parametrize("instance_type, cpu", [
    ("ml.m5.large", True), ("ml.c5.xlarge", True), ("ml.r6i.2xlarge", True), ("ml.t2.medium", True),
    ("ml.g5.xlarge", False), ("ml.g4dn.xlarge", False), ("ml.p4d.24xlarge", False), ("ml.inf2.xlarge", False),
    ("ml.trn1.2xlarge", False), ("m5.large", False),
])
def test_multi_model_takes_cpu_instances_only(instance_type, cpu, capsys):
    from cloud import multi_model

    assert multi_model.is_cpu_instance(instance_type) is cpu
    if not cpu:
        with pytest.raises(SystemExit):
            multi_model.parse_args(["--image-uri", CPU_IMAGE, "--instance-type", instance_type])
        assert "not a CPU instance" in capsys.readouterr().err


# --- autoscaling

def test_autoscale_registers_the_variant_and_tracks_invocations_then_cleanup_removes_both(offline_env, state):
    from cloud import autoscale, cleanup

    fake = offline_aws.FakeAws()
    endpoint, _ = _deploy(fake, state, "--image-uri", CPU_IMAGE, "--no-smoke-test")
    start = len(fake.calls)
    autoscale.run(fake.session, autoscale.parse_args(
        ["--min", "1", "--max", "6", "--target", "250", "--scale-in-cooldown", "600", "--scale-out-cooldown", "30"]
        + _options(state)), log=lambda _: None)
    assert fake.operations()[start:] == ["sagemaker.DescribeEndpoint", "sagemaker.DescribeEndpointConfig",
                                         "application-autoscaling.RegisterScalableTarget",
                                         "application-autoscaling.PutScalingPolicy"]
    resource = "endpoint/%s/variant/AllTraffic" % endpoint
    target = {"ServiceNamespace": "sagemaker", "ResourceId": resource,
              "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"}
    assert fake.last("application-autoscaling.RegisterScalableTarget") == dict(target, MinCapacity=1, MaxCapacity=6)
    policy_name = "%s-AllTraffic-invocations" % endpoint
    assert fake.last("application-autoscaling.PutScalingPolicy") == dict(
        target, PolicyName=policy_name, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 250.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": 600, "ScaleOutCooldown": 30})
    assert _read_state(state)["scalable_targets"] == [{"ResourceId": resource, "PolicyName": policy_name}]

    start = len(fake.calls)
    cleanup.run(fake.session, cleanup.parse_args(_options(state)), log=lambda _: None)
    ops = fake.operations()[start:]
    assert ops[:3] == ["application-autoscaling.DeleteScalingPolicy",
                       "application-autoscaling.DeregisterScalableTarget", "sagemaker.DeleteEndpoint"]
    assert fake.last("application-autoscaling.DeleteScalingPolicy") == dict(target, PolicyName=policy_name)
    assert fake.last("application-autoscaling.DeregisterScalableTarget") == target
    assert "scalable_targets" not in _read_state(state)
    _checked(fake, offline_env)


def test_autoscale_refuses_a_serverless_endpoint(offline_env, state):
    from cloud import autoscale

    fake = offline_aws.FakeAws()
    _deploy(fake, state, "--image-uri", CPU_IMAGE, "--serverless", "--no-smoke-test")
    with pytest.raises(SystemExit) as exit_:
        autoscale.run(fake.session, autoscale.parse_args(_options(state)), log=lambda _: None)
    assert "is serverless" in str(exit_.value.code)
    assert not any(op.startswith("application-autoscaling.") for op in fake.operations())
    assert "scalable_targets" not in _read_state(state)


def test_autoscale_names_the_variants_an_endpoint_has(offline_env, state):
    from cloud import autoscale

    fake = offline_aws.FakeAws()
    _deploy(fake, state, "--image-uri", CPU_IMAGE, "--no-smoke-test")
    with pytest.raises(SystemExit) as exit_:
        autoscale.run(fake.session, autoscale.parse_args(["--variant", "Blue"] + _options(state)), log=lambda _: None)
    assert "has no variant 'Blue': it has AllTraffic" in str(exit_.value.code)


def test_autoscale_waits_for_an_endpoint_in_service(offline_env, state):
    from cloud import autoscale

    def creating(params, fake):
        described = offline_aws.default_answers()["sagemaker.DescribeEndpoint"](params, fake)
        return dict(described, EndpointStatus="Creating")

    fake = offline_aws.FakeAws()
    _deploy(fake, state, "--image-uri", CPU_IMAGE, "--no-smoke-test")
    fake.answers["sagemaker.DescribeEndpoint"] = creating
    with pytest.raises(SystemExit) as exit_:
        autoscale.run(fake.session, autoscale.parse_args(_options(state)), log=lambda _: None)
    assert "is Creating: scale it once it is InService" in str(exit_.value.code)
    assert not any(op.startswith("application-autoscaling.") for op in fake.operations())


@pytest.mark.parametrize("options", [["--min", "0"], ["--min", "3", "--max", "2"], ["--target", "0"],
                                     ["--scale-in-cooldown", "-1"]])
def test_autoscale_refuses_bounds_application_auto_scaling_would(options):
    from cloud import autoscale

    with pytest.raises(SystemExit) as exit_:
        autoscale.parse_args(options)
    assert exit_.value.code == 2


def test_cleanup_skips_scaling_that_is_already_gone(offline_env, tmp_path):
    from cloud import cleanup

    def gone(params, fake):
        raise offline_aws.AwsError("ObjectNotFoundException", "No scalable target registered for service namespace: "
                                   "sagemaker, resource ID: %s" % params["ResourceId"])

    fake = offline_aws.FakeAws({"application-autoscaling.DeleteScalingPolicy": gone,
                                "application-autoscaling.DeregisterScalableTarget": gone})
    state = tmp_path / "state.json"
    resource = "endpoint/mnist-ep/variant/AllTraffic"
    state.write_text(json.dumps({"scalable_targets": [{"ResourceId": resource, "PolicyName": "p"}]}))
    lines = []
    cleanup.run(fake.session, cleanup.parse_args(["--state", str(state)]), log=lines.append)
    assert lines == ["p: already gone", "%s: already gone" % resource]


# --- the limits, as the service models state them

def _shape(service, name):
    import botocore.session

    return botocore.session.get_session().get_service_model(service).shape_for(name).metadata


def test_the_scripts_limits_are_the_service_models(offline_env):
    from cloud import deploy, invoke_async

    memory = _shape("sagemaker", "ServerlessMemorySizeInMB")
    assert (min(deploy.SERVERLESS_MEMORY_MB), max(deploy.SERVERLESS_MEMORY_MB)) == (memory["min"], memory["max"])
    assert all(b - a == 1024 for a, b in zip(deploy.SERVERLESS_MEMORY_MB, deploy.SERVERLESS_MEMORY_MB[1:]))
    assert deploy.SERVERLESS_MAX_CONCURRENCY == _shape("sagemaker", "ServerlessMaxConcurrency")["max"]
    assert deploy.ASYNC_MAX_CONCURRENT_INVOCATIONS == _shape("sagemaker", "MaxConcurrentInvocationsPerInstance")["max"]
    assert invoke_async.MAX_INVOCATION_TIMEOUT_S == _shape("sagemaker-runtime", "InvocationTimeoutSecondsHeader")["max"]


def test_the_readme_hosting_table_states_the_service_models_limits():
    text = (REPO / "README.md").read_text()
    table = text[text.index("| hosting mode |"):]
    table = table[:table.index("\n\n")]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[2:]}
    assert set(rows) == {"real-time", "serverless", "asynchronous", "multi-model", "batch transform"}
    # InvokeEndpoint's Body: 6,291,456 bytes, 6 MB.
    assert _shape("sagemaker-runtime", "BodyBlob")["max"] == 6 * 1024 * 1024
    assert "6 MB" in rows["real-time"] and "60 s" in rows["real-time"]
    memory = _shape("sagemaker", "ServerlessMemorySizeInMB")
    assert "%d-%d MB" % (memory["min"], memory["max"]) in rows["serverless"]
    assert "MaxConcurrency 1-%d" % _shape("sagemaker", "ServerlessMaxConcurrency")["max"] in rows["serverless"]
    assert "4 MB" in rows["serverless"] and "CPU image" in rows["serverless"]
    assert _shape("sagemaker-runtime", "InvocationTimeoutSecondsHeader")["max"] == 3600
    assert "1 GB" in rows["asynchronous"] and "1 h" in rows["asynchronous"]
    assert _shape("sagemaker-runtime", "RequestTTLSecondsHeader")["max"] == 6 * 3600 and "6 h" in rows["asynchronous"]
    assert "CPU instances" in rows["multi-model"]
    for row, script in (("serverless", "cloud.deploy --serverless"), ("asynchronous", "cloud.deploy --async"),
                        ("multi-model", "cloud.multi_model"), ("real-time", "cloud.autoscale")):
        assert script in rows[row], row
