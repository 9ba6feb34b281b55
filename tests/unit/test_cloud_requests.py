"""Every AWS request of the cloud scripts, checked against botocore's service models, offline.

The scripts run for real (their `parse_args` and `run`, the SageMaker SDK v2 underneath) on a
boto3 session from tests/offline_aws.py: botocore validates each request against the service
model and the answers against the output shapes, and nothing is sent. The whole path runs once
(prepare data, train, tune, deploy, batch transform, Lambda, clean up) and the tests check the
operations and their key parameters; a few edge cases run on their own.
"""
import base64
import io
import json
import re
import zipfile

import pytest

import offline_aws
from support import MNIST_DIR, mnist

pytestmark = pytest.mark.unit

TRAIN_IMAGE = "111122223333.dkr.ecr.us-east-1.amazonaws.com/mnist-pytorch-training:abc1234"
SERVE_IMAGE = "111122223333.dkr.ecr.us-east-1.amazonaws.com/mnist-pytorch-inference:abc1234"
ROLE = "arn:aws:iam::111122223333:role/SageMakerExecution"
BUCKET = "my-ml-bucket"
TRAINER_LINE = ("#metrics epoch=12 train_loss=0.512345 test_loss=0.016789 test_accuracy=0.995100 "
                "epoch_seconds=4.200 train_seconds=50.400")


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory):
    with offline_aws.sdk_offline(tmp_path_factory.mktemp("sdk")) as guard:
        yield guard


def _run_lambda(fake):
    """lambda.Invoke: runs the real handler, its InvokeEndpoint going through the same fake."""
    from cloud.lambda_function import handler

    def invoke(params, fake_):
        created = fake_.last("lambda.CreateFunction")
        runtime = fake_.session.client("sagemaker-runtime")
        env = created["Environment"]["Variables"]
        saved = {k: handler.os.environ.get(k) for k in env}
        handler.os.environ.update(env)
        try:
            result = handler.handler(json.loads(params["Payload"]), None, runtime=runtime)
        finally:
            for k, v in saved.items():
                if v is None:
                    handler.os.environ.pop(k, None)
                else:
                    handler.os.environ[k] = v
        return {"StatusCode": 200, "Payload": offline_aws.stream(json.dumps(result))}

    return invoke


def _log_answers():
    def streams(params, fake):
        return {"logStreams": [{"logStreamName": params["logStreamNamePrefix"] + "algo-1-1700000000"}]}

    def events(params, fake):
        if params.get("nextToken"):
            return {"events": [], "nextForwardToken": params["nextToken"]}
        return {"events": [{"timestamp": 1700000000000, "message": TRAINER_LINE, "ingestionTime": 1700000000001}],
                "nextForwardToken": "f/1"}

    return {"logs.DescribeLogStreams": streams, "logs.GetLogEvents": events}


def _transform_output(fake, labels):
    """The transform job's output object: one JSON line per digit, 50 of them wrong."""
    create = fake.last("sagemaker.CreateTransformJob")
    bucket, key = create["TransformOutput"]["S3OutputPath"][len("s3://"):].split("/", 1)
    lines = [json.dumps({"label": int(y) if i >= 50 else (int(y) + 1) % 10, "probabilities": [0.1] * 10})
             for i, y in enumerate(labels)]
    fake.objects[(bucket, key + "/mnist-test.csv.out")] = ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def journey(offline_env, tmp_path_factory):
    """The README's cloud path, script by script, on one fake account."""
    from cloud import cleanup, deploy, lambda_deploy, prepare_data, train, transform, tune

    state = str(tmp_path_factory.mktemp("cloud") / "state.json")
    fake = offline_aws.FakeAws(dict(_log_answers(), **{"lambda.Invoke": _run_lambda(None)}))
    common = ["--state", state, "--poll", "0"]
    out = {"fake": fake, "state": state, "log": []}
    log = out["log"].append

    prepare_data.run(fake.session, prepare_data.parse_args(["--bucket", BUCKET, "--data-dir", str(MNIST_DIR)] + common), log=log)
    out["after_prepare"] = len(fake.calls)
    out["uploaded"] = dict(fake.objects)
    train.run(fake.session, train.parse_args(
        ["--image-uri", TRAIN_IMAGE, "--role", ROLE, "-H", "preset=default", "-H", "epochs=12"] + common), log=log)
    out["after_train"] = len(fake.calls)
    tune.run(fake.session, tune.parse_args(["--image-uri", TRAIN_IMAGE, "--role", ROLE, "--max-jobs", "6"] + common), log=log)
    out["after_tune"] = len(fake.calls)
    deploy.run(fake.session, deploy.parse_args(["--image-uri", SERVE_IMAGE] + common), log=log)
    out["after_deploy"] = len(fake.calls)

    _, labels = mnist("t10k")
    fake.answers["sagemaker.DescribeTransformJob"] = _with_output(fake.answers["sagemaker.DescribeTransformJob"], labels)
    transform.run(fake.session, transform.parse_args(["--image-uri", SERVE_IMAGE] + common), log=log)
    out["after_transform"] = len(fake.calls)
    sleeps = []
    lambda_deploy.run(fake.session, lambda_deploy.parse_args(common), log=log, sleep=sleeps.append)
    out["after_lambda"] = len(fake.calls)
    out["state_before_cleanup"] = json.loads(open(state).read())
    cleanup.run(fake.session, cleanup.parse_args(["--delete-data"] + common), log=log)
    out["sleeps"] = sleeps
    return out


def _with_output(describe, labels):
    def answer(params, fake):
        _transform_output(fake, labels)
        return describe(params, fake)
    return answer


def _ops(journey, start, end):
    return journey["fake"].operations()[journey[start] if start else 0:journey[end]]


def test_nothing_left_the_machine(journey, offline_env):
    fake = journey["fake"]
    assert fake.unanswered == []
    assert fake.sent == []
    assert offline_env.refused == []


def test_prepare_data_uploads_the_channels_and_the_transform_input(journey):
    fake = journey["fake"]
    assert _ops(journey, None, "after_prepare") == ["s3.PutObject"] * 5
    keys = [p["Key"] for p in fake.params("s3.PutObject")]
    assert keys == [
        "mnist-pytorch/data/training/train-images-idx3-ubyte.gz",
        "mnist-pytorch/data/training/train-labels-idx1-ubyte.gz",
        "mnist-pytorch/data/test/t10k-images-idx3-ubyte.gz",
        "mnist-pytorch/data/test/t10k-labels-idx1-ubyte.gz",
        "mnist-pytorch/data/transform/mnist-test.csv",
    ]
    assert all(p["Bucket"] == BUCKET for p in fake.params("s3.PutObject"))
    # S3 checks each file against the canonical MNIST md5 it is sent with.
    md5 = base64.b64decode(fake.params("s3.PutObject")[0]["ContentMD5"]).hex()
    assert md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    csv = journey["uploaded"][(BUCKET, keys[-1])].decode().splitlines()
    images, _ = mnist("t10k")
    assert len(csv) == 10000 and [int(v) for v in csv[0].split(",")] == images[0].reshape(-1).tolist()


def test_train_creates_a_gpu_job_with_metric_definitions(journey):
    fake = journey["fake"]
    assert _ops(journey, "after_prepare", "after_train")[0] == "sagemaker.CreateTrainingJob"
    job = fake.last("sagemaker.CreateTrainingJob")
    assert job["AlgorithmSpecification"]["TrainingImage"] == TRAIN_IMAGE
    assert job["RoleArn"] == ROLE
    assert job["ResourceConfig"]["InstanceType"] == "ml.g4dn.xlarge"
    assert job["HyperParameters"] == {"preset": "default", "epochs": "12"}
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]}
    assert channels == {"training": "s3://%s/mnist-pytorch/data/training/" % BUCKET,
                        "test": "s3://%s/mnist-pytorch/data/test/" % BUCKET}
    assert job["OutputDataConfig"]["S3OutputPath"] == "s3://%s/mnist-pytorch/models" % BUCKET
    metrics = {m["Name"]: m["Regex"] for m in job["AlgorithmSpecification"]["MetricDefinitions"]}
    assert re.search(metrics["test:accuracy"], TRAINER_LINE).group(1) == "0.995100"
    assert re.search(metrics["test:loss"], TRAINER_LINE).group(1) == "0.016789"
    assert re.search(metrics["train:loss"], TRAINER_LINE).group(1) == "0.512345"
    # The job's logs were streamed from CloudWatch until it completed.
    assert "logs.GetLogEvents" in _ops(journey, "after_prepare", "after_train")
    assert journey["state_before_cleanup"]["training_job"] == job["TrainingJobName"]


def test_tune_maximizes_test_accuracy(journey):
    fake = journey["fake"]
    ops = _ops(journey, "after_train", "after_tune")
    assert ops[0] == "sagemaker.CreateHyperParameterTuningJob"
    request = fake.last("sagemaker.CreateHyperParameterTuningJob")
    config = request["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "test:accuracy"}
    assert config["Strategy"] == "Bayesian"
    assert config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 6
    assert config["TrainingJobEarlyStoppingType"] == "Auto"
    tuned = {r["Name"] for kind in config["ParameterRanges"].values() for r in kind}
    assert {"lr", "weight-decay", "label-smoothing", "batch-size", "epochs"} == tuned
    assert len(request["HyperParameterTuningJobName"]) <= 32
    definition = request["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"]["TrainingImage"] == TRAIN_IMAGE
    assert "test:accuracy" in {m["Name"] for m in definition["AlgorithmSpecification"]["MetricDefinitions"]}
    best = journey["state_before_cleanup"]["best_training_job"]
    assert best.startswith(request["HyperParameterTuningJobName"])
    assert journey["state_before_cleanup"]["model_data"].endswith("/%s/output/model.tar.gz" % best)


def test_deploy_creates_the_endpoint_and_asks_it_a_digit(journey):
    fake = journey["fake"]
    ops = _ops(journey, "after_tune", "after_deploy")
    assert ops == ["sagemaker.CreateModel", "sagemaker.CreateEndpointConfig", "sagemaker.CreateEndpoint",
                   "sagemaker.DescribeEndpoint", "sagemaker-runtime.InvokeEndpoint"]
    model = fake.params("sagemaker.CreateModel")[0]
    assert model["PrimaryContainer"]["Image"] == SERVE_IMAGE
    assert model["PrimaryContainer"]["ModelDataUrl"] == journey["state_before_cleanup"]["model_data"]
    assert model["ExecutionRoleArn"] == ROLE
    endpoint = journey["state_before_cleanup"]["endpoint"]
    assert fake.last("sagemaker.CreateEndpoint")["EndpointName"] == endpoint
    # cloud.cleanup deletes the config by the endpoint's name: the SDK names it so.
    assert fake.last("sagemaker.CreateEndpointConfig")["EndpointConfigName"] == endpoint
    assert model["ModelName"] == endpoint
    variant = fake.last("sagemaker.CreateEndpointConfig")["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.m5.large" and variant["InitialInstanceCount"] == 1
    invoke = fake.params("sagemaker-runtime.InvokeEndpoint")[0]
    assert invoke["ContentType"] == "application/json"
    assert json.loads(invoke["Body"]) == mnist("t10k")[0][0].tolist()


def test_transform_runs_multirecord_csv_and_scores_the_output(journey):
    fake = journey["fake"]
    ops = _ops(journey, "after_deploy", "after_transform")
    assert ops == ["sagemaker.CreateModel", "sagemaker.CreateTransformJob", "sagemaker.DescribeTransformJob",
                   "s3.GetObject"]
    job = fake.last("sagemaker.CreateTransformJob")
    assert job["BatchStrategy"] == "MultiRecord"
    assert job["MaxPayloadInMB"] == 6
    assert job["TransformInput"]["ContentType"] == "text/csv"
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://%s/mnist-pytorch/data/transform/" % BUCKET
    assert job["TransformOutput"]["AssembleWith"] == "Line"
    assert job["TransformOutput"]["Accept"] == "application/jsonlines"
    assert job["ModelName"] == fake.params("sagemaker.CreateModel")[-1]["ModelName"]
    assert journey["state_before_cleanup"]["transform_accuracy"] == pytest.approx(0.995)


def test_lambda_gets_least_privilege_and_classifies_through_the_endpoint(journey):
    fake = journey["fake"]
    ops = _ops(journey, "after_transform", "after_lambda")
    assert ops == ["sts.GetCallerIdentity", "iam.CreateRole", "iam.PutRolePolicy", "lambda.CreateFunction",
                   "lambda.GetFunction", "lambda.Invoke", "sagemaker-runtime.InvokeEndpoint"]
    trust = json.loads(fake.last("iam.CreateRole")["AssumeRolePolicyDocument"])
    assert trust["Statement"] == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                   "Action": "sts:AssumeRole"}]
    policy = json.loads(fake.last("iam.PutRolePolicy")["PolicyDocument"])
    endpoint = journey["state_before_cleanup"]["endpoint"]
    actions = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]:
            actions[action] = statement["Resource"]
    assert actions == {
        "sagemaker:InvokeEndpoint": "arn:aws:sagemaker:us-east-1:111122223333:endpoint/%s" % endpoint.lower(),
        "logs:CreateLogGroup": "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/mnist-classify:*",
        "logs:CreateLogStream": "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/mnist-classify:log-stream:*",
        "logs:PutLogEvents": "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/mnist-classify:log-stream:*",
    }
    function = fake.last("lambda.CreateFunction")
    assert function["Handler"] == "handler.handler" and function["Runtime"].startswith("python3")
    assert function["Role"] == "arn:aws:iam::111122223333:role/mnist-classify-role"
    assert function["Environment"] == {"Variables": {"ENDPOINT_NAME": endpoint}}
    with zipfile.ZipFile(io.BytesIO(function["Code"]["ZipFile"])) as z:
        assert z.namelist() == ["handler.py"]
    invoke = fake.params("sagemaker-runtime.InvokeEndpoint")[-1]
    assert invoke["EndpointName"] == endpoint and invoke["ContentType"] == "application/json"
    assert journey["sleeps"] == []


def test_cleanup_deletes_everything_the_scripts_created(journey):
    fake = journey["fake"]
    ops = fake.operations()[journey["after_lambda"]:]
    state = journey["state_before_cleanup"]
    expected = ["lambda.DeleteFunction", "iam.DeleteRolePolicy", "iam.DeleteRole", "sagemaker.DeleteEndpoint",
                "sagemaker.DeleteEndpointConfig"] + ["sagemaker.DeleteModel"] * len(state["models"])
    assert ops[:len(expected)] == expected
    assert {p["ModelName"] for p in fake.params("sagemaker.DeleteModel")} == set(state["models"])
    assert ops[-2:] == ["s3.ListObjectsV2", "s3.DeleteObjects"]
    assert not any(bucket == BUCKET for bucket, _ in fake.objects)
    after = json.loads(open(journey["state"]).read())
    assert not after.get("endpoints") and not after.get("lambda_functions") and not after.get("models")


def test_train_spot_checkpoints_per_job(offline_env, tmp_path):
    from cloud import train

    fake = offline_aws.FakeAws()
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"bucket": BUCKET, "prefix": "p", "data": {"training": "s3://%s/p/data/training/" % BUCKET}}))
    train.run(fake.session, train.parse_args(["--image-uri", TRAIN_IMAGE, "--role", ROLE, "--spot", "--no-logs",
                                              "--state", str(state), "--poll", "0"]), log=lambda _: None)
    job = fake.last("sagemaker.CreateTrainingJob")
    assert job["EnableManagedSpotTraining"] is True
    assert job["CheckpointConfig"]["S3Uri"] == "s3://%s/p/checkpoints/%s" % (BUCKET, job["TrainingJobName"])
    assert job["StoppingCondition"]["MaxWaitTimeInSeconds"] >= job["StoppingCondition"]["MaxRuntimeInSeconds"]
    assert [c["ChannelName"] for c in job["InputDataConfig"]] == ["training"]
    assert fake.unanswered == [] and fake.sent == []


def test_lambda_deploy_waits_for_the_new_role(offline_env, tmp_path):
    from cloud import lambda_deploy

    attempts = []

    def create_function(params, fake):
        attempts.append(params["FunctionName"])
        if len(attempts) < 3:
            raise offline_aws.AwsError("InvalidParameterValueException",
                                       "The role defined for the function cannot be assumed by Lambda.")
        return offline_aws.default_answers()["lambda.CreateFunction"](params, fake)

    fake = offline_aws.FakeAws({"lambda.CreateFunction": create_function})
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"endpoint": "mnist-ep"}))
    sleeps = []
    lambda_deploy.run(fake.session, lambda_deploy.parse_args(["--state", str(state), "--no-test"]),
                      log=lambda _: None, sleep=sleeps.append)
    assert len(attempts) == 3 and sleeps == [lambda_deploy.ROLE_PROPAGATION_POLL_S] * 2


def test_cleanup_skips_what_is_gone_and_stops_running_jobs(offline_env, tmp_path):
    from cloud import cleanup

    def gone(params, fake):
        raise offline_aws.AwsError("ResourceNotFoundException", "Function not found", 404)

    def missing_endpoint(params, fake):
        raise offline_aws.AwsError("ValidationException", "Could not find endpoint \"mnist-ep\".")

    def running(params, fake):
        return {"TrainingJobName": params["TrainingJobName"], "TrainingJobArn": "arn:aws:sagemaker:us-east-1:1:training-job/x",
                "ModelArtifacts": {"S3ModelArtifacts": ""}, "TrainingJobStatus": "InProgress",
                "SecondaryStatus": "Training", "AlgorithmSpecification": {"TrainingInputMode": "File"},
                "ResourceConfig": {"VolumeSizeInGB": 30}, "StoppingCondition": {}, "CreationTime": offline_aws.NOW}

    fake = offline_aws.FakeAws({"lambda.DeleteFunction": gone, "sagemaker.DeleteEndpoint": missing_endpoint,
                                "sagemaker.DescribeTrainingJob": running,
                                "sagemaker.StopTrainingJob": lambda p, f: {}})
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"lambda_functions": ["mnist-classify"], "endpoints": ["mnist-ep"],
                                 "training_jobs": ["mnist-pytorch-1"]}))
    lines = []
    cleanup.run(fake.session, cleanup.parse_args(["--state", str(state)]), log=lines.append)
    assert fake.operations() == ["lambda.DeleteFunction", "sagemaker.DeleteEndpoint",
                                 "sagemaker.DescribeTrainingJob", "sagemaker.StopTrainingJob"]
    assert "mnist-classify: already gone" in lines and "mnist-ep: already gone" in lines


def test_a_request_the_service_model_rejects_never_gets_answered(offline_env):
    from botocore.exceptions import ParamValidationError

    fake = offline_aws.FakeAws()
    with pytest.raises(ParamValidationError):
        fake.session.client("sagemaker").create_endpoint(EndpointName="x")
    assert fake.sent == []


@pytest.mark.parametrize("script", ["prepare_data", "train", "tune", "deploy", "transform", "lambda_deploy", "cleanup",
                                    "invoke_async", "multi_model", "autoscale"])
def test_every_script_explains_itself(script, capsys, monkeypatch):
    import importlib

    from cloud import common

    module = importlib.import_module("cloud." + script)
    parsers, make_parser = [], common.base_parser

    def recording_parser(description):
        parsers.append(make_parser(description))
        return parsers[-1]

    monkeypatch.setattr(common, "base_parser", recording_parser)
    with pytest.raises(SystemExit) as exit_:
        module.parse_args(["--help"])
    assert exit_.value.code == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: ") and err == ""
    # The script's first docstring line, then every option it parses (argparse wraps the text).
    (parser,) = parsers
    assert " ".join(module.__doc__.splitlines()[0].split()) in " ".join(out.split())
    options = [option for action in parser._actions for option in action.option_strings]
    assert {"--help", "--region", "--profile", "--state", "--poll"} <= set(options)
    missing = [option for option in options if not re.search(r"(^|[\s\[,])%s\b" % re.escape(option), out)]
    assert not missing, "parsed but not in --help: %s" % missing
