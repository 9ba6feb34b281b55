"""SageMaker inference handlers for this artifact (model.tar.gz/code/inference.py).

SageMaker's inference toolkits import model_fn, input_fn, predict_fn and output_fn from this file:
this project's inference image, and AWS's own PyTorch inference containers alike. The functions
live in the sagemaker_mnist package copied next to this file; see sagemaker_mnist/inference.py
and sagemaker_mnist/codecs/.
To change one, define it here instead of importing it.
"""
from sagemaker_mnist.inference import input_fn, model_fn, output_fn, predict_fn

__all__ = ["model_fn", "input_fn", "predict_fn", "output_fn"]
