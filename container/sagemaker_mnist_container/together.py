"""Several requests of one MMS batch through the net in one forward pass.

MMS hands a worker up to SAGEMAKER_MODEL_SERVER_BATCH_SIZE requests already waiting. With the
image's own input_fn, predict_fn and output_fn, each is decoded on its own, all are predicted
together in groups of up to MAX_TOGETHER images, and each is encoded and answered on its own. A
request that cannot be decoded or encoded gets its own error; the others are answered.
"""
import torch

from sagemaker_mnist_container import mms_requests

# The most images of several requests that go through the net together (batch transform's
# MultiRecord requests hold thousands each and go alone).
MAX_TOGETHER = 1024


def answer(data, context, functions, model, settings):
    """The answers (bytes) to MMS's batch `data`, in its order."""
    responses, decoded = [None] * len(data), []
    for index, request in enumerate(data):
        body, content_type, accept, encoding = mms_requests.read(context, index, request, settings)
        try:
            images = functions["input_fn"](mms_requests.checked(body, encoding, settings), content_type)
            decoded.append((index, accept, images))
        except Exception as error:  # noqa: BLE001 - one request's fault is its own answer
            responses[index] = mms_requests.error(context, index, error)
    for group in groups(decoded, MAX_TOGETHER):
        try:
            predictions = functions["predict_fn"](torch.cat([images for _, _, images in group]), model)
        except Exception as error:  # noqa: BLE001 - the group's requests share the failure
            for index, _, _ in group:
                responses[index] = mms_requests.error(context, index, error)
            continue
        start = 0
        for index, accept, images in group:
            part, start = predictions[start:start + len(images)], start + len(images)
            try:
                result = functions["output_fn"](part, accept)
                responses[index] = mms_requests.respond(context, index, result, accept)
            except Exception as error:  # noqa: BLE001
                responses[index] = mms_requests.error(context, index, error)
    return responses


def groups(decoded, limit):
    """Consecutive runs of (index, accept, images) holding up to `limit` images (a bigger
    request alone)."""
    group, size = [], 0
    for item in decoded:
        if group and size + len(item[2]) > limit:
            yield group
            group, size = [], 0
        group.append(item)
        size += len(item[2])
    if group:
        yield group
