"""Scales an endpoint's instances with its traffic (Application Auto Scaling, target tracking).

    python -m cloud.autoscale [--endpoint-name NAME] [--variant AllTraffic] [--min 1] [--max 4] \\
        [--target 100] [--scale-in-cooldown 300] [--scale-out-cooldown 60]

Registers the endpoint's production variant as a scalable target (its DesiredInstanceCount
between --min and --max) and puts a target-tracking policy on SageMakerVariantInvocationsPerInstance:
Application Auto Scaling adds instances when the variant's invocations per instance per minute
stay above --target and removes them when they stay below. cloud.cleanup deletes the policy and
deregisters the target. A serverless endpoint has no instances to scale and is refused.
"""
import sys

from cloud import common

SERVICE_NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"
POLICY_TYPE = "TargetTrackingScaling"
# The SDK's variant name (Model.deploy), which cloud.deploy and cloud.multi_model use.
DEFAULT_VARIANT = "AllTraffic"
# Invocations per instance per minute. What one instance sustains depends on the instance type and
# the payload: measure it (bench/serve_speed.py on the instance type) and leave headroom.
DEFAULT_TARGET = 100.0
# Out quickly, in slowly: a scale-in that comes too soon after a burst costs a cold start.
DEFAULT_SCALE_IN_COOLDOWN_S = 300
DEFAULT_SCALE_OUT_COOLDOWN_S = 60


def resource_id(endpoint, variant):
    return "endpoint/%s/variant/%s" % (endpoint, variant)


def policy_name(endpoint, variant):
    return "%s-%s-invocations" % (endpoint, variant)


def variant_of(sm, endpoint, variant):
    """The endpoint's production variant, checked to be one that has instances to scale."""
    described = sm.describe_endpoint(EndpointName=endpoint)
    if described["EndpointStatus"] != "InService":
        raise SystemExit("endpoint %s is %s: scale it once it is InService" % (endpoint, described["EndpointStatus"]))
    config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    variants = {v["VariantName"]: v for v in config["ProductionVariants"]}
    if variant not in variants:
        raise SystemExit("endpoint %s has no variant %r: it has %s" % (endpoint, variant, ", ".join(sorted(variants))))
    if "ServerlessConfig" in variants[variant]:
        raise SystemExit("endpoint %s is serverless: SageMaker scales it itself, up to its MaxConcurrency; "
                         "there are no instances to scale" % endpoint)
    return variants[variant]


def register(scaling, resource, minimum, maximum):
    return scaling.register_scalable_target(
        ServiceNamespace=SERVICE_NAMESPACE, ResourceId=resource, ScalableDimension=SCALABLE_DIMENSION,
        MinCapacity=minimum, MaxCapacity=maximum)


def put_policy(scaling, resource, name, target, scale_in_cooldown, scale_out_cooldown):
    return scaling.put_scaling_policy(
        PolicyName=name, ServiceNamespace=SERVICE_NAMESPACE, ResourceId=resource,
        ScalableDimension=SCALABLE_DIMENSION, PolicyType=POLICY_TYPE,
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": target,
            "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
            "ScaleInCooldown": scale_in_cooldown,
            "ScaleOutCooldown": scale_out_cooldown,
        })


def run(boto, args, log=print):
    state = common.State(args.state)
    endpoint = args.endpoint_name or state.require("endpoint", "run cloud.deploy first, or pass --endpoint-name")
    variant_of(boto.client("sagemaker"), endpoint, args.variant)
    scaling = boto.client("application-autoscaling")
    resource, name = resource_id(endpoint, args.variant), policy_name(endpoint, args.variant)
    # Recorded first, so cloud.cleanup removes whatever got made if the policy fails.
    state.add("scalable_targets", {"ResourceId": resource, "PolicyName": name})
    register(scaling, resource, args.min, args.max)
    policy = put_policy(scaling, resource, name, args.target, args.scale_in_cooldown, args.scale_out_cooldown)
    log("%s scales from %d to %d instances, aiming at %g invocations per instance per minute (%s)"
        % (resource, args.min, args.max, args.target, policy["PolicyARN"]))
    return policy["PolicyARN"]


def parse_args(argv=None):
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--endpoint-name", help="default: the state file's endpoint")
    p.add_argument("--variant", default=DEFAULT_VARIANT, help="the production variant (default %(default)s)")
    p.add_argument("--min", type=int, default=1, help="MinCapacity, at least 1 (default %(default)s)")
    p.add_argument("--max", type=int, default=4, help="MaxCapacity (default %(default)s)")
    p.add_argument("--target", type=float, default=DEFAULT_TARGET,
                   help="TargetValue: invocations per instance per minute (default %(default)s)")
    p.add_argument("--scale-in-cooldown", type=int, default=DEFAULT_SCALE_IN_COOLDOWN_S, metavar="S",
                   help="ScaleInCooldown in seconds (default %(default)s)")
    p.add_argument("--scale-out-cooldown", type=int, default=DEFAULT_SCALE_OUT_COOLDOWN_S, metavar="S",
                   help="ScaleOutCooldown in seconds (default %(default)s)")
    args = p.parse_args(argv)
    # Real-time variants keep at least one instance (scaling to zero is for asynchronous endpoints
    # and inference components, with other metrics).
    if args.min < 1 or args.max < args.min:
        p.error("--min must be at least 1 and --max at least --min (got %d and %d)" % (args.min, args.max))
    if args.target <= 0:
        p.error("--target must be above 0 invocations per instance per minute")
    if args.scale_in_cooldown < 0 or args.scale_out_cooldown < 0:
        p.error("cooldowns are seconds, 0 or more")
    return args


def main(argv=None):
    return common.main(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
