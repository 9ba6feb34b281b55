"""The serving container's log settings: SAGEMAKER_CONTAINER_LOG_LEVEL as SageMaker and its SDK
write it (a number, or a level's name), SAGEMAKER_MNIST_LOG_FORMAT, the JSON lines' fields, and what
the JVM is told (log4j2.xml's lookups)."""
import io
import json
import logging

import pytest

from sagemaker_mnist_container import logs
from sagemaker_mnist_container.settings import Settings, SettingsError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("value, level", [
    (None, logging.INFO), ("", logging.INFO),
    ("20", logging.INFO),  # the SDK's Model(container_log_level=logging.INFO)
    ("10", logging.DEBUG), ("40", logging.ERROR), ("25", 25),
    ("debug", logging.DEBUG), ("WARNING", logging.WARNING), ("warn", logging.WARNING), ("Critical", logging.CRITICAL),
])
def test_the_log_level_is_a_number_or_a_name(value, level):
    env = {} if value is None else {"SAGEMAKER_CONTAINER_LOG_LEVEL": value}
    assert Settings.from_env(env).log_level == level


@pytest.mark.parametrize("name, value, words", [
    ("SAGEMAKER_CONTAINER_LOG_LEVEL", "loud", "neither a number nor one of DEBUG, INFO"),
    ("SAGEMAKER_CONTAINER_LOG_LEVEL", "0", "between 1 and 50"),
    ("SAGEMAKER_CONTAINER_LOG_LEVEL", "99", "between 1 and 50"),
    ("SAGEMAKER_MNIST_LOG_FORMAT", "xml", "is not one of text, json"),
])
def test_a_wrong_log_setting_names_its_variable_and_what_is_accepted(name, value, words):
    with pytest.raises(SettingsError, match=name) as caught:
        Settings.from_env({name: value})
    assert words in str(caught.value)


def _vmargs(env):
    return Settings.from_env(env).toolkit_environment("/plugin.jar")["SAGEMAKER_MODEL_SERVER_VMARGS"].split()


def test_the_jvm_gets_the_level_the_layout_and_the_ping_filter():
    assert {"-Dmnist.log_level=info", "-Dmnist.root_log_level=warn", "-Dmnist.log_layout=TEXT",
            "-Dmnist.ping_log=DENY"} <= set(_vmargs({}))
    debug = set(_vmargs({"SAGEMAKER_CONTAINER_LOG_LEVEL": "10", "SAGEMAKER_MNIST_LOG_FORMAT": "json"}))
    assert {"-Dmnist.log_level=debug", "-Dmnist.root_log_level=warn", "-Dmnist.log_layout=JSON",
            "-Dmnist.ping_log=NEUTRAL"} <= debug
    assert {"-Dmnist.log_level=error", "-Dmnist.root_log_level=error"} <= set(
        _vmargs({"SAGEMAKER_CONTAINER_LOG_LEVEL": "ERROR"}))
    # Between log4j's levels: the next one up, so nothing below the level asked for gets out.
    assert logs.log4j_level(25) == "warn" and logs.log4j_level(51) == "fatal"


def _record(message, *args, exc_info=None):
    return logging.LogRecord("serve", logging.WARNING, __file__, 1, message, args, exc_info)


def test_a_json_line_has_time_level_logger_message_and_the_request_id_when_there_is_one():
    formatter = logs.JsonFormatter()
    line = formatter.format(_record("answered %d digits\nin \"one\" batch", 3))
    assert line.startswith('{"time":') and "\n" not in line
    fields = json.loads(line)
    assert set(fields) == {"time", "level", "logger", "message"}
    assert (fields["level"], fields["logger"]) == ("WARNING", "serve")
    assert fields["message"] == 'answered 3 digits\nin "one" batch'
    assert fields["time"].endswith("Z") and fields["time"][10] == "T" and len(fields["time"]) == 24
    token = logs.REQUEST_ID.set("8f2c-request")
    try:
        assert json.loads(formatter.format(_record("inside a request")))["request_id"] == "8f2c-request"
    finally:
        logs.REQUEST_ID.reset(token)
    assert "request_id" not in json.loads(formatter.format(_record("after it")))


def test_an_exception_stays_inside_its_json_line():
    try:
        raise ValueError("bad digit")
    except ValueError:
        import sys
        line = logs.JsonFormatter().format(_record("inference failed", exc_info=sys.exc_info()))
    assert "\n" not in line
    fields = json.loads(line)
    assert fields["message"] == "inference failed"
    assert "Traceback" in fields["exception"] and "ValueError: bad digit" in fields["exception"]


def test_a_libraries_own_handler_gives_way_to_the_containers():
    library = logging.getLogger("test-serving-logs-library")
    library.addHandler(logging.StreamHandler(io.StringIO()))
    library.propagate = False
    logs.adopt(library)
    assert library.handlers == [] and library.propagate
