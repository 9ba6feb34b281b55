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
    # channels_last lets oneDNN run the convolutions without reordering memory on every call.
    images = torch.as_tensor(input_data).to(device).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        return torch.softmax(model(images).float(), dim=1).cpu().numpy()


def output_fn(prediction, accept):
    # The serving toolkit has already put SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT in place of a
    # missing or */* Accept; anything still open-ended gets JSON.
    kind = codecs.negotiate(accept)
    return codecs.encode(np.asarray(prediction), kind), kind


def prepare_for_inference(model):
    """The eval-mode net with every BatchNorm folded into the convolution before it (exactly the
    same function, one layer fewer per stage) and its weights in channels_last order."""
    model.eval()
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            _fold_batchnorms(module)
    return model.to(memory_format=torch.channels_last)


def _fold_batchnorms(sequence):
    children = list(sequence.children())
    for index, (conv, norm) in enumerate(zip(children, children[1:])):
        if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats:
            sequence[index] = _folded(conv, norm)
            sequence[index + 1] = nn.Identity()


def _folded(conv, norm):
    with torch.no_grad():
        scale = torch.rsqrt(norm.running_var + norm.eps)
        if norm.affine:
            scale = scale * norm.weight
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                          conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode)
        fused = fused.to(device=conv.weight.device, dtype=conv.weight.dtype)
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
        shift = norm.bias if norm.affine else torch.zeros_like(norm.running_mean)
        fused.bias.copy_((bias - norm.running_mean) * scale + shift)
    return fused.eval()
