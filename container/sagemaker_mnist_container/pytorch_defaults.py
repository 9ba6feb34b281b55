"""The handlers AWS's PyTorch inference container gives code that is not this project's artifact.

A model whose code/inference.py defines its own model_fn (AWS's MNIST examples: a state dict and
a net defined in the user's script), or a model directory with no code and no model.json (a
TorchScript model.pt), gets these around it, as the stock container does:

  model_fn(model_dir)              TorchScript model.pt, else the one .pt/.pth file, on the GPU if any
  input_fn(body, content_type)     JSON, CSV or npy to a float32 tensor as it is: no scaling, any shape
  predict_fn(data, model)          model(data) in eval mode under no_grad, on the model's device
  output_fn(prediction, accept)    the raw output as JSON, CSV or npy

Where this differs from the stock container, it is on the side of the client: an npy body is read
without unpickling (the stock decoder unpickles request bodies), and a body that cannot be read
is a 400 naming what was wrong, an Accept or Content-Type it does not serve a 406 or 415 naming
the ones it does (the stock container answers 500 for most of them).
"""
import io
import json
import os

import numpy as np
import torch
from sagemaker_mnist.codecs.content_types import media_type
from sagemaker_mnist.errors import BadRequest, NotAcceptable, UnsupportedContentType

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
CONTENT_TYPES = (JSON, CSV, NPY)
# The name AWS's PyTorch container loads first; else the model directory's only .pt or .pth file.
DEFAULT_MODEL_FILENAME = "model.pt"
MODEL_SUFFIXES = (".pt", ".pth")
_ACCEPTED_INPUT = {"content_types": list(CONTENT_TYPES),
                   "body": "numbers: a JSON array (any nesting), CSV rows, or an npy array of numbers"}


class ModelLoadError(RuntimeError):
    """The model directory holds no TorchScript model the default model_fn can load."""


def device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_fn(model_dir):
    path = os.path.join(model_dir, DEFAULT_MODEL_FILENAME)
    if not os.path.isfile(path):
        found = sorted(name for name in os.listdir(model_dir)
                       if name.endswith(MODEL_SUFFIXES) and os.path.isfile(os.path.join(model_dir, name)))
        if len(found) != 1:
            raise ModelLoadError(
                "no model to load in %s: the default model_fn loads a TorchScript %s, or the one .pt or .pth "
                "file there (found %s); for anything else (a state dict, say) define model_fn in "
                "code/inference.py" % (model_dir, DEFAULT_MODEL_FILENAME, ", ".join(found) or "none"))
        path = os.path.join(model_dir, found[0])
    try:
        return torch.jit.load(path, map_location=device())
    except RuntimeError as e:
        raise ModelLoadError("%s is not a TorchScript model (torch.jit.save writes one); for a state dict, "
                             "define model_fn in code/inference.py: %s" % (path, " ".join(str(e).split()[:20]))) from e


def input_fn(request_body, request_content_type):
    kind = media_type(request_content_type) if request_content_type else JSON
    if kind not in CONTENT_TYPES:
        raise UnsupportedContentType("Content-Type %r is not served by the default input_fn" % request_content_type,
                                     _ACCEPTED_INPUT)
    body = request_body.encode("utf-8") if isinstance(request_body, str) else bytes(request_body)
    try:
        if kind == NPY:
            array = np.load(io.BytesIO(body), allow_pickle=False)
        elif kind == JSON:
            array = np.asarray(json.loads(body), dtype=np.float32)
        else:
            # utf-8-sig: without the byte-order mark spreadsheet programs begin a CSV with.
            rows = [line for line in body.decode("utf-8-sig").splitlines() if line.strip()]
            array = np.asarray([[float(value) for value in row.split(",")] for row in rows], dtype=np.float32)
            # One row is one record, as the stock decoder reads it.
            array = array[0] if len(array) == 1 else array
    except (ValueError, TypeError, UnicodeDecodeError, EOFError) as e:
        raise BadRequest("the %s body is not an array of numbers (%s)" % (kind, " ".join(str(e).split())),
                         _ACCEPTED_INPUT) from e
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise BadRequest("the %s body holds %s values, not numbers" % (kind, array.dtype), _ACCEPTED_INPUT)
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(device())


def predict_fn(input_data, model):
    parameters = list(model.parameters()) if hasattr(model, "parameters") else []
    target = parameters[0].device if parameters else device()
    model.eval()
    with torch.no_grad():
        return model(input_data.to(target))


def output_fn(prediction, accept):
    # The handler service has already put SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT in place of a missing
    # or */* Accept; the first type of the list that is served wins, as in the stock container.
    for part in (accept or JSON).split(","):
        kind = media_type(part)
        if kind in CONTENT_TYPES:
            return _encode(_as_array(prediction), kind), kind
    raise NotAcceptable("Accept %r is not served by the default output_fn" % accept,
                        {"accept": list(CONTENT_TYPES)})


def _as_array(prediction):
    if isinstance(prediction, torch.Tensor):
        return prediction.detach().cpu().numpy()
    return np.asarray(prediction)


def _encode(array, kind):
    if kind == JSON:
        return json.dumps(array.tolist()).encode()
    if kind == NPY:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    rows = np.atleast_2d(array) if array.ndim < 2 else array.reshape(len(array), -1)
    return "".join(",".join(map(str, row.tolist())) + "\n" for row in rows).encode()
