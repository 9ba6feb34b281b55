"""The user code the custom-attribute tests serve (on MMS and in the image): an output_fn that
takes SageMaker's custom attributes, logs the request's and answers with its own."""

ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
CODE = """
    import logging
    from sagemaker_mnist import inference
    from sagemaker_mnist.inference import model_fn, input_fn, predict_fn

    logger = logging.getLogger("user.code")

    def output_fn(prediction, accept, custom_attributes):
        logger.info("answering %d digits for %s", len(prediction), custom_attributes.request)
        custom_attributes.response = "digits=%d;echo=%s" % (len(prediction), custom_attributes.request)
        return inference.output_fn(prediction, accept)
"""
