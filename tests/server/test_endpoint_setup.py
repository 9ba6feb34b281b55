"""serve's set-up of the endpoint's model (sagemaker_mnist_container.endpoint_setup) on a real
multi-model-server: the batch settings go through the plugin's /batching and MMS's own describe
API reports them; a server that cannot take them fails the set-up with a reason."""
import pytest
import requests

from sagemaker_mnist_container import endpoint_setup
from serving_fixtures import ModelServer

pytestmark = pytest.mark.server


def test_mms_reports_the_batch_settings_the_set_up_asked_for(trained_model, plugin_jar, tmp_path):
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "SAGEMAKER_MODEL_SERVER_BATCH_SIZE": "6",
           "SAGEMAKER_MODEL_SERVER_MAX_BATCH_DELAY": "25"}
    with ModelServer(tmp_path / "server", plugin_jar, trained_model.model_dir, env) as server:
        server.wait_healthy()
        described = requests.get(server.url + "/models/model", timeout=10).json()
        # A delay above 0 is MMS's own: its loop waits up to that long to fill a batch.
        assert (described["batchSize"], described["maxBatchDelay"]) == (6, 25)
        assert "mnist batching: model model takes up to 6 requests at a time, waiting up to 25 ms" in server.log()


def test_without_the_model_the_set_up_fails_and_says_why(trained_model, plugin_jar, tmp_path):
    # A multi-model server starts with no model: there is nothing for /batching to set.
    with ModelServer(tmp_path / "server", plugin_jar, env={"SAGEMAKER_MULTI_MODEL": "true"}) as server:
        server.wait_listening()
        with pytest.raises(endpoint_setup.SetupError, match=r"/batching answered 404: .*no model .model."):
            endpoint_setup.set_batching(server.url, 8, 0, print)


def test_a_bad_batch_setting_is_refused_by_the_plugin(trained_model, plugin_jar, tmp_path):
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    with ModelServer(tmp_path / "server", plugin_jar, trained_model.model_dir, env) as server:
        server.wait_healthy()
        answer = requests.put(server.url + "/batching", params={"model_name": "model", "batch_size": "0",
                                                                "max_batch_delay": "0"}, timeout=10)
        assert answer.status_code == 400 and "batch_size (a whole number >= 1)" in answer.json()["error"]
        # The model keeps what the set-up gave it.
        assert requests.get(server.url + "/models/model", timeout=10).json()["batchSize"] == 8
