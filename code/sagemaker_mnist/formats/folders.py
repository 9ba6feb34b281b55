"""A folder per class: <channel>/0/ ... <channel>/9/, each holding PNG or JPEG pictures of that
digit, at any depth below it (3/scanner-a/001.png). The layout image classification datasets
are kept in (and torchvision's ImageFolder reads); on S3, s3://bucket/prefix/3/... under the
channel's prefix.
"""
import os

from sagemaker_mnist.failures import TrainingError
from sagemaker_mnist.formats import NUM_CLASSES, TRAIN, pictures, stack

CLASS_NAMES = tuple(str(digit) for digit in range(NUM_CLASSES))


def class_folders(channel_dir):
    """The names of the channel's top-level folders named after a digit."""
    return sorted(entry for entry in os.listdir(channel_dir)
                  if entry in CLASS_NAMES and os.path.isdir(os.path.join(channel_dir, entry)))


def read(channel_dir, channel):
    """{TRAIN: Digits} of the channel's class folders. Anything beside them, an empty class folder
    and a file that is not a readable picture fail with the file's name."""
    found, labels = [], []
    for entry in sorted(os.listdir(channel_dir)):
        if entry.startswith("."):
            continue
        if entry not in CLASS_NAMES or not os.path.isdir(os.path.join(channel_dir, entry)):
            raise TrainingError("%s/%s is not a class folder: a channel of class folders holds only folders "
                                "named 0 to 9, each with PNG or JPEG pictures of that digit"
                                % (channel, entry))
        pictures_of_class = _pictures(os.path.join(channel_dir, entry), "%s/%s" % (channel, entry))
        if not pictures_of_class:
            raise TrainingError("class folder %s/%s/ is empty: put PNG or JPEG pictures of the digit %s "
                                "in it, or remove it" % (channel, entry, entry))
        for path, name in pictures_of_class:
            found.append(pictures.read_file(path, name))
            labels.append(int(entry))
    return {TRAIN: stack(found, labels, "%s (class folders)" % channel)}


def _pictures(folder, shown):
    """[(path, name in messages)] of the pictures below `folder`, sorted; other files fail."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue  # .DS_Store and the like, which file browsers leave behind
            path = os.path.join(root, name)
            label = shown + "/" + os.path.relpath(path, folder).replace(os.sep, "/")
            if not name.lower().endswith(pictures.EXTENSIONS):
                raise TrainingError("%s is not a PNG or JPEG picture: class folders hold only .png, .jpg or "
                                    ".jpeg files" % label)
            found.append((path, label))
    return found
