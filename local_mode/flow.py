"""The whole SageMaker workflow on this machine, offline: SDK v2 local mode on the real images.

Steps (all by default, in this order; `--steps` picks some):
  estimator    train with the generic Estimator(image_uri=...): the image's built-in trainer
  script       train in script mode with sagemaker.pytorch.PyTorch(entry_point='train.py',
               source_dir='code'), the way AWS's PyTorch examples train
  distributed  the same script on instance_count=2: two containers, DDP over the local network
               (torchrun, gloo), compared with the one-host run
  sdk3         the same training with SDK v3's ModelTrainer in Mode.LOCAL_CONTAINER (a separate
               virtual environment: SDK v3 cannot share one with v2)
  deploy       a local endpoint of the estimator's model: predict a JSON digit and a PNG picture
               of a digit, then delete the endpoint
  transform    batch transform of the 10,000 MNIST test digits as CSV (MultiRecord) and the
               accuracy computed from the transform output

The run never reaches AWS (local_mode.offline), and whatever happens it removes the containers
it started and its temporary folder. It prints one progress line per step and a summary;
artifacts (model.tar.gz of each training, the transform output, step logs, summary.json) stay
under --output-dir.
"""
import argparse
import contextlib
import dataclasses
import json
import logging
import os
import pathlib
import re
import secrets
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback

from data import mnist_files
from local_mode import cleanup, data, offline

REPO = pathlib.Path(__file__).resolve().parent.parent
CODE_DIR = REPO / "code"
ENTRY_POINT = "train.py"
DEFAULT_TRAIN_IMAGE = "mnist-pytorch-training:latest"
DEFAULT_SERVE_IMAGE = "mnist-pytorch-inference:latest"
DEFAULT_OUTPUT_DIR = REPO / ".local_mode" / "runs"
DEFAULT_SDK3_PYTHON = REPO / ".venv-sdk3" / "bin" / "python"
SDK3_SETUP = "python3 -m venv .venv-sdk3 && .venv-sdk3/bin/pip install -r requirements/sdk3.txt"

STEPS = ("estimator", "script", "distributed", "sdk3", "deploy", "transform")
# Seconds of training each on two CPU cores; the README's default preset is accuracy-first.
DEFAULT_HYPERPARAMETERS = {"preset": "fast", "seed": 1}

SAGEMAKER_SUPPRESS_V2_WARNING = "SAGEMAKER_SUPPRESS_V2_WARNING"
STEP_LOGGERS = ("sagemaker", "urllib3")
# SDK v2 local mode's instance types: "local" runs on the CPU, "local_gpu" asks for the GPUs.
LOCAL_INSTANCE_TYPE = "local"
# The trainer's per-epoch line: "#metrics epoch=N train_loss=.. test_loss=.. test_accuracy=.. ..".
METRICS_LINE = re.compile(r"#metrics\s+(.*)")
METRICS_FILE = "metrics.json"
# What the training toolkit writes to /opt/ml/output/failure when a job fails.
FAILURE_FILE = "failure"
# How much worse the two-host model may be and still count as good as the one-host model:
# the two runs see the same data in a different order, and even one host's accuracy moves by a
# few tenths of a point between runs of a short training (thread timing in CPU kernels).
DISTRIBUTED_TOLERANCE = 0.005
MIN_TRANSFORM_ACCURACY = 0.99


@dataclasses.dataclass
class Settings:
    train_image: str = DEFAULT_TRAIN_IMAGE
    serve_image: str = DEFAULT_SERVE_IMAGE
    data_dir: pathlib.Path = None
    output_dir: pathlib.Path = DEFAULT_OUTPUT_DIR
    steps: tuple = STEPS
    hyperparameters: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_HYPERPARAMETERS))
    instance_type: str = LOCAL_INSTANCE_TYPE
    serving_port: int = 0
    sdk3_python: pathlib.Path = DEFAULT_SDK3_PYTHON
    model_data: str = None
    comparison_digits: int = 0
    min_accuracy: float = MIN_TRANSFORM_ACCURACY
    max_payload_mb: int = 6
    verbose: bool = False
    run_id: str = None


class StepFailed(RuntimeError):
    """A step ran but its result is not what the flow promises."""


class Tee:
    """A text stream writing to a log file and, optionally, to the console."""

    def __init__(self, log, console=None):
        self.log, self.console = log, console

    def write(self, text):
        # Flushed at once: the log is what a user tails to watch a long step.
        self.log.write(text)
        self.log.flush()
        if self.console is not None:
            self.console.write(text)
        return len(text)

    def flush(self):
        self.log.flush()
        if self.console is not None:
            self.console.flush()

    def isatty(self):
        return False


def free_port():
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Flow:
    """One run of the flow: its session, its temporary root, its results and its cleanup."""

    def __init__(self, settings, console=None):
        self.settings = settings
        self.console = console or sys.stdout
        self.run_id = settings.run_id or "%s-%s" % (time.strftime("%Y%m%d-%H%M%S"), secrets.token_hex(3))
        self.out = pathlib.Path(settings.output_dir).resolve() / self.run_id
        self.tmp = None
        self.session = None
        self.guard = offline.RequestGuard()
        self.started = time.monotonic()
        self.results = {}
        self.models = {}
        self.channels = {}
        self.comparison_channels = {}
        self.test_labels = None
        self.transform_input = None
        self.serving_port = settings.serving_port or None

    # --- progress ---------------------------------------------------------------------------
    def say(self, text):
        self.console.write("[%7.1fs] %s\n" % (time.monotonic() - self.started, text))
        self.console.flush()

    @contextlib.contextmanager
    def step_log(self, name):
        """Sends the SDK's and the containers' output of one step to logs/<name>.log."""
        log_path = self.out / "logs" / ("%s.log" % name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w") as log:
            tee = Tee(log, self.console if self.settings.verbose else None)
            handler = logging.StreamHandler(tee)
            handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
            # The SDK's own messages, and urllib3's retries while local mode waits for /ping.
            loggers = [logging.getLogger(name) for name in STEP_LOGGERS]
            saved = [(lg.level, lg.propagate) for lg in loggers]
            for lg in loggers:
                lg.addHandler(handler)
                lg.setLevel(logging.INFO)
                lg.propagate = False
            try:
                with contextlib.redirect_stdout(tee):
                    yield log_path
            finally:
                for lg, (level, propagate) in zip(loggers, saved):
                    lg.removeHandler(handler)
                    lg.setLevel(level)
                    lg.propagate = propagate

    # --- the run ----------------------------------------------------------------------------
    def run(self):
        """Runs the selected steps; returns the summary dict (summary['ok'] says how it went)."""
        self.out.mkdir(parents=True, exist_ok=True)
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="mnist-local-mode-%s-" % self.run_id))
        self.say("run %s: %s + %s; artifacts in %s" % (
            self.run_id, self.settings.train_image, self.settings.serve_image, self.out))
        failure = None
        saved_tempdir, saved_excepthook = tempfile.tempdir, threading.excepthook
        # Local mode serves endpoints from a thread that raises when its container stops
        # badly; the step that started it reports the failure, the traceback goes to a log.
        threading.excepthook = self._background_failure
        try:
            # Everything the SDK and its children put in temporary files lands under self.tmp.
            tempfile.tempdir = str(self.tmp)
            # SDK v2 warns on import and on every estimator that v3 exists; this flow shows v2
            # on purpose (and v3 in its own step).
            run_env = {SAGEMAKER_SUPPRESS_V2_WARNING: "1", "TMPDIR": str(self.tmp)}
            # Before the offline part: the one request the flow may send is the md5-checked
            # download of MNIST files missing from the folder it uses (never when the
            # repository's copy is there).
            self._timed("data", self.prepare_data)
            with offline.offline_environment(self.tmp), self.guard, offline.environ(run_env):
                for name in self.settings.steps:
                    self._timed(name, getattr(self, "step_" + name))
        except BaseException as e:  # noqa: BLE001 - report, clean up, then exit non-zero
            failure = e
        finally:
            tempfile.tempdir = saved_tempdir
            leftovers = self.clean_up()
            threading.excepthook = saved_excepthook
        return self.summarize(failure, leftovers)

    def _background_failure(self, args):
        (self.out / "logs").mkdir(parents=True, exist_ok=True)
        with open(self.out / "logs" / "background.log", "a") as log:
            log.write("".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))

    def _timed(self, name, fn):
        start = time.monotonic()
        self.say("%-11s ..." % name)
        result = {"status": "running"}
        self.results[name] = result
        try:
            with self.step_log(name) as log_path:
                result["log"] = str(log_path)
                details = fn() or {}
            result.update(details, status="ok")
        except BaseException as e:
            result.update(status="failed", error=_one_line(e))
            raise
        finally:
            result["seconds"] = round(time.monotonic() - start, 1)
            self.say("%-11s %s (%.1f s)%s" % (
                name, result["status"], result["seconds"], _describe(result)))

    # --- steps ------------------------------------------------------------------------------
    def local_session(self):
        if self.session is None:
            if not self.serving_port:
                self.serving_port = free_port()
            self.session = make_local_session(self.guard, self.tmp, self.serving_port, self.run_id)
        return self.session

    def prepare_data(self):
        data_dir = mnist_files.locate(self.settings.data_dir, log=print)
        self.channels = data.stage_channels(data_dir, self.tmp / "data")
        self.comparison_channels = dict(self.channels)
        digits = self.settings.comparison_digits
        if digits:
            self.comparison_channels[data.TRAINING_CHANNEL] = data.stage_subset(
                data_dir, self.tmp / "data" / "training-subset", digits)
        images, self.test_labels = data.test_split(data_dir)
        self.test_images = images
        transform_dir = self.tmp / "data" / "transform"
        transform_dir.mkdir()
        self.transform_input = data.write_transform_csv(images, transform_dir / data.TRANSFORM_INPUT_NAME)
        return {"data_dir": str(data_dir), "test_digits": len(self.test_labels)}

    def _fit(self, name, estimator, log_path, channels):
        inputs = {channel: "file://%s" % path for channel, path in channels.items()}
        try:
            estimator.fit(inputs, job_name="mnist-%s-%s" % (name, self.run_id), wait=True, logs="None")
        except RuntimeError as e:
            # Local mode says only that docker-compose failed; the job's own reason is in the
            # failure file that the training toolkit wrote, which the SDK still collected.
            reason = failure_reason(self.out / name / "output.tar.gz")
            if reason:
                raise StepFailed("training failed: %s" % reason) from e
            raise
        model_data = estimator.model_data
        self.models[name] = model_data
        metrics = training_metrics(model_data, log_path)
        return {"model_data": _path(model_data), "test_accuracy": metrics.get("test_accuracy"),
                "epochs": metrics.get("epoch"), "training_digits": _digits(channels)}

    def _output_path(self, name):
        path = self.out / name
        path.mkdir(parents=True, exist_ok=True)
        return "file://%s" % path

    def step_estimator(self):
        from sagemaker.estimator import Estimator

        estimator = Estimator(
            image_uri=self.settings.train_image,
            role=offline.FAKE_ROLE_ARN,
            instance_count=1,
            instance_type=self.settings.instance_type,
            output_path=self._output_path("estimator"),
            hyperparameters=dict(self.settings.hyperparameters),
            sagemaker_session=self.local_session(),
        )
        return self._fit("estimator", estimator, self.results["estimator"]["log"], self.channels)

    def _pytorch(self, name, instance_count, distribution=None):
        from sagemaker.pytorch import PyTorch

        return PyTorch(
            image_uri=self.settings.train_image,
            entry_point=ENTRY_POINT,
            source_dir=str(CODE_DIR),
            role=offline.FAKE_ROLE_ARN,
            instance_count=instance_count,
            instance_type=self.settings.instance_type,
            output_path=self._output_path(name),
            hyperparameters=dict(self.settings.hyperparameters),
            distribution=distribution,
            sagemaker_session=self.local_session(),
        )

    def step_script(self):
        return self._fit("script", self._pytorch("script", 1), self.results["script"]["log"],
                         self.comparison_channels)

    def step_distributed(self):
        # torchrun on each of the two containers; the trainer joins them into one gloo group
        # and averages gradients, so the two hosts train one model on half the data each.
        estimator = self._pytorch("distributed", 2, distribution={"torch_distributed": {"enabled": True}})
        result = self._fit("distributed", estimator, self.results["distributed"]["log"], self.comparison_channels)
        result["hosts"] = 2
        single = self.results.get("script", {}).get("test_accuracy")
        if single is not None and result["test_accuracy"] is not None:
            result["one_host_test_accuracy"] = single
            result["as_good_as_one_host"] = result["test_accuracy"] >= single - DISTRIBUTED_TOLERANCE
            if not result["as_good_as_one_host"]:
                raise StepFailed("two hosts reached %.4f test accuracy, one host %.4f" % (
                    result["test_accuracy"], single))
        return result

    def step_sdk3(self):
        python = pathlib.Path(self.settings.sdk3_python)
        if not python.exists():
            return {"skipped": "no SDK v3 environment at %s (make it with: %s)" % (python, SDK3_SETUP)}
        result_path = self.tmp / "sdk3-result.json"
        command = [
            str(python), "-m", "local_mode.sdk3",
            "--train-image", self.settings.train_image,
            "--training", str(self.comparison_channels[data.TRAINING_CHANNEL]),
            "--test", str(self.channels[data.TEST_CHANNEL]),
            "--output-dir", str(self.out / "sdk3"),
            "--work-dir", str(self.tmp / "sdk3"),
            "--run-id", self.run_id,
            "--hyperparameters", json.dumps(self.settings.hyperparameters),
            "--result", str(result_path),
        ]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        try:
            for line in process.stdout:
                sys.stdout.write(line)
        finally:
            if process.poll() is None:
                # Interrupted: the child cleans up its containers on SIGTERM.
                process.terminate()
            process.wait()
        if process.returncode != 0:
            raise StepFailed("SDK v3 ModelTrainer run failed (exit %d); see its log" % process.returncode)
        result = json.loads(result_path.read_text())
        result["training_digits"] = _digits(self.comparison_channels)
        if result.get("refused_requests"):
            self.guard.refused.extend(result["refused_requests"])
            raise StepFailed("SDK v3 run tried to reach AWS: %s" % result["refused_requests"])
        return result

    def _model_data(self):
        if self.settings.model_data:
            return self.settings.model_data
        for name in ("estimator", "script", "distributed"):
            if name in self.models:
                return self.models[name]
        raise StepFailed("no model to serve: run a training step or pass --model-data")

    def _model(self, name):
        from sagemaker.model import Model
        from sagemaker.predictor import Predictor

        return Model(
            image_uri=self.settings.serve_image,
            model_data=self._model_data(),
            role=offline.FAKE_ROLE_ARN,
            name="mnist-%s-%s" % (name, self.run_id),
            predictor_cls=Predictor,
            sagemaker_session=self.local_session(),
        )

    def step_deploy(self):
        from sagemaker.deserializers import JSONDeserializer
        from sagemaker.predictor import Predictor
        from sagemaker.serializers import IdentitySerializer, JSONSerializer

        model = self._model("endpoint")
        digit, label = self.test_images[0], int(self.test_labels[0])
        # wait=False: local mode's create_endpoint already waits for /ping; wait=True would
        # add a fixed 30 s sleep of the SDK's endpoint waiter.
        predictor = model.deploy(
            initial_instance_count=1, instance_type=self.settings.instance_type,
            endpoint_name="mnist-%s" % self.run_id, serializer=JSONSerializer(),
            deserializer=JSONDeserializer(), wait=False,
        )
        try:
            json_answer = predictor.predict(digit.tolist())
            png = Predictor(predictor.endpoint_name, sagemaker_session=self.local_session(),
                            serializer=IdentitySerializer("image/png"), deserializer=JSONDeserializer())
            png_answer = png.predict(data.png_digit(digit))
        finally:
            predictor.delete_endpoint()
            model.delete_model()
        json_label = data.prediction_label(data.predictions(json.dumps(json_answer))[0])
        png_label = data.prediction_label(data.predictions(json.dumps(png_answer))[0])
        result = {"endpoint": predictor.endpoint_name, "true_label": label, "json_prediction": json_label,
                  "png_prediction": png_label, "serving_port": self.serving_port}
        if json_label != label or png_label != label:
            raise StepFailed("the endpoint predicted %d (JSON) and %d (PNG) for a %d" % (json_label, png_label, label))
        return result

    def step_transform(self):
        model = self._model("transform")
        output_dir = self.out / "transform"
        transformer = model.transformer(
            instance_count=1, instance_type=self.settings.instance_type, strategy="MultiRecord",
            assemble_with="Line", output_path="file://%s" % output_dir, accept="application/jsonlines",
            max_payload=self.settings.max_payload_mb,
        )
        try:
            # wait=False then wait(logs=False): with logs the SDK's waiter polls CloudWatch.
            transformer.transform("file://%s" % self.transform_input.parent, content_type="text/csv",
                                  split_type="Line", job_name="mnist-transform-%s" % self.run_id, wait=False)
            transformer.wait(logs=False)
        finally:
            model.delete_model()
        output = output_dir / (data.TRANSFORM_INPUT_NAME + data.TRANSFORM_OUTPUT_SUFFIX)
        accuracy, _ = data.transform_accuracy(output, self.test_labels)
        result = {"output": str(output), "records": len(self.test_labels), "accuracy": accuracy}
        if accuracy < self.settings.min_accuracy:
            raise StepFailed("batch transform accuracy %.4f is below %.4f" % (accuracy, self.settings.min_accuracy))
        return result

    # --- the end ----------------------------------------------------------------------------
    def clean_up(self):
        """Removes this run's containers and temporary folder; returns what could not be removed."""
        leftovers = []
        try:
            removed = cleanup.remove_containers(self.run_id, self.tmp)
            if removed:
                self.say("removed %d container(s) of this run" % len(removed))
            leftovers += ["container %s" % c for c in cleanup.run_containers(self.run_id, self.tmp)]
        except (OSError, subprocess.SubprocessError) as e:
            leftovers.append("containers: %s" % _one_line(e))
        if self.tmp is not None:
            try:
                cleanup.remove_tree(self.tmp, helper_image=self.settings.train_image)
            except (OSError, subprocess.SubprocessError) as e:
                leftovers.append("temporary folder %s: %s" % (self.tmp, _one_line(e)))
        return leftovers

    def summarize(self, failure, leftovers):
        failed_steps = [name for name, r in self.results.items() if r.get("status") != "ok"]
        ok = failure is None and not leftovers and not self.guard.refused and not failed_steps
        summary = {
            "ok": ok,
            "run_id": self.run_id,
            "train_image": self.settings.train_image,
            "serve_image": self.settings.serve_image,
            "hyperparameters": self.settings.hyperparameters,
            "seconds": round(time.monotonic() - self.started, 1),
            "steps": self.results,
            "artifacts": str(self.out),
            "temporary_folder": str(self.tmp),
            "refused_requests": list(self.guard.refused),
            "leftovers": leftovers,
        }
        if failure is not None:
            summary["error"] = _one_line(failure)
            if not isinstance(failure, (StepFailed, KeyboardInterrupt, SystemExit)):
                summary["traceback"] = "".join(traceback.format_exception(failure))
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        print_summary(summary, self.console)
        return summary


def make_local_session(guard, temp_root, serving_port, run_id):
    """An SDK v2 LocalSession that stays offline and keeps its files and containers findable.

    Call it inside offline.offline_environment(): boto3 then sees the fake region and keys,
    and the guard refuses any request the session would still send.
    """
    import boto3
    from sagemaker.local import LocalSession

    boto_session = guard.attach(boto3.Session(region_name=offline.REGION))
    session = LocalSession(boto_session=boto_session, sagemaker_config=offline.SDK_CONFIG)
    session.config = {
        "local": {
            # Mount source_dir as is instead of uploading it to S3.
            "local_code": True,
            "container_root": str(temp_root),
            "serving_port": serving_port,
            # Merged into every compose service: marks the containers as this run's.
            "container_config": {"labels": {cleanup.RUN_LABEL: run_id}},
        }
    }
    return session


@dataclasses.dataclass
class LocalEndpoint:
    """A local endpoint and the offline run around it; unpacks as (name, port).

    SDK local mode serves the container's /invocations on localhost:port. The guard's refused
    list, the run id (the containers' label) and the temporary root stay readable after the
    with block, to check what the run tried to reach and what it left.
    """

    name: str
    port: int
    session: object
    model: object
    guard: offline.RequestGuard
    run_id: str
    temp_root: str

    def __iter__(self):
        # Its first callers unpack (name, port).
        return iter((self.name, self.port))

    def predictor(self, serializer, deserializer):
        """An SDK Predictor of this endpoint, through its local session."""
        from sagemaker.predictor import Predictor

        return Predictor(self.name, sagemaker_session=self.session, serializer=serializer,
                         deserializer=deserializer)

    def leftovers(self):
        """What of this run still exists: its containers and its temporary folder."""
        left = ["container %s" % c for c in cleanup.run_containers(self.run_id, self.temp_root)]
        if os.path.lexists(self.temp_root):
            left.append("temporary folder %s" % self.temp_root)
        return left


def _endpoint_model(model, serve_image, session, run_id):
    """The SDK Model that local_endpoint deploys, bound to its offline session."""
    from sagemaker.model import Model

    if isinstance(model, str):
        return Model(image_uri=serve_image, model_data=model, role=offline.FAKE_ROLE_ARN,
                     name="mnist-%s" % run_id, sagemaker_session=session)
    if isinstance(model, Model):
        # A model made without a session would get a LocalSession of its own at deploy, one
        # the guard does not watch; one made with another session would deploy through it.
        if model.sagemaker_session is not None:
            raise ValueError("local_endpoint deploys through its own offline session: pass a Model "
                             "made without sagemaker_session, or a factory that takes the session")
        model.sagemaker_session = session
        return model
    if callable(model):
        return model(session)
    raise TypeError("local_endpoint takes model data (a URI), a sagemaker Model, or a factory "
                    "session -> Model; got %r" % (model,))


@contextlib.contextmanager
def local_endpoint(serve_image, model, serving_port=0):
    """A local endpoint for the duration of the with block, offline; yields a LocalEndpoint.

    model is model data (a file:// URI, served with the generic Model(image_uri=serve_image)),
    a sagemaker Model made without a session, or a factory called with the endpoint's
    LocalSession inside the offline environment that returns the Model to deploy (so that
    building it, a PyTorchModel's repacking of its code included, is guarded too).
    Afterwards it removes the endpoint, its containers and its temporary folder.
    """
    run_id = "endpoint-%s" % secrets.token_hex(4)
    temp_root = tempfile.mkdtemp(prefix="mnist-local-endpoint-")
    port = serving_port or free_port()
    guard = offline.RequestGuard()
    try:
        with offline.offline_environment(temp_root), guard, offline.environ({"SAGEMAKER_SUPPRESS_V2_WARNING": "1"}):
            session = make_local_session(guard, temp_root, port, run_id)
            deployed = _endpoint_model(model, serve_image, session, run_id)
            # wait=False: local mode's create_endpoint already waits for /ping; wait=True would
            # add a fixed 30 s sleep of the SDK's endpoint waiter.
            deployed.deploy(initial_instance_count=1, instance_type=LOCAL_INSTANCE_TYPE,
                            endpoint_name="mnist-%s" % run_id, wait=False)
            try:
                yield LocalEndpoint(deployed.endpoint_name, port, session, deployed, guard, run_id, temp_root)
            finally:
                session.delete_endpoint(deployed.endpoint_name)
                session.delete_endpoint_config(deployed.endpoint_name)
                deployed.delete_model()
    finally:
        cleanup.remove_containers(run_id, temp_root)
        cleanup.remove_tree(temp_root, helper_image=serve_image)


def failure_reason(output_tar):
    """The text of the training job's /opt/ml/output/failure file, if the job wrote one."""
    if not pathlib.Path(output_tar).exists():
        return None
    with tarfile.open(output_tar) as tar:
        for member in tar.getmembers():
            if os.path.basename(member.name) == FAILURE_FILE and member.isfile():
                return " ".join(tar.extractfile(member).read().decode("utf-8", "replace").split())[:1000]
    return None


def training_metrics(model_data, log_path):
    """The last epoch's metrics: from output/data/metrics.json if the job wrote it, else its log."""
    output_tar = pathlib.Path(_path(model_data)).parent / "output.tar.gz"
    if output_tar.exists():
        with tarfile.open(output_tar) as tar:
            for member in tar.getmembers():
                if os.path.basename(member.name) == METRICS_FILE and member.isfile():
                    metrics = last_epoch(json.load(tar.extractfile(member)))
                    if metrics:
                        return metrics
    found = {}
    with open(log_path, errors="replace") as log:
        for line in log:
            match = METRICS_LINE.search(line)
            if match:
                found = dict(pair.split("=", 1) for pair in match.group(1).split() if "=" in pair)
    return {k: _number(v) for k, v in found.items()}


def last_epoch(metrics):
    """The final-epoch entry of a metrics.json document (a dict or a list of epochs)."""
    if isinstance(metrics, dict):
        for key in ("final", "epochs", "history"):
            if key in metrics:
                return last_epoch(metrics[key])
        return metrics if "test_accuracy" in metrics else None
    if isinstance(metrics, list) and metrics:
        return last_epoch(metrics[-1])
    return None


def print_summary(summary, out):
    lines = ["", "=== MNIST on SageMaker local mode: %s in %.1f s (run %s) ===" % (
        "OK" if summary["ok"] else "FAILED", summary["seconds"], summary["run_id"])]
    for name, result in summary["steps"].items():
        lines.append("  %-11s %-7s %7.1f s%s" % (name, result.get("status"), result.get("seconds", 0), _describe(result)))
    transform = summary["steps"].get("transform", {})
    if transform.get("accuracy") is not None:
        lines.append("  batch transform accuracy: %.2f%% on %d test digits" % (100 * transform["accuracy"], transform["records"]))
    lines.append("  artifacts: %s (summary.json, logs/)" % summary["artifacts"])
    lines.append("  AWS requests refused: %d; left behind: %s" % (
        len(summary["refused_requests"]), ", ".join(summary["leftovers"]) or "nothing"))
    if summary.get("error"):
        lines.append("  error: %s" % summary["error"])
    out.write("\n".join(lines) + "\n")
    out.flush()


def _describe(result):
    parts = []
    if result.get("test_accuracy") is not None:
        parts.append("test accuracy %.2f%%" % (100 * result["test_accuracy"]))
    if result.get("one_host_test_accuracy") is not None:
        parts.append("one host %.2f%%" % (100 * result["one_host_test_accuracy"]))
    if result.get("json_prediction") is not None:
        parts.append("a %s predicted %s (JSON), %s (PNG)" % (result["true_label"], result["json_prediction"], result["png_prediction"]))
    if result.get("accuracy") is not None:
        parts.append("accuracy %.2f%% over %d digits" % (100 * result["accuracy"], result["records"]))
    for key in ("model_data", "output"):
        if result.get(key):
            parts.append("-> %s" % result[key])
    if result.get("skipped"):
        parts.append("skipped: %s" % result["skipped"])
    if result.get("error"):
        parts.append("error: %s" % result["error"])
    return (": " + "; ".join(parts)) if parts else ""


def _one_line(error):
    text = " ".join(str(error).split()) or type(error).__name__
    return "%s: %s" % (type(error).__name__, text[:500])


def _number(value):
    try:
        return float(value) if "." in value or "e" in value.lower() else int(value)
    except ValueError:
        return value


def _digits(channels):
    labels = pathlib.Path(channels[data.TRAINING_CHANNEL]) / mnist_files.TRAIN_FILES[1]
    return int(data.read_idx(labels).shape[0])


def _path(uri):
    return uri[len("file://"):] if uri.startswith("file://") else uri


def parse_hyperparameter(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME=VALUE, got %r" % text)
    return name, value


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m local_mode",
        description="Train, deploy and batch-transform MNIST with SageMaker SDK local mode on the "
                    "project's images, offline, then clean up.")
    p.add_argument("--train-image", default=DEFAULT_TRAIN_IMAGE, help="training image (default %(default)s)")
    p.add_argument("--serve-image", default=DEFAULT_SERVE_IMAGE, help="inference image (default %(default)s)")
    p.add_argument("--data-dir", type=pathlib.Path,
                   help="folder with the four MNIST .gz files; missing files are downloaded into it "
                        "and checksummed (default: $%s, else the repository's copy, %s)" % (
                            mnist_files.MNIST_DIR_VARIABLE, mnist_files.REPO_COPY))
    p.add_argument("--output-dir", type=pathlib.Path, default=DEFAULT_OUTPUT_DIR,
                   help="artifacts go to OUTPUT_DIR/RUN_ID (default %(default)s)")
    p.add_argument("--steps", default=",".join(STEPS),
                   help="comma-separated subset of %s (default: all)" % ",".join(STEPS))
    p.add_argument("--skip", default="", help="comma-separated steps to leave out")
    p.add_argument("--hyperparameter", "-H", action="append", type=parse_hyperparameter, default=[],
                   metavar="NAME=VALUE", help="trainer hyperparameter; repeatable (default preset=fast seed=1)")
    p.add_argument("--instance-type", default=LOCAL_INSTANCE_TYPE, choices=("local", "local_gpu"))
    p.add_argument("--serving-port", type=int, default=0,
                   help="host port of local endpoints and transforms (default: a free one)")
    p.add_argument("--sdk3-python", type=pathlib.Path, default=DEFAULT_SDK3_PYTHON,
                   help="python of the SDK v3 environment (default %(default)s; the step is skipped "
                        "if it does not exist)")
    p.add_argument("--model-data", help="model.tar.gz (file:// or a path) for deploy/transform "
                                        "when no training step runs")
    p.add_argument("--comparison-digits", type=int, default=0, metavar="N",
                   help="train the script, distributed and sdk3 steps on the first N training digits "
                        "only, to save time (default: all 60,000); the estimator step, whose model is "
                        "deployed and batch-transformed, always trains on all of them")
    p.add_argument("--min-accuracy", type=float, default=MIN_TRANSFORM_ACCURACY,
                   help="fail when the batch transform accuracy is lower (default %(default)s)")
    p.add_argument("--max-payload-mb", type=int, default=6, help="batch transform MaxPayloadInMB")
    p.add_argument("--run-id", help="name of this run (default: time and a random suffix)")
    p.add_argument("--verbose", "-v", action="store_true", help="also stream container output to the console")
    args = p.parse_args(argv)
    steps = [s for s in args.steps.split(",") if s]
    skip = {s for s in args.skip.split(",") if s}
    unknown = sorted((set(steps) | skip) - set(STEPS))
    if unknown:
        p.error("unknown step(s) %s; choose from %s" % (", ".join(unknown), ", ".join(STEPS)))
    hyperparameters = dict(DEFAULT_HYPERPARAMETERS)
    hyperparameters.update(args.hyperparameter)
    data_dir = args.data_dir or mnist_files.default_dir(os.environ)
    model_data = args.model_data
    if model_data and "://" not in model_data:
        model_data = "file://%s" % os.path.abspath(model_data)
    return Settings(
        train_image=args.train_image, serve_image=args.serve_image, data_dir=data_dir,
        output_dir=args.output_dir, steps=tuple(s for s in STEPS if s in steps and s not in skip),
        hyperparameters=hyperparameters, instance_type=args.instance_type, serving_port=args.serving_port,
        sdk3_python=args.sdk3_python, model_data=model_data, comparison_digits=args.comparison_digits,
        min_accuracy=args.min_accuracy,
        max_payload_mb=args.max_payload_mb, verbose=args.verbose, run_id=args.run_id,
    )


def _raise_on_sigterm(signum, frame):
    # CI and `timeout` stop a run with SIGTERM: unwind through the cleanup like Ctrl-C does.
    raise KeyboardInterrupt("terminated by signal %d" % signum)


def main(argv=None):
    settings = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    summary = Flow(settings).run()
    return 0 if summary["ok"] else 1
