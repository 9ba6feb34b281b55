"""The MNIST trainer behind SageMaker's training contract.

main() reads the job (hyperparameters and SM_* environment), loads the channels, trains the CNN
with the recipe's optimizer, schedule, loss and augmentation, and leaves:
  - a `#metrics` line per epoch in the log (sagemaker_mnist.report.metric_line),
  - a checkpoint per epoch in the checkpoint directory, resumed when a job starts with one,
  - the model artifact in the model directory (sagemaker_mnist.artifacts),
  - the evaluation report in the output data directory (sagemaker_mnist.report).
A fault in the job's input writes one line to /opt/ml/output/failure and exits non-zero. SIGTERM
(StopTrainingJob, a spot interruption) saves a checkpoint at the current step and exits.
"""
import contextlib
import math
import os
import signal
import sys
import time
import traceback

import torch
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from sagemaker_mnist import artifacts, checkpoints, data, distributed, failures, hyperparameters, recipe, report
from sagemaker_mnist.failures import TrainingError
from sagemaker_mnist.model import build_model

# How often the processes of a distributed job agree on whether a stop was requested: often
# enough to stop within a second, seldom enough to cost nothing.
_STOP_POLL_STEPS = 10


class Stopped(Exception):
    """SIGTERM arrived; the checkpoint is written."""


class _StopRequest:
    """Remembers SIGTERM, which SageMaker sends to stop a job (StopTrainingJob, a spot
    interruption) before it kills it; the loop notices between batches."""

    def __init__(self):
        self.requested = False

    def install(self):
        signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True


def main(argv=None, environ=None):
    """The training script's entry: exits 0 on success, 1 on a failed job, 143 when stopped."""
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    out = failures.output_dir(environ)
    stop = _StopRequest().install()
    try:
        settings = hyperparameters.parse(argv, environ)
        train(settings, environ, stop)
    except TrainingError as e:
        failures.write_failure(out, str(e))
        sys.exit(failures.EXIT_FAILURE)
    except Stopped as e:
        failures.write_failure(out, str(e))
        sys.exit(failures.EXIT_STOPPED)
    except torch.OutOfMemoryError as e:
        traceback.print_exc()
        failures.write_failure(out, "out of GPU memory (%s): lower batch-size or eval-batch-size, or use an "
                                    "instance type with more GPU memory" % str(e).splitlines()[0])
        sys.exit(failures.EXIT_FAILURE)
    except Exception as e:
        traceback.print_exc()
        first = str(e).splitlines()[0] if str(e) else ""
        failures.write_failure(out, "the MNIST trainer failed: %s: %s (the job's log has the traceback)"
                               % (type(e).__name__, first))
        sys.exit(failures.EXIT_FAILURE)


def train(settings, environ, stop):
    hp = settings.hp
    dataset = data.load(settings.train_dir, settings.test_dir, settings.validation_dir)
    cluster = distributed.setup(settings.hosts, settings.current_host, environ)
    try:
        return _Run(settings, dataset, cluster, stop).run()
    finally:
        distributed.teardown(cluster)


class _Run:
    """One job's training: the state that a checkpoint captures, and the loop over it."""

    def __init__(self, settings, dataset, cluster, stop):
        self.settings, self.hp, self.dataset, self.cluster, self.stop = settings, settings.hp, dataset, cluster, stop
        hp, device = self.hp, cluster.device
        if hp.batch_size < cluster.world_size:
            raise TrainingError("hyperparameter batch-size=%d is smaller than the job's %d processes: batch-size is "
                                "the global batch, split across them" % (hp.batch_size, cluster.world_size))
        if device.type == "cpu":
            torch.set_num_threads(distributed.threads_per_process(settings.num_cpus, cluster))
            # Without it, every step page-faults its activations in afresh: a third of a CPU step.
            recipe.keep_freed_memory()
        else:
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(hp.seed)
        self.config = {"width": hp.width}
        self.model = build_model(self.config).to(device)
        self.optimizer = recipe.make_optimizer(self.model, hp)
        self.steps_per_epoch = max(1, len(dataset.train) // hp.batch_size)
        self.scheduler = recipe.make_scheduler(self.optimizer, hp, self.steps_per_epoch)
        self.loss_fn = recipe.make_loss(hp)
        # Augmentation draws from its own generator, one stream per process, saved in checkpoints.
        self.generator = torch.Generator().manual_seed(hp.seed * 1009 + cluster.rank + 1)
        self.amp_dtype = _amp_dtype(hp, device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.net = (DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None)
                    if cluster.distributed else self.model)
        # The whole dataset is 55 MB of bytes: it lives on the training device, batches are slices.
        self.train_images = dataset.train.images.to(device)
        self.train_labels = dataset.train.labels.to(device)
        self.epoch, self.step, self.history, self.train_seconds = 0, 0, [], 0.0
        self.last_predictions = None  # the test predictions of the latest evaluation (this process's share)
        self.partial = checkpoints.no_partial()  # loss sum, count, seconds of an unfinished epoch

    def log(self, message):
        if self.cluster.is_main:
            print(message, flush=True)

    def run(self):
        hp, cluster = self.hp, self.cluster
        self._resume()
        self.log("training on %s (%d process%s): %d training digits, %d test digits%s; %s"
                 % (cluster.device, cluster.world_size, "es" if cluster.distributed else "",
                    len(self.dataset.train), len(self.dataset.test),
                    ", %d validation digits" % len(self.dataset.validation) if self.dataset.validation else "",
                    " ".join("%s=%s" % (hyperparameters.display(k), v) for k, v in hp.as_dict().items())))
        while self.epoch < hp.epochs:
            started = time.perf_counter()
            trained = self._train_epoch()
            entry = {"epoch": self.epoch + 1, "train_loss": trained["loss"]}
            evaluation = self._evaluate_all()
            entry.update(evaluation)
            self.train_seconds += trained["seconds"]
            entry["epoch_seconds"] = trained["seconds"] + (time.perf_counter() - started) - trained["wall"]
            entry["train_seconds"] = self.train_seconds
            self.history.append(entry)
            self.epoch, self.step = self.epoch + 1, 0
            self._save_checkpoint()
            self.log(report.metric_line(entry))
            if distributed.any_true(cluster, self.stop.requested) and self.epoch < hp.epochs:
                raise self._stopped()
        if cluster.is_main:
            self._finish()
        distributed.barrier(cluster)

    # --- training -------------------------------------------------------------------------------

    def _train_epoch(self):
        """Trains from (self.epoch, self.step) to the end of the epoch; returns its mean training
        loss and its training seconds (this run's and those before a resume)."""
        hp, cluster, device = self.hp, self.cluster, self.cluster.device
        self.net.train()
        order = _epoch_order(len(self.train_labels), hp.seed, self.epoch).to(device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        count = 0
        started = time.perf_counter()
        for step in range(self.step, self.steps_per_epoch):
            batch = order[step * hp.batch_size:(step + 1) * hp.batch_size][cluster.rank::cluster.world_size]
            images = self.train_images[batch].unsqueeze(1).float().div_(255)
            labels = self.train_labels[batch]
            images = recipe.augment(images, hp, self.generator)
            with self._autocast():
                loss = self.loss_fn(self.net(images), labels)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.scheduler is not None:
                self.scheduler.step()
            loss_sum += loss.detach().double() * len(labels)
            count += len(labels)
            self.step = step + 1
            if self._stop_agreed(step):
                self._checkpoint_partial(loss_sum, count, time.perf_counter() - started)
                raise self._stopped()
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the GPU runs behind the Python loop: wait before timing
        seconds = time.perf_counter() - started
        sums = torch.stack([loss_sum.cpu(), torch.tensor(float(count), dtype=torch.float64),
                            torch.tensor(0.0, dtype=torch.float64)])
        sums = distributed.all_sum(cluster, sums.to(device)).cpu() + self.partial
        self.partial = checkpoints.no_partial()
        return {"loss": float(sums[0] / max(sums[1], 1)), "seconds": seconds + float(sums[2]), "wall": seconds}

    def _stop_agreed(self, step):
        if not self.cluster.distributed:
            return self.stop.requested
        if (step + 1) % _STOP_POLL_STEPS and step + 1 != self.steps_per_epoch:
            return False
        return distributed.any_true(self.cluster, self.stop.requested)

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.cluster.device.type, dtype=self.amp_dtype)

    # --- evaluation -----------------------------------------------------------------------------

    def _evaluate_all(self):
        result = {}
        test = self._evaluate(self.dataset.test)
        result.update(test_loss=test[0], test_accuracy=test[1])
        validation = self.dataset.validation
        if validation is self.dataset.test:
            result.update(validation_loss=test[0], validation_accuracy=test[1])
        elif validation is not None:
            loss, accuracy, _ = self._evaluate(validation)
            result.update(validation_loss=loss, validation_accuracy=accuracy)
        self.last_predictions = test[2]
        return result

    @torch.no_grad()
    def _evaluate(self, split, shard=True):
        """(mean cross-entropy, accuracy, this process's predictions) over a split; each process
        takes every world_size-th digit unless shard is False."""
        cluster, device = self.cluster, self.cluster.device
        self.model.eval()
        rank, world = (cluster.rank, cluster.world_size) if shard else (0, 1)
        images, labels = split.images[rank::world], split.labels[rank::world]
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.float64, device=device)
        predictions = []
        for start in range(0, len(labels), self.hp.eval_batch_size):
            x = images[start:start + self.hp.eval_batch_size].to(device).unsqueeze(1).float().div_(255)
            y = labels[start:start + self.hp.eval_batch_size].to(device)
            with self._autocast():
                logits = self.model(x)
            logits = logits.float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
            predicted = logits.argmax(1)
            correct += (predicted == y).sum().double()
            predictions.append(predicted.cpu())
        sums = torch.stack([loss_sum, correct, torch.tensor(float(len(labels)), dtype=torch.float64, device=device)])
        if shard:
            sums = distributed.all_sum(cluster, sums)
        sums = sums.cpu()
        total = max(float(sums[2]), 1.0)
        return float(sums[0]) / total, float(sums[1]) / total, torch.cat(predictions) if predictions else None

    # --- checkpoints ----------------------------------------------------------------------------

    def _save_checkpoint(self):
        generators = distributed.gather(self.cluster, self.generator.get_state())  # every process takes part
        if self.cluster.is_main:
            progress = checkpoints.Progress(self.epoch, self.step, self.partial, self.history,
                                            self.train_seconds)
            state = checkpoints.build_state(self.hp, self.cluster.world_size, progress, self.model,
                                            self.optimizer, self.scheduler, self.scaler, generators)
            checkpoints.save(self.settings.checkpoint_dir, state)

    def _checkpoint_partial(self, loss_sum, count, seconds):
        sums = torch.stack([loss_sum.double().cpu(), torch.tensor(float(count), dtype=torch.float64),
                            torch.tensor(seconds if self.cluster.is_main else 0.0, dtype=torch.float64)])
        self.partial = distributed.all_sum(self.cluster, sums.to(self.cluster.device)).cpu() + self.partial
        self._save_checkpoint()

    def _resume(self):
        state = checkpoints.load(self.settings.checkpoint_dir) if self.cluster.is_main else None
        state = distributed.broadcast(self.cluster, state)
        if state is None:
            return
        checkpoints.check_compatible(state, self.hp, checkpoints.path(self.settings.checkpoint_dir))
        progress = checkpoints.restore(state, self.model, self.optimizer, self.scheduler, self.scaler,
                                       self.generator, self.cluster)
        self.epoch, self.step, self.partial = progress.epoch, progress.step, progress.partial
        self.history, self.train_seconds = progress.history, progress.train_seconds
        self.log("resuming from checkpoint %s: epoch %d of %d, step %d of %d"
                 % (checkpoints.path(self.settings.checkpoint_dir), min(self.epoch + 1, self.hp.epochs),
                    self.hp.epochs, self.step, self.steps_per_epoch))

    def _stopped(self):
        where = ("after epoch %d of %d" % (self.epoch, self.hp.epochs) if self.step == 0
                 else "at step %d of %d in epoch %d of %d" % (self.step, self.steps_per_epoch, self.epoch + 1,
                                                              self.hp.epochs))
        return Stopped("training stopped by SIGTERM %s; checkpoint saved to %s: a job started with the same "
                       "checkpoint location resumes from it" % (where, checkpoints.path(self.settings.checkpoint_dir)))

    # --- artifacts ------------------------------------------------------------------------------

    def _finish(self):
        """Rank 0: the model artifact and the evaluation report."""
        settings, test = self.settings, self.dataset.test
        predictions = self.last_predictions
        if self.cluster.distributed or predictions is None:
            _, _, predictions = self._evaluate(test, shard=False)
        artifacts.write(settings.model_dir, self.model, self.config)
        final = self.history[-1] if self.history else {}
        summary = {k: v for k, v in final.items() if k not in ("epoch", "epoch_seconds")}
        summary.update(
            hyperparameters=self.hp.as_dict(),
            device=str(self.cluster.device),
            world_size=self.cluster.world_size,
            train_samples=len(self.dataset.train),
            test_samples=len(test),
            validation_samples=len(self.dataset.validation) if self.dataset.validation else 0,
            data={"train": self.dataset.train.source, "test": test.source},
        )
        report.write(settings.output_data_dir, summary, self.history, test.images.numpy(),
                     test.labels.numpy(), predictions.numpy())
        self.log("saved the model to %s and the evaluation report to %s: test accuracy %.4f"
                 % (settings.model_dir, settings.output_data_dir, final.get("test_accuracy", math.nan)))


def _epoch_order(n, seed, epoch):
    """The epoch's shuffle, the same on every process and on a resumed run."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + epoch))


def _amp_dtype(hp, device):
    if device.type != "cuda" or hp.amp == "off":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
