"""The handler service multi-model-server runs in each worker: load a model once, answer requests.

MMS imports this module and instantiates its one class (MMS requires exactly one class here), then
calls initialize(context) once per worker and handle(data, context) per request. Compared with
sagemaker-inference's default handler service, which it replaces:
  - a model that fails to load takes the worker down (and, for an endpoint's single model, the
    whole container: see sagemaker_mnist_container.serving) instead of leaving a worker that MMS reports
    loaded and that answers 500 forever;
  - a bad request gets a 4xx with a JSON body saying what was wrong and what is accepted; the
    toolkit answers 500 with a traceback for most of them;
  - the built-in handlers get the request body as bytes, without a copy through str (a model's
    own input_fn gets str for JSON and CSV, as from the toolkit), and the handler functions are
    resolved and their signatures checked once at load, not per request;
  - the requests MMS hands over together (SAGEMAKER_MODEL_SERVER_BATCH_SIZE: up to 8 already
    waiting, by default) go through the net in one forward pass when the built-in input_fn,
    predict_fn and output_fn serve the model, each still decoded, encoded and answered on its own.
A model's code/inference.py (or the file SAGEMAKER_PROGRAM names) may define model_fn, input_fn,
predict_fn, output_fn, or transform_fn instead of the last three. The image fills in the rest, as
AWS's PyTorch inference container does: when the model is this project's own (the model_fn is
sagemaker_mnist.inference's, which loads model.pth + model.json) the MNIST handlers, anything else
(a model_fn of the user's own, or no code and no model.json) sagemaker_mnist_container.pytorch_defaults.
A function that takes one argument more than the contract gives it, or declares a `context`
parameter, also receives MMS's context (system_properties: model_dir, gpu_id), as with the toolkits.
"""
import importlib.util
import inspect
import json
import logging
import os
import signal
import sys
import traceback

import torch
from sagemaker_mnist import inference as default_handlers
from sagemaker_mnist import model as mnist_model
from sagemaker_mnist.codecs.content_types import media_type
from sagemaker_mnist.errors import BadRequest, ClientError, PayloadTooLarge
from sagemaker_inference.errors import BaseInferenceToolkitError

from sagemaker_mnist_container import pytorch_defaults
from sagemaker_mnist_container.serving import SERVE_PID_ENV, failure_report
from sagemaker_mnist_container.settings import Settings

logger = logging.getLogger(__name__)
CODE_DIR = "code"
# The most images of several requests that go through the net together (batch transform's
# MultiRecord requests hold thousands each and go alone).
MAX_TOGETHER = 1024
# The toolkit's convention for user functions: JSON and CSV bodies arrive as str.
_TEXT_TYPES = ("application/json", "text/csv")
# How a handler function takes MMS's context, if at all (_check_signature).
KEYWORD, POSITIONAL = "keyword", "positional"
_SIGNATURES = {
    "model_fn": ("model_dir",),
    "input_fn": ("request_body", "request_content_type"),
    "predict_fn": ("input_data", "model"),
    "output_fn": ("prediction", "accept"),
    "transform_fn": ("model", "request_body", "content_type", "accept"),
}


class HandlerService:
    """MMS's entry point: initialize() loads the model in a worker, handle() answers requests."""

    def __init__(self):
        self._model = None
        self._functions = {}
        self._takes_context = {}
        self._settings = Settings()
        # Whether requests of one MMS batch can share a forward pass: only with the built-in
        # input_fn, predict_fn and output_fn (a model's own functions take one request each).
        self._together = False

    def initialize(self, context):
        model_dir = context.system_properties.get("model_dir")
        try:
            self._settings = Settings.from_env()
            self._functions, self._takes_context = load_functions(model_dir, self._settings.program,
                                                                  self._settings.program_given)
            self._model = self._call("model_fn", context, model_dir)
            self._together = all(_built_in(self._functions.get(name), name)
                                 for name in ("input_fn", "predict_fn", "output_fn"))
        except BaseException as error:
            _give_up(model_dir, error, traceback.format_exc())

    def handle(self, data, context):
        if data is None:
            return None
        if len(data) > 1 and self._together:
            responses = self._answer_together(data, context)
        else:
            responses = [self._answer(index, request, context) for index, request in enumerate(data)]
        # MMS would otherwise log a PredictionTime metric line per request, from the worker through
        # the server's log; SageMaker measures latency itself (ModelLatency).
        context.metrics = None
        return responses

    def _answer(self, index, request, context):
        body, content_type, accept = self._read(index, request, context)
        try:
            result = self._transform(self._checked(body), content_type, accept, context)
            return self._respond(index, context, result, accept)
        except Exception as error:  # noqa: BLE001 - a worker must survive whatever a handler raises
            return self._error(index, context, error)

    def _answer_together(self, data, context):
        """Several requests (MMS's batch) with the built-in handlers: each decoded on its own, all
        predicted in one forward pass per group of up to MAX_TOGETHER images, each encoded on its
        own. A request that cannot be decoded or encoded gets its own error; the others are
        answered."""
        responses, decoded = [None] * len(data), []
        for index, request in enumerate(data):
            body, content_type, accept = self._read(index, request, context)
            try:
                images = self._functions["input_fn"](self._checked(body), content_type)
                decoded.append((index, accept, images))
            except Exception as error:  # noqa: BLE001
                responses[index] = self._error(index, context, error)
        for group in _groups(decoded, MAX_TOGETHER):
            try:
                batch = torch.cat([images for _, _, images in group])
                predictions = self._functions["predict_fn"](batch, self._model)
            except Exception as error:  # noqa: BLE001 - the group's requests share the failure
                for index, _, _ in group:
                    responses[index] = self._error(index, context, error)
                continue
            start = 0
            for index, accept, images in group:
                part, start = predictions[start:start + len(images)], start + len(images)
                try:
                    result = self._functions["output_fn"](part, accept)
                    responses[index] = self._respond(index, context, result, accept)
                except Exception as error:  # noqa: BLE001
                    responses[index] = self._error(index, context, error)
        return responses

    def _read(self, index, request, context):
        """(body, content type, accept) of request `index` of MMS's batch."""
        headers = {key.lower(): value for key, value in context.get_all_request_header(index).items()}
        content_type = headers.get("content-type")
        if content_type is None and isinstance(headers.get("body"), dict):
            # MMS also files the body's content type under the parameter's name.
            content_type = headers["body"].get("content-type")
        accept = headers.get("accept")
        if not accept or accept.strip() == "*/*":
            accept = self._settings.default_accept
        return _body(request), content_type, accept

    def _checked(self, body):
        if len(body) > self._settings.max_payload_bytes:
            raise PayloadTooLarge(
                "the request body is %.1f MB, over this endpoint's limit of %d MB (SAGEMAKER_MAX_PAYLOAD_IN_MB)"
                % (len(body) / 2**20, self._settings.max_payload_mb),
                {"max_payload_mb": self._settings.max_payload_mb,
                 "hint": "split the images over several requests"})
        return body

    @staticmethod
    def _respond(index, context, result, accept):
        response, response_type = result if isinstance(result, tuple) else (result, accept)
        context.set_response_content_type(index, response_type)
        return _as_bytes(response)

    @staticmethod
    def _error(index, context, error):
        if isinstance(error, BaseInferenceToolkitError):
            context.set_response_status(code=error.status_code, phrase=_one_line(error.phrase), idx=index)
            context.set_response_content_type(index, "application/json")
            return _error_body(error)
        logger.error("inference failed", exc_info=error)
        context.set_response_status(code=500, phrase="Internal Server Error", idx=index)
        context.set_response_content_type(index, "application/json")
        return json.dumps({"error": "Internal Server Error",
                           "message": "%s: %s" % (type(error).__name__, _one_line(str(error)))}).encode()

    def _transform(self, body, content_type, accept, context):
        if "transform_fn" in self._functions:
            return self._call("transform_fn", context, self._model, _as_text(body, content_type), content_type, accept)
        if self._functions["input_fn"] is not default_handlers.input_fn:
            body = _as_text(body, content_type)
        data = self._call("input_fn", context, body, content_type)
        prediction = self._call("predict_fn", context, data, self._model)
        return self._call("output_fn", context, prediction, accept)

    def _call(self, name, context, *args):
        passing = self._takes_context[name]
        if passing == KEYWORD:
            return self._functions[name](*args, context=context)
        if passing == POSITIONAL:
            return self._functions[name](*args, context)
        return self._functions[name](*args)


def _built_in(function, name):
    """Whether `function` is sagemaker_mnist.inference's `name`: this image's, or the copy of the package
    that a trainer's artifact carries in code/ (its code/inference.py imports them from there)."""
    return (getattr(function, "__module__", None) == default_handlers.__name__
            and getattr(function, "__name__", None) == name)


def _groups(decoded, limit):
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


def load_functions(model_dir, program, program_given):
    """The handler functions for a model: its own from code/<program>, sagemaker_mnist.inference's for the
    rest. Returns ({name: function}, {name: takes a context argument})."""
    code_dir = os.path.join(model_dir, CODE_DIR)
    path = os.path.join(code_dir, program)
    module = None
    if os.path.isfile(path):
        # The user's module may import its neighbours in code/, and they come before anything
        # else of the same name (worker-python put code/ last, so that this image's own
        # packages, already imported now, came from the image).
        if code_dir in sys.path:
            sys.path.remove(code_dir)
        sys.path.insert(0, code_dir)
        name = os.path.splitext(program)[0]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        logger.info("model %s: handlers from %s", model_dir, path)
    elif program_given:
        raise FileNotFoundError("SAGEMAKER_PROGRAM names %s, but the model has no %s" % (program, path))

    own = {name: getattr(module, name) for name in _SIGNATURES if module is not None and callable(getattr(module, name, None))}
    if "transform_fn" in own and own.keys() & {"input_fn", "predict_fn", "output_fn"}:
        raise ValueError("%s defines transform_fn and also %s; define transform_fn alone, or the others"
                         % (path, ", ".join(sorted(own.keys() & {"input_fn", "predict_fn", "output_fn"}))))
    functions = dict(own)
    if "model_fn" not in functions:
        # This project's artifact (model.pth + model.json) gets its own loader; anything else the
        # loader of AWS's PyTorch container (a TorchScript model.pt, or the one .pt/.pth file).
        own_artifact = os.path.isfile(os.path.join(model_dir, mnist_model.CONFIG_FILE))
        functions["model_fn"] = default_handlers.model_fn if own_artifact else pytorch_defaults.model_fn
    # The MNIST input, predict and output functions only around the MNIST model_fn: a user's own
    # model gets its tensors as they are and its raw output back, as on AWS's PyTorch container.
    defaults = default_handlers if _built_in(functions["model_fn"], "model_fn") else pytorch_defaults
    if "transform_fn" not in functions:
        for name in ("input_fn", "predict_fn", "output_fn"):
            functions.setdefault(name, getattr(defaults, name))
    takes_context = {name: _check_signature(name, function) for name, function in functions.items()}
    logger.info("model %s: %s", model_dir, ", ".join(
        "%s from %s" % (name, getattr(function, "__module__", "?")) for name, function in functions.items()))
    return functions, takes_context


def _check_signature(name, function):
    """How `function` takes MMS's context: KEYWORD (a `context` parameter), POSITIONAL (one
    required argument more than the contract's, as the toolkits pass it: model_fn(model_dir,
    context)) or None; raises TypeError if it cannot take the arguments the contract gives `name`."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    arguments = _SIGNATURES[name]
    for passing, trial in ((KEYWORD, lambda: signature.bind(*arguments, context=None)),
                           (None, lambda: signature.bind(*arguments)),
                           (POSITIONAL, lambda: signature.bind(*arguments, None))):
        if passing == KEYWORD and "context" not in signature.parameters:
            continue
        try:
            trial()
            return passing
        except TypeError:
            continue
    raise TypeError("%s must take (%s), as SageMaker's inference contract says, and may take a context "
                    "after them; %s takes %s"
                    % (name, ", ".join(arguments), getattr(function, "__qualname__", name), signature))


def _give_up(model_dir, error, trace):
    """A worker whose model failed to load must not stay up: MMS would count it as holding the
    model. Log why, tell `serve` (an endpoint's only model: the container must stop), and exit."""
    # The reason last, on one line: it is what a reader of the endpoint's log looks for.
    logger.error("%sthe model in %s failed to load: %s: %s", trace, model_dir, type(error).__name__,
                 _one_line(str(error)))
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    serve_pid = os.environ.get(SERVE_PID_ENV)
    if serve_pid:
        try:
            # serve stops the server at once, before it has relayed this worker's log; it prints
            # the reason from this report itself.
            report = failure_report(serve_pid)
            with open(report + ".tmp", "w") as f:
                f.write("%s: %s: %s\n%s" % (model_dir, type(error).__name__, _one_line(str(error)), trace))
            os.replace(report + ".tmp", report)
            os.kill(int(serve_pid), signal.SIGUSR1)
        except (ValueError, OSError) as e:
            logger.error("could not tell serve (pid %s) that the model failed to load: %s", serve_pid, e)
    os._exit(1)


def _body(request):
    body = request.get("body")
    if body is None:
        # MMS names a raw body "body"; a form or multipart request has its own field names.
        values = [value for value in request.values() if isinstance(value, (bytes, bytearray, str))]
        body = values[0] if len(values) == 1 else b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return body


def _as_text(body, content_type):
    if content_type and media_type(content_type) in _TEXT_TYPES:
        try:
            return bytes(body).decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadRequest("a %s body must be UTF-8 text (%s)" % (media_type(content_type), e),
                             {"encoding": "utf-8"}) from e
    return bytes(body)


def _as_bytes(response):
    if isinstance(response, (bytes, bytearray)):
        return response
    if isinstance(response, str):
        return response.encode("utf-8")
    # What a handler may return besides bytes: numbers, lists, arrays, tensors.
    return json.dumps(response, default=lambda value: value.tolist()).encode()


def _error_body(error):
    if isinstance(error, ClientError):
        return error.body()
    return json.dumps({"error": error.phrase, "message": error.message}).encode()


def _one_line(text):
    return " ".join(str(text).split())
