"""The SageMaker SDK v2 LocalSession that the flow and the local endpoint helper work through.

One place says how a local session is made offline: the guard watches its boto3 session, its
compose files go under the run's temporary root, and its containers carry the run's label, so
that local_mode.cleanup can find and remove them whatever happens.
"""
import socket

from local_mode import cleanup, offline

# Set to "1", it silences SDK v2's warnings that v3 exists (see local_mode.runner).
SAGEMAKER_SUPPRESS_V2_WARNING = "SAGEMAKER_SUPPRESS_V2_WARNING"
# SDK v2 local mode's instance types: "local" runs on the CPU, "local_gpu" asks for the GPUs.
LOCAL_INSTANCE_TYPE = "local"


def free_port():
    """A TCP port on localhost that nothing listens on now, for local mode's serving_port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_local_session(guard, temp_root, serving_port, run_id):
    """An SDK v2 LocalSession that stays offline and keeps its files and containers findable.

    Call it inside offline.offline_environment(): boto3 then sees the fake region and keys,
    and the guard refuses any request the session would still send.
    """
    import boto3
    from sagemaker.local import LocalSession

    boto_session = guard.attach(boto3.Session(region_name=offline.REGION))
    session = LocalSession(boto_session=boto_session, sagemaker_config=offline.SDK_CONFIG)
    session.config = {
        "local": {
            # Mount source_dir as is instead of uploading it to S3.
            "local_code": True,
            "container_root": str(temp_root),
            "serving_port": serving_port,
            # Merged into every compose service: marks the containers as this run's.
            "container_config": {"labels": {cleanup.RUN_LABEL: run_id}},
        }
    }
    return session
