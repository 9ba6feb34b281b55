"""What the serving tests share: a small real model trained in-process, model artifacts laid out as
the trainer writes them, request bodies in every content type, and a multi-model-server started
on the host's Java with the same handler service, plugin and settings `serve` gives it.

The host server is started directly, not through sagemaker-inference's start_model_server: that
function writes /etc/sagemaker-mms.properties and refuses to run while any other MMS process is
visible on the machine (containers included), so it only runs inside the image, where the
container tests cover it.
"""
import io
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import requests
import torch
from PIL import Image

import support
from sagemaker_mnist import artifacts
from sagemaker_mnist import model as mnist_model
from sagemaker_mnist_container import plugin, preload
from sagemaker_mnist_container.settings import Settings
from prerequisites import require

CODE = support.REPO / "code"
CONTAINER = support.REPO / "container"
N_TEST = 200


def train_small_model(seed=0, width=8, n_train=4096, batch_size=32):
    """A real MnistNet trained for one pass over n_train real digits (about a second on one core):
    about 90% accurate on MNIST's test set."""
    torch.manual_seed(seed)
    images, labels = support.mnist("train")
    x = torch.from_numpy(images[:n_train].copy()).float().div_(255).unsqueeze(1)
    y = torch.from_numpy(labels[:n_train].copy()).long()
    net = mnist_model.MnistNet(width)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for start in range(0, n_train, batch_size):
            loss = torch.nn.functional.cross_entropy(net(x[start:start + batch_size]), y[start:start + batch_size])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return net.eval(), {"width": width}


class TrainedModel:
    """An artifact directory (model.pth, model.json, code/) and what it predicts for the first
    N_TEST real test digits."""

    def __init__(self, model_dir):
        self.model_dir = pathlib.Path(model_dir)
        images, labels = support.mnist("t10k")
        self.images = images[:N_TEST]
        self.labels = labels[:N_TEST].astype(int)
        net = mnist_model.load(self.model_dir)
        with torch.no_grad():
            logits = net(torch.from_numpy(self.images.copy()).float().div(255).unsqueeze(1))
        self.probabilities = torch.softmax(logits, 1).numpy()
        self.predicted = self.probabilities.argmax(1)
        # Digits this model gets right: what single-image tests send.
        self.correct = np.flatnonzero(self.predicted == self.labels)

    @property
    def accuracy(self):
        return float((self.predicted == self.labels).mean())

    def copy_to(self, destination, with_code=True):
        """A copy of the artifact, optionally without its code/ folder."""
        destination = pathlib.Path(destination)
        shutil.copytree(self.model_dir, destination,
                        ignore=None if with_code else shutil.ignore_patterns(artifacts.CODE_DIR))
        return destination


def write_artifact(model_dir, seed=0):
    net, config = train_small_model(seed=seed)
    artifacts.write(str(model_dir), net, config)
    return TrainedModel(model_dir)


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory):
    model = write_artifact(tmp_path_factory.mktemp("model"))
    assert model.accuracy > 0.8, "the test model should recognise most digits; got %.2f" % model.accuracy
    return model


# --- Request bodies

def json_body(images):
    return json.dumps(np.asarray(images).tolist())


def csv_body(images):
    flat = np.asarray(images).reshape(len(images), -1)
    return "\n".join(",".join(str(int(v)) for v in row) for row in flat) + "\n"


def jsonlines_body(images):
    return "".join(json.dumps(np.asarray(image).reshape(-1).tolist()) + "\n" for image in images)


def npy_body(array):
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def picture(digit, size=(90, 120), ink=(20, 30, 120), paper=(235, 225, 200), fmt="PNG", mode="RGB"):
    """A real MNIST digit drawn as a person would: dark ink on light paper, larger, in colour,
    off-centre, with margins. Returns the encoded image bytes."""
    width, height = size
    scale = min(width, height) * 0.6 / 28
    glyph = Image.fromarray(digit).resize((round(28 * scale), round(28 * scale)), Image.Resampling.BILINEAR)
    alpha = np.asarray(glyph, dtype=np.float32)[..., None] / 255.0
    canvas = np.empty((height, width, 3), dtype=np.float32)
    canvas[:] = paper
    top, left = height // 5, width // 6
    gh, gw = alpha.shape[:2]
    region = canvas[top:top + gh, left:left + gw]
    region[:] = region * (1 - alpha[:region.shape[0], :region.shape[1]]) + np.asarray(ink) * alpha[:region.shape[0], :region.shape[1]]
    image = Image.fromarray(canvas.round().astype(np.uint8), "RGB").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, quality=90) if fmt == "JPEG" else image.save(buffer, fmt)
    return buffer.getvalue()


def png_claiming(width, height):
    """A tiny PNG file whose header claims width x height pixels (1 bit each): a decompression bomb."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


# --- A model server on the host

@pytest.fixture(scope="session")
def plugin_jar(tmp_path_factory):
    require(shutil.which("java") is not None, "a Java runtime", "apt-get install openjdk-17-jre-headless")
    return plugin.build(tmp_path_factory.mktemp("plugin") / "mnist-mms-plugin.jar")


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

    def __init__(self, workdir, plugin_jar, model_dir=None, env=None, handler="sagemaker_mnist_container.handler_service",
                 preload=False):
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
        toolkit_env = self.settings.toolkit_environment(self.plugin_jar)
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
                stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
            env.update(preload.environment(socket_path, env))
            launcher = str(CONTAINER / "bin" / "multi-model-server")
        command = [launcher, "--start", "--foreground",
                   "--mms-config", str(config), "--model-store", "/",
                   "--log-config", str(_toolkit_file("log4j2.xml"))]
        if not self.settings.multi_model:
            command += ["--models", "model=%s" % self.model_dir]
        # A session of its own: MMS's workers outlive its JVM, so stopping means the whole group.
        self.process = subprocess.Popen(command, cwd=self.workdir, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        return self

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
        self.wait_until(lambda: (r := self.ping()) is not None and r.status_code == 200, timeout, "/ping 200")
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


# --- The handler service in this process, called as MMS calls it

class InProcessService:
    """sagemaker_mnist_container's HandlerService driven through MMS's own Context and RequestProcessor, as
    a worker drives it: initialize once, then handle() per request."""

    def __init__(self, model_dir, model_name="model"):
        from mms.context import Context

        from sagemaker_mnist_container.handler_service import HandlerService

        self.context = Context(model_name, str(model_dir), None, 1, None, "1.1.11")
        self.service = HandlerService()
        self.service.initialize(self.context)

    def invoke(self, body, content_type=None, accept=None, headers=None):
        """Returns (status, content type, body bytes)."""
        (answer,) = self.invoke_together([(body, content_type, accept, headers)])
        return answer

    def invoke_together(self, requests):
        """Several (body, content type, accept[, headers]) in one handle() call, as MMS hands a
        batch to a worker; returns a (status, content type, body bytes) for each."""
        from mms.context import RequestProcessor

        processors, batch = [], []
        for body, content_type, accept, *headers in requests:
            if isinstance(body, str):
                body = body.encode()
            request_headers = {"body": {"content-type": content_type}}
            if content_type is not None:
                request_headers["Content-Type"] = content_type
            if accept is not None:
                request_headers["Accept"] = accept
            request_headers.update((headers and headers[0]) or {})
            processors.append(RequestProcessor(request_headers))
            batch.append({"body": bytearray(body)})
        self.context.request_processor = processors
        responses = self.service.handle(batch, self.context)
        return [(processor.get_response_status_code(), processor.get_response_header("content-type"), bytes(response))
                for processor, response in zip(processors, responses)]


@pytest.fixture
def clean_imports():
    """Undoes what loading a model's code/ does to the import system."""
    path, modules = list(sys.path), dict(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - set(modules):
        del sys.modules[name]
    sys.modules.update(modules)
