"""sagemaker_mnist_container.settings: the batch settings of the endpoint's model (which
endpoint_setup applies), the model the plugin's /ping waits for, and a wrong value names its
variable."""
import pytest

from sagemaker_mnist_container.settings import Settings, SettingsError

pytestmark = pytest.mark.unit


def _vmargs(env):
    return Settings.from_env(env).toolkit_environment("/plugin.jar")["SAGEMAKER_MODEL_SERVER_VMARGS"].split()


def test_an_endpoint_batches_up_to_8_waiting_requests_by_default():
    settings = Settings.from_env({})
    assert (settings.batch_size, settings.max_batch_delay_ms) == (8, 0)


def test_the_batch_settings_are_read():
    settings = Settings.from_env({"SAGEMAKER_MODEL_SERVER_BATCH_SIZE": "16",
                                  "SAGEMAKER_MODEL_SERVER_MAX_BATCH_DELAY": "5"})
    assert (settings.batch_size, settings.max_batch_delay_ms) == (16, 5)


def test_the_plugin_ping_waits_for_the_endpoint_model_only_on_a_single_model_endpoint():
    assert "-Dmnist.endpoint_model=model" in _vmargs({})
    assert not [arg for arg in _vmargs({"SAGEMAKER_MULTI_MODEL": "true"}) if arg.startswith("-Dmnist.endpoint_model")]


@pytest.mark.parametrize("name, value", [
    ("SAGEMAKER_MODEL_SERVER_BATCH_SIZE", "0"),
    ("SAGEMAKER_MODEL_SERVER_BATCH_SIZE", "eight"),
    ("SAGEMAKER_MODEL_SERVER_MAX_BATCH_DELAY", "-1"),
])
def test_a_wrong_batch_setting_names_its_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
