"""A picture of one digit (PNG or JPEG bytes) in MNIST's form, by serving's own preparation.

images.decode is what the endpoint applies to an image/png or image/jpeg request; training on
its output means the net learns digits exactly as it will be shown them. Its errors are a
client's 400s; here they become the job's one-line failure naming the file.
"""
import numpy as np

from sagemaker_mnist import images
from sagemaker_mnist.errors import ClientError
from sagemaker_mnist.failures import TrainingError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
EXTENSIONS = (".png", ".jpg", ".jpeg")


def is_picture(data):
    """Whether `data` starts as a PNG or JPEG file does."""
    return data.startswith(PNG_SIGNATURE) or data.startswith(JPEG_SIGNATURE)


def prepared(data, name):
    """The uint8 28x28 digit of the picture in `data`; `name` is how the failure line calls it."""
    try:
        digit = images.decode(data)
    except ClientError as e:
        raise TrainingError("%s is not a readable picture of a digit: %s; upload PNG or JPEG files of one "
                            "digit each" % (name, e.message)) from None
    return np.round(digit * 255.0).astype(np.uint8)


def read_file(path, name):
    """prepared() of the picture file at `path`."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise TrainingError("%s cannot be read (%s)" % (name, e.strerror or e)) from None
    return prepared(data, name)
