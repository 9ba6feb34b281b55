"""A training job's channels read in the forms they come in: MNIST's own files (sagemaker_mnist.data),
class folders, CSV or a Ground Truth manifest (sagemaker_mnist.formats), in a folder or in Pipe
mode; then held out (validation-fraction) and mixed with MNIST (mnist-share) as the job asks.
"""
import os

from sagemaker_mnist import channels, data, distributed, formats, holdout, mnist_mix
from sagemaker_mnist.failures import TrainingError
from sagemaker_mnist.formats import csv_rows, detect, folders, manifest, pipe

# Every form a job's channel may hold.
ACCEPTED_ANY = data.ACCEPTED + "; or " + detect.OTHER_FORMS


def load_job(settings, environ, pipe_wait=pipe.WAIT_SECONDS):
    """The job's data (a data.Dataset, as data.load takes it), each channel read in the form it
    holds (MNIST's files, class folders, CSV, a Ground Truth manifest: told from its contents
    unless the data-format hyperparameter says) and the input mode it comes in (a folder, or Pipe
    mode's FIFOs: the first pass, <channel>_0, read whole and kept, as a folder's digits are;
    LaterPasses reads the others). The
    training set must hold every digit 0-9: the net learns only the digits it is shown.
    validation-fraction holds some of them out as the validation split (sagemaker_mnist.holdout),
    and mnist-share then mixes the `mnist` channel's digits into the rest (sagemaker_mnist.mnist_mix)."""
    declared = channels.declared(environ) or {}
    options = formats.Options(settings.hp.data_format, settings.hp.label_attribute)
    processes_here = int(environ.get(distributed.LOCAL_WORLD_SIZE, "1"))

    piped = []

    def read(channel, directory):
        in_pipe = channels.is_pipe(directory, declared.get(channel))
        if in_pipe:
            piped.append((channel, directory))
        if processes_here > 1 and in_pipe:
            # Each FIFO has one stream: several readers on one host would each get part of it.
            raise TrainingError("channel %r is in Pipe mode, which streams the data once per host, but this "
                                "host runs %d training processes (torch_distributed): give the job the "
                                "channel in File or FastFile mode, or run one process per host"
                                % (channel, processes_here))
        return _channel_splits(directory, channel, in_pipe, options, pipe_wait)

    hp = settings.hp
    mnist_mix.required(settings.mnist_dir, hp.mnist_share)
    if hp.validation_fraction > 0 and settings.validation_dir:
        raise TrainingError("hyperparameter validation-fraction=%s holds validation digits out of the "
                            "training channel, and the job has a 'validation' channel too: give one or the "
                            "other"
                            % hp.validation_fraction)
    train_channel = settings.train_channel
    trained = read(train_channel, settings.train_dir)
    if data.TRAIN not in trained:
        raise TrainingError("channel %r holds no training digits: expected %s"
                            % (train_channel, ACCEPTED_ANY))
    _check_every_digit(trained[data.TRAIN], train_channel)
    train = trained[data.TRAIN]
    if hp.validation_fraction > 0:
        train, validation = holdout.split(train, hp.validation_fraction, hp.seed, data.Split)
    else:
        validation = (_only_split(read("validation", settings.validation_dir)) if settings.validation_dir
                      else None)
    if settings.test_dir:
        test = _only_split(read("test", settings.test_dir))
    else:
        test = trained.get(data.TEST) or validation
    if test is None:
        raise TrainingError(
            "no test digits: add a 'test' or 'validation' channel (in any form the training channel may "
            "take), hold some out with validation-fraction, or put MNIST's t10k-images/t10k-labels in the "
            "%r channel" % train_channel)
    if hp.mnist_share > 0:
        # The test and validation digits stay the user's: MNIST only joins what the net trains on.
        train = mnist_mix.mix(train, _only_split(read(mnist_mix.CHANNEL, settings.mnist_dir)), hp.mnist_share,
                              hp.seed, data.Split)
    return data.Dataset(train, test, validation, tuple(piped))


class LaterPasses:
    """SageMaker's later passes over a job's Pipe-mode channels (a FIFO per channel and epoch, each
    made once the last was read to its end). The job trains on the digits of each channel's first
    pass, which load_job keeps: a validation-fraction must hold out the same digits every epoch,
    and the trainer shuffles and augments every epoch itself. epoch_starts(), called as each of
    this process's epochs starts, reads the next pass of each to its end without decoding it (the
    first epoch's pass is load_job's), so that the job takes its streams as SageMaker sends them,
    one per epoch: a resumed job's container starts again from <channel>_0."""

    def __init__(self, piped, log, wait=pipe.WAIT_SECONDS):
        self.piped, self.log, self.wait = piped, log, wait
        self.epochs = 0  # epochs started in this process

    def epoch_starts(self):
        passed, self.epochs = self.epochs, self.epochs + 1
        if passed == 0:
            return
        for channel, directory in self.piped:
            carried = pipe.drain(directory, channel, passed, self.wait)
            self.log("%s_%d: pass %d of Pipe-mode channel %r read to its end (%d bytes); the job trains on the "
                     "digits of its first pass" % (channel, passed, passed + 1, channel, carried))


def _only_split(splits):
    """A test or validation channel's digits: its test split, or the only split it holds."""
    return splits.get(data.TEST) or splits[data.TRAIN]


def _channel_splits(channel_dir, channel, in_pipe, options, pipe_wait):
    """{split: data.Split} of one channel (in Pipe mode or a folder): TRAIN, and TEST where the
    channel holds MNIST's test files too."""
    if in_pipe:
        found = pipe.read(channel_dir, channel, 0, options, wait=pipe_wait)
    else:
        found = _folder_splits(channel_dir, channel, options)
    return {split: digits if isinstance(digits, data.Split)
            else data.checked(digits.images, digits.labels, digits.source, split)
            for split, digits in found.items()}


def _folder_splits(channel_dir, channel, options):
    files = data.list_files(channel_dir, channel)
    names = {path: os.path.join(channel, os.path.relpath(path, channel_dir)) for path in files}
    form = detect.detect(channel_dir, files, options.data_format, data.is_mnist)
    if form is None:
        shown = ", ".join(names[path] for path in files[:5]) + (", ..." if len(files) > 5 else "")
        raise TrainingError("channel %r holds none of the forms the trainer reads (its files: %s): upload %s"
                            % (channel, shown, ACCEPTED_ANY))
    forced = "" if options.data_format == formats.AUTO else " (hyperparameter data-format=%s)" % form
    if form == formats.MNIST:
        found = {split: data.load_split(channel_dir, split, channel) for split in (data.TRAIN, data.TEST)}
        found = {split: digits for split, digits in found.items() if digits is not None}
        if not found:
            raise TrainingError("channel %r holds no MNIST digits%s: expected %s"
                                % (channel, forced, data.ACCEPTED))
        return found
    if form == formats.MANIFEST:
        manifests = detect.manifests(files)
        if not manifests:
            raise TrainingError("channel %r holds no Ground Truth manifest (a .manifest file of JSON Lines "
                                "with source-ref)%s" % (channel, forced))
        return manifest.read(channel_dir, manifests, names, channel, options.label_attribute)
    if form == formats.FOLDERS:
        if not folders.class_folders(channel_dir):
            raise TrainingError("channel %r has no class folders 0/ to 9/%s" % (channel, forced))
        return folders.read(channel_dir, channel)
    found = detect.csv_files(files)
    if not found:
        raise TrainingError("channel %r holds no .csv files%s: expected %s"
                            % (channel, forced, csv_rows.ACCEPTED))
    return csv_rows.read_files(found, names, channel)


def _check_every_digit(split, channel):
    missing = sorted(set(range(data.NUM_CLASSES)) - set(split.labels.unique().tolist()))
    if missing:
        raise TrainingError("channel %r has no examples of the digit%s %s (%s): the net learns only the "
                            "digits it is shown; give it examples of every digit 0-9"
                            % (channel, "" if len(missing) == 1 else "s", ", ".join(map(str, missing)),
                               split.source))
