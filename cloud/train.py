"""Trains MNIST on a SageMaker GPU instance with the training image from ECR.

    python -m cloud.train --image-uri ACCOUNT.dkr.ecr.REGION.amazonaws.com/mnist-pytorch-training:TAG \\
        --role arn:aws:iam::ACCOUNT:role/SageMakerExecutionRole [--instance-type ml.g4dn.xlarge]

The data comes from `python -m cloud.prepare_data` (the state file) or --training/--test. A
user's own digits: --manifest trains on the Ground Truth manifest that `cloud.prepare_data --images`
wrote (or any augmented manifest of pictures and labels), streamed in Pipe mode; --model starts from
an earlier job's model.tar.gz (fine-tuning: the trainer then picks its fine-tune preset), and a
hyperparameter mnist-share gives the job an `mnist` channel of MNIST's training files. The
job runs the image's built-in trainer (accuracy-first `default` preset unless -H preset=fast);
SageMaker reads the metrics from the trainer's `#metrics` log lines (common.METRIC_DEFINITIONS)
and shows them in the console and in CloudWatch.
"""
import sys

from cloud import common

MAX_RUN_S = 2 * 3600
# What a model channel is, in SageMaker's pretrained-model pattern (the built-in algorithms' name).
MODEL_CONTENT_TYPE = "application/x-sagemaker-model"
# A flag given without its URI takes it from the state file.
FROM_STATE = "state"


def estimator(sm_session, args, bucket, prefix, job_name):
    from sagemaker.estimator import Estimator

    return Estimator(
        image_uri=args.image_uri,
        role=args.role,
        instance_count=args.instance_count,
        instance_type=args.instance_type,
        output_path=common.s3_uri(bucket, prefix, common.MODELS),
        base_job_name=args.job_prefix,
        hyperparameters=dict(args.hyperparameter),
        metric_definitions=common.METRIC_DEFINITIONS,
        max_run=MAX_RUN_S,
        # Spot capacity when asked for: the trainer resumes from /opt/ml/checkpoints, which
        # SageMaker syncs with checkpoint_s3_uri across interruptions (one folder per job, so
        # no job resumes from another's checkpoint).
        use_spot_instances=args.spot,
        max_wait=2 * MAX_RUN_S if args.spot else None,
        checkpoint_s3_uri=common.s3_uri(bucket, prefix, common.CHECKPOINTS, job_name) if args.spot else None,
        # The image carries no SageMaker Debugger or Profiler: do not ask for their rules.
        debugger_hook_config=False,
        disable_profiler=True,
        sagemaker_session=sm_session,
    )


def channels(state, args):
    """{channel: S3 URI or sagemaker.inputs.TrainingInput} of the job."""
    from sagemaker.inputs import TrainingInput

    data = state.get("data") or {}
    inputs = {}
    if args.manifest:
        manifest = data.get("manifest") if args.manifest == FROM_STATE else args.manifest
        if not manifest:
            raise SystemExit("no manifest in %s: run python -m cloud.prepare_data --images DIR first, or "
                             "pass --manifest s3://.../output.manifest" % state.path)
        attribute = args.label_attribute or state.get("label_attribute") or "digit"
        # An augmented manifest streamed in Pipe mode: SageMaker reads each line's picture (the
        # object source-ref names) and label, and writes them RecordIO-framed to the job's FIFO.
        inputs["training"] = TrainingInput(manifest, s3_data_type="AugmentedManifestFile",
                                           attribute_names=["source-ref", attribute], input_mode="Pipe",
                                           record_wrapping="RecordIO")
    else:
        inputs["training"] = args.training or state.require(
            "data", "run python -m cloud.prepare_data first, or pass --training")["training"]
    test = args.test or data.get("test")
    if test:
        inputs["test"] = test
    if args.validation:
        inputs["validation"] = args.validation
    if args.model:
        model = args.model
        if model == FROM_STATE:
            model = state.require("model_data",
                                  "run cloud.train first, or pass --model s3://.../model.tar.gz")
        inputs["model"] = TrainingInput(model, content_type=MODEL_CONTENT_TYPE, input_mode="File")
    if _mixes_mnist(args.hyperparameter):
        mnist = args.mnist or data.get("training")
        if not mnist:
            raise SystemExit("-H mnist-share needs MNIST's training files: run python -m cloud.prepare_data "
                             "first, or pass --mnist s3://.../data/training/")
        inputs["mnist"] = mnist
    return inputs


def _mixes_mnist(hyperparameters):
    for name, value in hyperparameters:
        if name.replace("_", "-") == "mnist-share":
            try:
                return float(value) > 0
            except ValueError:
                return True  # the trainer says what is wrong with the value
    return False


def run(boto, args, log=print):
    state = common.State(args.state)
    bucket = args.bucket or state.require("bucket", "pass --bucket")
    prefix = args.prefix or state.get("prefix", common.DEFAULT_PREFIX)
    sm_session = common.sagemaker_session(boto)
    job_name = common.unique_name(args.job_prefix)
    est = estimator(sm_session, args, bucket, prefix, job_name)
    inputs = channels(state, args)
    est.fit(inputs, job_name=job_name, wait=False)
    state.add("training_jobs", job_name)
    state.set(training_job=job_name, train_image=args.image_uri, role=args.role)
    log("training job %s" % job_name)
    if args.wait:
        if args.logs:
            # Streams the job's CloudWatch logs (the #metrics lines included) until it ends.
            sm_session.logs_for_job(job_name, wait=True, poll=args.poll)
        else:
            sm_session.wait_for_job(job_name, poll=args.poll)
        model_data = est.model_data
        state.set(model_data=model_data)
        metrics = final_metrics(sm_session, job_name)
        log("model %s" % model_data)
        log("final metrics %s" % ", ".join("%s=%s" % kv for kv in sorted(metrics.items())))
    return job_name


def final_metrics(sm_session, job_name):
    """The last value of each metric definition, as SageMaker recorded it for the job."""
    description = sm_session.sagemaker_client.describe_training_job(TrainingJobName=job_name)
    return {m["MetricName"]: m["Value"] for m in description.get("FinalMetricDataList", [])}


def add_training_args(p):
    p.add_argument("--image-uri", required=True, help="the training image in ECR (./build.sh --push prints it)")
    p.add_argument("--role", required=True, help="SageMaker execution role ARN (reads the data, writes the model)")
    p.add_argument("--bucket", help="S3 bucket (default: the one cloud.prepare_data used)")
    p.add_argument("--prefix", help="S3 key prefix (default: the one cloud.prepare_data used)")
    p.add_argument("--training", help="S3 URI of the training channel (default: from the state file)")
    p.add_argument("--test", help="S3 URI of the test channel (default: from the state file)")
    p.add_argument("--validation", help="S3 URI of a validation channel: your own digits, in any form the "
                                        "training channel takes (or -H validation-fraction=0.2)")
    p.add_argument("--manifest", nargs="?", const=FROM_STATE, metavar="S3_URI",
                   help="train on an augmented manifest in Pipe mode (default URI: the one "
                        "cloud.prepare_data --images wrote)")
    p.add_argument("--label-attribute", help="the manifest's label attribute (default: cloud.prepare_data's, "
                                             "else digit)")
    p.add_argument("--model", nargs="?", const=FROM_STATE, metavar="S3_URI",
                   help="fine-tune an earlier job's model.tar.gz (default URI: the state file's model_data)")
    p.add_argument("--mnist", help="S3 URI of MNIST's training files for -H mnist-share (default: the state "
                                   "file's training channel)")
    p.add_argument("--instance-type", default=common.DEFAULT_TRAIN_INSTANCE, help="default %(default)s (one NVIDIA T4)")
    p.add_argument("--instance-count", type=int, default=1, help="hosts; more than one trains with DDP")
    p.add_argument("--job-prefix", default=common.DEFAULT_PREFIX, help="job name prefix (default %(default)s)")
    p.add_argument("-H", "--hyperparameter", action="append", type=common.hyperparameter, default=[],
                   metavar="NAME=VALUE", help="trainer hyperparameter, e.g. -H preset=fast -H epochs=5; repeatable")
    p.add_argument("--spot", action="store_true", help="use managed spot training (checkpoints in S3)")


def parse_args(argv=None):
    p = common.base_parser(__doc__.splitlines()[0])
    add_training_args(p)
    p.add_argument("--no-wait", dest="wait", action="store_false", help="return once the job is created")
    p.add_argument("--no-logs", dest="logs", action="store_false", help="wait without streaming the job's logs")
    return p.parse_args(argv)


def main(argv=None):
    return common.main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
