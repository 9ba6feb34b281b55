"""sagemaker_mnist.formats.pipe on real FIFOs, written by a thread the way SageMaker writes a Pipe-mode
channel (user_data.PipeWriter: <channel>_<epoch>, the next made once the last was read to its end):
augmented manifests RecordIO-wrapped or not, IDX and CSV files streamed whole, several epochs, the
job's channels through job_data.load_job; and bad streams fail with one line naming the record."""
import gzip
import json
import struct

import numpy as np
import pytest

from sagemaker_mnist import channels, formats, hyperparameters, images, job_data
from sagemaker_mnist.failures import TrainingError
from sagemaker_mnist.formats import pipe, recordio as recordio_reader
from support import mnist
from user_data import PipeWriter, augmented_stream, csv_text, idx_bytes, picture, recordio

pytestmark = pytest.mark.unit

N = 30
AUTO = formats.Options()


@pytest.fixture(scope="module")
def digits():
    x, y = mnist("train")
    return x[:N], y[:N]


def _served(data_bytes):
    return np.round(images.decode(data_bytes) * 255.0).astype(np.uint8)



def _read(tmp_path, streams, epochs=None, options=AUTO, **writer):
    """Writes the streams as SageMaker would and reads `epochs` passes (all of them by default)."""
    writer = PipeWriter(tmp_path, "training", streams, **writer)
    found = [pipe.read(str(tmp_path / "training"), "training", epoch, options, wait=30)
             for epoch in range(len(streams) if epochs is None else epochs)]
    return found, writer


def test_several_epochs_of_a_recordio_augmented_manifest_read_successive_fifos(tmp_path, digits):
    x, y = digits
    pictures = [picture(d, "PNG" if i % 2 else "JPEG") for i, d in enumerate(x)]
    # ShuffleConfig gives every epoch its own order: each pass is read as it comes.
    orders = [np.arange(N), np.arange(N)[::-1], np.roll(np.arange(N), 7)]
    streams = [augmented_stream([pictures[i] for i in order], y[order]) for order in orders]
    found, writer = _read(tmp_path, streams)
    assert writer.join() == [str(tmp_path / ("training_%d" % epoch)) for epoch in range(3)]
    for epoch, order in enumerate(orders):
        split = found[epoch][formats.TRAIN]
        np.testing.assert_array_equal(split.labels, y[order])
        np.testing.assert_array_equal(split.images, np.stack([_served(pictures[i]) for i in order]))


def test_the_next_epochs_fifo_comes_only_after_the_last_was_read(tmp_path, digits):
    x, y = digits
    stream = augmented_stream([picture(d) for d in x[:5]], y[:5])
    writer = PipeWriter(tmp_path, "training", [stream, stream])
    assert not (tmp_path / "training_1").exists()
    pipe.read(str(tmp_path / "training"), "training", 0, AUTO, wait=30)
    found = pipe.read(str(tmp_path / "training"), "training", 1, AUTO, wait=30)
    assert len(writer.join()) == 2
    np.testing.assert_array_equal(found[formats.TRAIN].labels, y[:5])


@pytest.mark.parametrize("label_first", [False, True], ids=["picture-first", "label-first"])
def test_an_augmented_manifest_without_recordio_is_split_where_each_picture_ends(tmp_path, digits,
                                                                                label_first):
    x, y = digits
    pictures = [picture(d, "JPEG" if i % 3 else "PNG") for i, d in enumerate(x)]
    stream = augmented_stream(pictures, y, wrapper="None", label_first=label_first)
    options = formats.Options(data_format=formats.MANIFEST) if label_first else AUTO
    (found,), writer = _read(tmp_path, [stream], options=options)
    writer.join()
    np.testing.assert_array_equal(found[formats.TRAIN].labels, y)
    np.testing.assert_array_equal(found[formats.TRAIN].images, np.stack([_served(p) for p in pictures]))


def test_metadata_attributes_streamed_beside_the_label_are_passed_over(tmp_path, digits):
    x, y = digits
    records = []
    for d, label in zip(x, y):
        records += [picture(d), json.dumps(int(label)).encode(),
                    json.dumps({"class-name": str(label), "confidence": 0.9}).encode()]
    (found,), writer = _read(tmp_path, [b"".join(recordio(r) for r in records)])
    writer.join()
    np.testing.assert_array_equal(found[formats.TRAIN].labels, y)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_mnist_idx_files_streamed_whole_in_key_order_give_both_splits(tmp_path, gz):
    (xtr, ytr), (xte, yte) = mnist("train"), mnist("t10k")
    # An S3 prefix streams in key order: t10k-... sorts before train-...
    objects = [idx_bytes(xte[:60]), idx_bytes(yte[:60]), idx_bytes(xtr[:200]), idx_bytes(ytr[:200])]
    stream = b"".join(gzip.compress(o) if gz else o for o in objects)
    (found,), writer = _read(tmp_path, [stream])
    writer.join()
    np.testing.assert_array_equal(found[formats.TRAIN].images, xtr[:200])
    np.testing.assert_array_equal(found[formats.TRAIN].labels, ytr[:200])
    np.testing.assert_array_equal(found[formats.TEST].images, xte[:60])


def test_objects_each_in_a_recordio_record(tmp_path):
    x, y = mnist("train")
    stream = b"".join(recordio(o) for o in (idx_bytes(x[:50]), idx_bytes(y[:50])))
    (found,), writer = _read(tmp_path, [stream])
    writer.join()
    np.testing.assert_array_equal(found[formats.TRAIN].images, x[:50])


def test_csv_files_streamed_whole_headers_and_all(tmp_path, digits):
    x, y = digits
    stream = (csv_text(x[:10], y[:10]) + csv_text(x[10:], y[10:])).encode()
    (found,), writer = _read(tmp_path, [stream], piece=1000)
    writer.join()
    np.testing.assert_array_equal(found[formats.TRAIN].images, x)
    np.testing.assert_array_equal(found[formats.TRAIN].labels, y)


def test_a_record_written_in_parts_gets_its_magic_words_back():
    # A payload holding the magic word is written as parts (flags 1, 2, 3), the word left out.
    magic = struct.pack("<I", recordio_reader.MAGIC)
    payload = b"abcd" + magic + b"efgh" + magic + b"ij"
    parts = payload.split(magic)
    stream = b"".join(struct.pack("<II", recordio_reader.MAGIC, (flag << 29) | len(part)) + part
                      + b"\0" * (-len(part) % 4) for flag, part in zip((1, 2, 3), parts))
    stream += recordio(b"next")

    class Stream:
        def __init__(self, data):
            self.data = data

        def read(self, count):
            taken, self.data = self.data[:count], self.data[count:]
            return taken

    assert list(recordio_reader.records(Stream(stream), "s")) == [payload, b"next"]


def _job(tmp_path, argv=(), **modes):
    config = {name: {"TrainingInputMode": mode, "S3DistributionType": "FullyReplicated",
                     "RecordWrapperType": "RecordIO" if mode == "Pipe" else "None"}
              for name, mode in modes.items()}
    env = {channels.SM_INPUT_DATA_CONFIG: json.dumps(config)}
    env.update({"SM_CHANNEL_" + name.upper(): str(tmp_path / name) for name in modes})
    return hyperparameters.parse(list(argv), env), env


def test_a_job_with_its_training_and_test_channels_in_pipe_mode(tmp_path, digits):
    x, y = digits
    xte, yte = mnist("t10k")
    train = PipeWriter(tmp_path, "training", [augmented_stream([picture(d) for d in x], y)])
    test = PipeWriter(tmp_path, "test", [idx_bytes(xte[:40]) + idx_bytes(yte[:40])])
    settings, env = _job(tmp_path, training="Pipe", test="Pipe")
    dataset = job_data.load_job(settings, env)
    train.join(), test.join()
    assert dataset.train.images.shape == (N, 28, 28) and dataset.train.labels.tolist() == y.tolist()
    np.testing.assert_array_equal(dataset.test.images.numpy(), xte[:40])


def test_a_job_that_declares_pipe_mode_waits_for_its_fifo_then_fails_with_one_line(tmp_path):
    settings, env = _job(tmp_path, training="Pipe")
    with pytest.raises(TrainingError) as failure:
        job_data.load_job(settings, env, pipe_wait=0.3)
    assert str(failure.value).startswith("channel 'training' is in Pipe mode but SageMaker's FIFO %s did not "
                                         "appear within 0.3 s" % (tmp_path / "training_0"))


def test_pipe_mode_with_several_processes_on_a_host_fails_before_reading(tmp_path):
    # torchrun's processes would each take part of the one stream.
    settings, env = _job(tmp_path, training="Pipe")
    env["LOCAL_WORLD_SIZE"] = "4"
    with pytest.raises(TrainingError, match=r"channel 'training' is in Pipe mode, which streams the data "
                                            r"once per host, but this host runs 4 training processes"):
        job_data.load_job(settings, env, pipe_wait=30)


def _records(*payloads):
    return b"".join(recordio(p) for p in payloads)


def _pictures_and(labels, digits_):
    x, _ = digits_
    records = []
    for d, label in zip(x, labels):
        records += [picture(d), label]
    return _records(*records)


BAD = [
    # (case, stream from the digits, options, words of the one line)
    ("label-outside-digits", lambda d: _pictures_and([b"3", b"1", b"12", b"4"], d), AUTO,
     ["training_0 record 5: label 12 is not a digit 0-9"]),
    ("label-not-json", lambda d: _pictures_and([b"3", b"seven"], d), AUTO,
     ["training_0 record 3 (beside the picture of record 2) is neither a picture nor a JSON value"]),
    ("label-attribute-missing", lambda d: _records(*[picture(x) for x in d[0][:4]]), AUTO,
     ["training_0 streams pictures with no label between them (missing label attribute)", "AttributeNames"]),
    ("only-metadata-beside-pictures", lambda d: _pictures_and([b'{"class-name": "3"}'] * 2, d), AUTO,
     ["the picture of record 0 has no label (missing label attribute)"]),
    ("unreadable-picture", lambda d: _records(picture(d[0][0]), b"5", b"\x89PNG\r\n\x1a\n broken", b"0"),
     AUTO, ["training_0 record 2 is not a readable picture of a digit"]),
    ("recordio-cut-short", lambda d: _pictures_and([b"3", b"1"], d)[:-7], AUTO,
     ["training_0 ends inside RecordIO record 3", "cut short"]),
    ("not-recordio-throughout", lambda d: _pictures_and([b"3"], d) + b"tail of something else", AUTO,
     ["training_0: record 2 does not start with RecordIO's magic number"]),
    ("idx-counts-disagree", lambda d: idx_bytes(d[0][:20]) + idx_bytes(d[1][:19]), AUTO,
     ["an IDX images file of 20 images is paired with a labels file of 19 labels"]),
    ("csv-label-outside-digits", lambda d: csv_text(d[0][:3], [1, 2, 14]).encode(), AUTO,
     ["training_0 line 4: label 14 is not a digit 0-9"]),
    ("binary-of-no-form", lambda d: bytes(range(256)) * 4, AUTO,
     ["training_0 streams none of the accepted forms"]),
    ("class-folders-in-pipe-mode", lambda d: b"", formats.Options(data_format=formats.FOLDERS),
     ["channel 'training' is in Pipe mode", "class folders cannot come through it"]),
    ("empty-stream", lambda d: b"", AUTO, ["training_0 streamed nothing"]),
]


@pytest.mark.parametrize("case,stream,options,words", BAD, ids=[case for case, _, _, _ in BAD])
def test_a_bad_stream_fails_with_one_line_naming_the_record(tmp_path, digits, case, stream, options, words):
    writer = PipeWriter(tmp_path, "training", [stream(digits)], timeout=5)
    with pytest.raises(TrainingError) as failure:
        pipe.read(str(tmp_path / "training"), "training", 0, options, wait=30)
    message = str(failure.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    writer.thread.join(10)  # the reader may stop early: the writer then ends with a broken pipe


def test_a_jobs_later_passes_are_read_to_their_end_one_per_epoch(tmp_path, digits):
    # SageMaker streams each Pipe-mode channel once per epoch: the job keeps the first pass's digits
    # (load_job) and reads each later pass, of every channel it read in Pipe mode, as its epoch starts.
    x, y = digits
    xte, yte = mnist("t10k")
    passes = [augmented_stream([picture(d) for d in x[order]], y[order])
              for order in (np.arange(N), np.arange(N)[::-1], np.roll(np.arange(N), 3))]
    train = PipeWriter(tmp_path, "training", passes)
    test_stream = idx_bytes(xte[:40]) + idx_bytes(yte[:40])
    test = PipeWriter(tmp_path, "test", [test_stream] * 3)
    settings, env = _job(tmp_path, training="Pipe", test="Pipe")
    dataset = job_data.load_job(settings, env)
    assert dataset.piped == (("training", str(tmp_path / "training")), ("test", str(tmp_path / "test")))
    assert not (tmp_path / "training_2").exists()
    lines = []
    later = job_data.LaterPasses(dataset.piped, lines.append, wait=30)
    for _ in range(3):  # the first epoch's pass is load_job's
        later.epoch_starts()
    assert train.join() == train.paths and test.join() == test.paths
    line = ("%s_%d: pass %d of Pipe-mode channel %r read to its end (%d bytes); the job trains on the digits of "
            "its first pass")
    assert lines == [line % ("training", 1, 2, "training", len(passes[1])),
                     line % ("test", 1, 2, "test", len(test_stream)),
                     line % ("training", 2, 3, "training", len(passes[2])),
                     line % ("test", 2, 3, "test", len(test_stream))]
    assert dataset.train.labels.tolist() == y.tolist()  # the first pass's digits, in its order


def test_a_later_pass_that_never_comes_fails_with_one_line(tmp_path, digits):
    x, y = digits
    writer = PipeWriter(tmp_path, "training", [augmented_stream([picture(d) for d in x], y)])
    settings, env = _job(tmp_path, ["--validation-fraction", "0.2"], training="Pipe")
    dataset = job_data.load_job(settings, env)
    assert writer.join() == writer.paths
    with pytest.raises(TrainingError) as failure:
        later = job_data.LaterPasses(dataset.piped, print, wait=0.3)
        later.epoch_starts()
        later.epoch_starts()
    assert str(failure.value) == (
        "channel 'training' is in Pipe mode but SageMaker's FIFO %s did not appear within 0.3 s: a runner "
        "of your own must make one for each of the job's epochs, as SageMaker does (the next once the last "
        "was read to its end), or give the channel in File mode (a folder %s)"
        % (tmp_path / "training_1", tmp_path / "training"))


def test_a_file_mode_job_has_no_later_passes(tmp_path):
    settings, env = _job(tmp_path, ["--validation-fraction", "0.2"], training="File")
    x, _ = mnist("train")
    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "train.csv").write_text(csv_text(x[:50], np.arange(50) % 10))
    dataset = job_data.load_job(settings, env)
    assert dataset.piped == ()
    later = job_data.LaterPasses(dataset.piped, print, wait=0.3)
    later.epoch_starts()
    later.epoch_starts()  # nothing to read, nothing waited for
