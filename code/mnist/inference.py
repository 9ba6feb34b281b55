"""The SageMaker inference handlers for an MNIST artifact: model_fn, input_fn, predict_fn, output_fn.

These are the functions SageMaker's inference toolkits look for in code/inference.py (which
re-exports them). The project's inference image calls them through its handler service; AWS's own
PyTorch inference containers call them through sagemaker-inference's transformer. A model's own
code/inference.py may replace any of them.

  model_fn(model_dir)               the net from model.pth + model.json, prepared for inference
  input_fn(body, content_type)      float32 tensor N x 1 x 28 x 28 (mnist.codecs lists the formats)
  predict_fn(images, model)         float32 numpy N x 10 class probabilities
  output_fn(probabilities, accept)  (body bytes, content type)
"""
import numpy as np
import torch
from torch import nn

from mnist import codecs
from mnist import model as mnist_model


class ModelLoadError(RuntimeError):
    """The model directory does not hold a model this code can load."""


def model_fn(model_dir):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        net = mnist_model.load(model_dir, device)
    except Exception as e:
        raise ModelLoadError(
            "cannot load the model in %s: it must hold %s and %s as mnist.model.save writes them "
            "(SageMaker unpacks model.tar.gz there); %s: %s"
            % (model_dir, mnist_model.WEIGHTS_FILE, mnist_model.CONFIG_FILE, type(e).__name__, e)) from e
    model = prepare_for_inference(net)
    # One pass now, so the first request does not pay for oneDNN's kernel selection and a /ping
    # that says healthy means a model that has already answered.
    with torch.inference_mode():
        model(torch.zeros(1, 1, codecs.SIDE, codecs.SIDE, device=device))
    return model


def input_fn(request_body, request_content_type):
    images = codecs.decode(request_body, request_content_type)
    return torch.from_numpy(images).unsqueeze(1)


def predict_fn(input_data, model):
    device = next(model.parameters()).device
    images = torch.as_tensor(input_data).to(device)
    with torch.inference_mode():
        return torch.softmax(model(images).float(), dim=1).cpu().numpy()


def output_fn(prediction, accept):
    # The serving toolkit has already put SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT in place of a
    # missing or */* Accept; anything still open-ended gets JSON.
    kind = codecs.negotiate(accept)
    return codecs.encode(np.asarray(prediction), kind), kind


def prepare_for_inference(model):
    """The eval-mode net with every BatchNorm that directly follows a convolution or linear layer
    folded into that layer's weights: exactly the same function, one operation fewer."""
    model.eval()
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            _fold_batchnorms(module)
    return model


_FOLDABLE = ((nn.Conv2d, nn.BatchNorm2d), (nn.Linear, nn.BatchNorm1d))


def _fold_batchnorms(sequence):
    children = list(sequence.children())
    for index, (layer, norm) in enumerate(zip(children, children[1:])):
        if any(isinstance(layer, a) and isinstance(norm, b) for a, b in _FOLDABLE) and norm.track_running_stats:
            sequence[index] = _folded(layer, norm)
            sequence[index + 1] = nn.Identity()


def _folded(layer, norm):
    """A copy of `layer` computing norm(layer(x)) (eval mode: running statistics)."""
    with torch.no_grad():
        scale = torch.rsqrt(norm.running_var + norm.eps)
        if norm.affine:
            scale = scale * norm.weight
        shift = norm.bias if norm.affine else torch.zeros_like(norm.running_mean)
        bias = layer.bias if layer.bias is not None else torch.zeros_like(norm.running_mean)
        if isinstance(layer, nn.Conv2d):
            fused = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                              layer.dilation, layer.groups, bias=True, padding_mode=layer.padding_mode)
        else:
            fused = nn.Linear(layer.in_features, layer.out_features, bias=True)
        fused = fused.to(device=layer.weight.device, dtype=layer.weight.dtype)
        fused.weight.copy_(layer.weight * scale.reshape(-1, *[1] * (layer.weight.dim() - 1)))
        fused.bias.copy_((bias - norm.running_mean) * scale + shift)
        # Keep the layer's memory layout (channels-last weights run oneDNN's fast kernels).
        if layer.weight.dim() == 4 and layer.weight.is_contiguous(memory_format=torch.channels_last):
            fused = fused.to(memory_format=torch.channels_last)
    return fused.eval()
