"""Deploys a trained model to a SageMaker real-time endpoint with the inference image.

    python -m cloud.deploy --image-uri ACCOUNT.dkr.ecr.REGION.amazonaws.com/mnist-pytorch-inference:TAG \\
        [--role ROLE_ARN] [--model-data s3://.../model.tar.gz] [--instance-type ml.m5.large]

The model is the state file's (the last cloud.train job, or cloud.tune's best job) unless
--model-data names one. Once the endpoint is in service, one test digit is sent as JSON and
its prediction printed.
"""
import json
import sys

from cloud import common
from data import mnist_files


def model(sm_session, args, model_data, name):
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor

    return Model(
        image_uri=args.image_uri,
        model_data=model_data,
        role=args.role,
        name=name,
        predictor_cls=Predictor,
        sagemaker_session=sm_session,
    )


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
    m = model(sm_session, args, model_data, name)
    # Recorded before deploying, so cloud.cleanup finds whatever got created if this fails.
    state.add("models", name)
    state.add("endpoint_configs", name)
    state.add("endpoints", name)
    m.deploy(initial_instance_count=args.instance_count, instance_type=args.instance_type,
             endpoint_name=name, wait=False)
    sm_session.wait_for_endpoint(name, poll=args.poll)
    state.set(endpoint=name, serve_image=args.image_uri)
    log("endpoint %s is in service" % name)
    data_dir = state.get("data_dir")
    if args.smoke_test and data_dir:
        label, answer = smoke_test(boto.client("sagemaker-runtime"), name, data_dir)
        log("a %d -> %s" % (label, json.dumps(answer)[:200]))
    return name


def parse_args(argv=None):
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--image-uri", required=True, help="the inference image in ECR")
    p.add_argument("--role", help="SageMaker execution role ARN (default: the one cloud.train used)")
    p.add_argument("--model-data", help="s3:// URI of a model.tar.gz (default: from the state file)")
    p.add_argument("--endpoint-name", help="default: mnist-pytorch-TIMESTAMP")
    p.add_argument("--instance-type", default=common.DEFAULT_ENDPOINT_INSTANCE, help="default %(default)s")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--no-smoke-test", dest="smoke_test", action="store_false",
                   help="do not send a test digit once the endpoint is up")
    return p.parse_args(argv)


def main(argv=None):
    return common.main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
