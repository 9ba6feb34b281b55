"""A small real MnistNet trained in-process on real digits (about a second on one core), laid out
as the trainer lays out its artifact, and what it predicts for the first test digits."""
import pathlib
import shutil

import numpy as np
import torch

from harness.digits import mnist
from sagemaker_mnist import artifacts
from sagemaker_mnist import model as mnist_model

N_TEST = 200


def train_small_model(seed=0, width=8, n_train=4096, batch_size=32):
    """A real MnistNet trained for one pass over n_train real digits (about a second on one core):
    about 90% accurate on MNIST's test set."""
    torch.manual_seed(seed)
    images, labels = mnist("train")
    x = torch.from_numpy(images[:n_train].copy()).float().div_(255).unsqueeze(1)
    y = torch.from_numpy(labels[:n_train].copy()).long()
    net = mnist_model.MnistNet(width)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for start in range(0, n_train, batch_size):
            end = start + batch_size
            loss = torch.nn.functional.cross_entropy(net(x[start:end]), y[start:end])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return net.eval(), {"width": width}


class TrainedModel:
    """An artifact directory (model.pth, model.json, code/) and what it predicts for the first
    N_TEST real test digits."""

    def __init__(self, model_dir):
        self.model_dir = pathlib.Path(model_dir)
        images, labels = mnist("t10k")
        self.images = images[:N_TEST]
        self.labels = labels[:N_TEST].astype(int)
        net = mnist_model.load(self.model_dir)
        with torch.no_grad():
            logits = net(torch.from_numpy(self.images.copy()).float().div(255).unsqueeze(1))
        self.probabilities = torch.softmax(logits, 1).numpy()
        self.predicted = self.probabilities.argmax(1)
        # Digits this model gets right: what single-image tests send.
        self.correct = np.flatnonzero(self.predicted == self.labels)

    @property
    def accuracy(self):
        return float((self.predicted == self.labels).mean())

    def copy_to(self, destination, with_code=True):
        """A copy of the artifact, optionally without its code/ folder."""
        destination = pathlib.Path(destination)
        shutil.copytree(self.model_dir, destination,
                        ignore=None if with_code else shutil.ignore_patterns(artifacts.CODE_DIR))
        return destination


def write_artifact(model_dir, seed=0):
    net, config = train_small_model(seed=seed)
    artifacts.write(str(model_dir), net, config)
    return TrainedModel(model_dir)
