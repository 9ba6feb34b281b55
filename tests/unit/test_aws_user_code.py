"""Code written for AWS's PyTorch inference containers, served unchanged by this image's handlers.

The user code here is in the shape of AWS's public PyTorch MNIST example: a script (mnist.py)
that defines its own net and a model_fn loading its state dict from model.pth, with no
input_fn/predict_fn/output_fn; requests of normalised data (negative values included) in JSON,
CSV and npy. The image must then behave as AWS's container does: decode to a tensor as it is,
call the user's model, encode its raw output.
"""
import gzip
import io
import json

import numpy as np
import pytest
import torch

from sagemaker_mnist_container import handler_service, pytorch_defaults  # noqa: F401 - before clean_imports' snapshot
from aws_user_code import AWS_EXAMPLE, normalised, npy, write_model
from serving_fixtures import InProcessService, clean_imports  # noqa: F401

pytestmark = pytest.mark.unit

@pytest.fixture
def aws_model(tmp_path, monkeypatch, clean_imports):  # noqa: F811
    """A model directory as AWS's example leaves it, served with SAGEMAKER_PROGRAM=mnist.py; and
    the same net in the test, to compute what the answers must be."""
    model_dir, net = write_model(tmp_path / "model")
    monkeypatch.setenv("SAGEMAKER_PROGRAM", "mnist.py")
    return model_dir, net


@pytest.mark.parametrize("content_type, encode, accept, decode", [
    ("application/json", lambda x: json.dumps(x.tolist()), "application/json", lambda b: np.asarray(json.loads(b))),
    ("text/csv", lambda x: "\n".join(",".join(map(str, row)) for row in x.reshape(len(x), -1).tolist()),
     "text/csv", lambda b: np.loadtxt(io.BytesIO(b), delimiter=",", ndmin=2)),
    ("application/x-npy", npy, "application/x-npy", lambda b: np.load(io.BytesIO(b))),
    ("application/json", lambda x: json.dumps(x.tolist()), "text/csv",
     lambda b: np.loadtxt(io.BytesIO(b), delimiter=",", ndmin=2)),
])
def test_a_user_model_fn_alone_gets_its_raw_output_back(aws_model, content_type, encode, accept, decode):
    model_dir, net = aws_model
    images = normalised(3)
    service = InProcessService(model_dir)
    status, kind, body = service.invoke(encode(images), content_type, accept)
    assert (status, kind) == (200, accept), body
    with torch.no_grad():
        expected = net(torch.from_numpy(images)).numpy()
    answer = decode(body)
    assert answer.shape == (3, 10)
    np.testing.assert_allclose(answer, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case, content_type, encode, headers", [
    ("CSV with a byte-order mark", "text/csv",
     lambda x: "\ufeff" + "\n".join(",".join(map(str, row)) for row in x.reshape(len(x), -1).tolist()), {}),
    ("gzip JSON", "application/json", lambda x: gzip.compress(json.dumps(x.tolist()).encode()),
     {"Content-Encoding": "gzip"}),
])
def test_the_pytorch_defaults_read_byte_order_marks_and_compressed_bodies(aws_model, case, content_type,
                                                                        encode, headers):
    model_dir, net = aws_model
    images = normalised(3)
    status, kind, body = InProcessService(model_dir).invoke(encode(images), content_type, "application/json",
                                                            headers=headers)
    assert (status, kind) == (200, "application/json"), body
    with torch.no_grad():
        expected = net(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(np.asarray(json.loads(body)), expected, rtol=1e-5, atol=1e-5)


def test_the_image_never_imports_user_modules_named_like_its_own(aws_model):
    import sys

    model_dir, _ = aws_model
    InProcessService(model_dir)
    for name in ("sagemaker_mnist", "sagemaker_mnist_container"):
        assert not sys.modules[name].__file__.startswith(str(model_dir)), name
    assert sys.modules["mnist"].__file__ == str(model_dir / "code" / "mnist.py")


@pytest.mark.parametrize("case, body, content_type, accept, status, message", [
    ("words", '["a", "b"]', "application/json", None, 400, "not an array of numbers"),
    ("bad csv", "1,2\n3,x\n", "text/csv", None, 400, "not an array of numbers"),
    ("pickled npy", None, "application/x-npy", None, 400, "not an array of numbers"),
    ("picture", b"\x89PNG\r\n\x1a\n", "image/png", None, 415, "image/png"),
    ("accept", "image", "application/json", "image/png", 406, "image/png"),
])
def test_bad_requests_to_the_pytorch_defaults_name_what_was_wrong(aws_model, case, body, content_type, accept,
                                                                  status, message):
    model_dir, _ = aws_model
    if body == "image":
        body = json.dumps(normalised(1).tolist())
    if body is None:
        buffer = io.BytesIO()
        np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        body = buffer.getvalue()
    service = InProcessService(model_dir)
    got, kind, answer = service.invoke(body, content_type, accept)
    assert (got, kind) == (status, "application/json")
    assert message in json.loads(answer)["message"]


class _Doubler(torch.nn.Module):
    def forward(self, x):
        return x * 2 + 1


@pytest.mark.parametrize("filename", ["model.pt", "weights.pth"])
def test_without_code_a_torchscript_model_is_loaded_as_aws_loads_it(tmp_path, clean_imports, filename):  # noqa: F811
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    torch.jit.save(torch.jit.script(_Doubler()), str(model_dir / filename))
    service = InProcessService(model_dir)
    status, kind, body = service.invoke("[[1.5, -2.0], [0.0, 3.0]]", "application/json")
    assert (status, kind) == (200, "application/json")
    assert json.loads(body) == [[4.0, -3.0], [1.0, 7.0]]


@pytest.mark.parametrize("files, message", [
    ((), "found none"),
    (("a.pt", "b.pth"), "found a.pt, b.pth"),
    (("model.pth",), "is not a TorchScript model"),
])
def test_without_code_a_model_that_cannot_be_loaded_says_why(tmp_path, clean_imports, files, message):  # noqa: F811
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in files:
        torch.save({"weight": torch.zeros(2)}, model_dir / name)
    with pytest.raises(pytorch_defaults.ModelLoadError, match=message):
        pytorch_defaults.model_fn(str(model_dir))


def test_model_fn_with_a_context_argument_gets_the_system_properties(aws_model, tmp_path):
    model_dir, net = aws_model
    code = model_dir / "code"
    seen = tmp_path / "seen.json"
    (code / "mnist.py").write_text(AWS_EXAMPLE.replace("def model_fn(model_dir):", "def model_fn(model_dir, ctx):\n"
        "    import json, tempfile\n"
        "    json.dump(dict(ctx.system_properties), open(%r, 'w'))\n"
        "    # A writable place for user code: the temporary folder (model_dir is read-only on SageMaker).\n"
        "    open(tempfile.mkstemp()[1], 'w').write('scratch')\n" % str(seen)))
    service = InProcessService(model_dir)
    properties = json.loads(seen.read_text())
    assert properties["model_dir"] == str(model_dir)
    assert "gpu_id" in properties
    assert service.invoke(json.dumps(normalised(1).tolist()), "application/json")[0] == 200


@pytest.mark.parametrize("python_path, expected", [
    ("/opt/ml/model/code:/opt/mnist/code:/opt/mnist/container", "/opt/mnist/code:/opt/mnist/container:/opt/ml/model/code"),
    ("/opt/ml/model/code/:/a", "/a:/opt/ml/model/code/"),
    ("/a:/b", "/a:/b"),
    ("", ""),
    ("/opt/ml/model/code::/a:", "/a:/opt/ml/model/code"),
])
def test_worker_python_puts_the_models_code_folder_last(python_path, expected):
    # sagemaker-inference puts code/ first: a user's module named like the image's own would win.
    from sagemaker_mnist_container.preload_client import code_dir_last

    assert code_dir_last(python_path) == expected
