"""Creates the AWS Lambda function that classifies digits through the SageMaker endpoint.

    python -m cloud.lambda_deploy [--endpoint-name NAME] [--function-name mnist-classify]

Packages cloud/lambda_function/handler.py alone into a zip, creates an IAM role that only
Lambda can assume, with the least the function needs (lambda_policy(): InvokeEndpoint on this
one endpoint, and writing its own log group), creates the function and, unless --no-test,
invokes it once with a test digit.
"""
import io
import json
import pathlib
import sys
import time
import zipfile

from cloud import common
from data import mnist_files

HANDLER_FILE = pathlib.Path(__file__).resolve().parent / "lambda_function" / "handler.py"
HANDLER = "handler.handler"
RUNTIME = "python3.12"
DEFAULT_FUNCTION_NAME = "mnist-classify"
TIMEOUT_S = 30
MEMORY_MB = 256
# IAM is eventually consistent: a new role can take several seconds before Lambda may assume it.
ROLE_PROPAGATION_TIMEOUT_S = 120
ROLE_PROPAGATION_POLL_S = 5

TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def lambda_policy(partition, region, account, endpoint_name, function_name):
    """The function's permissions: call one endpoint, write its own logs. Nothing else."""
    log_group = "arn:%s:logs:%s:%s:log-group:/aws/lambda/%s" % (partition, region, account, function_name)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InvokeTheMnistEndpoint",
                "Effect": "Allow",
                "Action": "sagemaker:InvokeEndpoint",
                "Resource": "arn:%s:sagemaker:%s:%s:endpoint/%s" % (partition, region, account, endpoint_name.lower()),
            },
            {
                "Sid": "CreateItsLogGroup",
                "Effect": "Allow",
                "Action": "logs:CreateLogGroup",
                "Resource": log_group + ":*",
            },
            {
                "Sid": "WriteItsLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": log_group + ":log-stream:*",
            },
        ],
    }


def package(handler_file=HANDLER_FILE):
    """The deployment zip: handler.py at its root, with a fixed timestamp (same file, same zip)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("handler.py", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, pathlib.Path(handler_file).read_bytes())
    return buffer.getvalue()


def partition_of(arn):
    return arn.split(":")[1]


def create_role(iam, role_name, policy_name, policy):
    role = iam.create_role(
        RoleName=role_name,
        AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
        Description="Lets the %s Lambda function call its SageMaker endpoint" % role_name,
    )["Role"]
    iam.put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(policy))
    return role["Arn"]


def create_function(lam, name, role_arn, endpoint_name, zip_bytes, sleep=time.sleep, clock=time.monotonic):
    """Creates the function, retrying while IAM has not yet propagated the new role."""
    deadline = clock() + ROLE_PROPAGATION_TIMEOUT_S
    while True:
        try:
            return lam.create_function(
                FunctionName=name,
                Runtime=RUNTIME,
                Role=role_arn,
                Handler=HANDLER,
                Code={"ZipFile": zip_bytes},
                Description="Classifies an MNIST digit (base64 PNG or JSON pixels) with SageMaker endpoint %s" % endpoint_name,
                Timeout=TIMEOUT_S,
                MemorySize=MEMORY_MB,
                Environment={"Variables": {"ENDPOINT_NAME": endpoint_name}},
            )["FunctionArn"]
        except lam.exceptions.InvalidParameterValueException as e:
            if "assume" not in str(e) or clock() > deadline:
                raise
            sleep(ROLE_PROPAGATION_POLL_S)


def test_invoke(lam, name, data_dir):
    """Invokes the function with the first MNIST test digit; returns (true label, its answer)."""
    images, labels = mnist_files.test_split(data_dir)
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"digit": images[0].tolist()}).encode("utf-8"))
    return int(labels[0]), json.loads(response["Payload"].read())


def run(boto, args, log=print, sleep=time.sleep):
    state = common.State(args.state)
    endpoint = args.endpoint_name or state.require("endpoint", "run cloud.deploy first, or pass --endpoint-name")
    identity = boto.client("sts").get_caller_identity()
    partition, account, region = partition_of(identity["Arn"]), identity["Account"], boto.region_name
    role_name = policy_name = "%s-role" % args.function_name
    policy = lambda_policy(partition, region, account, endpoint, args.function_name)
    iam, lam = boto.client("iam"), boto.client("lambda")
    state.add("lambda_roles", role_name)
    role_arn = create_role(iam, role_name, policy_name, policy)
    log("role %s with policy %s" % (role_arn, json.dumps(policy)))
    state.add("lambda_functions", args.function_name)
    function_arn = create_function(lam, args.function_name, role_arn, endpoint, package(), sleep=sleep)
    lam.get_waiter("function_active_v2").wait(FunctionName=args.function_name)
    state.set(lambda_function=args.function_name)
    log("function %s calls endpoint %s" % (function_arn, endpoint))
    data_dir = state.get("data_dir")
    if args.test and data_dir:
        label, answer = test_invoke(lam, args.function_name, data_dir)
        log("a %d -> %s" % (label, json.dumps(answer)[:200]))
    return function_arn


def parse_args(argv=None):
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--endpoint-name", help="default: the endpoint cloud.deploy created")
    p.add_argument("--function-name", default=DEFAULT_FUNCTION_NAME, help="default %(default)s")
    p.add_argument("--no-test", dest="test", action="store_false", help="do not invoke it with a test digit")
    return p.parse_args(argv)


def main(argv=None):
    return common.main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
