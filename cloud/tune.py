"""Tunes the trainer's hyperparameters with SageMaker automatic model tuning.

    python -m cloud.tune --image-uri TRAINING_IMAGE_URI --role ROLE_ARN [--max-jobs 8 --max-parallel-jobs 2]

HyperparameterTuner runs up to --max-jobs training jobs (Bayesian search), each on the same
data and image as cloud.train, and maximizes `test:accuracy`, the last value of the trainer's
per-epoch test accuracy (common.METRIC_DEFINITIONS), or with --objective an accuracy on the job's
validation digits (a user's own: all of them, or one digit's). The best job's model goes into the state
file, where cloud.deploy and cloud.transform pick it up.
"""
import sys

from cloud import common, train

# SageMaker allows at most 32 characters for a tuning job name.
TUNING_JOB_NAME_MAX = 32


def ranges():
    """What the search varies, around the trainer's accuracy-first `default` preset."""
    from sagemaker.tuner import CategoricalParameter, ContinuousParameter, IntegerParameter

    return {
        "lr": ContinuousParameter(0.02, 0.4, scaling_type="Logarithmic"),
        "weight-decay": ContinuousParameter(1e-5, 1e-3, scaling_type="Logarithmic"),
        "label-smoothing": ContinuousParameter(0.0, 0.2),
        "batch-size": CategoricalParameter([64, 128, 256]),
        "epochs": IntegerParameter(8, 16),
    }


def tuner(est, args):
    from sagemaker.tuner import HyperparameterTuner

    return HyperparameterTuner(
        estimator=est,
        objective_metric_name=args.objective,
        objective_type="Maximize",
        hyperparameter_ranges=ranges(),
        metric_definitions=common.METRIC_DEFINITIONS,
        strategy="Bayesian",
        max_jobs=args.max_jobs,
        max_parallel_jobs=args.max_parallel_jobs,
        # Stops jobs whose test accuracy trails the others' at the same epoch.
        early_stopping_type="Auto",
        base_tuning_job_name=args.job_prefix,
    )


def run(boto, args, log=print):
    state = common.State(args.state)
    bucket = args.bucket or state.require("bucket", "pass --bucket")
    prefix = args.prefix or state.get("prefix", common.DEFAULT_PREFIX)
    sm_session = common.sagemaker_session(boto)
    tuning_job = common.unique_name(args.job_prefix, TUNING_JOB_NAME_MAX)
    # The tuner's jobs share the estimator's settings; spot checkpoints, which need a folder
    # per job, are left to cloud.train.
    args.spot = False
    est = train.estimator(sm_session, args, bucket, prefix, tuning_job)
    hpo = tuner(est, args)
    hpo.fit(train.channels(state, args), job_name=tuning_job, wait=False)
    state.add("tuning_jobs", tuning_job)
    state.set(tuning_job=tuning_job, train_image=args.image_uri, role=args.role)
    log("tuning job %s" % tuning_job)
    if args.wait:
        sm_session.wait_for_tuning_job(tuning_job, poll=args.poll)
        best = hpo.best_training_job()
        description = sm_session.sagemaker_client.describe_training_job(TrainingJobName=best)
        model_data = description["ModelArtifacts"]["S3ModelArtifacts"]
        state.set(best_training_job=best, model_data=model_data)
        metrics = {m["MetricName"]: m["Value"] for m in description.get("FinalMetricDataList", [])}
        log("best job %s: %s=%s, hyperparameters %s" % (
            best, args.objective, metrics.get(args.objective),
            {k: v for k, v in description["HyperParameters"].items() if not k.startswith(("sagemaker_", "_"))}))
        log("model %s" % model_data)
    return tuning_job


def parse_args(argv=None):
    p = common.base_parser(__doc__.splitlines()[0])
    train.add_training_args(p)
    p.set_defaults(job_prefix="mnist-tune")
    p.add_argument("--objective", default=common.OBJECTIVE_METRIC, choices=common.OBJECTIVES,
                   help="the accuracy to maximise (default %(default)s; validation:accuracy or one digit's, "
                        "validation:accuracy_N, with validation digits: --validation or "
                        "-H validation-fraction)")
    p.add_argument("--max-jobs", type=int, default=8, help="training jobs in all (default %(default)s)")
    p.add_argument("--max-parallel-jobs", type=int, default=2, help="at once (default %(default)s)")
    p.add_argument("--no-wait", dest="wait", action="store_false", help="return once the tuning job is created")
    return p.parse_args(argv)


def main(argv=None):
    return common.main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
