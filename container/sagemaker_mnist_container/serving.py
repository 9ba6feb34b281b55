"""`serve`: what SageMaker runs in the inference image (`docker run IMAGE serve`).

Reads the settings (sagemaker_mnist_container.settings), hands them to sagemaker-inference's
start_model_server in the form it reads, and starts multi-model-server with this image's handler
service and endpoint plugin. start_model_server blocks until the server ends and forwards SIGTERM
to it, so `docker stop` ends the container within seconds.

An endpoint whose model cannot be loaded must not look healthy: the plugin's /ping answers 503
while no worker holds the model, and a worker whose load failed signals this process (SIGUSR1),
which stops the server and exits 1, so SageMaker sees the failure and the reason is in the log.

Once MMS listens, sagemaker_mnist_container.endpoint_setup gives the endpoint's model its batch
settings and, once one worker holds the model, the rest of its workers; if that fails, this
process stops the server and exits 1 too.

When one of the container's processes dies, sagemaker_mnist_container.supervise replaces it or,
if it was the model server, exits 1; `docker stop` (SIGTERM) still ends the container with 0.

Before anything starts, the model's code/requirements.txt is installed
(sagemaker_mnist_container.requirements); if it cannot be, this process exits 1 with pip's reason.
Log lines follow SAGEMAKER_CONTAINER_LOG_LEVEL and SAGEMAKER_MNIST_LOG_FORMAT (logs).
"""
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import warnings

import psutil

from sagemaker_mnist_container import endpoint_setup, json_lines, logs, preload, requirements, server_exit, supervise
from sagemaker_mnist_container import settings as settings_module
from sagemaker_mnist_container.load_failure import SERVE_PID_ENV, failure_report

logger = logging.getLogger("serve")

# The module MMS loads in each worker. Named, not imported: it imports torch, which this process,
# started first on every cold start, has no use for.
HANDLER_SERVICE = "sagemaker_mnist_container.handler_service"
# Built by Dockerfile.serve (python -m sagemaker_mnist_container.plugin).
PLUGIN_JAR = "/opt/mnist/mms-plugin/mnist-mms-plugin.jar"
# What start_model_server looks for in a process's command line to find the server.
MMS_MAIN_CLASS = "com.amazonaws.ml.mms.ModelServer"
# How long a failed load leaves MMS running after the worker's report, to log the worker's lines.
FAILED_LOAD_GRACE_S = 0.5
# Where SageMaker puts the model (sagemaker-inference reads the same variable and default).
BASE_DIR = "SAGEMAKER_BASE_DIR"
DEFAULT_BASE_DIR = "/opt/ml"
# sagemaker-inference's own logger, which has a handler and a format of its own.
TOOLKIT_LOGGER = "sagemaker-inference"
# In the json log format: the pipes every process started from here writes into (json_lines).
_relay = None


def main():
    try:
        settings = settings_module.Settings.from_env()
    except settings_module.SettingsError as e:
        logs.configure(logging.INFO, logs.TEXT)
        logger.error("cannot start: %s", e)
        sys.exit(2)
    global _relay
    if settings.log_format == logs.JSON:
        _relay = json_lines.Relay()
    logs.configure(settings.log_level, settings.log_format, _relay.stdout if _relay else None)
    # First of all: a model whose requirements cannot be installed never serves, so nothing
    # else need start (requirements.py).
    wanted = requirements.path_in(model_code_dir(settings.multi_model))
    if wanted:
        try:
            requirements.install(wanted)
        except requirements.RequirementsError as e:
            logger.error("cannot start: %s", e)
            _drain()
            logging.shutdown()
            sys.exit(1)
    load_failures = os.path.join(tempfile.gettempdir(), "mnist-load-failures-%d" % os.getpid())
    os.environ.update(settings.toolkit_environment(PLUGIN_JAR, load_failures))
    # First, so that torch is imported while the JVM starts (sagemaker_mnist_container.preload).
    socket_path = os.path.join(tempfile.gettempdir(), "mnist-preload-%d.sock" % os.getpid())
    supervise.preloader(preload.start(socket_path), lambda: preload.start(socket_path))
    os.environ.update(preload.environment(socket_path))
    supervise.model_server(_stop_model_server)
    if not settings.multi_model:
        os.environ[SERVE_PID_ENV] = str(os.getpid())
        signal.signal(signal.SIGUSR1, _stop_after_failed_load)
        if settings.workers > 1:
            # One worker starts alone; endpoint_setup adds the rest once it holds the model.
            os.environ[settings_module.MODEL_SERVER_WORKERS] = "1"
        threading.Thread(target=_set_up, args=(settings,), name="endpoint-setup", daemon=True).start()
    logger.info("serving %s on port %d: %d workers, %d s timeout, %d MB payloads",
                "multiple models" if settings.multi_model else "one model", settings.port, settings.workers,
                settings.timeout_seconds, settings.max_payload_mb)
    # Imported here: the toolkit reads SAGEMAKER_MULTI_MODEL and the model paths when imported.
    # It imports pkg_resources, which warns on every start; setuptools is pinned below 81 for it.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    from sagemaker_inference import model_server

    logs.adopt(logging.getLogger(TOOLKIT_LOGGER))
    # The toolkit installs code/requirements.txt in start_model_server and has no setting to skip
    # it; serve has installed it above (requirements.py says why), and a second install into
    # PIP_TARGET would download and copy everything again.
    model_server._install_requirements = _installed_already
    model_server.start_model_server(handler_service=HANDLER_SERVICE)
    _drain()
    supervise.after_model_server(_stop_model_server)


def model_code_dir(multi_model, environ=None):
    """The model's code/ folder, where sagemaker-inference looks for requirements.txt."""
    env = os.environ if environ is None else environ
    base = env.get(BASE_DIR) or DEFAULT_BASE_DIR
    return os.path.join(base, "models" if multi_model else "model", "code")


def _installed_already():
    pass


def _set_up(settings):
    try:
        endpoint_setup.set_up("http://127.0.0.1:%d" % settings.port, settings, logger.info)
    except Exception as e:  # noqa: BLE001 - whatever went wrong, the endpoint must not stay up
        logger.error("the endpoint's set-up failed; stopping the server: %s", e)
        _stop_model_server()
        logging.shutdown()
        os._exit(1)


def _stop_after_failed_load(signo, frame):
    try:
        with open(failure_report(os.getpid())) as f:
            reason, _, trace = f.read().partition("\n")
    except OSError:
        reason, trace = "the reason is in the worker's log above", ""
    logger.error("the model failed to load; stopping the server.\n%sthe model in %s", trace, reason)
    # The worker wrote its own account just before it told serve; MMS's reader threads log it
    # within milliseconds, unless the JVM is stopped first (CI saw it lost once).
    time.sleep(FAILED_LOAD_GRACE_S)
    _stop_model_server()
    # Exit from the handler itself: the toolkit may be inside a retry loop that would swallow an
    # exception raised here.
    logging.shutdown()
    os._exit(1)


def _stop_model_server():
    mine = str(os.getpid())
    servers = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if MMS_MAIN_CLASS in (process.info["cmdline"] or []) and \
                    process.environ().get(server_exit.SUPERVISOR_PID_ENV) == mine:
                process.terminate()
                servers.append(process)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(servers, timeout=10)
    for process in alive:
        process.kill()
    # Every caller exits next: what the server's last lines left in the pipes goes out first.
    _drain()


def _drain():
    if _relay is not None:
        _relay.drain()


if __name__ == "__main__":
    main()
