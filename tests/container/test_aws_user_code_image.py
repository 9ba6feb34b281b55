"""Code written for AWS's PyTorch inference containers, in the real inference image.

The model's code/ is that of AWS's public MNIST example (tests/unit/test_aws_user_code.py has the
script): mnist.py named by SAGEMAKER_PROGRAM, a state dict in model.pth, and beside it modules
named like the image's own. In the image, sagemaker-inference puts code/ first on the backends'
PYTHONPATH: this checks that the image still imports its own packages, serves the user's model
with AWS's defaults, and that user code that cannot load stops the container with its reason.
"""
import io
import json

import numpy as np
import pytest
import torch

from images import wait_for
from aws_user_code import AWS_EXAMPLE, normalised, npy, write_model
from test_serve_image import STARTUP_TIMEOUT, readable, running

pytestmark = pytest.mark.container


def _aws_model(folder, example=AWS_EXAMPLE):
    folder, net = write_model(folder, example)
    readable(folder)
    return folder, net


def test_aws_example_code_is_served_with_the_users_own_outputs(tmp_path):
    # The documented writable place: the model directory is read-only, the temporary folder is not.
    example = AWS_EXAMPLE.replace("def model_fn(model_dir):", "def model_fn(model_dir):\n"
                                  "    import tempfile\n"
                                  "    with open(tempfile.mkstemp(suffix='.cache')[1], 'w') as f:\n"
                                  "        f.write('unpacked')\n")
    model_dir, net = _aws_model(tmp_path / "model", example)
    images = normalised(4)
    with torch.no_grad():
        expected = net(torch.from_numpy(images)).numpy()
    with running({model_dir: "/opt/ml/model"}, {"SAGEMAKER_PROGRAM": "mnist.py"}) as endpoint:
        endpoint.wait_healthy()
        for body, content_type in [(json.dumps(images.tolist()), "application/json"),
                                   ("\n".join(",".join(map(str, r)) for r in images.reshape(4, -1).tolist()), "text/csv"),
                                   (npy(images), "application/x-npy")]:
            for accept, decode in [("application/json", lambda b: np.asarray(json.loads(b))),
                                   ("text/csv", lambda b: np.loadtxt(io.BytesIO(b), delimiter=",", ndmin=2)),
                                   ("application/x-npy", lambda b: np.load(io.BytesIO(b)))]:
                response = endpoint.invoke(body, content_type, accept)
                assert response.status_code == 200, response.text
                assert response.headers["Content-Type"].startswith(accept)
                np.testing.assert_allclose(decode(response.content), expected, rtol=1e-4, atol=1e-4)
        logs = endpoint.logs()
    assert "model_fn from mnist" in logs and "input_fn from sagemaker_mnist_container.pytorch_defaults" in logs


@pytest.mark.parametrize("case, change, reason", [
    ("import fails", lambda s: "import no_such_module_anywhere\n" + s,
     "ModuleNotFoundError: No module named 'no_such_module_anywhere'"),
    ("model_fn raises", lambda s: s.replace("def model_fn(model_dir):", "def model_fn(model_dir):\n"
                                            "    raise RuntimeError('the weights are for another net')\n"),
     "RuntimeError: the weights are for another net"),
    ("model_fn writes into the model", lambda s: s.replace(
        "def model_fn(model_dir):", "def model_fn(model_dir):\n"
        "    open(os.path.join(model_dir, 'cache.bin'), 'w').write('x')\n"),
     # Mounted read-only here, as on SageMaker; owned by root with no write bit for others, the
     # same open would be a PermissionError.
     "OSError: [Errno 30] Read-only file system"),
])
def test_user_code_that_cannot_load_stops_the_container_with_its_reason(tmp_path, case, change, reason):
    model_dir, _ = _aws_model(tmp_path / "model", change(AWS_EXAMPLE))
    with running({model_dir: "/opt/ml/model"}, {"SAGEMAKER_PROGRAM": "mnist.py"}) as endpoint:
        wait_for(lambda: not endpoint.state()["Running"], STARTUP_TIMEOUT, 0.5, "the container to exit")
        assert endpoint.state()["ExitCode"] == 1
        logs = endpoint.logs()
    assert "stopping the server" in logs
    assert reason in logs
    # One load, no retry loop: MMS would otherwise restart the worker over and over.
    assert logs.count("failed to load") <= 2, logs
