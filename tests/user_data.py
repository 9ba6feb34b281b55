"""Users' own digits as they bring them to a job, written by the tests independently of
sagemaker_mnist.formats: pictures of MNIST digits as a scanner gives them back, class folders, CSV
rows, a Ground Truth output manifest beside its pictures, IDX files' bytes, and SageMaker's side of
Pipe mode (the FIFOs <channel>_<epoch>, written one after the other, RecordIO framing included).
"""
import errno
import fcntl
import io
import json
import os
import struct
import threading
import time

import numpy as np
from PIL import Image

RECORDIO_MAGIC = 0xCED7230A


def picture(digit, fmt="PNG", side=56):
    """An MNIST digit (uint8 28x28, bright on black) as a picture file's bytes: dark ink on white
    paper, `side` pixels square, as a scan or a photo of it would be."""
    ink = Image.fromarray(np.asarray(digit, dtype=np.uint8)).resize((side, side), Image.Resampling.BILINEAR)
    paper = Image.fromarray(255 - np.asarray(ink))
    out = io.BytesIO()
    paper.save(out, fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return out.getvalue()


def write_class_folders(dest, images, labels, fmt="PNG", nested=False):
    """<dest>/<label>/[batch-N/]NNNN.png per digit; returns dest."""
    for number, (digit, label) in enumerate(zip(images, labels)):
        folder = dest / str(int(label)) / ("batch-%d" % (number % 2) if nested else "")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ("%04d.%s" % (number, fmt.lower()))).write_bytes(picture(digit, fmt))
    return dest


def csv_text(images, labels, header=True):
    """Kaggle's digit-recognizer train.csv form: label,pixel0,...,pixel783."""
    rows = ["label," + ",".join("pixel%d" % i for i in range(784))] if header else []
    rows += ["%d,%s" % (label, ",".join(str(int(v)) for v in digit.reshape(-1)))
             for digit, label in zip(images, labels)]
    return "\n".join(rows) + "\n"


def manifest_lines(labels, attribute="digits", prefix="s3://amzn-s3-demo-bucket/labeling/images/"):
    """Ground Truth's output manifest lines for pictures NNNN.png under `prefix`."""
    lines = []
    for number, label in enumerate(labels):
        lines.append(json.dumps({
            "source-ref": "%s%04d.png" % (prefix, number),
            attribute: int(label),
            attribute + "-metadata": {"confidence": 0.93, "job-name": "labeling-job/" + attribute,
                                      "class-name": str(int(label)), "human-annotated": "yes",
                                      "creation-date": "2026-11-30T10:00:00.000000",
                                      "type": "groundtruth/image-classification"}}))
    return lines


def write_manifest_channel(dest, images, labels, attribute="digits", picture_folder="images"):
    """A channel holding output.manifest and the pictures it names under `picture_folder`."""
    (dest / picture_folder).mkdir(parents=True, exist_ok=True)
    for number, digit in enumerate(images):
        (dest / picture_folder / ("%04d.png" % number)).write_bytes(picture(digit))
    (dest / "output.manifest").write_text("\n".join(manifest_lines(labels, attribute)) + "\n")
    return dest


def write_csv_channel(dest, images, labels, change=None):
    """A channel holding train.csv, its lines (header first) passed through `change` (which edits
    the list in place) before they are written; returns dest."""
    dest.mkdir(parents=True, exist_ok=True)
    lines = csv_text(images, labels).splitlines()
    if change:
        change(lines)
    (dest / "train.csv").write_text("\n".join(lines) + "\n")
    return dest


def csv_cell(row, column, value):
    """A change for write_csv_channel: line `row` (0: the header) gets `value` in `column`."""
    def change(lines):
        cells = lines[row].split(",")
        cells[column] = value
        lines[row] = ",".join(cells)
    return change


def rewrite_manifest(channel, change):
    """Passes a manifest channel's output.manifest lines (parsed) through `change` (which edits the
    list in place) and writes them again; a line given as text is written as it is (not JSON)."""
    lines = [json.loads(line) for line in (channel / "output.manifest").read_text().splitlines()]
    change(lines)
    (channel / "output.manifest").write_text("\n".join(line if isinstance(line, str) else json.dumps(line)
                                                       for line in lines) + "\n")
    return channel


def idx_bytes(array):
    """An MNIST IDX file's bytes (raw, as an S3 object of the uncompressed files holds them)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x803 if array.ndim == 3 else 0x801
    return struct.pack(">I", magic) + struct.pack(">" + "I" * array.ndim, *array.shape) + array.tobytes()


def recordio(payload):
    """One RecordIO record, as SageMaker frames each record with RecordWrapperType RecordIO."""
    padding = -len(payload) % 4
    return struct.pack("<II", RECORDIO_MAGIC, len(payload)) + payload + b"\0" * padding


def augmented_stream(pictures, labels, wrapper="RecordIO", label_first=False):
    """What SageMaker streams for an augmented manifest with AttributeNames ["source-ref", label]
    (or the label first): each picture's bytes and its label's JSON value."""
    records = []
    for data, label in zip(pictures, labels):
        value = json.dumps(int(label)).encode()
        records += [value, data] if label_first else [data, value]
    if wrapper == "RecordIO":
        return b"".join(recordio(r) for r in records)
    return b"".join(records)


class PipeWriter:
    """SageMaker's side of a Pipe-mode channel: for each epoch's stream in turn, makes the FIFO
    <data_dir>/<channel>_<epoch>, waits for the reader to open it, writes the stream in pieces and
    closes it; the next epoch's FIFO comes only after the last one was read to its end."""

    def __init__(self, data_dir, channel, streams, piece=4093, timeout=120):
        self.paths = [os.path.join(str(data_dir), "%s_%d" % (channel, epoch))
                      for epoch in range(len(streams))]
        self.streams, self.piece, self.timeout = streams, piece, timeout
        self.written, self.error = [], None
        os.mkfifo(self.paths[0])
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for epoch, (path, stream) in enumerate(zip(self.paths, self.streams)):
                if epoch:
                    os.mkfifo(path)
                fd = self._open_when_read(path)
                try:
                    for start in range(0, len(stream), self.piece):
                        os.write(fd, stream[start:start + self.piece])
                finally:
                    os.close(fd)
                self.written.append(path)
        except Exception as e:  # noqa: BLE001 - reported by join()
            self.error = e

    def _open_when_read(self, path):
        # A non-blocking open for writing fails (ENXIO) until a reader has the FIFO open: polling
        # it keeps a writer whose reader never comes from hanging the test.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
                continue
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
            return fd

    def join(self, timeout=60):
        """Waits for the writer; returns the FIFOs it wrote whole."""
        self.thread.join(timeout)
        if self.error:
            raise self.error
        return list(self.written)
