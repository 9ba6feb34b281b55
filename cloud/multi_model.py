"""Hosts several trained models behind one multi-model endpoint on a CPU instance.

    python -m cloud.multi_model --image-uri CPU_INFERENCE_IMAGE [--role ROLE_ARN] \\
        [--model NAME=s3://.../model.tar.gz ...] [--instance-type ml.m5.large]

Copies each model.tar.gz to s3://BUCKET/PREFIX/multi-model/ENDPOINT/NAME.tar.gz, creates a model
in `Mode: MultiModel` whose ModelDataUrl is that prefix, an endpoint config on a CPU instance and
the endpoint, then sends one test digit to each model with TargetModel=NAME.tar.gz. SageMaker
loads a model into the container (POST /models) on its first request and unloads the least
used ones when memory runs short, so a new model is only a new object under the prefix.

Multi-model endpoints on GPU instances run only NVIDIA Triton; an MMS-based image such as this
one is hosted on CPU instances, so GPU and accelerator instance types are refused here. The five
requests are written out with boto3 rather than the SDK's MultiDataModel, which would pick its
own names and copy the artifacts its own way.
"""
import json
import sys

from cloud import common
from data import mnist_files

MULTI_MODEL = "multi-model"
VARIANT = "AllTraffic"
# Instance families with GPUs or AWS accelerators (ml.g5.xlarge -> "g5"): not for an MMS container.
NOT_CPU_FAMILIES = ("g", "p", "inf", "trn")
ARTIFACT_SUFFIX = ".tar.gz"


def is_cpu_instance(instance_type):
    family = instance_type.split(".")[1] if instance_type.count(".") == 2 else ""
    return bool(family) and not family.startswith(NOT_CPU_FAMILIES)


def target_name(name):
    return name if name.endswith(ARTIFACT_SUFFIX) else name + ARTIFACT_SUFFIX


def publish(s3, models, prefix_uri):
    """Copies each artifact under the endpoint's prefix; returns {TargetModel: its S3 URI}."""
    bucket, prefix = common.parse_s3_uri(prefix_uri)
    targets = {}
    for name, source in models:
        src_bucket, src_key = common.parse_s3_uri(source)
        key = prefix.rstrip("/") + "/" + target_name(name)
        s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": src_bucket, "Key": src_key})
        targets[target_name(name)] = "s3://%s/%s" % (bucket, key)
    return targets


def create(sm, name, image_uri, role, prefix_uri, instance_type, instance_count):
    sm.create_model(
        ModelName=name, ExecutionRoleArn=role,
        # ModelDataUrl is a prefix here, ending in "/": TargetModel is a key under it.
        PrimaryContainer={"Image": image_uri, "Mode": "MultiModel", "ModelDataUrl": prefix_uri.rstrip("/") + "/"})
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[{"VariantName": VARIANT, "ModelName": name, "InstanceType": instance_type,
                             "InitialInstanceCount": instance_count}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def ask_each(runtime, endpoint, targets, data_dir):
    """Sends the first MNIST test digit to every model; returns {TargetModel: its answer}."""
    images, _ = mnist_files.test_split(data_dir)
    answers = {}
    for target in targets:
        response = runtime.invoke_endpoint(EndpointName=endpoint, TargetModel=target, ContentType="application/json",
                                           Accept="application/json", Body=json.dumps(images[0].tolist()))
        answers[target] = json.loads(response["Body"].read())
    return answers


def run(boto, args, log=print):
    state = common.State(args.state)
    role = args.role or state.require("role", "pass --role")
    bucket = args.bucket or state.require("bucket", "pass --bucket")
    prefix = args.prefix or state.get("prefix", common.DEFAULT_PREFIX)
    models = args.model or [
        ("mnist", state.require("model_data", "run cloud.train or cloud.tune first, or pass --model"))]
    name = args.endpoint_name or common.unique_name("mnist-multi-model")
    prefix_uri = common.s3_uri(bucket, prefix, MULTI_MODEL, name)
    targets = publish(boto.client("s3"), models, prefix_uri)
    log("%d models under %s/: %s" % (len(targets), prefix_uri, ", ".join(targets)))
    # Recorded before creating, so cloud.cleanup finds whatever got created if this fails.
    state.add("models", name)
    state.add("endpoint_configs", name)
    state.add("endpoints", name)
    create(boto.client("sagemaker"), name, args.image_uri, role, prefix_uri, args.instance_type, args.instance_count)
    common.sagemaker_session(boto).wait_for_endpoint(name, poll=args.poll)
    state.set(multi_model_endpoint=name, multi_model_prefix=prefix_uri + "/")
    log("multi-model endpoint %s is in service" % name)
    data_dir = state.get("data_dir")
    if args.smoke_test and data_dir:
        for target, answer in ask_each(boto.client("sagemaker-runtime"), name, targets, data_dir).items():
            log("%s: %s" % (target, json.dumps(answer)[:200]))
    return name


def model_source(text):
    name, value = common.hyperparameter(text)
    if not value.startswith("s3://"):
        raise ValueError("expected NAME=s3://..., got %r" % text)
    return name, value


def parse_args(argv=None):
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--image-uri", required=True, help="the (CPU) inference image in ECR")
    p.add_argument("--role", help="SageMaker execution role ARN (default: the one cloud.train used)")
    p.add_argument("--model", action="append", type=model_source, metavar="NAME=S3_URI",
                   help="a model.tar.gz to host as TargetModel NAME.tar.gz (repeatable; default: the state "
                        "file's model as mnist)")
    p.add_argument("--endpoint-name", help="default: mnist-multi-model-TIMESTAMP")
    p.add_argument("--instance-type", default=common.DEFAULT_ENDPOINT_INSTANCE,
                   help="a CPU instance (default %(default)s)")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--bucket", help="S3 bucket for the models (default: the one cloud.prepare_data used)")
    p.add_argument("--prefix", help="S3 key prefix (default: the one cloud.prepare_data used)")
    p.add_argument("--no-smoke-test", dest="smoke_test", action="store_false",
                   help="do not send a test digit to each model once the endpoint is up")
    args = p.parse_args(argv)
    if not is_cpu_instance(args.instance_type):
        p.error("%s is not a CPU instance: multi-model endpoints with this (MMS-based) image run on CPU "
                "instances only (GPU ones need NVIDIA Triton)" % args.instance_type)
    names = [target_name(n) for n, _ in args.model or []]
    if len(set(names)) != len(names):
        p.error("two --model options have the same NAME")
    return args


def main(argv=None):
    return common.main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
