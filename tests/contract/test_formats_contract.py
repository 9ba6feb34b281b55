"""Users' own digits through the toolkit's real `train` entry point, without Docker: a job whose
channels come in Pipe mode (SageMaker's FIFOs, written by the test as SageMaker writes them) and a
job of class folders beside a CSV test channel train a model as a job of MNIST's own files does;
the Pipe-mode job reads each channel's FIFO of every epoch.
The bad-data faults of Pipe mode are rows of training_job.FAILURES (test_training_contract runs
them here, test_train_faults in the image)."""
import pytest

from support import mnist
from training_job import (TINY_HYPERPARAMETERS, TINY_TEST, TINY_TRAIN, OptMl, metrics, pipe_channel,
                          run_train, saved_model_accuracy, sdk2_framework)
from user_data import augmented_stream, csv_text, idx_bytes, picture, write_class_folders

pytestmark = pytest.mark.contract

TIMEOUT = 300
# Pictures drawn back from MNIST's digits and prepared again (images.decode) are not quite MNIST's
# own: the bar is lower than training_job.TINY_ACCURACY, still far above a net that learned nothing.
PICTURE_ACCURACY = 0.75



def _pipe_job(root):
    job = OptMl(root, sdk2_framework(TINY_HYPERPARAMETERS), channels=("training", "test"))
    x, y = mnist("train")
    xte, yte = mnist("t10k")
    # An augmented manifest with AttributeNames ["source-ref", "digits"], RecordWrapperType RecordIO;
    # the test channel an S3 prefix of MNIST's two t10k files, RecordWrapperType None.
    pictures = [picture(d) for d in x[:TINY_TRAIN]]
    # SageMaker streams each channel once per epoch.
    epochs = TINY_HYPERPARAMETERS["epochs"]
    writers = [pipe_channel(job, "training", augmented_stream(pictures, y[:TINY_TRAIN]), passes=epochs),
               pipe_channel(job, "test", idx_bytes(xte[:TINY_TEST]) + idx_bytes(yte[:TINY_TEST]),
                            wrapper="None", passes=epochs)]
    return job, writers


def _folders_job(root):
    job = OptMl(root, sdk2_framework(TINY_HYPERPARAMETERS), channels=("training", "test"))
    x, y = mnist("train")
    write_class_folders(job.channel("training"), x[:TINY_TRAIN], y[:TINY_TRAIN])
    xte, yte = mnist("t10k")
    (job.channel("test") / "test.csv").write_text(csv_text(xte[:TINY_TEST], yte[:TINY_TEST]))
    return job, []


JOBS = {"pipe-augmented-manifest": _pipe_job, "class-folders-and-csv": _folders_job}


@pytest.mark.parametrize("form", sorted(JOBS))
def test_a_job_of_users_digits_trains_a_model(tmp_path, form):
    job, writers = JOBS[form](tmp_path / "opt_ml")
    run = run_train(job, timeout=TIMEOUT)
    assert run.returncode == 0, run.stdout
    assert (job.output / "success").exists() and job.failure is None
    assert "%d training digits, %d test digits" % (TINY_TRAIN, TINY_TEST) in run.stdout
    assert [m["epoch"] for m in metrics(run.stdout)] == [1, 2]
    for writer in writers:
        assert writer.join() == writer.paths  # each FIFO, one per epoch, was read to its end
    for channel in ("training", "test") if writers else ():
        assert "%s_1: pass 2 of Pipe-mode channel %r read to its end" % (channel, channel) in run.stdout
    assert saved_model_accuracy(job.model) >= PICTURE_ACCURACY
