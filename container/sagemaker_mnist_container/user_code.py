"""Which handler functions serve a model: the model's own, from its code/inference.py (or the file
SAGEMAKER_PROGRAM names), and the image's for the rest.

A model's code may define model_fn, input_fn, predict_fn, output_fn, or transform_fn instead of
the last three. The image fills in the rest, as AWS's PyTorch inference container does: around
this project's own model (sagemaker_mnist.inference's model_fn, which loads model.pth +
model.json) the MNIST handlers; around anything else (a model_fn of the user's own, or no code
and no model.json) sagemaker_mnist_container.pytorch_defaults. Each function's signature is
checked once, here, not per request. A function that takes one argument more than the contract
gives it, or declares a `context` parameter, also receives MMS's context (system_properties:
model_dir, gpu_id), as with the toolkits. A request function (input_fn, predict_fn, output_fn,
transform_fn) that declares a `custom_attributes` parameter receives the request's SageMaker
custom attributes by that keyword (custom_attributes.py); one that does not is called as before.
"""
import dataclasses
import importlib.util
import inspect
import logging
import os
import sys

from sagemaker_mnist import inference as default_handlers
from sagemaker_mnist import model as mnist_model

from sagemaker_mnist_container import custom_attributes, pytorch_defaults

logger = logging.getLogger(__name__)
CODE_DIR = "code"
# How a handler function takes MMS's context, if at all (check_signature).
KEYWORD, POSITIONAL = "keyword", "positional"
SIGNATURES = {
    "model_fn": ("model_dir",),
    "input_fn": ("request_body", "request_content_type"),
    "predict_fn": ("input_data", "model"),
    "output_fn": ("prediction", "accept"),
    "transform_fn": ("model", "request_body", "content_type", "accept"),
}
_REQUEST_FUNCTIONS = ("input_fn", "predict_fn", "output_fn")
# The functions that answer a request, and so may take its custom attributes.
_PER_REQUEST = (*_REQUEST_FUNCTIONS, "transform_fn")


@dataclasses.dataclass(frozen=True)
class Passing:
    """What a handler function takes besides the contract's arguments: MMS's context (KEYWORD,
    POSITIONAL or None) and whether the request's custom attributes (a keyword)."""
    context: str = None
    custom_attributes: bool = False


def load_functions(model_dir, program, program_given):
    """The handler functions for a model: its own from code/<program>, the image's for the rest.
    Returns ({name: function}, {name: Passing})."""
    code_dir = os.path.join(model_dir, CODE_DIR)
    path = os.path.join(code_dir, program)
    module = None
    if os.path.isfile(path):
        module = _import(code_dir, path, os.path.splitext(program)[0])
        logger.info("model %s: handlers from %s", model_dir, path)
    elif program_given:
        raise FileNotFoundError("SAGEMAKER_PROGRAM names %s, but the model has no %s" % (program, path))

    own = {name: getattr(module, name) for name in SIGNATURES
           if module is not None and callable(getattr(module, name, None))}
    if "transform_fn" in own and own.keys() & set(_REQUEST_FUNCTIONS):
        raise ValueError("%s defines transform_fn and also %s; define transform_fn alone, or the others"
                         % (path, ", ".join(sorted(own.keys() & set(_REQUEST_FUNCTIONS)))))
    functions = dict(own)
    if "model_fn" not in functions:
        # This project's artifact (model.pth + model.json) gets its own loader; anything else the
        # loader of AWS's PyTorch container (a TorchScript model.pt, or the one .pt/.pth file).
        own_artifact = os.path.isfile(os.path.join(model_dir, mnist_model.CONFIG_FILE))
        functions["model_fn"] = default_handlers.model_fn if own_artifact else pytorch_defaults.model_fn
    # The MNIST input, predict and output functions only around the MNIST model_fn: a user's own
    # model gets its tensors as they are and its raw output back, as on AWS's PyTorch container.
    defaults = default_handlers if built_in(functions["model_fn"], "model_fn") else pytorch_defaults
    if "transform_fn" not in functions:
        for name in _REQUEST_FUNCTIONS:
            functions.setdefault(name, getattr(defaults, name))
    passing = {name: check_signature(name, function) for name, function in functions.items()}
    logger.info("model %s: %s", model_dir, ", ".join(
        "%s from %s" % (name, getattr(function, "__module__", "?")) for name, function in functions.items()))
    return functions, passing


def _import(code_dir, path, name):
    # The user's module may import its neighbours in code/, and they come before anything else of
    # the same name (worker-python put code/ last, so that this image's own packages, already
    # imported now, came from the image).
    if code_dir in sys.path:
        sys.path.remove(code_dir)
    sys.path.insert(0, code_dir)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def built_in(function, name):
    """Whether `function` is sagemaker_mnist.inference's `name`: this image's, or the copy of the
    package that a trainer's artifact carries in code/ (its code/inference.py imports them from there)."""
    return (getattr(function, "__module__", None) == default_handlers.__name__
            and getattr(function, "__name__", None) == name)


def all_built_in(functions):
    """Whether the request functions are all the image's MNIST ones, so that several requests can
    share a forward pass (a model's own functions take one request each)."""
    return all(built_in(functions.get(name), name) for name in _REQUEST_FUNCTIONS)


def check_signature(name, function):
    """How `function` takes what it may take besides the contract's arguments (Passing): MMS's
    context as KEYWORD (a `context` parameter), POSITIONAL (one required argument more than the
    contract's, as the toolkits pass it: model_fn(model_dir, context)) or not at all, and, for a
    request function with a `custom_attributes` parameter, the custom attributes by keyword.
    Raises TypeError if it cannot take the arguments the contract gives `name`."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return Passing()
    arguments = SIGNATURES[name]
    attributes = name in _PER_REQUEST and custom_attributes.PARAMETER in signature.parameters \
        and signature.parameters[custom_attributes.PARAMETER].kind not in (inspect.Parameter.VAR_POSITIONAL,
                                                                             inspect.Parameter.VAR_KEYWORD)
    extra = {custom_attributes.PARAMETER: None} if attributes else {}
    for passing, trial in ((KEYWORD, lambda: signature.bind(*arguments, context=None, **extra)),
                           (None, lambda: signature.bind(*arguments, **extra)),
                           (POSITIONAL, lambda: signature.bind(*arguments, None, **extra))):
        if passing == KEYWORD and "context" not in signature.parameters:
            continue
        try:
            trial()
            return Passing(passing, attributes)
        except TypeError:
            continue
    raise TypeError("%s must take (%s), as SageMaker's inference contract says, and may take a context "
                    "after them (and, for a request's function, a custom_attributes keyword); %s takes %s"
                    % (name, ", ".join(arguments), getattr(function, "__qualname__", name), signature))
