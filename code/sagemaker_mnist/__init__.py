"""MNIST digit classification for SageMaker: the model, the trainer and the inference handlers.

This package is shared by both images: the training image runs `sagemaker_mnist.trainer`, the inference
image serves `sagemaker_mnist.inference`, and the trainer copies the modules serving needs into every
model artifact (`model.tar.gz/code/`), so an artifact also runs on AWS's own PyTorch
inference containers.
"""
