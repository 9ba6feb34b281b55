"""A SageMaker local endpoint of the inference image for the length of a with block, offline.

The tests that serve a model through the SDK (the Lambda handler's, the AWS-style user code's)
use local_endpoint; the flow's own deploy step shares its session set-up (local_mode.session).
"""
import contextlib
import dataclasses
import os
import secrets
import tempfile

from local_mode import cleanup, offline
from local_mode.session import (
    LOCAL_INSTANCE_TYPE,
    SAGEMAKER_SUPPRESS_V2_WARNING,
    free_port,
    make_local_session,
)


@dataclasses.dataclass
class LocalEndpoint:
    """A local endpoint and the offline run around it; unpacks as (name, port).

    SDK local mode serves the container's /invocations on localhost:port. The guard's refused
    list, the run id (the containers' label) and the temporary root stay readable after the
    with block, to check what the run tried to reach and what it left.
    """

    name: str
    port: int
    session: object
    model: object
    guard: offline.RequestGuard
    run_id: str
    temp_root: str

    def __iter__(self):
        # Its first callers unpack (name, port).
        return iter((self.name, self.port))

    def predictor(self, serializer, deserializer):
        """An SDK Predictor of this endpoint, through its local session."""
        from sagemaker.predictor import Predictor

        return Predictor(self.name, sagemaker_session=self.session, serializer=serializer,
                         deserializer=deserializer)

    def leftovers(self):
        """What of this run still exists: its containers and its temporary folder."""
        left = ["container %s" % c for c in cleanup.run_containers(self.run_id, self.temp_root)]
        if os.path.lexists(self.temp_root):
            left.append("temporary folder %s" % self.temp_root)
        return left


def _endpoint_model(model, serve_image, session, run_id):
    """The SDK Model that local_endpoint deploys, bound to its offline session."""
    from sagemaker.model import Model

    if isinstance(model, str):
        return Model(image_uri=serve_image, model_data=model, role=offline.FAKE_ROLE_ARN,
                     name="mnist-%s" % run_id, sagemaker_session=session)
    if isinstance(model, Model):
        # A model made without a session would get a LocalSession of its own at deploy, one
        # the guard does not watch; one made with another session would deploy through it.
        if model.sagemaker_session is not None:
            raise ValueError("local_endpoint deploys through its own offline session: pass a Model "
                             "made without sagemaker_session, or a factory that takes the session")
        model.sagemaker_session = session
        return model
    if callable(model):
        return model(session)
    raise TypeError("local_endpoint takes model data (a URI), a sagemaker Model, or a factory "
                    "session -> Model; got %r" % (model,))


@contextlib.contextmanager
def local_endpoint(serve_image, model, serving_port=0):
    """A local endpoint for the duration of the with block, offline; yields a LocalEndpoint.

    model is model data (a file:// URI, served with the generic Model(image_uri=serve_image)),
    a sagemaker Model made without a session, or a factory called with the endpoint's
    LocalSession inside the offline environment that returns the Model to deploy (so that
    building it, a PyTorchModel's repacking of its code included, is guarded too).
    Afterwards it removes the endpoint, its containers and its temporary folder.
    """
    run_id = "endpoint-%s" % secrets.token_hex(4)
    temp_root = tempfile.mkdtemp(prefix="mnist-local-endpoint-")
    port = serving_port or free_port()
    guard = offline.RequestGuard()
    quiet = {SAGEMAKER_SUPPRESS_V2_WARNING: "1"}
    try:
        with offline.offline_environment(temp_root), guard, offline.environ(quiet):
            session = make_local_session(guard, temp_root, port, run_id)
            deployed = _endpoint_model(model, serve_image, session, run_id)
            # wait=False: local mode's create_endpoint already waits for /ping; wait=True would
            # add a fixed 30 s sleep of the SDK's endpoint waiter.
            deployed.deploy(initial_instance_count=1, instance_type=LOCAL_INSTANCE_TYPE,
                            endpoint_name="mnist-%s" % run_id, wait=False)
            try:
                yield LocalEndpoint(deployed.endpoint_name, port, session, deployed, guard, run_id, temp_root)
            finally:
                session.delete_endpoint(deployed.endpoint_name)
                session.delete_endpoint_config(deployed.endpoint_name)
                deployed.delete_model()
    finally:
        cleanup.remove_containers(run_id, temp_root)
        cleanup.remove_tree(temp_root, helper_image=serve_image)
