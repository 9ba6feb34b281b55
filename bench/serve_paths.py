"""The serving paths bench/serve_speed.py measures side by side: what each runs, on which model.

  ours                this image's path, as `serve` starts it (harness.model_server.ModelServer)
  stock               sagemaker-inference's default handler service with a typical user's
                      model_fn/predict_fn (STOCK_INFERENCE), MMS's own worker order, batch size 1
  ours, no affinity   (--without-worker-affinity) ours with -Dmnist.worker_affinity=false: MMS's
                      own worker order and batch loop, everything else as ours
  <commit>            (--baseline-tree DIR) that tree's own serving code, plugin and host server
                      runner, as its own bench ran "ours" (bench/baseline_server.py, in a process
                      whose Python path is that tree alone)
All serve the same weights (one net trained here); every path but the tree's starts through
harness.model_server.ModelServer.
"""
import dataclasses
import os
import pathlib
import select
import signal
import subprocess
import sys
import time

from harness import small_model
from harness.model_server import ModelServer
from sagemaker_mnist import artifacts
from sagemaker_mnist import model as mnist_model
from sagemaker_mnist_container.settings import DEFAULT_VMARGS

REPO = pathlib.Path(__file__).resolve().parent.parent
DRIVER = pathlib.Path(__file__).resolve().parent / "baseline_server.py"

STOCK_INFERENCE = '''
import torch
from sagemaker_mnist import model as mnist_model


def model_fn(model_dir):
    return mnist_model.load(model_dir)


def predict_fn(data, model):
    with torch.no_grad():
        images = torch.tensor(data, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0
        return torch.softmax(model(images), dim=1).numpy()
'''
STOCK_HANDLER = "sagemaker_inference.default_handler_service"
OURS_HANDLER = "sagemaker_mnist_container.handler_service"
# The toolkit's vmargs with MMS's own worker order (the plugin's agent leaves Model as it is).
NO_AFFINITY_VMARGS = DEFAULT_VMARGS + " -Dmnist.worker_affinity=false"
# MMS's own batch size for a model it loads at start-up, as the toolkit leaves it.
STOCK_ENV = {"SAGEMAKER_MODEL_SERVER_VMARGS": NO_AFFINITY_VMARGS, "SAGEMAKER_MODEL_SERVER_BATCH_SIZE": "1"}
NO_AFFINITY = "ours, no affinity"


@dataclasses.dataclass
class Path:
    name: str
    server: object  # start(), wait_healthy(), wait_until(predicate, timeout, what), url, stop()
    answers: str  # "predictions" (this project's JSON) or "probabilities" (the stock path's)
    limit: tuple = None  # (model_dir, handler) whose in-process rate bounds the path, or None
    cold: tuple = None  # (image, model_dir, stock) for cold starts of the real image, or None


def make_models(workdir, width):
    """One net, laid out as our artifact (as the trainer writes it), the stock one (the same
    weights, the stock code) and its bare weights (model.pth, model.json) for an earlier tree."""
    net, config = small_model.train_small_model(width=width, n_train=4096)
    models = {name: workdir / name for name in ("ours", "stock", "weights")}
    artifacts.write(str(models["ours"]), net, config)
    artifacts.write(str(models["stock"]), net, config)
    (models["stock"] / "code" / "inference.py").write_text(STOCK_INFERENCE)
    mnist_model.save(net, config, str(models["weights"]))
    return models


def paths(workdir, models, jar, image, without_affinity=False, tree=None, tree_image=None):
    """The paths of one run, in the order of its first round."""
    ours = ModelServer(workdir / "server-ours", jar, models["ours"], handler=OURS_HANDLER, preload=True)
    found = [
        Path("ours", ours, "predictions", (models["ours"], OURS_HANDLER), (image, models["ours"], False)),
        # The plugin jar serves the stock path's /ping too; its worker affinity is ours, not stock's.
        Path("stock", ModelServer(workdir / "server-stock", jar, models["stock"], handler=STOCK_HANDLER,
                                  env=STOCK_ENV),
             "probabilities", (models["stock"], STOCK_HANDLER), (image, models["stock"], True)),
    ]
    if without_affinity:
        # The same handler as ours, so the same in-process limit; the same image's cold start.
        found.append(Path(NO_AFFINITY, ModelServer(
            workdir / "server-ours-no-affinity", jar, models["ours"], handler=OURS_HANDLER, preload=True,
            env={"SAGEMAKER_MODEL_SERVER_VMARGS": NO_AFFINITY_VMARGS}), "predictions"))
    if tree is not None:
        model_dir = workdir / tree.name
        server = TreeServer(tree, models["weights"], model_dir, workdir / ("server-" + tree.name))
        found.append(Path(tree.name, server, "predictions", None,
                          (tree_image, model_dir, False) if tree_image else None))
    return found


class TreeServer:
    """bench/baseline_server.py running an earlier tree's server, seen as serve_speed sees a
    ModelServer. The artifact in `model_dir` is there once wait_healthy returns."""

    def __init__(self, tree, weights, model_dir, workdir, timeout=300):
        self.tree, self.weights, self.model_dir = tree, weights, model_dir
        self.workdir = pathlib.Path(workdir)
        self.timeout = timeout  # its plugin's javac and the model's load come first
        self.url = self.process = None

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.workdir / "driver.log", "wb")
        folders = (self.weights, self.model_dir, self.workdir, REPO)
        command = [sys.executable, "-P", str(DRIVER), *map(str, folders)]
        self.process = subprocess.Popen(command, cwd=self.tree.path,
                                        env=self.tree.environment("tests", "code", "container"),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log)
        return self

    def log(self):
        server_log = self.workdir / "server" / "server.log"
        logs = [self.workdir / "driver.log"] + ([server_log] if server_log.exists() else [])
        return "\n".join(path.read_text(errors="replace")[-6000:] for path in logs)

    def wait_healthy(self):
        deadline = time.monotonic() + self.timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.process.stdout], [], [], left)[0]:
                raise TimeoutError("%s: no /ping 200 within %d s; log:\n%s"
                                   % (self.tree.name, self.timeout, self.log()))
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError("%s: the server's driver exited (%s):\n%s"
                                   % (self.tree.name, self.process.wait(), self.log()))
            line += chunk
        self.url = line.decode().split()[-1]
        return self

    def wait_until(self, predicate, timeout=120, what="the server"):
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("%s: %s not there; log:\n%s" % (self.tree.name, what, self.log()))
            time.sleep(0.2)

    def stop(self):
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)  # the driver stops its server, workers and all
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
        self.process = None
