"""A boto3 session that answers AWS API calls in-process, for tests of the cloud scripts.

Every call still goes through botocore: the client validates its parameters against the
service model (a bad request raises ParamValidationError, as it would before reaching AWS) and
serializes them; then the `before-call` hook answers with a response that is itself validated
against the operation's output shape, so the scripts see what AWS could really send. Nothing
is signed or sent: a `before-send` hook refuses anything that gets that far, and tests run
inside local_mode.offline's socket guard as well.

Answers are functions of (params, fake) keyed by "service.Operation"; a call without an answer
fails the test and is listed in `fake.unanswered`.
"""
import contextlib
import copy
import datetime
import io
import json
import os
import urllib.parse

import boto3
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody
from botocore.validate import validate_parameters

REGION = "us-east-1"
ACCOUNT = "111122223333"
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


@contextlib.contextmanager
def sdk_offline(workdir):
    """The SageMaker SDK v2 kept on this machine: local_mode.offline's variables and socket guard,
    its deprecation warning silenced; yields the guard (its `refused` lists what was stopped)."""
    from local_mode import offline

    saved = os.environ.get("SAGEMAKER_SUPPRESS_V2_WARNING")
    os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
    try:
        with offline.offline_environment(workdir), offline.RequestGuard() as guard:
            yield guard
    finally:
        if saved is None:
            os.environ.pop("SAGEMAKER_SUPPRESS_V2_WARNING")
        else:
            os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = saved


class AwsError(Exception):
    """Raised by an answer to make the call fail with an AWS error code (a ClientError)."""

    def __init__(self, code, message, status=400, **modeled_fields):
        super().__init__(message)
        self.code, self.message, self.status, self.fields = code, message, status, modeled_fields


class UnansweredCall(AssertionError):
    pass


def stream(data):
    data = data if isinstance(data, bytes) else data.encode("utf-8")
    return StreamingBody(io.BytesIO(data), len(data))


class FakeAws:
    def __init__(self, answers=None):
        self.answers = dict(default_answers())
        self.answers.update(answers or {})
        self.calls = []
        self.unanswered = []
        self.sent = []
        self.objects = {}
        self.session = boto3.Session(region_name=REGION, aws_access_key_id="AKIAFAKEFAKEFAKEFAKE",
                                     aws_secret_access_key="fake-secret")
        events = self.session.events
        events.register("before-parameter-build", self._record)
        events.register("before-call", self._answer)
        events.register("before-send", self._refuse)

    # --- what the tests read
    def operations(self):
        return ["%s.%s" % (service, op) for service, op, _ in self.calls]

    def params(self, key):
        """The parameters of every call of "service.Operation", in order."""
        return [params for service, op, params in self.calls if "%s.%s" % (service, op) == key]

    def last(self, key):
        found = self.params(key)
        assert found, "no %s call; calls: %s" % (key, self.operations())
        return found[-1]

    # --- hooks
    def _record(self, params, model, **kwargs):
        self.calls.append((model.service_model.service_name, model.name, _snapshot(params)))

    def _answer(self, model, params, **kwargs):
        service, op = model.service_model.service_name, model.name
        key = "%s.%s" % (service, op)
        answer = self.answers.get(key)
        if answer is None:
            self.unanswered.append(key)
            raise UnansweredCall("no answer for %s" % key)
        request = self.calls[-1][2] if self.calls and self.calls[-1][:2] == (service, op) else {}
        try:
            response = answer(request, self) or {}
        except AwsError as e:
            # botocore puts an error shape's modeled members (e.g. InvokeEndpoint's
            # OriginalStatusCode) beside "Error" in the parsed response.
            return (AWSResponse(None, e.status, {}, None),
                    dict(e.fields, Error={"Code": e.code, "Message": e.message},
                         ResponseMetadata={"HTTPStatusCode": e.status}))
        shape = model.output_shape
        if shape is not None:
            validate_parameters(response, shape)
        else:
            assert not response, "%s returns nothing" % key
        response = dict(response, ResponseMetadata={"HTTPStatusCode": 200, "RequestId": "fake"})
        return AWSResponse(None, 200, {}, None), response

    def _refuse(self, request, **kwargs):
        self.sent.append(request.url)
        raise AssertionError("a request was about to be sent: %s %s" % (request.method, request.url))


def _snapshot(params):
    snap = {}
    for key, value in params.items():
        if hasattr(value, "read"):
            snap[key] = value
        else:
            try:
                snap[key] = copy.deepcopy(value)
            except TypeError:
                snap[key] = value
    return snap


def _arn(service, kind, name):
    return "arn:aws:%s:%s:%s:%s/%s" % (service, REGION, ACCOUNT, kind, name.lower())


def _created(fake, key, name_field, name):
    for params in reversed(fake.params(key)):
        if params.get(name_field) == name:
            return params
    raise AwsError("ValidationException", "Could not find %s %r" % (key, name))


# --- default answers: what AWS returns when everything goes well

def _describe_training_job(params, fake):
    name = params["TrainingJobName"]
    created = dict(_created(fake, "sagemaker.CreateTrainingJob", "TrainingJobName", name))
    for key in ("Tags", "Environment", "RetryStrategy", "ExperimentConfig", "ProfilerConfig",
                "ProfilerRuleConfigurations", "DebugRuleConfigurations"):
        created.pop(key, None)
    output = created["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    return dict(
        created,
        TrainingJobArn=_arn("sagemaker", "training-job", name),
        ModelArtifacts={"S3ModelArtifacts": "%s/%s/output/model.tar.gz" % (output, name)},
        TrainingJobStatus="Completed",
        SecondaryStatus="Completed",
        CreationTime=NOW, TrainingStartTime=NOW, TrainingEndTime=NOW, LastModifiedTime=NOW,
        FinalMetricDataList=[{"MetricName": "test:accuracy", "Value": 0.9951, "Timestamp": NOW}],
    )


def _describe_tuning_job(params, fake):
    name = params["HyperParameterTuningJobName"]
    created = _created(fake, "sagemaker.CreateHyperParameterTuningJob", "HyperParameterTuningJobName", name)
    best = "%s-003-abcdef12" % name
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobArn": _arn("sagemaker", "hyper-parameter-tuning-job", name),
        "HyperParameterTuningJobConfig": created["HyperParameterTuningJobConfig"],
        "TrainingJobDefinition": created["TrainingJobDefinition"],
        "HyperParameterTuningJobStatus": "Completed",
        "CreationTime": NOW,
        "TrainingJobStatusCounters": {"Completed": 3},
        "ObjectiveStatusCounters": {"Succeeded": 3},
        "BestTrainingJob": {
            "TrainingJobName": best,
            "TrainingJobArn": _arn("sagemaker", "training-job", best),
            "CreationTime": NOW,
            "TrainingJobStatus": "Completed",
            "TunedHyperParameters": {"lr": "0.12"},
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "test:accuracy", "Value": 0.9953},
        },
    }


def _describe_best_or_created_training_job(params, fake):
    if fake.params("sagemaker.CreateTrainingJob"):
        try:
            return _describe_training_job(params, fake)
        except AwsError:
            pass
    tuning = fake.last("sagemaker.CreateHyperParameterTuningJob")
    definition = tuning["TrainingJobDefinition"]
    name = params["TrainingJobName"]
    output = definition["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    return {
        "TrainingJobName": name,
        "TrainingJobArn": _arn("sagemaker", "training-job", name),
        "ModelArtifacts": {"S3ModelArtifacts": "%s/%s/output/model.tar.gz" % (output, name)},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "HyperParameters": dict(definition.get("StaticHyperParameters", {}), lr="0.12"),
        "AlgorithmSpecification": {k: v for k, v in definition["AlgorithmSpecification"].items()
                                   if k in ("TrainingImage", "TrainingInputMode", "MetricDefinitions")},
        "RoleArn": definition["RoleArn"],
        "ResourceConfig": definition.get("ResourceConfig") or {"VolumeSizeInGB": 30},
        "StoppingCondition": definition["StoppingCondition"],
        "CreationTime": NOW,
        "FinalMetricDataList": [{"MetricName": "test:accuracy", "Value": 0.9953, "Timestamp": NOW}],
    }


def _describe_endpoint(params, fake):
    name = params["EndpointName"]
    created = _created(fake, "sagemaker.CreateEndpoint", "EndpointName", name)
    return {"EndpointName": name, "EndpointArn": _arn("sagemaker", "endpoint", name),
            "EndpointConfigName": created["EndpointConfigName"], "EndpointStatus": "InService",
            "CreationTime": NOW, "LastModifiedTime": NOW}


def _describe_endpoint_config(params, fake):
    name = params["EndpointConfigName"]
    created = _created(fake, "sagemaker.CreateEndpointConfig", "EndpointConfigName", name)
    kept = {k: created[k] for k in ("ProductionVariants", "AsyncInferenceConfig", "DataCaptureConfig", "KmsKeyId")
            if k in created}
    return dict(kept, EndpointConfigName=name, EndpointConfigArn=_arn("sagemaker", "endpoint-config", name),
                CreationTime=NOW)


def _invoke_endpoint_async(params, fake):
    """Where SageMaker will put the answer (or the failure): the endpoint config's S3 paths."""
    endpoint = _created(fake, "sagemaker.CreateEndpoint", "EndpointName", params["EndpointName"])
    config = _created(fake, "sagemaker.CreateEndpointConfig", "EndpointConfigName", endpoint["EndpointConfigName"])
    if "AsyncInferenceConfig" not in config:
        raise AwsError("ValidationException", "Endpoint %s is not an asynchronous endpoint" % params["EndpointName"])
    output = config["AsyncInferenceConfig"]["OutputConfig"]
    inference_id = params.get("InferenceId") or "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    answer = {"InferenceId": inference_id,
              "OutputLocation": "%s/%s.out" % (output["S3OutputPath"].rstrip("/"), inference_id)}
    if output.get("S3FailurePath"):
        answer["FailureLocation"] = "%s/%s-error.out" % (output["S3FailurePath"].rstrip("/"), inference_id)
    return answer


def _describe_transform_job(params, fake):
    name = params["TransformJobName"]
    created = dict(_created(fake, "sagemaker.CreateTransformJob", "TransformJobName", name))
    created.pop("Tags", None)
    created.pop("ExperimentConfig", None)
    return dict(created, TransformJobArn=_arn("sagemaker", "transform-job", name), TransformJobStatus="Completed",
                CreationTime=NOW, TransformStartTime=NOW, TransformEndTime=NOW)


def _put_object(params, fake):
    body = params["Body"]
    data = body.read() if hasattr(body, "read") else body
    fake.objects[(params["Bucket"], params["Key"])] = data if isinstance(data, bytes) else data.encode()
    return {"ETag": '"fake"'}


def _get_object(params, fake):
    key = (params["Bucket"], params["Key"])
    if key not in fake.objects:
        raise AwsError("NoSuchKey", "The specified key does not exist.", 404)
    return {"Body": stream(fake.objects[key]), "ContentLength": len(fake.objects[key])}


def _head_object(params, fake):
    key = (params["Bucket"], params["Key"])
    if key not in fake.objects:
        # HeadObject has no body, so S3's error code is the bare status.
        raise AwsError("404", "Not Found", 404)
    return {"ContentLength": len(fake.objects[key]), "ETag": '"fake"'}


def _copy_object(params, fake):
    # botocore has already turned CopySource's {"Bucket", "Key"} into the x-amz-copy-source header's
    # "bucket/key", URL-quoted.
    source = params["CopySource"]
    if isinstance(source, dict):
        key = (source["Bucket"], source["Key"])
    else:
        bucket, _, name = urllib.parse.unquote(source.split("?versionId=")[0]).partition("/")
        key = (bucket, name)
    if key not in fake.objects:
        raise AwsError("NoSuchKey", "The specified key does not exist.", 404)
    fake.objects[(params["Bucket"], params["Key"])] = fake.objects[key]
    return {"CopyObjectResult": {"ETag": '"fake"', "LastModified": NOW}}


def _list_objects(params, fake):
    keys = sorted(k for b, k in fake.objects if b == params["Bucket"] and k.startswith(params.get("Prefix", "")))
    return {"Contents": [{"Key": k, "Size": len(fake.objects[(params["Bucket"], k)])} for k in keys],
            "KeyCount": len(keys), "IsTruncated": False, "Name": params["Bucket"], "Prefix": params.get("Prefix", "")}


def _delete_objects(params, fake):
    for o in params["Delete"]["Objects"]:
        fake.objects.pop((params["Bucket"], o["Key"]), None)
    return {"Deleted": [{"Key": o["Key"]} for o in params["Delete"]["Objects"]]}


def _invoke_endpoint(params, fake):
    return {"Body": stream(json.dumps({"predictions": [{"label": 7, "probabilities": [0.0] * 7 + [1.0, 0.0, 0.0]}]})),
            "ContentType": "application/json"}


def _create_role(params, fake):
    return {"Role": {"Path": "/", "RoleName": params["RoleName"], "RoleId": "AROAFAKEFAKEFAKEFAKE1",
                     "Arn": "arn:aws:iam::%s:role/%s" % (ACCOUNT, params["RoleName"]), "CreateDate": NOW,
                     "AssumeRolePolicyDocument": params["AssumeRolePolicyDocument"]}}


def _create_function(params, fake):
    return {"FunctionName": params["FunctionName"],
            "FunctionArn": "arn:aws:lambda:%s:%s:function:%s" % (REGION, ACCOUNT, params["FunctionName"]),
            "Runtime": params["Runtime"], "Role": params["Role"], "Handler": params["Handler"], "State": "Pending"}


def _get_function(params, fake):
    return {"Configuration": {"FunctionName": params["FunctionName"], "State": "Active", "LastUpdateStatus": "Successful"}}


def _scaling_policy(params, fake):
    return {"PolicyARN": "arn:aws:autoscaling:%s:%s:scalingPolicy:0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d:"
                         "resource/sagemaker/%s:policyName/%s"
                         % (REGION, ACCOUNT, params["ResourceId"], params["PolicyName"]),
            "Alarms": [{"AlarmName": "TargetTracking-%s-AlarmHigh" % params["ResourceId"],
                        "AlarmARN": "arn:aws:cloudwatch:%s:%s:alarm:TargetTracking-high" % (REGION, ACCOUNT)}]}


def default_answers():
    return {
        "sts.GetCallerIdentity": lambda p, f: {"UserId": "AIDAFAKEFAKEFAKEFAKE", "Account": ACCOUNT,
                                               "Arn": "arn:aws:iam::%s:user/tester" % ACCOUNT},
        "s3.PutObject": _put_object,
        "s3.GetObject": _get_object,
        "s3.HeadObject": _head_object,
        "s3.CopyObject": _copy_object,
        "s3.ListObjectsV2": _list_objects,
        "s3.DeleteObjects": _delete_objects,
        "sagemaker.CreateTrainingJob": lambda p, f: {"TrainingJobArn": _arn("sagemaker", "training-job", p["TrainingJobName"])},
        "sagemaker.DescribeTrainingJob": _describe_best_or_created_training_job,
        "sagemaker.CreateHyperParameterTuningJob": lambda p, f: {
            "HyperParameterTuningJobArn": _arn("sagemaker", "hyper-parameter-tuning-job", p["HyperParameterTuningJobName"])},
        "sagemaker.DescribeHyperParameterTuningJob": _describe_tuning_job,
        "sagemaker.CreateModel": lambda p, f: {"ModelArn": _arn("sagemaker", "model", p["ModelName"])},
        "sagemaker.CreateEndpointConfig": lambda p, f: {
            "EndpointConfigArn": _arn("sagemaker", "endpoint-config", p["EndpointConfigName"])},
        "sagemaker.CreateEndpoint": lambda p, f: {"EndpointArn": _arn("sagemaker", "endpoint", p["EndpointName"])},
        "sagemaker.DescribeEndpoint": _describe_endpoint,
        "sagemaker.DescribeEndpointConfig": _describe_endpoint_config,
        "sagemaker.CreateTransformJob": lambda p, f: {"TransformJobArn": _arn("sagemaker", "transform-job", p["TransformJobName"])},
        "sagemaker.DescribeTransformJob": _describe_transform_job,
        "sagemaker.DeleteEndpoint": lambda p, f: {},
        "sagemaker.DeleteEndpointConfig": lambda p, f: {},
        "sagemaker.DeleteModel": lambda p, f: {},
        "sagemaker-runtime.InvokeEndpoint": _invoke_endpoint,
        "sagemaker-runtime.InvokeEndpointAsync": _invoke_endpoint_async,
        "application-autoscaling.RegisterScalableTarget": lambda p, f: {
            "ScalableTargetARN": "arn:aws:application-autoscaling:%s:%s:scalable-target/056a1b2c3d4e5f6a7b8c"
                                 % (REGION, ACCOUNT)},
        "application-autoscaling.PutScalingPolicy": _scaling_policy,
        "application-autoscaling.DeleteScalingPolicy": lambda p, f: {},
        "application-autoscaling.DeregisterScalableTarget": lambda p, f: {},
        "iam.CreateRole": _create_role,
        "iam.PutRolePolicy": lambda p, f: {},
        "iam.DeleteRolePolicy": lambda p, f: {},
        "iam.DeleteRole": lambda p, f: {},
        "lambda.CreateFunction": _create_function,
        "lambda.GetFunction": _get_function,
        "lambda.DeleteFunction": lambda p, f: {},
    }
