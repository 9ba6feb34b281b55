"""SageMaker's Pipe mode: a channel streamed through FIFOs instead of a folder of files.

For a channel in Pipe mode SageMaker makes no folder /opt/ml/input/data/<channel>; it makes a FIFO
/opt/ml/input/data/<channel>_<epoch> per pass over the data (epoch 0, 1, ...), each streaming the
channel's data once: the FIFO of the next epoch appears after the reader has closed the last one.
What flows through it:
  - an augmented manifest (S3DataType AugmentedManifestFile, AttributeNames
    ["source-ref", "<label attribute>"]): per line of the manifest, the picture's bytes (the
    object source-ref names) then the label attribute's JSON value ("3"), each wrapped in a
    RecordIO record when RecordWrapperType is RecordIO, or back to back when it is None;
  - an S3 prefix's objects, one after the other (or each in a record, with RecordIO): MNIST's IDX
    files (gzipped or raw) or CSV files, each streamed whole.
The form is told from the bytes themselves (the `data-format` hyperparameter can insist on one).
"""
import gzip
import json
import os
import struct
import time
import zlib

import numpy as np

from sagemaker_mnist.failures import TrainingError
from sagemaker_mnist.formats import CSV, FOLDERS, MANIFEST, MNIST, TEST, TRAIN, Digits, stack
from sagemaker_mnist.formats import csv_rows, idx, manifest, pictures, recordio

GZIP_MAGIC = b"\x1f\x8b"
# How long a reader waits for SageMaker to make an epoch's FIFO (the next one appears once the
# last one is closed; the first is there when the container starts).
WAIT_SECONDS = 60
_POLL_SECONDS = 0.05
_DRAIN_CHUNK = 1 << 20

ACCEPTED = ("an augmented manifest (AttributeNames [\"source-ref\", \"<label attribute>\"], "
            "RecordWrapperType RecordIO or None), or MNIST's IDX files or CSV files streamed whole")


def fifo(channel_dir, epoch):
    """SageMaker's FIFO of the channel whose folder would be `channel_dir`, for pass `epoch`."""
    return "%s_%d" % (os.path.normpath(channel_dir), epoch)


def read(channel_dir, channel, epoch, options, wait=WAIT_SECONDS):
    """{split: Digits} of one pass (`epoch`) over a Pipe-mode channel: waits up to `wait` seconds
    for its FIFO, reads it to the end and closes it (which lets SageMaker make the next one)."""
    name = "%s_%d" % (channel, epoch)
    path = _made_fifo(channel_dir, channel, epoch, wait)
    if options.data_format == FOLDERS:
        raise TrainingError("channel %r is in Pipe mode, which streams the objects' bytes without their "
                            "keys, so class folders cannot come through it (hyperparameter "
                            "data-format=folders): use File mode for class folders" % channel)
    with open(path, "rb") as stream:
        head = _read_head(stream)
        if recordio.starts_recordio(head):
            items = list(_items(recordio.records(_Rewound(head, stream), name), name))
            if any(kind == "picture" for kind, _, _ in items):
                return _augmented(items, name)
            return _objects([value for _, value, _ in items], name, options)
        return _objects([head + stream.read()], name, options)


def drain(channel_dir, channel, epoch, wait=WAIT_SECONDS):
    """Reads pass `epoch` of a Pipe-mode channel to its end without decoding it, and closes it (so
    that SageMaker makes the next); returns how many bytes it carried. For the passes after the
    first, whose digits a job already holds (sagemaker_mnist.job_data.LaterPasses)."""
    carried = 0
    with open(_made_fifo(channel_dir, channel, epoch, wait), "rb", buffering=0) as stream:
        while True:
            chunk = stream.read(_DRAIN_CHUNK)
            if not chunk:
                return carried
            carried += len(chunk)


def _made_fifo(channel_dir, channel, epoch, wait):
    """The FIFO of pass `epoch`, once SageMaker has made it (waiting up to `wait` seconds)."""
    path = fifo(channel_dir, epoch)
    deadline = time.monotonic() + wait
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            what = ("make it (mkfifo) and write the channel's data to it" if epoch == 0 else
                    "make one for each of the job's epochs, as SageMaker does (the next once the last was "
                    "read to its end)")
            raise TrainingError("channel %r is in Pipe mode but SageMaker's FIFO %s did not appear within "
                                "%g s: a runner of your own must %s, or give the channel in File mode (a "
                                "folder %s)" % (channel, path, wait, what, channel_dir))
        time.sleep(_POLL_SECONDS)
    return path


def _read_head(stream):
    """The stream's first 8 bytes (fewer if it is shorter): a FIFO's read may return less."""
    head = b""
    while len(head) < 8:
        more = stream.read(8 - len(head))
        if not more:
            break
        head += more
    return head


class _Rewound:
    """A binary stream that first gives back the bytes already read from it."""

    def __init__(self, head, stream):
        self.head, self.stream = head, stream

    def read(self, count):
        if self.head:
            taken, self.head = self.head[:count], self.head[count:]
            return taken
        return self.stream.read(count)


def _items(payloads, name):
    """(kind, value, record index) per record: pictures prepared as they come, so that a stream of
    large photos is never held whole."""
    for index, payload in enumerate(payloads):
        if pictures.is_picture(payload):
            yield "picture", pictures.prepared(payload, "%s record %d" % (name, index)), index
        else:
            yield "value", payload, index


def _objects(blobs, name, options):
    """{split: Digits} of S3 objects streamed whole (one blob per record, or one for the stream)."""
    blobs = [_gunzipped(blob, name) for blob in blobs]
    if not any(blobs):
        raise TrainingError("%s streamed nothing: the channel's S3 data is empty; expected %s"
                            % (name, ACCEPTED))
    first = next(blob for blob in blobs if blob)
    form = options.data_format
    if form not in (MNIST, CSV, MANIFEST):
        form = MNIST if idx.starts_idx(first) else MANIFEST if pictures.is_picture(first) else CSV
    if form == MNIST:
        return _idx_splits([part for blob in blobs for part in idx.split_stream(blob, name)], name)
    if form == MANIFEST:
        if len(blobs) != 1:
            raise TrainingError("%s (hyperparameter data-format=manifest) streams RecordIO records without "
                                "pictures: expected %s" % (name, ACCEPTED))
        return _augmented(list(_unwrapped(first, name)), name)
    if not _is_text(first):
        raise TrainingError("%s streams none of the accepted forms (it begins with bytes %s): expected %s"
                            % (name, first[:8].hex(), ACCEPTED))
    parts = [csv_rows.parse(blob, name) for blob in blobs if blob]
    return {TRAIN: Digits(np.concatenate([p.images for p in parts]),
                          np.concatenate([p.labels for p in parts]), "%s (CSV, Pipe mode)" % name)}


def _gunzipped(blob, name):
    if not blob.startswith(GZIP_MAGIC):
        return blob
    try:
        return gzip.decompress(blob)  # every member of concatenated .gz objects
    except (EOFError, OSError, zlib.error) as e:
        raise TrainingError("%s streams gzip data that is truncated or corrupt (%s)" % (name, e)) from None


def _is_text(blob):
    try:
        blob[:4096].decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return e.start > 4090  # a character cut at the end of the sample
    return b"\0" not in blob[:4096]


def _idx_splits(files, name):
    """{split: Digits} of streamed IDX files: images files paired with labels files in stream order
    (an S3 prefix streams in key order: t10k-images, t10k-labels, train-images, train-labels);
    with two pairs, the larger trains (MNIST's 60,000 beside its 10,000 test digits)."""
    images = [array for magic, array in files if magic == idx.IMAGES_MAGIC]
    labels = [array for magic, array in files if magic == idx.LABELS_MAGIC]
    if len(images) != len(labels) or not 1 <= len(images) <= 2:
        raise TrainingError("%s streams %d IDX images file(s) and %d labels file(s): expected one pair "
                            "(images and labels) or two (training and test)"
                            % (name, len(images), len(labels)))
    pairs = sorted(zip(images, labels), key=lambda pair: -len(pair[0]))
    for x, y in pairs:
        if len(x) != len(y):
            raise TrainingError("%s: an IDX images file of %d images is paired with a labels file of %d "
                                "labels; stream the images and labels of one release"
                                % (name, len(x), len(y)))
    found = {TRAIN: Digits(pairs[0][0], pairs[0][1], "%s (IDX, Pipe mode)" % name)}
    if len(pairs) == 2:
        found[TEST] = Digits(pairs[1][0], pairs[1][1], "%s (IDX test pair, Pipe mode)" % name)
    return found


def _augmented(items, name):
    """{TRAIN: Digits} of an augmented manifest's attributes, streamed in the order of AttributeNames:
    the picture and its label (or the label first), the same number of records per manifest line."""
    places = [position for position, (kind, _, _) in enumerate(items) if kind == "picture"]
    if not places:
        raise TrainingError("%s streams no pictures: AttributeNames must list source-ref (the pictures) and "
                            "the label attribute" % name)
    period = places[1] - places[0] if len(places) > 1 else len(items)
    if period < 2:
        raise TrainingError("%s streams pictures with no label between them (missing label attribute): "
                            "AttributeNames must list the label attribute beside source-ref" % name)
    offset = places[0]
    if offset >= period or len(items) % period or places != list(range(offset, len(items), period)):
        raise TrainingError("%s: the records do not repeat picture and label in one order (pictures at "
                            "records %s...): every manifest line needs the source-ref and the label "
                            "attribute, once each" % (name, ", ".join(str(items[p][2]) for p in places[:4])))
    found, labels = [], []
    for start in range(0, len(items), period):
        group = items[start:start + period]
        picture = group[offset]
        values = [(value, index) for kind, value, index in group if kind == "value"]
        found.append(picture[1])
        labels.append(_label(values, name, picture[2]))
    return {TRAIN: stack(found, labels, "%s (augmented manifest, Pipe mode)" % name)}


def _label(values, name, picture_index):
    """The digit among a picture's other attributes (its label attribute; metadata objects aside)."""
    decoded = []
    for value, index in values:
        try:
            decoded.append((json.loads(value.decode("utf-8")), index))
        except (UnicodeDecodeError, ValueError):
            raise TrainingError("%s record %d (beside the picture of record %d) is neither a picture nor "
                                "a JSON value" % (name, index, picture_index)) from None
    labels = [(value, index) for value, index in decoded if not isinstance(value, (dict, list))]
    if not labels:
        raise TrainingError("%s: the picture of record %d has no label (missing label attribute): "
                            "AttributeNames must list the label attribute beside source-ref"
                            % (name, picture_index))
    value, index = labels[0]
    return manifest.digit(value, "%s record %d" % (name, index))


def _unwrapped(data, name):
    """(kind, value, index) of an augmented manifest streamed with RecordWrapperType None: pictures and
    JSON values back to back; a picture ends where its format says (PNG's IEND chunk, JPEG's EOI)."""
    offset, index, decoder = 0, 0, json.JSONDecoder()
    while offset < len(data):
        if pictures.is_picture(data[offset:offset + 8]):
            end = _picture_end(data, offset, name)
            shown = "%s picture at byte %d" % (name, offset)
            yield "picture", pictures.prepared(data[offset:end], shown), index
        else:
            text = data[offset:offset + 4096].decode("utf-8", "replace")
            stripped = len(text) - len(text.lstrip())
            try:
                value, length = decoder.raw_decode(text, stripped)
            except ValueError:
                raise TrainingError("%s: at byte %d comes neither a picture nor a JSON value: expected %s"
                                    % (name, offset, ACCEPTED)) from None
            end = offset + len(text[:length].encode("utf-8"))
            yield "value", json.dumps(value).encode(), index
        offset, index = end, index + 1


def _picture_end(data, start, name):
    if data.startswith(pictures.PNG_SIGNATURE, start):
        offset = start + len(pictures.PNG_SIGNATURE)
        while offset + 8 <= len(data):
            (length,), kind = struct.unpack(">I", data[offset:offset + 4]), data[offset + 4:offset + 8]
            offset += 12 + length
            if kind == b"IEND":
                return offset
    else:
        offset = start + 2
        while offset + 2 <= len(data):
            if data[offset] != 0xFF:
                break
            marker = data[offset + 1]
            if marker == 0xFF:  # fill byte before a marker
                offset += 1
                continue
            if marker == 0xD9:
                return offset + 2
            if 0xD0 <= marker <= 0xD7 or marker == 0x01:
                offset += 2
                continue
            if offset + 4 > len(data):
                break
            (length,) = struct.unpack(">H", data[offset + 2:offset + 4])
            offset += 2 + length
            if marker == 0xDA:
                offset = _entropy_end(data, offset)
    raise TrainingError("%s: the picture at byte %d is cut short (no end marker): the stream is incomplete"
                        % (name, start))


def _entropy_end(data, offset):
    """Where a JPEG scan's entropy-coded data ends: the next 0xFF that is not a stuffed 0xFF00 or a
    restart marker (RSTn)."""
    while True:
        offset = data.find(b"\xff", offset)
        if offset < 0 or offset + 1 >= len(data):
            return len(data)
        if data[offset + 1] == 0x00 or 0xD0 <= data[offset + 1] <= 0xD7:
            offset += 2
            continue
        return offset
