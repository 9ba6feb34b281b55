"""The baseline of bench/train_speed.py: the MNIST recipe that pytorch/examples publishes
(mnist/main.py), written here from its description, not copied.

  net:   conv 3x3 1->32, ReLU, conv 3x3 32->64, ReLU, max-pool 2, dropout 0.25,
         linear 9216->128, ReLU, dropout 0.5, linear 128->10, log-softmax (negative log-likelihood loss)
  input: (x - 0.1307) / 0.3081
  train: Adadelta lr 1.0, StepLR gamma 0.7 once an epoch, batch 64 shuffled, test batch 1000

One deliberate difference, in the baseline's favour: batches are sliced from the whole training
set held in memory as one tensor, where the example decodes each digit through a DataLoader and
torchvision transforms. The comparison measures the recipe and the net, not the data pipeline.

It prints the trainer's `#metrics` line after each epoch (train_seconds excludes evaluation), so
the bench reads both the same way, and stops after the first epoch at --stop-at accuracy or more.
    python bench/baseline_examples.py --train DIR [--epochs 3] [--seed 1] [--stop-at 0.99]
"""
import argparse
import os
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "code"))
from sagemaker_mnist import data, report  # noqa: E402

MEAN, STD = 0.1307, 0.3081


class ExamplesNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.drop_features = nn.Dropout(0.25)
        self.fc1 = nn.Linear(12 * 12 * 64, 128)
        self.drop_hidden = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.drop_features(torch.flatten(x, 1))
        x = self.drop_hidden(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def _normalised(images):
    return (images.unsqueeze(1).float().div(255) - MEAN) / STD


@torch.no_grad()
def evaluate(net, images, labels, batch_size=1000):
    net.eval()
    loss, correct = 0.0, 0
    for start in range(0, len(labels), batch_size):
        out = net(images[start:start + batch_size])
        y = labels[start:start + batch_size]
        loss += F.nll_loss(out, y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
    return loss / len(labels), correct / len(labels)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", required=True, help="directory with MNIST's four IDX files")
    p.add_argument("--test", default=None, help="directory with the test split, when not in --train")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--stop-at", type=float, default=0.99,
                   help="stop after the first epoch at this test accuracy")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    dataset = data.load(args.train, args.test)
    train_x, train_y = _normalised(dataset.train.images), dataset.train.labels
    test_x, test_y = _normalised(dataset.test.images), dataset.test.labels
    net = ExamplesNet()
    optimizer = torch.optim.Adadelta(net.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    batch_size, train_seconds = 64, 0.0
    print("baseline: pytorch/examples MNIST recipe on %d threads, %d training digits"
          % (torch.get_num_threads(), len(train_y)), flush=True)
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        net.train()
        order = torch.randperm(len(train_y))
        loss_sum = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = F.nll_loss(net(train_x[batch]), train_y[batch])
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(batch)
        scheduler.step()
        seconds = time.perf_counter() - started
        train_seconds += seconds
        test_loss, accuracy = evaluate(net, test_x, test_y)
        print(report.metric_line({
            "epoch": epoch, "train_loss": loss_sum / len(order), "test_loss": test_loss,
            "test_accuracy": accuracy, "epoch_seconds": time.perf_counter() - started,
            "train_seconds": train_seconds,
        }), flush=True)
        if accuracy >= args.stop_at:
            break


if __name__ == "__main__":
    main()
