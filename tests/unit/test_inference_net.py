"""sagemaker_mnist.inference.InferenceNet computes what the trained MnistNet computes, on both of its paths
(the stem as a matrix product for small batches, conv2d for large ones)."""
import pytest
import torch

from sagemaker_mnist import model
from sagemaker_mnist.inference import InferenceNet

pytestmark = pytest.mark.unit


def _trained_looking_net(width, seed=0):
    """A net whose BatchNorms hold statistics and affine parameters far from the defaults (some
    scales negative), as training leaves them, so that folding them is really exercised."""
    generator = torch.Generator().manual_seed(seed)
    net = model.build_model({"width": width})
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                count = module.num_features
                module.running_mean.copy_(torch.randn(count, generator=generator))
                module.running_var.copy_(torch.rand(count, generator=generator) + 0.5)
                module.weight.copy_(torch.randn(count, generator=generator))
                module.bias.copy_(torch.randn(count, generator=generator))
    return net.eval()


@pytest.mark.parametrize("batch", [1, 2, InferenceNet.SMALL_BATCH, InferenceNet.SMALL_BATCH + 1, 64])
@pytest.mark.parametrize("width", [8, 16])
def test_outputs_match_the_trained_net_on_both_paths(width, batch):
    net = _trained_looking_net(width)
    fast = InferenceNet(net)
    images = torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    # Ink on every border: where the padding (folded normalisation) would show if it were wrong.
    images[:, :, 0, :] = 1.0
    images[:, :, :, 0] = 1.0
    images[:, :, -1, :] = 0.7
    images[:, :, :, -1] = 0.3
    with torch.inference_mode():
        expected = net(images)
        got = fast(images)
    assert got.shape == (batch, 10)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_parameters_are_frozen_and_the_net_is_in_eval_mode():
    fast = InferenceNet(_trained_looking_net(8))
    assert not fast.training
    assert all(not parameter.requires_grad for parameter in fast.parameters())


def test_a_net_with_another_stem_is_refused_with_the_reason():
    net = _trained_looking_net(8)
    net.features[0] = torch.nn.Conv2d(1, 8, kernel_size=3, padding=1, bias=False)
    with pytest.raises(ValueError, match="4 x 4, stride 2"):
        InferenceNet(net)
