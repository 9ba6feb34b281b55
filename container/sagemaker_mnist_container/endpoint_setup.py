"""What `serve` does to an endpoint's single model once multi-model-server listens.

  1. Batches: PUT /batching (the plugin's endpoint, mms_plugin/Batching.java) with
     SAGEMAKER_MODEL_SERVER_BATCH_SIZE and SAGEMAKER_MODEL_SERVER_MAX_BATCH_DELAY, then GET
     /models/model (MMS's describe API) to check that MMS reports the batch size asked for. MMS
     gives a model it loads at start-up a batch size of 1, and an endpoint's model must be one of
     those (mms_plugin/README.md says why).
  2. Workers: an endpoint starts with one worker and, once it holds the model (/ping 200), asks
     MMS's scale API (PUT /models/model?min_worker=N) for the others. Workers that start together
     load together, each slowed by the others: /ping turns healthy sooner this way.

A step that fails raises SetupError: `serve` then stops the server and exits 1, so that SageMaker
replaces the container and the reason is in the log, rather than an endpoint that answers slower
than it was configured to without saying so.
"""
import json
import time
import urllib.error
import urllib.request

from sagemaker_mnist_container.settings import ENDPOINT_MODEL

POLL_S = 0.2
# MMS listens within seconds of its start; a model may take much longer to load.
LISTEN_TIMEOUT_S = 600
LOAD_TIMEOUT_S = 3600


class SetupError(RuntimeError):
    """A step of the set-up failed; the message says which and what MMS answered."""


def set_up(base_url, settings, log):
    """Steps 1 and 2 for the server at base_url (http://127.0.0.1:PORT), as `settings` ask."""
    batches(base_url, settings, log)
    workers(base_url, settings, log)


def batches(base_url, settings, log):
    """Step 1, once MMS listens."""
    _wait_for(lambda: _status(base_url + "/ping") is not None, LISTEN_TIMEOUT_S, "MMS to listen")
    if settings.batch_size > 1:
        set_batching(base_url, settings.batch_size, settings.max_batch_delay_ms, log)


def workers(base_url, settings, log):
    """Step 2, once a worker holds the model."""
    if settings.workers > 1:
        _wait_for(lambda: _status(base_url + "/ping") == 200, LOAD_TIMEOUT_S, "a worker to load the model")
        status, body = _request("PUT", "%s/models/%s?min_worker=%d&max_worker=%d&synchronous=false"
                                % (base_url, ENDPOINT_MODEL, settings.workers, settings.workers))
        if status not in (200, 202):
            raise SetupError("MMS's scale API answered %s to %d workers: %s" % (status, settings.workers, body))
        log("model loaded; starting %d more workers" % (settings.workers - 1))


def set_batching(base_url, batch_size, max_batch_delay_ms, log):
    status, body = _request("PUT", "%s/batching?model_name=%s&batch_size=%d&max_batch_delay=%d"
                            % (base_url, ENDPOINT_MODEL, batch_size, max_batch_delay_ms))
    if status != 200:
        raise SetupError("the plugin's /batching answered %s: %s" % (status, body))
    status, described = _request("GET", "%s/models/%s" % (base_url, ENDPOINT_MODEL))
    reported = json.loads(described).get("batchSize") if status == 200 else None
    if reported != batch_size:
        raise SetupError("MMS reports batchSize %r for model %s after /batching set %d (GET /models: %s %s)"
                         % (reported, ENDPOINT_MODEL, batch_size, status, described))
    log("batches of up to %d requests, %s" % (batch_size, json.loads(body)["waiting"]))


def _wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SetupError("gave up waiting for %s after %d s" % (what, timeout))
        time.sleep(POLL_S)


def _status(url):
    """The HTTP status of a GET, or None while nothing answers."""
    try:
        return _request("GET", url)[0]
    except OSError:
        return None


def _request(method, url):
    """(status, body text); an HTTP error status is an answer, not an exception."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")
