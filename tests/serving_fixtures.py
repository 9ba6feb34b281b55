"""What the serving tests share, as pytest fixtures: a small real model trained once per session,
the endpoint plugin built once, and the handler service driven in this process as MMS drives it.
The model, the request bodies and the host model server themselves are in harness/, which the
benchmarks use too.
"""
import shutil
import sys

import pytest

from harness.bodies import csv_body, gzip_bomb, json_body, jsonlines_body, npy_body, picture, png_claiming  # noqa: F401
from harness.model_server import ModelServer, free_port  # noqa: F401
from harness.small_model import N_TEST, TrainedModel, train_small_model, write_artifact  # noqa: F401
from prerequisites import require
from sagemaker_mnist_container import plugin


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory):
    model = write_artifact(tmp_path_factory.mktemp("model"))
    assert model.accuracy > 0.8, "the test model should recognise most digits; got %.2f" % model.accuracy
    return model


@pytest.fixture(scope="session")
def plugin_jar(tmp_path_factory):
    require(shutil.which("java") is not None, "a Java runtime", "apt-get install openjdk-17-jre-headless")
    return plugin.build(tmp_path_factory.mktemp("plugin") / "mnist-mms-plugin.jar")


# --- The handler service in this process, called as MMS calls it

class InProcessService:
    """sagemaker_mnist_container's HandlerService driven through MMS's own Context and RequestProcessor, as
    a worker drives it: initialize once, then handle() per request."""

    def __init__(self, model_dir, model_name="model"):
        from mms.context import Context

        from sagemaker_mnist_container.handler_service import HandlerService

        self.context = Context(model_name, str(model_dir), None, 1, None, "1.1.11")
        self.service = HandlerService()
        self.service.initialize(self.context)
        self.response_headers = []

    def invoke(self, body, content_type=None, accept=None, headers=None):
        """Returns (status, content type, body bytes)."""
        (answer,) = self.invoke_together([(body, content_type, accept, headers)])
        return answer

    def invoke_together(self, requests):
        """Several (body, content type, accept[, headers]) in one handle() call, as MMS hands a
        batch to a worker; returns a (status, content type, body bytes) for each."""
        from mms.context import RequestProcessor

        processors, batch = [], []
        for body, content_type, accept, *headers in requests:
            if isinstance(body, str):
                body = body.encode()
            request_headers = {"body": {"content-type": content_type}}
            if content_type is not None:
                request_headers["Content-Type"] = content_type
            if accept is not None:
                request_headers["Accept"] = accept
            request_headers.update((headers and headers[0]) or {})
            processors.append(RequestProcessor(request_headers))
            batch.append({"body": bytearray(body)})
        self.context.request_processor = processors
        responses = self.service.handle(batch, self.context)
        # Each answer's headers, as the worker hands them to MMS (custom attributes among them).
        self.response_headers = [processor.get_response_headers() for processor in processors]
        return [(processor.get_response_status_code(), processor.get_response_header("content-type"), bytes(response))
                for processor, response in zip(processors, responses)]


@pytest.fixture
def clean_imports():
    """Undoes what loading a model's code/ does to the import system."""
    path, modules = list(sys.path), dict(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - set(modules):
        del sys.modules[name]
    sys.modules.update(modules)
