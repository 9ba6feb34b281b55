"""The real MNIST digits (the repository's copy in data/mnist, or $MNIST_DIR), read once per process."""
from data import mnist_files

_cache = {}


def mnist(split):
    """(images uint8 [N,28,28], labels uint8 [N]) of the real 'train' or 't10k' split."""
    if split not in _cache:
        folder = mnist_files.locate(log=lambda line: print("harness: %s" % line))
        images, labels = mnist_files.TRAIN_FILES if split == "train" else mnist_files.TEST_FILES
        _cache[split] = (mnist_files.read_idx(folder / images), mnist_files.read_idx(folder / labels))
    return _cache[split]
