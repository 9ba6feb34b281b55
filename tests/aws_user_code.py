"""AWS's public PyTorch MNIST example's serving code, as a user brings it: for the handler tests.

mnist.py defines its own net and a model_fn that loads the net's state dict from model.pth; it
imports a neighbour (utils.py). SHADOWS are modules a user's code/ may hold that are named like
the image's own: if the image imported any of them in place of its own, serving would break.
"""
import io
import textwrap

import numpy as np
import torch

AWS_EXAMPLE = textwrap.dedent('''
    import os
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from utils import flatten  # a neighbour in code/, as examples split their scripts

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
            self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
            self.conv2_drop = nn.Dropout2d()
            self.fc1 = nn.Linear(320, 50)
            self.fc2 = nn.Linear(50, 10)

        def forward(self, x):
            x = x.view(-1, 1, 28, 28)
            x = F.relu(F.max_pool2d(self.conv1(x), 2))
            x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
            x = F.relu(self.fc1(flatten(x)))
            x = F.dropout(x, training=self.training)
            return F.log_softmax(self.fc2(x), dim=1)

    def model_fn(model_dir):
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model = Net()
        with open(os.path.join(model_dir, "model.pth"), "rb") as f:
            model.load_state_dict(torch.load(f))
        return model.to(device)
''')
# Modules a user's code/ may hold that are named like the image's own, or like common ones: if
# any of them were imported in place of the image's, serving would break.
SHADOWS = {
    "utils.py": "def flatten(x):\n    return x.view(x.size(0), -1)\n",
    "model.py": "raise ImportError('the user model.py was imported by the image')\n",
    "sagemaker_mnist.py": "raise ImportError('the user sagemaker_mnist.py was imported by the image')\n",
    "sagemaker_mnist_container.py": "raise ImportError('the user sagemaker_mnist_container.py was imported')\n",
    "train.py": "raise ImportError('the user train.py was imported by the image')\n",
    # SAGEMAKER_PROGRAM names mnist.py: an inference.py beside it is not the program.
    "inference.py": "raise ImportError('inference.py is not the program here')\n",
}


def user_net(seed=0):
    """The example's Net with seeded weights, in eval mode: what the answers must equal."""
    namespace = {}
    exec(SHADOWS["utils.py"], namespace)
    module = {"flatten": namespace["flatten"]}
    exec(AWS_EXAMPLE.replace("from utils import flatten", ""), module)
    torch.manual_seed(seed)
    return module["Net"]().eval()


def normalised(n, seed=1):
    # What AWS's example sends: pixels scaled to 0-1, then normalised with MNIST's mean and std.
    pixels = np.random.default_rng(seed).integers(0, 256, size=(n, 1, 28, 28)).astype(np.float32) / 255
    return (pixels - 0.1307) / 0.3081


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_model(folder, example=AWS_EXAMPLE):
    """A model directory as AWS's example leaves it: model.pth (user_net()'s state dict) and code/
    with mnist.py and SHADOWS. Returns (folder, the net), the net to compute what answers must be."""
    net = user_net()
    code = folder / "code"
    code.mkdir(parents=True)
    torch.save(net.state_dict(), folder / "model.pth")
    (code / "mnist.py").write_text(example)
    for name, text in SHADOWS.items():
        (code / name).write_text(text)
    return folder, net
