"""The user code the custom-attribute tests serve (on MMS and in the image): an output_fn that
takes SageMaker's custom attributes, logs the request's and answers with its own."""

import numpy as np

from answers import decode_output

ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
# The request's custom attributes, and what CODE's output_fn answers to 3 digits sent with them.
REQUEST = "trace=7;v=2"
RESPONSE = "digits=3;echo=trace=7;v=2"
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


def check_answer(response, trained_model):
    """The answer to trained_model's first 3 digits sent as JSON with REQUEST: their predicted
    digits, and RESPONSE in the header."""
    assert response.status_code == 200, response.text
    np.testing.assert_array_equal(decode_output(response.content, response.headers["Content-Type"])[0],
                                  trained_model.predicted[:3])
    assert response.headers[ATTRIBUTES] == RESPONSE
