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
    assert [a.tag for a in appenders] == ["Console"] and appenders[0].get("target") == "SYSTEM_OUT"
    loggers = {logger.get("name"): logger for logger in root.find("Loggers").iter("Logger")}
    # The request log stays at the toolkit's level, without appenders of its own (no duplicates).
    assert loggers["ACCESS_LOG"].get("level") == "info"
    assert all(logger.find("AppenderRef") is None for logger in loggers.values())


def test_the_launcher_files_exist():
    assert pathlib.Path(launcher.WORKER_PYTHON).is_file()
    assert (pathlib.Path(launcher.BIN_DIR) / "multi-model-server").is_file()
