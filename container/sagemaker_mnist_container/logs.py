"""The serving container's log lines: their level (SAGEMAKER_CONTAINER_LOG_LEVEL) and their format
(SAGEMAKER_MNIST_LOG_FORMAT: text, or json for one JSON object per line), the same in every process
that writes to the container's output.

  - `serve` and the preloader: Python's logging, configured here (configure);
  - MMS (the JVM): log4j2, through ../log4j2.xml, whose levels, layout and /ping filter are
    lookups of the system properties that log4j_properties() gives the JVM's command line;
  - the workers: Python's logging, set up by the handler service when a worker loads the model
    (configure_worker). MMS relays each line a worker writes, stdout at INFO and stderr at WARN, so
    records from WARNING up go to stderr; in json format the worker's lines are already JSON
    objects, which log4j2.xml passes through as they are.

SageMaker sends the container's output to CloudWatch Logs, where a JSON line can be queried by its
fields (Logs Insights), which is why one object a line matters more than what the text looks like.
"""
import contextvars
import datetime
import json
import logging
import sys

TEXT, JSON = "text", "json"
TEXT_FORMAT = "%(asctime)s [%(levelname)s] %(name)s - %(message)s"
# MMS's own format for a worker's lines (mms.model_service_worker): MMS adds the time and level.
WORKER_TEXT_FORMAT = "%(message)s"
# The request a worker is answering, for its log lines (handler_service sets it per request).
REQUEST_ID = contextvars.ContextVar("request_id", default=None)
# log4j's names for Python's levels (log4j has no CRITICAL: its FATAL).
_LOG4J_LEVELS = ((logging.DEBUG, "debug"), (logging.INFO, "info"), (logging.WARNING, "warn"),
                 (logging.ERROR, "error"), (logging.CRITICAL, "fatal"))


class JsonFormatter(logging.Formatter):
    """One JSON object a record: time (UTC, ISO 8601 with milliseconds, as log4j2.xml writes it),
    level, logger, message, and request_id and exception when there are any."""

    def format(self, record):
        line = {"time": utc_time(record.created), "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        # Compact, and starting with {"time": as log4j2.xml's filter expects of a worker's lines.
        return json.dumps(line, separators=(",", ":"), default=str)


def utc_time(created):
    moment = datetime.datetime.fromtimestamp(created, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)


def formatter(log_format, text_format=TEXT_FORMAT):
    return JsonFormatter() if log_format == JSON else logging.Formatter(text_format)


def configure(level, log_format, stream=None):
    """serve's or the preloader's logging: every logger through one handler on standard output."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    _remove_plain_handlers(root)
    root.addHandler(handler)
    root.setLevel(level)
    # Python's warnings as log records too, not lines of their own on stderr.
    logging.captureWarnings(True)


def adopt(logger):
    """Has `logger` (a library's, with a handler of its own: sagemaker-inference's) log through
    the root's handler, so its lines have the container's format and appear once."""
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)
    logger.propagate = True


class _StandardStream(logging.StreamHandler):
    """A handler on sys.stdout or sys.stderr as they are when a record is written (not as they
    were when it was made: a test runner swaps them)."""

    def __init__(self, name):
        super().__init__()
        self.name_of_stream = name

    @property
    def stream(self):
        return getattr(sys, self.name_of_stream)

    @stream.setter
    def stream(self, value):
        pass


class _Below(logging.Filter):
    def __init__(self, level):
        super().__init__()
        self.level = level

    def filter(self, record):
        return record.levelno < self.level


def configure_worker(level, log_format):
    """A worker's logging, once it has the settings: records below WARNING on stdout, the rest on
    stderr, so that MMS relays each at a level log4j2.xml's threshold treats alike."""
    chosen = formatter(log_format, WORKER_TEXT_FORMAT)
    low = _StandardStream("stdout")
    low.addFilter(_Below(logging.WARNING))
    high = _StandardStream("stderr")
    high.setLevel(logging.WARNING)
    root = logging.getLogger()
    _remove_plain_handlers(root)
    for handler in (low, high):
        handler.setFormatter(chosen)
        root.addHandler(handler)
    root.setLevel(level)


def _remove_plain_handlers(logger):
    # The plain stream handlers: logging.basicConfig's (MMS's worker sets one up) and ours from an
    # earlier call. Subclasses are someone else's (a test runner's capture) and stay.
    for handler in logger.handlers[:]:
        if type(handler) in (logging.StreamHandler, _StandardStream):
            logger.removeHandler(handler)


def log4j_level(level):
    """log4j's name for a Python level: the first of log4j's at or above it."""
    for python_level, name in _LOG4J_LEVELS:
        if level <= python_level:
            return name
    return "fatal"


def log4j_properties(level, log_format):
    """The JVM system properties ../log4j2.xml reads: MMS's level, the root logger's (MMS's
    config keeps libraries at warn, or the stricter level asked), the layout, and whether MMS's
    access log keeps /ping (only at DEBUG: SageMaker pings every few seconds, for ever)."""
    return {
        "mnist.log_level": log4j_level(level),
        "mnist.root_log_level": log4j_level(max(level, logging.WARNING)),
        "mnist.log_layout": "JSON" if log_format == JSON else "TEXT",
        "mnist.ping_log": "NEUTRAL" if level <= logging.DEBUG else "DENY",
    }
