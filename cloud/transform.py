"""Runs a SageMaker batch transform job over the 10,000 MNIST test digits in S3 and scores it.

    python -m cloud.transform --image-uri INFERENCE_IMAGE_URI [--role ROLE_ARN] [--instance-type ml.m5.xlarge]

Input: the CSV that cloud.prepare_data uploaded (one digit per line). SageMaker splits it by
line, sends mini-batches of lines (MultiRecord, up to --max-payload-mb each) and joins the
answers line by line (the image answers one JSON line per digit), so the output file has
exactly one prediction per input line; the script reads it back and reports the accuracy.
"""
import json
import sys

from cloud import common, deploy, prepare_data
from data import mnist_files

OUTPUT_SUFFIX = ".out"


def transformer(sm_session, args, model_name, output_path):
    from sagemaker.transformer import Transformer

    return Transformer(
        model_name=model_name,
        instance_count=args.instance_count,
        instance_type=args.instance_type,
        strategy="MultiRecord",
        assemble_with="Line",
        accept="application/jsonlines",
        max_payload=args.max_payload_mb,
        output_path=output_path,
        sagemaker_session=sm_session,
    )


def score(s3, output_uri, labels):
    """(accuracy, predictions) of a transform output object against the true labels."""
    bucket, key = common.parse_s3_uri(output_uri)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    predicted = [json.loads(line)["label"] for line in body.splitlines() if line.strip()]
    if len(predicted) != len(labels):
        raise SystemExit("%s holds %d predictions for %d digits" % (output_uri, len(predicted), len(labels)))
    correct = sum(int(p) == int(y) for p, y in zip(predicted, labels))
    return correct / len(labels), predicted


def run(boto, args, log=print):
    state = common.State(args.state)
    bucket = args.bucket or state.require("bucket", "pass --bucket")
    prefix = args.prefix or state.get("prefix", common.DEFAULT_PREFIX)
    model_data = args.model_data or state.require("model_data", "run cloud.train or cloud.tune first, or pass --model-data")
    args.role = args.role or state.require("role", "pass --role")
    input_uri = args.input or state.require("data", "run cloud.prepare_data first, or pass --input")["transform"]
    sm_session = common.sagemaker_session(boto)
    job_name = common.unique_name("mnist-transform")
    output_uri = common.s3_uri(bucket, prefix, common.TRANSFORM_OUTPUT, job_name)
    m = deploy.model(sm_session, args, model_data, job_name)
    state.add("models", job_name)
    # Registers the model (CreateModel) without deploying it.
    m.create(instance_type=args.instance_type)
    t = transformer(sm_session, args, job_name, output_uri)
    t.transform(input_uri, content_type="text/csv", split_type="Line", job_name=job_name, wait=False)
    state.add("transform_jobs", job_name)
    log("transform job %s -> %s" % (job_name, output_uri))
    if not args.wait:
        return job_name
    sm_session.wait_for_transform_job(job_name, poll=args.poll)
    data_dir = state.get("data_dir")
    if data_dir:
        _, labels = mnist_files.test_split(data_dir)
        output = output_uri + "/" + prepare_data.TRANSFORM_INPUT_NAME + OUTPUT_SUFFIX
        accuracy, _ = score(boto.client("s3"), output, labels)
        state.set(transform_accuracy=accuracy)
        log("batch transform accuracy %.2f%% over %d digits (%s)" % (100 * accuracy, len(labels), output))
    return job_name


def parse_args(argv=None):
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--image-uri", required=True, help="the inference image in ECR")
    p.add_argument("--role", help="SageMaker execution role ARN (default: the one cloud.train used)")
    p.add_argument("--model-data", help="s3:// URI of a model.tar.gz (default: from the state file)")
    p.add_argument("--input", help="S3 prefix of the CSV input (default: from the state file)")
    p.add_argument("--bucket", help="S3 bucket for the output (default: the one cloud.prepare_data used)")
    p.add_argument("--prefix", help="S3 key prefix (default: the one cloud.prepare_data used)")
    p.add_argument("--instance-type", default=common.DEFAULT_TRANSFORM_INSTANCE, help="default %(default)s")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--max-payload-mb", type=int, default=6, help="MaxPayloadInMB of each mini-batch")
    p.add_argument("--no-wait", dest="wait", action="store_false", help="return once the job is created")
    return p.parse_args(argv)


def main(argv=None):
    return common.main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
