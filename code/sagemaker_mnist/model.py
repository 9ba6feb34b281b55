"""The CNN, defined once for training and serving, and its on-disk form.

An artifact directory (SageMaker's /opt/ml/model) holds:
  model.pth   the state dict (loaded with weights_only=True: no pickle runs on load)
  model.json  the architecture arguments, so a loader rebuilds the same net
The net takes N x 1 x 28 x 28 float images with ink bright on dark in [0, 1], MNIST's own form,
and normalises them itself, so no caller has to know the training statistics. A net built with
kinds=True also tells a handwritten digit from a printed one (KINDS), from the same features.
"""
import io
import json
import os

import torch
from torch import nn

WEIGHTS_FILE = "model.pth"
CONFIG_FILE = "model.json"

# Mean and standard deviation of MNIST's training pixels scaled to [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
# What the second head tells apart, in the order of its two outputs.
KINDS = ("handwritten", "printed")


class MnistNet(nn.Module):
    """A small BatchNorm CNN shaped for speed on a few CPU cores (bench/train_speed.py measures it).

    Three convolutions at falling resolution (w, 3w and 4w channels for `width` w), then a hidden
    layer of 16w units:
      - the first convolution has stride 2 (4 x 4 kernel, 28 -> 14): at full resolution a
        one-channel convolution runs far below the CPU's arithmetic rate, and its activations,
        pooling and BatchNorm cost more than all the layers after it;
      - the others max-pool before BatchNorm and ReLU, which then touch a quarter of the values;
      - the middle convolution is the widest for its cost: 3w channels there gave 0.1% more
        accuracy after one epoch than 2w, for 20% more time, more than any other widening;
      - the final 3 x 3 map is flattened, not pooled away (where a stroke lies tells digits
        apart), and the hidden layer costs a few percent of the arithmetic for about 0.1% of test
        accuracy after one epoch;
      - parameters and activations are channels-last, the layout in which oneDNN's CPU
        convolutions run fastest (about a third faster here than the default layout).

    The digit head is the classifier; with kinds=True a second head (`kind`: a hidden layer of 4w
    units of its own) reads the same convolutional features and scores the two KINDS. forward(x)
    gives the digit logits alone, as every net of this project has (a model trained before the
    kind head loads and serves unchanged);
    forward(x, with_kind=True) gives both (a keyword that DistributedDataParallel passes on).
    """

    def __init__(self, width=16, kinds=False):
        super().__init__()
        w1, w2, w3, hidden = width, 3 * width, 4 * width, 16 * width
        self.features = nn.Sequential(
            nn.Conv2d(1, w1, kernel_size=4, stride=2, padding=1, bias=False),  # 14 x 14
            nn.BatchNorm2d(w1),
            nn.ReLU(inplace=True),
            _conv_pool_bn(w1, w2),  # 7 x 7
            _conv_pool_bn(w2, w3),  # 3 x 3
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(9 * w3, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 10),
        )
        # The kind head has a hidden layer of its own over the convolutions' features: the digit
        # head's hidden layer learns what stays the same across styles (its purpose), and a
        # linear kind head on it missed about one printed digit in ten, on its training fonts.
        self.kind = nn.Sequential(
            nn.Flatten(),
            nn.Linear(9 * w3, 4 * width),
            nn.ReLU(inplace=True),
            nn.Linear(4 * width, len(KINDS)),
        ) if kinds else None
        self.to(memory_format=torch.channels_last)

    @property
    def has_kind(self):
        return self.kind is not None

    def forward(self, x, with_kind=False):
        """Digit logits N x 10; with_kind: (those, kind logits N x 2), for a net with the kind head."""
        if not with_kind:
            return self.classifier(self.features(_normalise(x)))
        features = self.features(_normalise(x))
        return self.classifier(features), self.kind(features)


def _normalise(x):
    return ((x - MNIST_MEAN) / MNIST_STD).contiguous(memory_format=torch.channels_last)


def _conv_pool_bn(c_in, c_out):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.MaxPool2d(2),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def build_model(config):
    """Returns a fresh net for an architecture config as stored in model.json."""
    return MnistNet(**config)


def save(model, config, model_dir):
    """Writes model.pth and model.json into model_dir, each atomically (write then rename), so a
    reader never sees a half-written file."""
    os.makedirs(model_dir, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()}
    # Serialized in memory first: torch.save into a file on a full disk raises an opaque
    # RuntimeError from its zip writer, a plain write the OSError that says so.
    weights = io.BytesIO()
    torch.save(state, weights)
    _atomic_write(os.path.join(model_dir, WEIGHTS_FILE), lambda f: f.write(weights.getbuffer()))
    text = json.dumps(config, indent=2, sort_keys=True).encode()
    _atomic_write(os.path.join(model_dir, CONFIG_FILE), lambda f: f.write(text))


def load(model_dir, device="cpu"):
    """Rebuilds the net saved in model_dir, in eval mode on `device`."""
    with open(os.path.join(model_dir, CONFIG_FILE)) as f:
        config = json.load(f)
    model = build_model(config)
    state = torch.load(os.path.join(model_dir, WEIGHTS_FILE), map_location=device, weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval()


def _unwrap(model):
    # DistributedDataParallel and torch.compile wrap the net; the artifact stores the net itself.
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def _atomic_write(path, write):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
