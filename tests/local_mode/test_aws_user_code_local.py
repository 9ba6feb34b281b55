"""AWS-style user code deployed with the SDK as an AWS user deploys it, in local mode, offline.

The code is that of AWS's public PyTorch MNIST example (tests/aws_user_code.py): mnist.py with
its own Net and a model_fn that loads a state dict from model.pth, a neighbour module it
imports, and modules named like the image's own. The model.tar.gz holds only model.pth; the
code comes as `sagemaker.pytorch.PyTorchModel(entry_point="mnist.py", source_dir=...)` with
image_uri set to the inference image, and the SDK packs it into the model (code/) as it does
for AWS's PyTorch containers. Requests go through the SDK's Predictor with its serializers:
normalised images in JSON, CSV (a row of 784 values per image) and npy; every answer must be
what the user's own net gives for them. One deployment serves all of the module's tests.
"""
import contextlib
import shutil
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from aws_user_code import AWS_EXAMPLE, SHADOWS, normalised, user_net
from images import SERVE_IMAGE, wait_for
from local_mode import offline
from local_mode.endpoint import local_endpoint

pytestmark = pytest.mark.local_mode

ENTRY_POINT = "mnist.py"
# PyTorchModel packs the code into model.tar.gz only for framework versions served by MMS
# (1.2 and later); the image serves torch 2.14 on Python 3.11. With image_uri given, the
# versions pick nothing else.
FRAMEWORK_VERSION = "2.14"
PY_VERSION = "py311"
# Local mode's own wait for /ping at deploy gives up after 120 s; the image answers 200 only
# once the model is loaded.
READY_TIMEOUT_S = 60
IMAGES = 4


def _user_files(folder):
    """What an AWS user has: the example's source_dir, and model.tar.gz holding model.pth only."""
    source_dir = folder / "source"
    source_dir.mkdir()
    (source_dir / ENTRY_POINT).write_text(AWS_EXAMPLE)
    for name, text in SHADOWS.items():
        (source_dir / name).write_text(text)
    weights = folder / "model.pth"
    torch.save(user_net().state_dict(), weights)
    model_tar = folder / "model.tar.gz"
    with tarfile.open(model_tar, "w:gz") as tar:
        tar.add(weights, arcname="model.pth")
    # With local code and file:// model data the SDK repacks the archive where it lies and
    # local mode unpacks it beside itself to mount that folder as /opt/ml/model: deploy a copy
    # in a folder of its own. mkdir's 0755 lets the image's serving user (uid 1000) read it.
    deployed = folder / "deployed"
    deployed.mkdir()
    shutil.copy(model_tar, deployed / "model.tar.gz")
    return source_dir, deployed / "model.tar.gz"


def _ping(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/ping" % port, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Deployment:
    """The one endpoint of this module; close() ends it (once) and says what was left."""

    def __init__(self, endpoint, stack, source_dir, model_tar):
        self.endpoint, self.source_dir, self.model_tar = endpoint, source_dir, model_tar
        self._stack = stack

    def close(self):
        self._stack.close()
        return self.endpoint.leftovers()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    from sagemaker.pytorch import PyTorchModel

    source_dir, model_tar = _user_files(tmp_path_factory.mktemp("aws-user-code"))

    def pytorch_model(session):
        # Exactly an AWS user's call but for image_uri, which names this image in place of
        # AWS's PyTorch inference image. code_location names a bucket only so that the SDK does
        # not look up its default one (STS, then S3) to build a key nothing uses: with local
        # code and file:// model data no code is uploaded.
        return PyTorchModel(
            model_data="file://%s" % model_tar, entry_point=ENTRY_POINT, source_dir=str(source_dir),
            image_uri=SERVE_IMAGE, framework_version=FRAMEWORK_VERSION, py_version=PY_VERSION,
            role=offline.FAKE_ROLE_ARN, code_location="s3://offline-local-mode/code",
            sagemaker_session=session,
        )

    stack = contextlib.ExitStack()
    with stack:
        endpoint = stack.enter_context(local_endpoint(SERVE_IMAGE, pytorch_model))
        wait_for(lambda: _ping(endpoint.port), READY_TIMEOUT_S, 0.5, "the endpoint's /ping")
        opened = Deployment(endpoint, stack.pop_all(), source_dir, model_tar)
    yield opened
    opened.close()


def _expected(images):
    with torch.no_grad():
        return user_net()(torch.from_numpy(images)).numpy()


def _as_rows(images):
    # CSV as AWS's examples send it: one row of 784 values per image.
    return images.reshape(len(images), -1)


def _serdes(kind):
    """The SDK's serializer and deserializer for a format, and how the images go into it."""
    from sagemaker import deserializers, serializers

    return {
        "json": (serializers.JSONSerializer(), deserializers.JSONDeserializer(), np.asarray),
        "csv": (serializers.CSVSerializer(), deserializers.CSVDeserializer(), _as_rows),
        "npy": (serializers.NumpySerializer(), deserializers.NumpyDeserializer(), np.asarray),
    }[kind]


def test_the_sdk_packed_the_users_code_into_the_model(deployment):
    with tarfile.open(deployment.model_tar) as tar:
        names = {name.lstrip("./") for name in tar.getnames()}
    assert {"model.pth", "code/" + ENTRY_POINT} | {"code/" + name for name in SHADOWS} <= names
    # What the SDK asked local mode to run: the repacked archive, and the script by its name
    # (the image loads it from /opt/ml/model/code, as AWS's containers do).
    endpoint = deployment.endpoint
    container = endpoint.session.sagemaker_client.describe_model(endpoint.model.name)["PrimaryContainer"]
    assert container["ModelDataUrl"] == "file://%s" % deployment.model_tar
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == ENTRY_POINT


@pytest.mark.parametrize("kind", ["json", "csv", "npy"])
def test_the_answers_are_the_users_own_model_outputs(deployment, kind):
    serializer, deserializer, request = _serdes(kind)
    images = normalised(IMAGES)
    predictor = deployment.endpoint.predictor(serializer, deserializer)
    # The CSV deserializer gives rows of strings, the others numbers.
    answer = np.asarray(predictor.predict(request(images)), dtype=np.float64)
    assert answer.shape == (IMAGES, 10), answer
    np.testing.assert_allclose(answer, _expected(images), rtol=1e-4, atol=1e-4)


def test_one_image_as_a_csv_row_gets_one_answer(deployment):
    serializer, deserializer, _ = _serdes("csv")
    image = normalised(1, seed=7)
    answer = np.asarray(deployment.endpoint.predictor(serializer, deserializer).predict(image.reshape(-1)),
                        dtype=np.float64)
    assert answer.shape == (1, 10)
    np.testing.assert_allclose(answer, _expected(image), rtol=1e-4, atol=1e-4)


def test_the_run_reached_nothing_and_left_nothing(deployment):
    # Last in the module: ends the endpoint (the fixture's own close is then a no-op).
    leftovers = deployment.close()
    assert deployment.endpoint.guard.refused == []
    assert leftovers == []
