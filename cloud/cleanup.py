"""Deletes what the cloud scripts created (the state file lists it), so nothing keeps billing.

    python -m cloud.cleanup [--delete-data] [--dry-run]

In this order: the Lambda function, its IAM role and inline policy, the autoscaling policies and
scalable targets (cloud.autoscale), the endpoints, endpoint configs and models, jobs still running
(stopped: SageMaker keeps the records of finished jobs, which cost nothing), and with
--delete-data every object under s3://BUCKET/PREFIX/.
What is already gone is skipped, so a second run is harmless.
"""
import sys

from cloud import autoscale, common

NOT_FOUND = ("ResourceNotFoundException", "NoSuchEntity", "ValidationException", "NoSuchBucket",
             "ObjectNotFoundException")
RUNNING = ("InProgress", "Stopping")


def _gone(error):
    from botocore.exceptions import ClientError

    if not isinstance(error, ClientError):
        return False
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    # SageMaker answers ValidationException "Could not find ..." for a missing endpoint or model.
    return code in NOT_FOUND and (code != "ValidationException" or "Could not find" in message
                                  or "does not exist" in message)


def _attempt(action, what, log, dry_run, call):
    from botocore.exceptions import ClientError

    if dry_run:
        log("would %s %s" % (action, what))
        return True
    try:
        call()
        log("%s %s" % (action, what))
        return True
    except ClientError as e:
        if _gone(e):
            log("%s: already gone" % what)
            return True
        raise


def run(boto, args, log=print):
    state = common.State(args.state)
    sm, iam, lam = boto.client("sagemaker"), boto.client("iam"), boto.client("lambda")
    scaling = boto.client("application-autoscaling")
    dry = args.dry_run
    for name in state.get("lambda_functions", []):
        _attempt("deleted Lambda function", name, log, dry, lambda: lam.delete_function(FunctionName=name))
    for role in state.get("lambda_roles", []):
        _attempt("deleted inline policy of", role, log, dry,
                 lambda: iam.delete_role_policy(RoleName=role, PolicyName=role))
        _attempt("deleted IAM role", role, log, dry, lambda: iam.delete_role(RoleName=role))
    # Before the endpoints: DeleteEndpoint deregisters a scaled variant itself only for a caller
    # allowed DeregisterScalableTarget, and fails for one that is not; done here, each step is logged.
    for target in state.get("scalable_targets", []):
        scaled = dict(ServiceNamespace=autoscale.SERVICE_NAMESPACE, ResourceId=target["ResourceId"],
                      ScalableDimension=autoscale.SCALABLE_DIMENSION)
        _attempt("deleted scaling policy", target["PolicyName"], log, dry,
                 lambda: scaling.delete_scaling_policy(PolicyName=target["PolicyName"], **scaled))
        _attempt("deregistered scalable target", target["ResourceId"], log, dry,
                 lambda: scaling.deregister_scalable_target(**scaled))
    for name in state.get("endpoints", []):
        _attempt("deleted endpoint", name, log, dry, lambda: sm.delete_endpoint(EndpointName=name))
    for name in state.get("endpoint_configs", []):
        _attempt("deleted endpoint config", name, log, dry,
                 lambda: sm.delete_endpoint_config(EndpointConfigName=name))
    for name in state.get("models", []):
        _attempt("deleted model", name, log, dry, lambda: sm.delete_model(ModelName=name))
    for name in state.get("training_jobs", []):
        if sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in RUNNING:
            _attempt("stopped training job", name, log, dry, lambda: sm.stop_training_job(TrainingJobName=name))
    for name in state.get("tuning_jobs", []):
        status = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)["HyperParameterTuningJobStatus"]
        if status in RUNNING:
            _attempt("stopped tuning job", name, log, dry,
                     lambda: sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name))
    for name in state.get("transform_jobs", []):
        if sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] in RUNNING:
            _attempt("stopped transform job", name, log, dry, lambda: sm.stop_transform_job(TransformJobName=name))
    if args.delete_data and state.get("bucket"):
        delete_prefix(boto.client("s3"), state.get("bucket"), state.get("prefix", common.DEFAULT_PREFIX), log, dry)
    if not dry:
        for key in ("lambda_functions", "lambda_roles", "scalable_targets", "endpoints", "endpoint_configs", "models",
                    "lambda_function", "endpoint", "endpoint_mode", "multi_model_endpoint", "multi_model_prefix"):
            state.data.pop(key, None)
        state.save()


def delete_prefix(s3, bucket, prefix, log, dry_run):
    """Deletes every object under s3://bucket/prefix/ (1,000 keys per request, S3's maximum)."""
    paginator = s3.get_paginator("list_objects_v2")
    count = 0
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix.strip("/") + "/"):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if not keys:
            continue
        count += len(keys)
        if not dry_run:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    log("%s %d objects under s3://%s/%s/" % ("would delete" if dry_run else "deleted", count, bucket, prefix.strip("/")))


def parse_args(argv=None):
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--delete-data", action="store_true", help="also delete everything under s3://BUCKET/PREFIX/")
    p.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    return p.parse_args(argv)


def main(argv=None):
    return common.main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
