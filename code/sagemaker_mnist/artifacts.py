"""The model artifact: what the trainer leaves in SageMaker's model directory (/opt/ml/model),
which SageMaker packs as model.tar.gz.

  model.pth, model.json   the weights and architecture (sagemaker_mnist.model.save)
  code/inference.py       model_fn, input_fn, predict_fn, output_fn
  code/sagemaker_mnist/             the package those handlers import
AWS's own PyTorch inference containers look for code/inference.py inside model.tar.gz, so the
artifact serves there as well as in this project's inference image.
"""
import os
import shutil

import sagemaker_mnist
from sagemaker_mnist import model as mnist_model

CODE_DIR = "code"
INFERENCE_SCRIPT = "inference.py"
# The folder name the package is copied under: the name code/inference.py imports it by.
PACKAGE = sagemaker_mnist.__name__
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


def source_code_dir():
    """The directory holding inference.py and the sagemaker_mnist package (code/ in the repository)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(sagemaker_mnist.__file__)))


def write(model_dir, model, config):
    """Saves the net and copies the serving code. Every file appears complete or not at all: the
    weights are written then renamed, and the code is copied to a hidden folder then renamed."""
    script = os.path.join(source_code_dir(), INFERENCE_SCRIPT)
    # Without it the artifact still serves in this project's image, but not on AWS's PyTorch
    # images, which look for code/inference.py: refuse before writing anything.
    if not os.path.isfile(script):
        raise FileNotFoundError("%s is missing: the model artifact's code/inference.py is copied from "
                                "the folder that holds the sagemaker_mnist package; put inference.py beside it (a "
                                "source_dir with its own copy of the package needs one too)" % script)
    mnist_model.save(model, config, model_dir)
    staging = os.path.join(model_dir, "." + CODE_DIR + ".tmp")
    final = os.path.join(model_dir, CODE_DIR)
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    shutil.copy2(script, staging)
    shutil.copytree(os.path.dirname(os.path.abspath(sagemaker_mnist.__file__)), os.path.join(staging, PACKAGE),
                    ignore=_IGNORED)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    return final
