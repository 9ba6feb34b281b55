"""The inference image's settings: every environment variable the serving side reads, read in one
place (at `serve`'s start, and once per model in each worker) and checked, so that a wrong value
stops the container with one line that names it.

SageMaker sets these on the container (CreateModel's Environment, the SDK's `env=`, or batch
transform's own); the names are SageMaker's, verbatim.
"""
import dataclasses
import logging
import math
import os

from sagemaker_mnist_container import logs, memory

BIND_TO_PORT = "SAGEMAKER_BIND_TO_PORT"
MODEL_SERVER_WORKERS = "SAGEMAKER_MODEL_SERVER_WORKERS"
MODEL_SERVER_TIMEOUT = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
MODEL_SERVER_TIMEOUT_SECONDS = "SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS"
MODEL_SERVER_VMARGS = "SAGEMAKER_MODEL_SERVER_VMARGS"
MAX_PAYLOAD_IN_MB = "SAGEMAKER_MAX_PAYLOAD_IN_MB"
PROGRAM = "SAGEMAKER_PROGRAM"
MULTI_MODEL = "SAGEMAKER_MULTI_MODEL"
DEFAULT_INVOCATIONS_ACCEPT = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
# This image's own, named after the TorchServe containers' SAGEMAKER_TS_BATCH_SIZE and
# SAGEMAKER_TS_MAX_BATCH_DELAY: the endpoint's model takes up to this many waiting requests at a time.
MODEL_SERVER_BATCH_SIZE = "SAGEMAKER_MODEL_SERVER_BATCH_SIZE"
MODEL_SERVER_MAX_BATCH_DELAY = "SAGEMAKER_MODEL_SERVER_MAX_BATCH_DELAY"
# Batch transform sets these (the SDK's local mode too) from the job's own parameters.
BATCH_STRATEGY = "SAGEMAKER_BATCH_STRATEGY"
MAX_CONCURRENT_TRANSFORMS = "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"
# The SDK's Model(container_log_level=...) sets this (logging.INFO, "20", by default); AWS's
# framework containers read it as a Python level, a number or a name.
CONTAINER_LOG_LEVEL = "SAGEMAKER_CONTAINER_LOG_LEVEL"
# This image's own: "json" for one JSON object per log line (time, level, logger, message and, for a
# request's lines, request_id), from serve, the preloader, MMS and the workers alike.
LOG_FORMAT = "SAGEMAKER_MNIST_LOG_FORMAT"

# The name sagemaker-inference's start_model_server gives an endpoint's single model.
ENDPOINT_MODEL = "model"
# This image's own: the folder where a multi-model server's workers leave why a model failed to
# load (load_failure.give_up), for the plugin's answer to the load request (LoadFailures.java).
LOAD_FAILURES_DIR = "MNIST_LOAD_FAILURES_DIR"
DEFAULT_PORT = 8080
# multi-model-server refuses to bind a port above this.
MAX_PORT = 32766
# SageMaker gives an invocation 60 s before it gives up on the container.
DEFAULT_TIMEOUT_SECONDS = 60
# SageMaker's own limit on an endpoint's request payload, and batch transform's default.
DEFAULT_MAX_PAYLOAD_IN_MB = 6
DEFAULT_PROGRAM = "inference.py"
# Up to 8 requests already waiting go through the net together (one forward pass for all of them:
# 190 instead of 340 us an image at 4); 0 ms: a batch never waits for requests still to come.
DEFAULT_BATCH_SIZE = 8
DEFAULT_MAX_BATCH_DELAY_MS = 0
BATCH_STRATEGIES = ("MULTI_RECORD", "SINGLE_RECORD")
# sagemaker-inference's default: the JVM sizes its heap from the machine, not the cgroup.
DEFAULT_VMARGS = "-XX:-UseContainerSupport"
JAVA_INT_MAX = 2**31 - 1
OUTPUT_TYPES = ("application/json", "text/csv", "application/jsonlines", "application/x-npy")
LOG_FORMATS = (logs.TEXT, logs.JSON)
DEFAULT_LOG_LEVEL = logging.INFO
# The names Python's logging knows, and the two log4j spells its own way.
LOG_LEVEL_NAMES = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
                   "WARN": logging.WARNING, "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL,
                   "FATAL": logging.CRITICAL}


class SettingsError(ValueError):
    """A setting has a value the server cannot use; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class Settings:
    port: int = DEFAULT_PORT
    workers: int = 1
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    max_payload_mb: int = DEFAULT_MAX_PAYLOAD_IN_MB
    program: str = DEFAULT_PROGRAM
    program_given: bool = False
    multi_model: bool = False
    default_accept: str = "application/json"
    batch_strategy: str = "MULTI_RECORD"
    max_concurrent_transforms: int = 1
    vmargs: str = DEFAULT_VMARGS
    batch_size: int = DEFAULT_BATCH_SIZE
    max_batch_delay_ms: int = DEFAULT_MAX_BATCH_DELAY_MS
    log_level: int = DEFAULT_LOG_LEVEL
    log_format: str = LOG_FORMATS[0]

    @property
    def max_payload_bytes(self):
        return self.max_payload_mb * 1024 * 1024

    @classmethod
    def from_env(cls, environ=None):
        env = os.environ if environ is None else environ
        max_payload_mb = _integer(env, MAX_PAYLOAD_IN_MB, DEFAULT_MAX_PAYLOAD_IN_MB, low=1, high=1024)
        # What fits in the container's memory (memory.py), unless the variables say otherwise.
        sizing = memory.plan(memory.limit_bytes(), default_workers(), max_payload_mb)
        workers = _integer(env, MODEL_SERVER_WORKERS, sizing.workers, low=1)
        if env.get(MODEL_SERVER_TIMEOUT_SECONDS):
            timeout = _integer(env, MODEL_SERVER_TIMEOUT_SECONDS, DEFAULT_TIMEOUT_SECONDS, low=1)
        else:
            # AWS documents SAGEMAKER_MODEL_SERVER_TIMEOUT in seconds (MMS read it as minutes).
            timeout = _integer(env, MODEL_SERVER_TIMEOUT, DEFAULT_TIMEOUT_SECONDS, low=1)
        program = env.get(PROGRAM) or DEFAULT_PROGRAM
        if os.path.basename(program) != program:
            raise SettingsError("%s=%r must be a file name in the model's code/ folder" % (PROGRAM, program))
        if not program.endswith(".py"):
            program += ".py"
        accept = (env.get(DEFAULT_INVOCATIONS_ACCEPT) or OUTPUT_TYPES[0]).split(";")[0].strip().lower()
        if accept not in OUTPUT_TYPES:
            raise SettingsError("%s=%r is not one of %s" % (DEFAULT_INVOCATIONS_ACCEPT, accept, ", ".join(OUTPUT_TYPES)))
        strategy = (env.get(BATCH_STRATEGY) or BATCH_STRATEGIES[0]).upper()
        if strategy not in BATCH_STRATEGIES:
            raise SettingsError("%s=%r is not one of %s" % (BATCH_STRATEGY, strategy, ", ".join(BATCH_STRATEGIES)))
        return cls(
            port=_integer(env, BIND_TO_PORT, DEFAULT_PORT, low=1, high=MAX_PORT),
            workers=workers,
            timeout_seconds=timeout,
            max_payload_mb=max_payload_mb,
            program=program,
            program_given=bool(env.get(PROGRAM)),
            multi_model=env.get(MULTI_MODEL, "false").strip().lower() == "true",
            default_accept=accept,
            batch_strategy=strategy,
            max_concurrent_transforms=_integer(env, MAX_CONCURRENT_TRANSFORMS, workers, low=1),
            vmargs=env.get(MODEL_SERVER_VMARGS) or " ".join([DEFAULT_VMARGS, *sizing.jvm_flags()]),
            batch_size=_integer(env, MODEL_SERVER_BATCH_SIZE, DEFAULT_BATCH_SIZE, low=1, high=1000),
            max_batch_delay_ms=_integer(env, MODEL_SERVER_MAX_BATCH_DELAY, DEFAULT_MAX_BATCH_DELAY_MS,
                                        low=0, high=10000),
            **log_settings(env),
        )

    def toolkit_environment(self, plugin_jar, load_failures_dir=None):
        """The environment sagemaker-inference's start_model_server reads to write MMS's config,
        and MMS's own overrides (MMS_*, read because the toolkit's config sets enable_envvars_config).
        load_failures_dir: where a multi-model server's workers report failed loads."""
        vmargs = " ".join([
            self.vmargs,
            "-javaagent:%s" % plugin_jar,
            # MMS logs two lines per request; asynchronous loggers write them off the request's
            # path (what MMS's own async_logging does, which only the multi-model config sets).
            "-Dlog4j2.contextSelector=org.apache.logging.log4j.core.async.AsyncLoggerContextSelector",
            "-Dmnist.max_concurrent_transforms=%d" % self.max_concurrent_transforms,
            "-Dmnist.batch_strategy=%s" % self.batch_strategy,
            "-Dmnist.max_payload_in_mb=%d" % self.max_payload_mb,
            # Lookups of log4j2.xml: MMS's log level and layout follow the container's (logs.py).
            *("-D%s=%s" % item for item in logs.log4j_properties(self.log_level, self.log_format).items()),
        ])
        if not self.multi_model:
            # The model the plugin's /ping waits for (Ping.java).
            vmargs += " -Dmnist.endpoint_model=%s" % ENDPOINT_MODEL
        elif load_failures_dir:
            vmargs += " -Dmnist.load_failures_dir=%s" % load_failures_dir
        # MMS refuses a body past its request size itself (the plugin's HttpFront, with a 413 that
        # names the limit). It gets twice the limit, so that a request just over it reaches the
        # handler, which also measures what a compressed body decompresses to.
        # MMS reads these as Java ints: 2 GiB less a byte at most (a 1024 MB limit's double is past it).
        transport_limit = str(min(2 * self.max_payload_bytes, JAVA_INT_MAX))
        return {
            BIND_TO_PORT: str(self.port),
            MODEL_SERVER_WORKERS: str(self.workers),
            # The toolkit writes this to MMS's default_response_timeout, read in minutes; the
            # seconds setting below takes precedence in MMS, this one only keeps the file coherent.
            MODEL_SERVER_TIMEOUT: str(math.ceil(self.timeout_seconds / 60)),
            MODEL_SERVER_TIMEOUT_SECONDS: str(self.timeout_seconds),
            MAX_PAYLOAD_IN_MB: str(self.max_payload_mb),
            MODEL_SERVER_VMARGS: vmargs,
            "MMS_MAX_REQUEST_SIZE": transport_limit,
            "MMS_MAX_RESPONSE_SIZE": transport_limit,
            **({LOAD_FAILURES_DIR: load_failures_dir} if self.multi_model and load_failures_dir else {}),
        }


def log_settings(environ=None):
    """{"log_level": a Python level, "log_format": "text" or "json"} from the environment: what the
    preloader and the workers read of the settings besides serve."""
    env = os.environ if environ is None else environ
    raw = (env.get(CONTAINER_LOG_LEVEL) or "").strip()
    if not raw:
        level = DEFAULT_LOG_LEVEL
    elif raw.isdigit():
        level = int(raw)
        if not logging.NOTSET < level <= logging.CRITICAL:
            raise SettingsError("%s=%r must be between 1 and %d (10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR, 50 CRITICAL)"
                                % (CONTAINER_LOG_LEVEL, raw, logging.CRITICAL))
    elif raw.upper() in LOG_LEVEL_NAMES:
        level = LOG_LEVEL_NAMES[raw.upper()]
    else:
        raise SettingsError("%s=%r is neither a number nor one of %s"
                            % (CONTAINER_LOG_LEVEL, raw, ", ".join(LOG_LEVEL_NAMES)))
    log_format = (env.get(LOG_FORMAT) or LOG_FORMATS[0]).strip().lower()
    if log_format not in LOG_FORMATS:
        raise SettingsError("%s=%r is not one of %s" % (LOG_FORMAT, log_format, ", ".join(LOG_FORMATS)))
    return {"log_level": level, "log_format": log_format}


def default_workers():
    """MMS's own default: one worker per CPU the container may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _integer(env, name, default, low=None, high=None):
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError("%s=%r is not a whole number" % (name, raw)) from None
    if low is not None and value < low or high is not None and value > high:
        bounds = "at least %d" % low if high is None else "between %d and %d" % (low, high)
        raise SettingsError("%s=%r must be %s" % (name, raw, bounds))
    return value
