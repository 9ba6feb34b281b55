"""How the image launches multi-model-server (sagemaker_mnist_container.launcher)."""
import pathlib
import xml.etree.ElementTree as ElementTree

import pytest

from sagemaker_mnist_container import launcher

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("argv", [
    ["mms", "--start", "--log-config", "/toolkit/log4j2.xml", "--models", "model=/opt/ml/model"],
    ["mms", "--start", "--log-config=/toolkit/log4j2.xml", "--models", "model=/opt/ml/model"],
    ["mms", "--start", "--models", "model=/opt/ml/model"],
])
def test_the_image_log_config_replaces_the_toolkit_one(argv):
    result = launcher.with_log_config(argv, "/ours.xml")
    assert result == ["mms", "--start", "--models", "model=/opt/ml/model", "--log-config", "/ours.xml"]


def test_the_log_config_writes_each_line_once_to_stdout():
    root = ElementTree.parse(launcher.LOG_CONFIG).getroot()
    appenders = root.find("Appenders")
    assert {a.tag for a in appenders} == {"Console"} and {a.get("target") for a in appenders} == {"SYSTEM_OUT"}
    loggers = {logger.get("name"): logger for logger in root.find("Loggers").iter("Logger")}
    # The request log's level is the container's (the toolkit's info by default), and it has no
    # appenders of its own (no duplicates); the one logger that has them does not also pass its
    # lines up to the root, and each line meets exactly one of its two filters.
    assert loggers["ACCESS_LOG"].get("level") == "${level}"
    properties = {p.get("name"): p.text for p in root.find("Properties")}
    assert properties["level"] == "${sys:mnist.log_level:-info}"
    with_refs = {name for name, logger in loggers.items() if logger.find("AppenderRef") is not None}
    assert with_refs == {"com.amazonaws.ml.mms.wlm.WorkerLifeCycle"}
    workers = loggers["com.amazonaws.ml.mms.wlm.WorkerLifeCycle"]
    assert workers.get("additivity") == "false"
    filters = [(ref.find("RegexFilter").get("onMatch"), ref.find("RegexFilter").get("onMismatch"))
               for ref in workers.iter("AppenderRef")]
    assert filters == [("ACCEPT", "DENY"), ("DENY", "ACCEPT")]


def test_the_launcher_files_exist():
    assert pathlib.Path(launcher.WORKER_PYTHON).is_file()
    assert (pathlib.Path(launcher.BIN_DIR) / "multi-model-server").is_file()
