"""The MNIST trainer behind SageMaker's training contract.

main() reads the job (hyperparameters and SM_* environment), loads the channels, trains the CNN
with the recipe's optimizer, schedule, loss and augmentation, and leaves:
  - a `#metrics` line per epoch in the log (sagemaker_mnist.report.metric_line),
  - a checkpoint per epoch in the checkpoint directory, resumed when a job starts with one
    (sagemaker_mnist.checkpoints),
  - the model artifact in the model directory and the evaluation report in the output data
    directory (sagemaker_mnist.outputs).
Before the first epoch it checks what it can (sagemaker_mnist.preflight: channels and their input
mode, writable folders; then the data and any checkpoint are read). A fault in the job's input
writes one line to /opt/ml/output/failure and exits 1; any other error too, its traceback in the
log. SIGTERM (StopTrainingJob, a spot interruption) saves a checkpoint at the current step and
exits 143.

Top to bottom: what a job trains with (build), one epoch of training (train_one_epoch), evaluation
(evaluate), the job's loop over epochs with its checkpoints (fit), and the entry (train, main).
"""
import os
import sys
import time
import traceback
from dataclasses import dataclass, replace

import torch
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from sagemaker_mnist import (checkpoints, data, distributed, failures, hyperparameters, job_data, kinds,
                             outputs, preflight, pretrained, recipe, report, stopping)
from sagemaker_mnist.failures import TrainingError
from sagemaker_mnist.model import build_model


@dataclass(frozen=True)
class Training:
    """What a job trains with, built from its hyperparameters: what the loop steps and a checkpoint
    saves."""
    config: dict  # the architecture, as model.json stores it
    model: torch.nn.Module
    net: torch.nn.Module  # the model, in DistributedDataParallel when the job has several processes
    optimizer: torch.optim.Optimizer
    scheduler: object  # stepped once per batch, or None
    loss_fn: torch.nn.Module
    scaler: torch.amp.GradScaler
    generator: torch.Generator  # augmentation's
    amp_dtype: object  # the autocast dtype, or None
    steps_per_epoch: int


def build(hp, cluster, num_cpus, train_size, start_from=None):
    """The model and everything that trains it, on this process's device, for `train_size` digits;
    its weights start from `start_from` (sagemaker_mnist.pretrained) when there is one."""
    device = cluster.device
    if hp.batch_size < cluster.world_size:
        raise TrainingError("hyperparameter batch-size=%d is smaller than the job's %d processes: batch-size "
                            "is the global batch, split across them" % (hp.batch_size, cluster.world_size))
    if device.type == "cpu":
        torch.set_num_threads(distributed.threads_per_process(num_cpus, cluster))
        # Without it, every step page-faults its activations in afresh: a third of a CPU step.
        recipe.keep_freed_memory()
    else:
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(hp.seed)
    config = {"width": hp.width}
    if hp.printed_share > 0:
        config["kinds"] = True  # the second head: handwritten or printed (sagemaker_mnist.kinds)
    model = build_model(config)
    if start_from is not None:
        head = pretrained.load_into(model, start_from)
        _log(cluster, "fine-tuning %s%s" % (start_from.source, {
            "kept": ", its kind head trained further (printed-share=%s)" % hp.printed_share,
            "added": ", with a new kind head (printed-share=%s)" % hp.printed_share,
            "dropped": ", without its kind head (printed-share=0: set it above 0 to keep the head)",
        }.get(head, "")))
    model = model.to(device)
    optimizer = recipe.make_optimizer(model, hp)
    steps_per_epoch = max(1, train_size // hp.batch_size)
    scheduler = recipe.make_scheduler(optimizer, hp, steps_per_epoch)
    loss_fn = recipe.make_loss(hp)
    # Augmentation draws from its own generator, one stream per process, saved in checkpoints.
    generator = torch.Generator().manual_seed(hp.seed * 1009 + cluster.rank + 1)
    amp_dtype = recipe.amp_dtype(hp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    net = (DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
           if cluster.distributed else model)
    return Training(config, model, net, optimizer, scheduler, loss_fn, scaler, generator, amp_dtype,
                    steps_per_epoch)


def _epoch_order(n, seed, epoch):
    """The epoch's shuffle, the same on every process and on a resumed run."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + epoch))


@dataclass(frozen=True)
class EpochRun:
    """What one process trained of an epoch: sum and count of its batches' loss, their seconds, and
    the step it reached (the epoch's last unless it stopped)."""
    loss_sum: torch.Tensor
    count: int
    seconds: float
    step: int
    stopped: bool


def train_one_epoch(t, images, labels, kind_targets, hp, cluster, epoch, first_step, stop):
    """Trains epoch `epoch` (0-based) on the digits on the device, from batch `first_step` to the
    end of the epoch or to the first step at which the job's processes agree on a stop. With
    kind_targets (sagemaker_mnist.kinds.KindTargets) the kind head learns beside the digit head."""
    device = cluster.device
    t.net.train()
    order = _epoch_order(len(labels), hp.seed, epoch).to(device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    started = time.perf_counter()
    for step in range(first_step, t.steps_per_epoch):
        batch = order[step * hp.batch_size:(step + 1) * hp.batch_size][cluster.rank::cluster.world_size]
        x = images[batch].unsqueeze(1).float().div_(255)
        y = labels[batch]
        x = recipe.augment(x, hp, t.generator)
        with recipe.autocast(t.amp_dtype, device):
            if kind_targets is None:
                loss = t.loss_fn(t.net(x), y)
            else:
                digit_logits, kind_logits = t.net(x, with_kind=True)
                loss = t.loss_fn(digit_logits, y) + kind_targets.loss(kind_logits, batch)
        t.optimizer.zero_grad(set_to_none=True)
        t.scaler.scale(loss).backward()
        t.scaler.step(t.optimizer)
        t.scaler.update()
        if t.scheduler is not None:
            t.scheduler.step()
        loss_sum += loss.detach().double() * len(y)
        count += len(y)
        if stop.agreed(cluster, step, t.steps_per_epoch):
            return EpochRun(loss_sum, count, time.perf_counter() - started, step + 1, stopped=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # the GPU runs behind the Python loop: wait before timing
    return EpochRun(loss_sum, count, time.perf_counter() - started, t.steps_per_epoch, stopped=False)


def _job_sums(cluster, run, seconds):
    """[loss sum, count, seconds] of an epoch's run summed over the job's processes (each adds
    `seconds`), on the CPU."""
    sums = torch.stack([run.loss_sum.double().cpu(), torch.tensor(float(run.count), dtype=torch.float64),
                        torch.tensor(seconds, dtype=torch.float64)])
    return distributed.all_sum(cluster, sums.to(cluster.device)).cpu()


@dataclass(frozen=True)
class Evaluation:
    loss: float  # mean cross-entropy
    accuracy: float
    predictions: object  # this process's predictions (a tensor), or None for an empty share
    kind_accuracy: float | None
    class_accuracy: list  # per digit 0-9: the share of its digits called right (None: none of it)


@torch.no_grad()
def evaluate(model, split, batch_size, cluster, amp_dtype, shard=True, kind=None):
    """The Evaluation of a split; each process takes every world_size-th digit unless shard is
    False. The kind accuracy (the share of digits the kind head calls `kind`, every digit of the
    split being of that kind) is None for a net without the head or when `kind` is None."""
    device = cluster.device
    model.eval()
    rank, world = (cluster.rank, cluster.world_size) if shard else (0, 1)
    images, labels = split.images[rank::world], split.labels[rank::world]
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.float64, device=device)
    kind_correct = torch.zeros((), dtype=torch.float64, device=device)
    class_correct = torch.zeros(data.NUM_CLASSES, dtype=torch.float64, device=device)
    class_count = torch.zeros(data.NUM_CLASSES, dtype=torch.float64, device=device)
    with_kind = kind is not None and getattr(model, "has_kind", False)
    predictions = []
    for start in range(0, len(labels), batch_size):
        x = images[start:start + batch_size].to(device).unsqueeze(1).float().div_(255)
        y = labels[start:start + batch_size].to(device)
        with recipe.autocast(amp_dtype, device):
            if with_kind:
                logits, kind_logits = model(x, with_kind=True)
                kind_correct += (kind_logits.argmax(1) == kind).sum().double()
            else:
                logits = model(x)
        logits = logits.float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
        predicted = logits.argmax(1)
        correct += (predicted == y).sum().double()
        class_count += torch.bincount(y, minlength=data.NUM_CLASSES).double()
        class_correct += torch.bincount(y[predicted == y], minlength=data.NUM_CLASSES).double()
        predictions.append(predicted.cpu())
    digits = torch.tensor(float(len(labels)), dtype=torch.float64, device=device)
    sums = torch.cat([torch.stack([loss_sum, correct, digits, kind_correct]), class_correct, class_count])
    if shard:
        sums = distributed.all_sum(cluster, sums)
    sums = sums.cpu()
    total = max(float(sums[2]), 1.0)
    class_counts = sums[4 + data.NUM_CLASSES:]
    per_class = [float(c) / float(n) if n else None
                 for c, n in zip(sums[4:4 + data.NUM_CLASSES], class_counts)]
    return Evaluation(float(sums[0]) / total, float(sums[1]) / total,
                      torch.cat(predictions) if predictions else None,
                      float(sums[3]) / total if with_kind else None, per_class)


def _evaluate_splits(t, dataset, printed_splits, hp, cluster):
    """The epoch's test (and validation, and printed) metrics, and this process's test predictions.
    The validation digits (a user's own: a validation channel or validation-fraction) also get
    their accuracy per digit, which a tuner may optimise (report.CLASS_KEY)."""
    test = evaluate(t.model, dataset.test, hp.eval_batch_size, cluster, t.amp_dtype, kind=kinds.HANDWRITTEN)
    result = {"test_loss": test.loss, "test_accuracy": test.accuracy}
    validation = dataset.validation
    if validation is not None:
        checked = test if validation is dataset.test else evaluate(t.model, validation, hp.eval_batch_size,
                                                                   cluster, t.amp_dtype)
        result.update(validation_loss=checked.loss, validation_accuracy=checked.accuracy)
        # A digit the validation digits lack has no accuracy: its key stays out of the line, where
        # a 0 would tell a tuner the model gets it all wrong.
        result.update({report.CLASS_KEY % digit: accuracy
                       for digit, accuracy in enumerate(checked.class_accuracy) if accuracy is not None})
    if printed_splits is not None:
        printed = evaluate(t.model, printed_splits.validation, hp.eval_batch_size, cluster, t.amp_dtype,
                           kind=kinds.PRINTED)
        result.update(test_kind_accuracy=test.kind_accuracy, printed_accuracy=printed.accuracy,
                      printed_kind_accuracy=printed.kind_accuracy)
    return result, test.predictions


def fit(settings, dataset, cluster, stop, printed_splits=None, start_from=None):
    """The job: resumes from a checkpoint if there is one, trains the remaining epochs with a
    checkpoint after each, and (rank 0) writes the model artifact and the evaluation report.
    printed_splits (sagemaker_mnist.kinds): printed digits to train and evaluate the kind head on;
    start_from (sagemaker_mnist.pretrained): the model to fine-tune (a checkpoint goes before it:
    a resumed fine-tuning job goes on from where it stopped)."""
    hp, device = settings.hp, cluster.device
    images, labels, kind_targets = kinds.training_tensors(dataset.train, printed_splits)
    t = build(hp, cluster, settings.num_cpus, len(labels), start_from)
    # The whole dataset is 55 MB of bytes: it lives on the training device, batches are slices.
    images, labels = images.to(device), labels.to(device)
    kind_targets = kind_targets.to(device) if kind_targets is not None else None
    progress = _resume(settings, cluster, t)
    _log(cluster, "training on %s (%d process%s): %d training digits%s, %d test digits%s; %s"
         % (device, cluster.world_size, "es" if cluster.distributed else "",
            len(labels), "" if printed_splits is None else " (%d of them printed, from %d fonts, and %d scanned, "
            "in %.1f s)" % (len(printed_splits.train), printed_splits.font_count, len(printed_splits.scanned),
                            printed_splits.seconds), len(dataset.test),
            ", %d validation digits" % len(dataset.validation) if dataset.validation else "",
            " ".join("%s=%s" % (hyperparameters.display(k), v) for k, v in hp.as_dict().items())))
    predictions = None  # the test predictions of the latest evaluation (this process's share)
    passes = job_data.LaterPasses(dataset.piped, lambda line: _log(cluster, line))
    while progress.epoch < hp.epochs:
        started = time.perf_counter()
        passes.epoch_starts()  # Pipe mode: SageMaker streams each epoch its own pass
        run = train_one_epoch(t, images, labels, kind_targets, hp, cluster, progress.epoch, progress.step, stop)
        if run.stopped:
            progress.step = run.step
            mine = run.seconds if cluster.is_main else 0.0
            progress.partial = _job_sums(cluster, run, mine) + progress.partial
            _save_checkpoint(settings, cluster, t, progress)
            raise stopping.stopped(progress, hp.epochs, t.steps_per_epoch, settings.checkpoint_dir)
        sums = _job_sums(cluster, run, 0.0) + progress.partial
        seconds = run.seconds + float(sums[2])  # this run's and those before a resume
        entry = {"epoch": progress.epoch + 1, "train_loss": float(sums[0] / max(sums[1], 1))}
        evaluation, predictions = _evaluate_splits(t, dataset, printed_splits, hp, cluster)
        entry.update(evaluation)
        progress.train_seconds += seconds
        entry["epoch_seconds"] = seconds + (time.perf_counter() - started) - run.seconds
        entry["train_seconds"] = progress.train_seconds
        progress.history.append(entry)
        progress.epoch, progress.step, progress.partial = progress.epoch + 1, 0, checkpoints.no_partial()
        _save_checkpoint(settings, cluster, t, progress)
        _log(cluster, report.metric_line(entry))
        if distributed.any_true(cluster, stop.requested) and progress.epoch < hp.epochs:
            raise stopping.stopped(progress, hp.epochs, t.steps_per_epoch, settings.checkpoint_dir)
    if cluster.is_main:
        if cluster.distributed or predictions is None:  # rank 0 holds only its share
            predictions = evaluate(t.model, dataset.test, hp.eval_batch_size, cluster, t.amp_dtype,
                                   shard=False).predictions
        validation = None
        if dataset.validation is not None:
            validation = (predictions if dataset.validation is dataset.test else
                          evaluate(t.model, dataset.validation, hp.eval_batch_size, cluster, t.amp_dtype,
                                   shard=False).predictions).numpy()
        outputs.write(settings, cluster, t.model, t.config, dataset, progress.history, predictions.numpy(),
                      len(labels), printed_splits, validation,
                      start_from.source if start_from is not None else None)
    distributed.barrier(cluster)


def _log(cluster, message):
    if cluster.is_main:
        print(message, flush=True)


def _save_checkpoint(settings, cluster, t, progress):
    generators = distributed.gather(cluster, t.generator.get_state())  # every process takes part
    if cluster.is_main:
        state = checkpoints.build_state(settings.hp, cluster.world_size, progress, t.model, t.optimizer,
                                        t.scheduler, t.scaler, generators)
        checkpoints.save(settings.checkpoint_dir, state)


def _resume(settings, cluster, t):
    """The job's Progress: that of the checkpoint, loaded into `t`, when there is one."""
    state = checkpoints.load(settings.checkpoint_dir) if cluster.is_main else None
    state = distributed.broadcast(cluster, state)
    if state is None:
        return checkpoints.Progress()
    where, hp = checkpoints.path(settings.checkpoint_dir), settings.hp
    checkpoints.check_compatible(state, hp, where)
    progress = checkpoints.restore(state, t.model, t.optimizer, t.scheduler, t.scaler, t.generator, cluster)
    _log(cluster, "resuming from checkpoint %s: epoch %d of %d, step %d of %d"
         % (where, min(progress.epoch + 1, hp.epochs), hp.epochs, progress.step, t.steps_per_epoch))
    return progress


def train(settings, environ, stop):
    """Runs the job in this process: checks its channels and folders, loads the data, joins the
    job's other processes, fits."""
    preflight.check_inputs(settings, environ)
    preflight.check_outputs(settings)
    start_from = None
    if settings.pretrained_dir:
        # Read first: a model that does not fit fails the job before the data is read.
        start_from = pretrained.read(settings.pretrained_dir)
        settings = replace(settings, hp=pretrained.resolve(settings.hp, settings.explicit, start_from))
    dataset = job_data.load_job(settings, environ)
    printed_splits = kinds.render_splits(settings.hp, dataset.train, settings.fonts_dir, settings.num_cpus)
    cluster = distributed.setup(settings.hosts, settings.current_host, environ)
    try:
        fit(settings, dataset, cluster, stop, printed_splits, start_from)
    finally:
        distributed.teardown(cluster)


def main(argv=None, environ=None):
    """The training script's entry: exits 0 on success, 1 on a failed job, 143 when stopped."""
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    out = failures.output_dir(environ)
    stop = stopping.StopRequest().install()
    try:
        settings = hyperparameters.parse(argv, environ)
        train(settings, environ, stop)
    except TrainingError as e:
        failures.write_failure(out, str(e))
        sys.exit(failures.EXIT_FAILURE)
    except stopping.Stopped as e:
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
