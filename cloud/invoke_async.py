"""Sends one request to an asynchronous endpoint through S3 and waits for its answer.

    python -m cloud.invoke_async --input digits.csv [--endpoint-name NAME] [--content-type text/csv] \\
        [--accept application/jsonlines] [--answer answer.jsonl] [--deadline 1200]

An asynchronous endpoint (cloud.deploy --async) takes no body: the request is an object in S3.
The script uploads --input to s3://BUCKET/PREFIX/async-input/, calls InvokeEndpointAsync with its
location, and polls S3 until SageMaker writes the answer (OutputLocation) or the failure
(FailureLocation), or --deadline seconds have passed. The answer is printed, or written to
--answer; a failure ends the script with the endpoint's message.
"""
import pathlib
import sys
import time

from cloud import common

ASYNC_INPUT = "async-input"
# The image's request content types (README: "Inputs"), by the input file's suffix.
CONTENT_TYPES = {
    ".json": "application/json",
    ".csv": "text/csv",
    ".jsonl": "application/jsonlines",
    ".npy": "application/x-npy",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}
# InvokeEndpointAsync's InvocationTimeoutSeconds: at most one hour; SageMaker's default is 15 minutes.
MAX_INVOCATION_TIMEOUT_S = 3600
DEFAULT_DEADLINE_S = 1200
# HeadObject answers 404 for a key that is not there yet (403 without s3:ListBucket on the bucket).
NOT_THERE = ("404", "NoSuchKey", "NotFound")


def content_type_of(path, given=None):
    if given:
        return given
    suffix = pathlib.Path(path).suffix.lower()
    if suffix not in CONTENT_TYPES:
        raise SystemExit("cannot tell the content type of %s: pass --content-type (the image takes %s)"
                         % (path, ", ".join(sorted(set(CONTENT_TYPES.values())))))
    return CONTENT_TYPES[suffix]


def upload(s3, path, bucket, key):
    """Streams the file to S3 (one PutObject takes up to 5 GB; async payloads stop at 1 GB)."""
    with open(path, "rb") as f:
        s3.put_object(Bucket=bucket, Key=key, Body=f)
    return "s3://%s/%s" % (bucket, key)


def exists(s3, uri):
    from botocore.exceptions import ClientError

    bucket, key = common.parse_s3_uri(uri)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in NOT_THERE:
            return False
        raise


def wait_for(s3, output_uri, failure_uri, deadline_s, poll_s, clock=time.monotonic, sleep=time.sleep):
    """(uri, failed) of whichever object appears first; SystemExit once deadline_s has passed."""
    end = clock() + deadline_s
    while True:
        for uri, failed in ((output_uri, False), (failure_uri, True)):
            if uri and exists(s3, uri):
                return uri, failed
        if clock() >= end:
            raise SystemExit("no answer at %s after %d s: the request may still be queued or running; "
                             "look there later, or raise --deadline" % (output_uri, deadline_s))
        sleep(poll_s)


def read(s3, uri):
    bucket, key = common.parse_s3_uri(uri)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def run(boto, args, log=print, clock=time.monotonic, sleep=time.sleep):
    state = common.State(args.state)
    endpoint = args.endpoint_name or state.require("endpoint",
                                                   "run cloud.deploy --async first, or pass --endpoint-name")
    bucket = args.bucket or state.require("bucket", "pass --bucket")
    prefix = args.prefix or state.get("prefix", common.DEFAULT_PREFIX)
    s3, runtime = boto.client("s3"), boto.client("sagemaker-runtime")
    name = pathlib.Path(args.input).name
    key = "/".join(p.strip("/") for p in (prefix, ASYNC_INPUT, common.unique_name("request"), name) if p)
    input_uri = upload(s3, args.input, bucket, key)
    request = {"EndpointName": endpoint, "InputLocation": input_uri,
               "ContentType": content_type_of(args.input, args.content_type), "Accept": args.accept}
    if args.invocation_timeout:
        request["InvocationTimeoutSeconds"] = args.invocation_timeout
    response = runtime.invoke_endpoint_async(**request)
    log("request %s queued (%s); waiting for %s" % (response["InferenceId"], input_uri, response["OutputLocation"]))
    uri, failed = wait_for(s3, response["OutputLocation"], response.get("FailureLocation"), args.deadline,
                           args.poll, clock=clock, sleep=sleep)
    body = read(s3, uri)
    if failed:
        raise SystemExit("the endpoint failed request %s (%s): %s"
                         % (response["InferenceId"], uri, body.decode("utf-8", "replace")[:2000]))
    if args.answer:
        pathlib.Path(args.answer).write_bytes(body)
        log("answer (%d bytes) from %s written to %s" % (len(body), uri, args.answer))
    else:
        log(body.decode("utf-8", "replace"))
    return body


def parse_args(argv=None):
    p = common.base_parser(__doc__.splitlines()[0])
    p.set_defaults(poll=5)
    p.add_argument("--input", required=True, help="the request body, a file (up to 1 GB)")
    p.add_argument("--endpoint-name", help="default: the state file's endpoint (cloud.deploy --async)")
    p.add_argument("--content-type", help="default: from the file's suffix (%s)" % ", ".join(CONTENT_TYPES))
    p.add_argument("--accept", default="application/json", help="the answer's media type (default %(default)s)")
    p.add_argument("--invocation-timeout", type=int, metavar="S",
                   help="InvocationTimeoutSeconds, 1-%d (default: SageMaker's 15 minutes)" % MAX_INVOCATION_TIMEOUT_S)
    p.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE_S,
                   help="seconds to wait for the answer (default %(default)s)")
    p.add_argument("--answer", help="write the answer to this file instead of printing it")
    p.add_argument("--bucket", help="S3 bucket for the request (default: the one cloud.prepare_data used)")
    p.add_argument("--prefix", help="S3 key prefix (default: the one cloud.prepare_data used)")
    args = p.parse_args(argv)
    if args.invocation_timeout is not None and not 1 <= args.invocation_timeout <= MAX_INVOCATION_TIMEOUT_S:
        p.error("--invocation-timeout takes 1 to %d seconds" % MAX_INVOCATION_TIMEOUT_S)
    return args


def main(argv=None):
    return common.main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
