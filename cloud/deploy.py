"""Deploys a trained model to a SageMaker endpoint: real-time, serverless or asynchronous.

    python -m cloud.deploy --image-uri ACCOUNT.dkr.ecr.REGION.amazonaws.com/mnist-pytorch-inference:TAG \\
        [--role ROLE_ARN] [--model-data s3://.../model.tar.gz] [--instance-type ml.m5.large]
    python -m cloud.deploy --image-uri CPU_INFERENCE_IMAGE --serverless [--memory 2048] [--max-concurrency 5]
    python -m cloud.deploy --image-uri INFERENCE_IMAGE --async --output s3://BUCKET/PREFIX/async-output \\
        [--sns-success TOPIC_ARN] [--sns-error TOPIC_ARN] [--max-concurrent-invocations N]

The model is the state file's (the last cloud.train job, or cloud.tune's best job) unless
--model-data names one. Once a real-time or serverless endpoint is in service, one test digit is
sent as JSON and its prediction printed; an asynchronous endpoint is called with cloud.invoke_async.

Serverless endpoints run on CPU only (SageMaker gives them no GPU): pass the CPU inference image
as --image-uri. The CUDA image works there too, but is pulled on cold starts for nothing.
"""
import json
import sys

from cloud import common
from data import mnist_files

REAL_TIME, SERVERLESS, ASYNC = "real-time", "serverless", "async"

# ServerlessConfig (CreateEndpointConfig's ProductionVariantServerlessConfig): MemorySizeInMB in
# 1 GB steps from 1024 to 6144, MaxConcurrency 1 to 200 per endpoint. tests/unit/test_cloud_hosting.py
# checks these against botocore's sagemaker service model.
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = 200
DEFAULT_SERVERLESS_MEMORY_MB = 2048
DEFAULT_SERVERLESS_MAX_CONCURRENCY = 5
# AsyncInferenceConfig.ClientConfig.MaxConcurrentInvocationsPerInstance: 1 to 1000.
ASYNC_MAX_CONCURRENT_INVOCATIONS = 1000
# Failed requests' answers go to S3FailurePath; beside the outputs unless --failure-output says.
FAILURES = "failures"


def model(sm_session, args, model_data, name, env=None):
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor

    return Model(
        image_uri=args.image_uri,
        model_data=model_data,
        role=args.role,
        name=name,
        env=env or None,
        predictor_cls=Predictor,
        sagemaker_session=sm_session,
    )


def mode(args):
    return SERVERLESS if args.serverless else ASYNC if args.asynchronous else REAL_TIME


def failure_path(args):
    return args.failure_output or args.output.rstrip("/") + "/" + FAILURES


def deploy_arguments(args):
    """Model.deploy's arguments for the endpoint's mode (the SDK turns them into CreateEndpointConfig)."""
    if args.serverless:
        from sagemaker.serverless import ServerlessInferenceConfig

        # No instances: SageMaker sizes and starts the containers itself, each with this memory.
        return {"serverless_inference_config": ServerlessInferenceConfig(
            memory_size_in_mb=args.memory, max_concurrency=args.max_concurrency)}
    placed = {"initial_instance_count": args.instance_count, "instance_type": args.instance_type}
    if not args.asynchronous:
        return placed
    from sagemaker.async_inference import AsyncInferenceConfig

    topics = {"SuccessTopic": args.sns_success, "ErrorTopic": args.sns_error}
    # Both paths are given: with either missing the SDK would create a default bucket to put it in.
    return dict(placed, async_inference_config=AsyncInferenceConfig(
        output_path=args.output,
        failure_path=failure_path(args),
        max_concurrent_invocations_per_instance=args.max_concurrent_invocations,
        notification_config={k: v for k, v in topics.items() if v} or None,
    ))


def smoke_test(runtime, endpoint_name, data_dir):
    """Sends the first MNIST test digit as JSON; returns (true label, the endpoint's answer)."""
    images, labels = mnist_files.test_split(data_dir)
    response = runtime.invoke_endpoint(
        EndpointName=endpoint_name, ContentType="application/json", Accept="application/json",
        Body=json.dumps(images[0].tolist()),
    )
    return int(labels[0]), json.loads(response["Body"].read())


def run(boto, args, log=print):
    state = common.State(args.state)
    model_data = args.model_data or state.require("model_data", "run cloud.train or cloud.tune first, or pass --model-data")
    role = args.role or state.require("role", "pass --role")
    args.role = role
    sm_session = common.sagemaker_session(boto)
    name = args.endpoint_name or common.unique_name("mnist-pytorch")
    m = model(sm_session, args, model_data, name, env=dict(args.env))
    # Recorded before deploying, so cloud.cleanup finds whatever got created if this fails.
    state.add("models", name)
    state.add("endpoint_configs", name)
    state.add("endpoints", name)
    m.deploy(endpoint_name=name, wait=False, **deploy_arguments(args))
    sm_session.wait_for_endpoint(name, poll=args.poll)
    state.set(endpoint=name, endpoint_mode=mode(args), serve_image=args.image_uri)
    log("%s endpoint %s is in service" % (mode(args), name))
    if args.asynchronous:
        # InvokeEndpoint is refused on an asynchronous endpoint: requests go through S3.
        log("answers go to %s, failures to %s: send a request with python -m cloud.invoke_async"
            % (args.output, failure_path(args)))
        return name
    data_dir = state.get("data_dir")
    if args.smoke_test and data_dir:
        label, answer = smoke_test(boto.client("sagemaker-runtime"), name, data_dir)
        log("a %d -> %s" % (label, json.dumps(answer)[:200]))
    return name


def _check(p, args):
    """The options of one mode are refused in another, so nothing given is silently ignored."""
    serverless_only = {"--memory": args.memory, "--max-concurrency": args.max_concurrency}
    async_only = {"--output": args.output, "--failure-output": args.failure_output, "--sns-success": args.sns_success,
                  "--sns-error": args.sns_error, "--max-concurrent-invocations": args.max_concurrent_invocations}
    instances = {"--instance-type": args.instance_type, "--instance-count": args.instance_count}
    if not args.serverless and any(v is not None for v in serverless_only.values()):
        p.error("%s: only with --serverless" % " and ".join(k for k, v in serverless_only.items() if v is not None))
    if args.serverless and any(v is not None for v in instances.values()):
        p.error("a serverless endpoint has no instances: drop %s"
                % " and ".join(k for k, v in instances.items() if v is not None))
    if not args.asynchronous and any(v is not None for v in async_only.values()):
        p.error("%s: only with --async" % " and ".join(k for k, v in async_only.items() if v is not None))
    if args.asynchronous and not args.output:
        p.error("--async needs --output s3://BUCKET/PREFIX: SageMaker writes each answer there")
    bounds = {"--max-concurrency": (args.max_concurrency, SERVERLESS_MAX_CONCURRENCY),
              "--max-concurrent-invocations": (args.max_concurrent_invocations, ASYNC_MAX_CONCURRENT_INVOCATIONS),
              "--instance-count": (args.instance_count, None)}
    for option, (value, most) in bounds.items():
        if value is not None and (value < 1 or (most and value > most)):
            p.error("%s takes 1 to %s, not %d" % (option, most or "your account's quota", value))
    for option in ("--output", "--failure-output"):
        value = async_only[option]
        if value is not None and not value.startswith("s3://"):
            p.error("%s takes an s3:// URI, not %r" % (option, value))


def parse_args(argv=None):
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--image-uri", required=True,
                   help="the inference image in ECR (the CPU image for --serverless, multi-model and CPU instances)")
    p.add_argument("--role", help="SageMaker execution role ARN (default: the one cloud.train used)")
    p.add_argument("--model-data", help="s3:// URI of a model.tar.gz (default: from the state file)")
    p.add_argument("--endpoint-name", help="default: mnist-pytorch-TIMESTAMP")
    p.add_argument("--env", action="append", type=common.hyperparameter, default=[], metavar="NAME=VALUE",
                   help="an environment variable of the container (repeatable), "
                        "e.g. SAGEMAKER_MODEL_SERVER_TIMEOUT=600")
    p.add_argument("--instance-type", help="default %s (not with --serverless)" % common.DEFAULT_ENDPOINT_INSTANCE)
    p.add_argument("--instance-count", type=int, help="default 1 (not with --serverless)")
    p.add_argument("--no-smoke-test", dest="smoke_test", action="store_false",
                   help="do not send a test digit once the endpoint is up")
    modes = p.add_mutually_exclusive_group()
    modes.add_argument("--serverless", action="store_true", help="a serverless endpoint (ServerlessConfig)")
    modes.add_argument("--async", dest="asynchronous", action="store_true",
                       help="an asynchronous endpoint (AsyncInferenceConfig): requests and answers through S3")
    p.add_argument("--memory", type=int, choices=SERVERLESS_MEMORY_MB, metavar="MB",
                   help="--serverless: MemorySizeInMB, one of %s (default %d)"
                   % (", ".join(map(str, SERVERLESS_MEMORY_MB)), DEFAULT_SERVERLESS_MEMORY_MB))
    p.add_argument("--max-concurrency", type=int, metavar="N",
                   help="--serverless: MaxConcurrency, 1-%d (default %d)"
                   % (SERVERLESS_MAX_CONCURRENCY, DEFAULT_SERVERLESS_MAX_CONCURRENCY))
    p.add_argument("--output", metavar="S3_URI", help="--async: S3OutputPath, where SageMaker writes the answers")
    p.add_argument("--failure-output", metavar="S3_URI",
                   help="--async: S3FailurePath (default: OUTPUT/%s)" % FAILURES)
    p.add_argument("--sns-success", metavar="TOPIC_ARN", help="--async: SNS topic told of each answer (SuccessTopic)")
    p.add_argument("--sns-error", metavar="TOPIC_ARN", help="--async: SNS topic told of each failure (ErrorTopic)")
    p.add_argument("--max-concurrent-invocations", type=int, metavar="N",
                   help="--async: MaxConcurrentInvocationsPerInstance, 1-%d (default: SageMaker's choice)"
                   % ASYNC_MAX_CONCURRENT_INVOCATIONS)
    args = p.parse_args(argv)
    _check(p, args)
    if args.serverless:
        args.memory = args.memory or DEFAULT_SERVERLESS_MEMORY_MB
        args.max_concurrency = args.max_concurrency or DEFAULT_SERVERLESS_MAX_CONCURRENCY
    else:
        args.instance_type = args.instance_type or common.DEFAULT_ENDPOINT_INSTANCE
        args.instance_count = args.instance_count or 1
    return args


def main(argv=None):
    return common.main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
