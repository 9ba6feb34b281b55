"""The SageMaker inference handlers for an MNIST artifact: model_fn, input_fn, predict_fn, output_fn.

These are the functions SageMaker's inference toolkits look for in code/inference.py (which
re-exports them). The project's inference image calls them through its handler service; AWS's own
PyTorch inference containers call them through sagemaker-inference's transformer. A model's own
code/inference.py may replace any of them.

  model_fn(model_dir)               the net from model.pth + model.json, prepared for inference
  input_fn(body, content_type)      float32 tensor N x 1 x 28 x 28 (sagemaker_mnist.codecs: the formats)
  predict_fn(images, model)         float32 numpy N x 10 class probabilities, and for a net with
                                    the kind head an 11th column: the probability that the digit
                                    is printed (model.KINDS)
  output_fn(probabilities, accept)  (body bytes, content type; sagemaker_mnist.codecs.encoders)
"""
import numpy as np
import torch
from torch import nn

from sagemaker_mnist.codecs import content_types, decoders, encoders
from sagemaker_mnist import model as mnist_model

DIGITS = 10
PREDICT_SLICE = 4096


class ModelLoadError(RuntimeError):
    """The model directory does not hold a model this code can load."""


def model_fn(model_dir):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        net = mnist_model.load(model_dir, device)
    except Exception as e:
        raise ModelLoadError(
            "cannot load the model in %s: it must hold %s and %s as sagemaker_mnist.model.save writes them "
            "(SageMaker unpacks model.tar.gz there); %s: %s"
            % (model_dir, mnist_model.WEIGHTS_FILE, mnist_model.CONFIG_FILE, type(e).__name__, e)) from e
    model = InferenceNet(net)
    # One pass now, so the first request does not pay for oneDNN's kernel selection and a /ping
    # that says healthy means a model that has already answered.
    with torch.inference_mode():
        model(torch.zeros(1, 1, content_types.SIDE, content_types.SIDE, device=device))
    return model


def input_fn(request_body, request_content_type):
    images = decoders.decode(request_body, request_content_type)
    return torch.from_numpy(images).unsqueeze(1)


def predict_fn(input_data, model):
    device = next(model.parameters()).device
    images = torch.as_tensor(input_data)
    # A request of more images than this goes through the net in slices of it: the 50,000 digits of
    # a 100 MB CSV at once would hold gigabytes of activations.
    if len(images) <= PREDICT_SLICE:
        return _probabilities(model, images.to(device))
    return np.concatenate([_probabilities(model, images[start:start + PREDICT_SLICE].to(device))
                           for start in range(0, len(images), PREDICT_SLICE)])


def _probabilities(model, images):
    with torch.inference_mode():
        logits = model(images).float()
        digits = torch.softmax(logits[:, :DIGITS], dim=1)
        if logits.shape[1] > DIGITS:
            printed = torch.softmax(logits[:, DIGITS:], dim=1)[:, 1:]
            digits = torch.cat([digits, printed], dim=1)
        return digits.cpu().numpy()


def output_fn(prediction, accept):
    # The serving toolkit has already put SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT in place of a
    # missing or */* Accept; anything still open-ended gets JSON.
    kind = content_types.negotiate(accept)
    return encoders.encode(np.asarray(prediction), kind, content_types.wants_kind(accept)), kind


class InferenceNet(nn.Module):
    """MnistNet's eval-mode function in fewer, cheaper operations. On one core of the benchmark
    machine (median of 10 interleaved rounds): 432 us at batch 1 against 698 us for MnistNet's own
    forward, about the same at batch 1,000.

      - each BatchNorm becomes a per-channel scale and shift: folded into the first convolution's
        weights, and one addcmul for those that follow a max-pool (a negative scale does not
        commute with max, so they cannot move into the convolution);
      - the input normalisation is folded into the first convolution too, whose padding is then
        MNIST's mean pixel instead of zero (the mean normalises to the zero the net was trained
        with at its borders);
      - up to SMALL_BATCH images, that first convolution (one input channel, 4 x 4, stride 2) is
        one matrix product over a strided view of the padded images: PyTorch's convolution
        kernels cost several times its arithmetic at these sizes (a fifth of the whole forward
        pass at batch 1); at 4 images the two are even, from 8 on conv2d is faster;
      - plain NCHW tensors otherwise: channels-last pays for itself in training's backward pass,
        and at inference costs a layout conversion per call;
      - one forward over tensors, without a module call or attribute lookup per layer (at batch
        1 those cost as much as the arithmetic);
      - a net with the kind head gives 12 logits from one hidden and one output layer: the two
        heads' hidden layers read the same features, so their weights stack into one product,
        and their output layers into one block-diagonal product (the digit head's 10 logits
        read only its hidden units, the kind head's 2 only its own).
    Its parameters are frozen (requires_grad False) and on the net's device.
    """

    SMALL_BATCH = 4

    def __init__(self, net):
        super().__init__()
        net = net.eval()
        conv1, norm1 = net.features[0], net.features[1]
        if (conv1.in_channels, conv1.kernel_size, conv1.stride, conv1.padding) != (1, (4, 4), (2, 2), (1, 1)):
            raise ValueError("InferenceNet expects MnistNet's stem (1 channel, 4 x 4, stride 2, padding 1)")
        scale, shift = _scale_and_shift(norm1)
        with torch.no_grad():
            bias1 = shift if conv1.bias is None else conv1.bias * scale + shift
            # conv(normalise(x)) == conv'(x) with w' = w / std, b' = b - mean / std * sum(w).
            weight1 = conv1.weight * scale.view(-1, 1, 1, 1)
            bias1 = bias1 - mnist_model.MNIST_MEAN / mnist_model.MNIST_STD * weight1.sum(dim=(1, 2, 3))
            weight1 = weight1 / mnist_model.MNIST_STD
        tensors = {"conv1_weight": weight1, "conv1_bias": bias1}
        for name, block in (("block2", net.features[3]), ("block3", net.features[4])):
            conv, _, norm, _ = block
            scale, shift = _scale_and_shift(norm)
            if conv.bias is not None:
                shift = shift + conv.bias * scale
            tensors.update({name + "_weight": conv.weight, name + "_scale": scale.view(1, -1, 1, 1),
                            name + "_shift": shift.view(1, -1, 1, 1)})
        hidden, output = net.classifier[1], net.classifier[3]
        hidden_weight, hidden_bias = hidden.weight, hidden.bias
        output_weight, output_bias = output.weight, output.bias
        if getattr(net, "kind", None) is not None:
            kind_hidden, kind_output = net.kind[1], net.kind[3]
            hidden_weight = torch.cat([hidden_weight, kind_hidden.weight])
            hidden_bias = torch.cat([hidden_bias, kind_hidden.bias])
            output_weight = torch.block_diag(output_weight, kind_output.weight)
            output_bias = torch.cat([output_bias, kind_output.bias])
        tensors.update({"hidden_weight": hidden_weight, "hidden_bias": hidden_bias,
                        "output_weight": output_weight, "output_bias": output_bias})
        for name, tensor in tensors.items():
            self.register_parameter(name, nn.Parameter(tensor.detach().contiguous().clone(), requires_grad=False))
        self.eval()

    def forward(self, x):
        f = nn.functional
        p = self._parameters
        x = f.pad(x, (1, 1, 1, 1), value=mnist_model.MNIST_MEAN)
        if x.shape[0] <= self.SMALL_BATCH:
            x = _stem_as_matrix_product(x.contiguous(), p["conv1_weight"], p["conv1_bias"]).relu_()
        else:
            x = f.conv2d(x, p["conv1_weight"], p["conv1_bias"], stride=2).relu_()
        x = f.max_pool2d(f.conv2d(x, p["block2_weight"], None, padding=1), 2)
        x = torch.addcmul(p["block2_shift"], x, p["block2_scale"]).relu_()
        x = f.max_pool2d(f.conv2d(x, p["block3_weight"], None, padding=1), 2)
        x = torch.addcmul(p["block3_shift"], x, p["block3_scale"]).relu_()
        x = f.linear(x.flatten(1), p["hidden_weight"], p["hidden_bias"]).relu_()
        return f.linear(x, p["output_weight"], p["output_bias"])


def _stem_as_matrix_product(padded, weight, bias):
    """The 4 x 4, stride-2 convolution (C x 1 x 4 x 4 `weight`) of N x 1 x 30 x 30 padded images as
    one product: each output pixel's 16 input taps, read through a strided view, times the
    weights seen as a taps x channels matrix. Returns N x C x 14 x 14 (a channels-last view)."""
    n, _, height, width = padded.shape
    out_h, out_w = (height - 4) // 2 + 1, (width - 4) // 2 + 1
    taps = padded.as_strided((n, out_h, out_w, 4, 4), (height * width, 2 * width, 2, width, 1))
    out = torch.addmm(bias, taps.reshape(n * out_h * out_w, 16), weight.view(-1, 16).t())
    return out.view(n, out_h, out_w, -1).permute(0, 3, 1, 2)


def _scale_and_shift(norm):
    """(scale, shift) with norm(x) == x * scale + shift per channel, in eval mode."""
    with torch.no_grad():
        scale = torch.rsqrt(norm.running_var + norm.eps)
        if norm.affine:
            scale = scale * norm.weight
        shift = -norm.running_mean * scale
        if norm.affine:
            shift = shift + norm.bias
    return scale, shift
