"""Trains MNIST on a SageMaker GPU instance with the training image from ECR.

    python -m cloud.train --image-uri ACCOUNT.dkr.ecr.REGION.amazonaws.com/mnist-pytorch-training:TAG \\
        --role arn:aws:iam::ACCOUNT:role/SageMakerExecutionRole [--instance-type ml.g4dn.xlarge]

The data comes from `python -m cloud.prepare_data` (the state file) or --training/--test. The
job runs the image's built-in trainer (accuracy-first `default` preset unless -H preset=fast);
SageMaker reads the metrics from the trainer's `#metrics` log lines (common.METRIC_DEFINITIONS)
and shows them in the console and in CloudWatch.
"""
import sys

from cloud import common

MAX_RUN_S = 2 * 3600


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
    training = args.training or state.require("data", "run python -m cloud.prepare_data first, or pass --training")["training"]
    test = args.test or (state.get("data") or {}).get("test")
    inputs = {"training": training}
    if test:
        inputs["test"] = test
    return inputs


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
