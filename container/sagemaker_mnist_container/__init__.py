"""The SageMaker side of the two images: the module the training toolkit calls, and the model
server's entry point and handler service."""
