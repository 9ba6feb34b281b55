"""sagemaker_mnist_container.settings: the batch settings of the endpoint's model reach the plugin's agent,
only for a single-model endpoint, and a wrong value names its variable."""
import pytest

from sagemaker_mnist_container.settings import Settings, SettingsError

pytestmark = pytest.mark.unit


def _vmargs(env):
    return Settings.from_env(env).toolkit_environment("/plugin.jar")["SAGEMAKER_MODEL_SERVER_VMARGS"].split()


def test_an_endpoint_batches_up_to_8_waiting_requests_by_default():
    assert {"-Dmnist.batch_size=8", "-Dmnist.max_batch_delay=0"} <= set(_vmargs({}))


def test_the_batch_settings_are_passed_on():
    vmargs = _vmargs({"SAGEMAKER_MODEL_SERVER_BATCH_SIZE": "16", "SAGEMAKER_MODEL_SERVER_MAX_BATCH_DELAY": "5"})
    assert {"-Dmnist.batch_size=16", "-Dmnist.max_batch_delay=5"} <= set(vmargs)


def test_a_multi_model_endpoint_leaves_batches_to_mms_load_api():
    assert not [arg for arg in _vmargs({"SAGEMAKER_MULTI_MODEL": "true"}) if arg.startswith("-Dmnist.batch_size")]


@pytest.mark.parametrize("name, value", [
    ("SAGEMAKER_MODEL_SERVER_BATCH_SIZE", "0"),
    ("SAGEMAKER_MODEL_SERVER_BATCH_SIZE", "eight"),
    ("SAGEMAKER_MODEL_SERVER_MAX_BATCH_DELAY", "-1"),
])
def test_a_wrong_batch_setting_names_its_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
