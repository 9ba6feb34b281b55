"""The handler service multi-model-server runs in each worker: load a model once, answer requests.

MMS imports this module and instantiates its one class (MMS requires exactly one class here), then
calls initialize(context) once per worker and handle(data, context) per batch of requests.
Compared with sagemaker-inference's default handler service, which it replaces:
  - a model that fails to load takes the worker down (and, for an endpoint's single model, the
    whole container: load_failure) instead of leaving a worker that MMS reports loaded and that
    answers 500 for ever;
  - a bad request gets a 4xx with a JSON body saying what was wrong and what is accepted
    (mms_requests); the toolkit answers 500 with a traceback for most of them;
  - a gzip or deflate body (Content-Encoding) is decompressed before any handler sees it, its
    decompressed size held to the payload limit (sagemaker_mnist.codecs.content_encodings);
  - the built-in handlers get the request body as bytes, without a copy through str (a model's
    own input_fn gets str for JSON and CSV, as from the toolkit), and the handler functions are
    resolved and their signatures checked once at load (user_code), not per request;
  - the requests MMS hands over together go through the net in one forward pass when the
    built-in input_fn, predict_fn and output_fn serve the model (together);
  - a model's own request functions may take the request's SageMaker custom attributes and set
    the answer's (custom_attributes);
  - the worker's log lines follow SAGEMAKER_CONTAINER_LOG_LEVEL and SAGEMAKER_MNIST_LOG_FORMAT,
    and carry the request's id in the json format (logs).
The request path: this module, then user_code's functions (sagemaker_mnist.inference for the
image's own model), with mms_requests reading and answering each request.
"""
import traceback

from sagemaker_mnist import inference as default_handlers

from sagemaker_mnist_container import custom_attributes, logs, mms_requests, together
from sagemaker_mnist_container.load_failure import give_up
from sagemaker_mnist_container.settings import Settings
from sagemaker_mnist_container.user_code import KEYWORD, POSITIONAL, Passing, all_built_in, load_functions


class HandlerService:
    """MMS's entry point: initialize() loads the model in a worker, handle() answers requests."""

    def __init__(self):
        self._model = None
        self._functions = {}
        self._passing = {}
        # Whether any of the model's functions takes the requests' custom attributes.
        self._wants_attributes = False
        self._settings = Settings()
        # Whether requests of one MMS batch can share a forward pass (together).
        self._together = False

    def initialize(self, context):
        model_dir = context.system_properties.get("model_dir")
        try:
            self._settings = Settings.from_env()
            logs.configure_worker(self._settings.log_level, self._settings.log_format)
            self._functions, self._passing = load_functions(model_dir, self._settings.program,
                                                                  self._settings.program_given)
            self._model = self._call("model_fn", context, model_dir)
            self._together = all_built_in(self._functions)
            self._wants_attributes = any(passing.custom_attributes for passing in self._passing.values())
        except BaseException as error:
            give_up(model_dir, error, traceback.format_exc(), getattr(context, "model_name", None))

    def handle(self, data, context):
        if data is None:
            return None
        if len(data) > 1 and self._together:
            responses = together.answer(data, context, self._functions, self._model, self._settings)
        else:
            responses = [self._answer(index, request, context) for index, request in enumerate(data)]
        # MMS's worker logs the batch's PredictionTime metric after handle() returns, from
        # context.metrics, a store mms.service makes afresh for each batch
        # (mms.model_service_worker: "if ... context.metrics is not None: emit_metrics"). That is
        # one more line per batch through the server's log; SageMaker measures latency itself
        # (ModelLatency in CloudWatch), so this batch's store goes unread.
        context.metrics = None
        return responses

    def _answer(self, index, request, context):
        token = logs.REQUEST_ID.set(mms_requests.request_id(context, index))
        try:
            body, content_type, accept, encoding = mms_requests.read(context, index, request, self._settings)
            attributes = None
            if self._wants_attributes:
                attributes = custom_attributes.from_headers(mms_requests.headers(context, index))
            try:
                if attributes is not None:
                    custom_attributes.check_request(attributes)
                body = mms_requests.checked(body, encoding, self._settings)
                result = self._transform(body, content_type, accept, context, attributes)
                answer = mms_requests.respond(context, index, result, accept)
                value = custom_attributes.response_value(attributes)
                if value is not None:
                    context.set_response_header(index, custom_attributes.HEADER, value)
                return answer
            except Exception as error:  # noqa: BLE001 - a worker must survive whatever a handler raises
                return mms_requests.error(context, index, error)
        finally:
            logs.REQUEST_ID.reset(token)

    def _transform(self, body, content_type, accept, context, attributes):
        if "transform_fn" in self._functions:
            return self._call("transform_fn", context, self._model, mms_requests.as_text(body, content_type),
                              content_type, accept, attributes=attributes)
        if self._functions["input_fn"] is not default_handlers.input_fn:
            body = mms_requests.as_text(body, content_type)
        data = self._call("input_fn", context, body, content_type, attributes=attributes)
        prediction = self._call("predict_fn", context, data, self._model, attributes=attributes)
        return self._call("output_fn", context, prediction, accept, attributes=attributes)

    def _call(self, name, context, *args, attributes=None):
        passing = self._passing.get(name, Passing())
        keywords = {custom_attributes.PARAMETER: attributes} if passing.custom_attributes else {}
        if passing.context == KEYWORD:
            return self._functions[name](*args, context=context, **keywords)
        if passing.context == POSITIONAL:
            return self._functions[name](*args, context, **keywords)
        return self._functions[name](*args, **keywords)
