"""multi-model-server on the host's Java, started with the handler service, plugin and settings
`serve` gives it in the image.

The host server is started directly, not through sagemaker-inference's start_model_server: that
function writes /etc/sagemaker-mms.properties and refuses to run while any other MMS process is
visible on the machine (containers included), so it only runs inside the image, where the
container tests cover it.
"""
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import requests

from sagemaker_mnist_container import endpoint_setup, json_lines, logs, preload
from sagemaker_mnist_container.settings import Settings

REPO = pathlib.Path(__file__).resolve().parent.parent
CODE = REPO / "code"
CONTAINER = REPO / "container"


def _toolkit_file(name):
    import sagemaker_inference
    return pathlib.Path(sagemaker_inference.__file__).parent / "etc" / name


def free_port():
    """A free port MMS accepts: it refuses ports above 32766, where the kernel's ephemeral range
    (which a bind to port 0 draws from) begins."""
    import random
    import socket
    for _ in range(200):
        port = random.SystemRandom().randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


class ModelServer:
    """multi-model-server with this image's handler service, plugin and settings, on 127.0.0.1.

    Its config is what start_model_server writes from the same settings: the toolkit's base file
    plus the values it adds (see sagemaker_inference.model_server._generate_mms_config_properties)."""

    def __init__(self, workdir, plugin_jar, model_dir=None, env=None,
                 handler="sagemaker_mnist_container.handler_service", preload=False):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.model_dir = model_dir
        self.handler = handler
        self.env = dict(env or {})
        self.env["SAGEMAKER_BIND_TO_PORT"] = str(self.port)
        self.settings = Settings.from_env(self.env)
        self.plugin_jar = plugin_jar
        self.log_path = self.workdir / "server.log"
        self.process = None
        # As `serve` does: backends forked from a preloader (sagemaker_mnist_container.preload), MMS started
        # through the launcher in container/bin.
        self.preload = preload
        self.preloader = None
        # serve's set-up of the endpoint's model (batches, then workers), run here as serve runs it.
        self.setup = None
        self.setup_error = None
        self.batches_set = threading.Event()

    def _config(self, toolkit_env):
        multi = self.settings.multi_model
        base = _toolkit_file("mme-mms.properties" if multi else "default-mms.properties").read_text()
        values = {
            "default_response_timeout": toolkit_env["SAGEMAKER_MODEL_SERVER_TIMEOUT"],
            "default_workers_per_model": toolkit_env["SAGEMAKER_MODEL_SERVER_WORKERS"],
            "inference_address": "http://127.0.0.1:%d" % self.port,
            "management_address": "http://127.0.0.1:%d" % self.port,
            "vmargs": toolkit_env["SAGEMAKER_MODEL_SERVER_VMARGS"],
            "max_request_size": str(self.settings.max_payload_bytes),
            "default_response_timeout_seconds": toolkit_env["SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS"],
        }
        if not multi:
            values["default_service_handler"] = self.handler
        return base + "".join("%s=%s\n" % item for item in values.items())

    def start(self):
        toolkit_env = self.settings.toolkit_environment(self.plugin_jar, str(self.workdir / "load-failures"))
        config = self.workdir / "mms.properties"
        config.write_text(self._config(toolkit_env))
        tmp = self.workdir / "tmp"
        tmp.mkdir(exist_ok=True)
        # start_model_server puts the model's code/ first on the workers' path, as here.
        python_path = [str(CODE), str(CONTAINER)]
        if not self.settings.multi_model:
            python_path.insert(0, os.path.join(self.model_dir, "code"))
        env = {**os.environ, **self.env, **toolkit_env,
               "PYTHONPATH": os.pathsep.join(python_path),
               # MMS keeps its pid file and worker sockets here; one folder per server.
               "TEMP": str(tmp), "TMPDIR": str(tmp),
               "LOG_LOCATION": str(self.workdir / "logs"), "METRICS_LOCATION": str(self.workdir / "logs")}
        if self.settings.multi_model:
            env["SAGEMAKER_HANDLER"] = self.handler
        launcher = os.path.join(os.path.dirname(sys.executable), "multi-model-server")
        self._log = open(self.log_path, "wb")
        if self.preload:
            socket_path = str(tmp / "preload.sock")
            # The image's PATH starts with its Python environment; here this one's does.
            env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
            self.preloader = preload.start(
                socket_path, env={**env, "PYTHONPATH": os.pathsep.join([str(CODE), str(CONTAINER)])},
                start_new_session=True, **self._output())
            self._relay(self.preloader)
            env.update(preload.environment(socket_path, env))
            launcher = str(CONTAINER / "bin" / "multi-model-server")
        command = [launcher, "--start", "--foreground",
                   "--mms-config", str(config), "--model-store", "/",
                   "--log-config", str(_toolkit_file("log4j2.xml"))]
        if not self.settings.multi_model:
            command += ["--models", "model=%s" % self.model_dir]
        # A session of its own: MMS's workers outlive its JVM, so stopping means the whole group.
        self.process = subprocess.Popen(command, cwd=self.workdir, env=env, start_new_session=True, **self._output())
        self._relay(self.process)
        if not self.settings.multi_model:
            self.setup = threading.Thread(target=self._set_up, name="endpoint-setup", daemon=True)
            self.setup.start()
        return self

    def _output(self):
        # In the json log format `serve` passes its children's output through json_lines; so here.
        if self.settings.log_format == logs.JSON:
            return {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        return {"stdout": self._log, "stderr": subprocess.STDOUT}

    def _relay(self, process):
        if self.settings.log_format != logs.JSON:
            return
        for stream, (_, level, name) in zip((process.stdout, process.stderr), json_lines.STREAMS):
            threading.Thread(target=json_lines.copy, args=(os.dup(stream.fileno()), self._log.fileno(), level, name),
                             daemon=True).start()
            stream.close()

    def _set_up(self):
        try:
            endpoint_setup.batches(self.url, self.settings, lambda line: None)
            self.batches_set.set()
            endpoint_setup.workers(self.url, self.settings, lambda line: None)
        except endpoint_setup.SetupError as e:
            self.setup_error = e

    def ping(self):
        try:
            return requests.get(self.url + "/ping", timeout=5)
        except requests.ConnectionError:
            return None

    def wait_until(self, predicate, timeout=120, what="the server"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("MMS exited early:\n" + self.log())
            if predicate():
                return
            time.sleep(0.2)
        raise TimeoutError("%s not ready within %d s; log:\n%s" % (what, timeout, self.log()[-6000:]))

    def wait_healthy(self, timeout=120):
        """Waits for /ping 200 and for the set-up's batch settings (raises if the set-up failed)."""
        self.wait_until(lambda: (r := self.ping()) is not None and r.status_code == 200, timeout, "/ping 200")
        self.wait_until(lambda: self.setup is None or self.batches_set.is_set() or self.setup_error is not None,
                        timeout, "the endpoint's batch settings")
        if self.setup_error is not None:
            raise self.setup_error
        return self

    def wait_listening(self, timeout=120):
        self.wait_until(lambda: self.ping() is not None, timeout, "the HTTP port")
        return self

    def invoke(self, body, content_type, accept=None, path="/invocations", headers=None, timeout=60):
        all_headers = {"Content-Type": content_type} if content_type else {}
        if accept:
            all_headers["Accept"] = accept
        all_headers.update(headers or {})
        return requests.post(self.url + path, data=body, headers=all_headers, timeout=timeout)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        # The workers may still be closing; whatever is left of the group goes now.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()
        self.process = None
        if self.preloader is not None:
            self.preloader.terminate()
            self.preloader.wait(timeout=20)
            self.preloader = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
