"""A SageMaker Ground Truth output manifest (JSON Lines) beside the pictures it labels.

An image classification labeling job writes one JSON object per picture:
  {"source-ref": "s3://bucket/digits/0001.png", "digits": 3, "digits-metadata": {...}}
`source-ref` is the picture's S3 URI; the label attribute is named after the labeling job (the
`label-attribute` hyperparameter names it; by default it is the one attribute that is neither
source-ref nor *-metadata), and its value is the class's index in the job's category list: list
the categories 0 to 9 in that order and the index is the digit.

The pictures are uploaded under the channel's S3 prefix beside the manifest, so the channel's
folder holds each under the end of its key: s3://bucket/labeling/digits/0001.png is found as
digits/0001.png or 0001.png in the channel (the longest such end that is there).
"""
import json
import os

from sagemaker_mnist.failures import TrainingError
from sagemaker_mnist.formats import NUM_CLASSES, TRAIN, pictures, stack

SOURCE_REF = "source-ref"
METADATA_SUFFIX = "-metadata"
SUFFIXES = (".manifest", ".jsonl", ".json")


def is_manifest(path):
    """Whether the file at `path` is a manifest: a .manifest file, or .jsonl/.json Lines whose first
    object has a source-ref."""
    name = os.path.basename(path).lower()
    if name.endswith(".manifest"):
        return True
    if not name.endswith(SUFFIXES):
        return False
    try:
        with open(path, "rb") as f:
            first = json.loads(f.readline(1 << 20))
        return isinstance(first, dict) and SOURCE_REF in first
    except (OSError, ValueError):
        return False


def label_attribute(entry, named, where):
    """The name of the entry's label attribute: `named` when given, else its one attribute that is
    not source-ref and not *-metadata."""
    if named:
        if named not in entry:
            raise TrainingError("%s has no %r attribute (hyperparameter label-attribute); its attributes: %s"
                                % (where, named, ", ".join(sorted(entry)) or "none"))
        return named
    candidates = sorted(k for k in entry if k != SOURCE_REF and not k.endswith(METADATA_SUFFIX))
    if len(candidates) != 1:
        found = ("no label attribute (only %s)" % ", ".join(sorted(entry)) if not candidates
                 else "several label attributes (%s)" % ", ".join(candidates))
        raise TrainingError("%s has %s: name the labeling job's attribute with the label-attribute "
                            "hyperparameter" % (where, found))
    return candidates[0]


def digit(value, where):
    """The digit a label attribute's value (an integer, or a string of one) stands for."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < NUM_CLASSES:
        raise TrainingError("%s: label %s is not a digit 0-%d (Ground Truth's class index: list the "
                            "categories 0 to 9 in that order)"
                            % (where, json.dumps(value)[:40], NUM_CLASSES - 1))
    return value


def read(channel_dir, manifests, names, channel, named_attribute):
    """{TRAIN: Digits} of the manifests at `manifests` (paths in the channel; names: how messages
    call them) and the pictures they name."""
    index = _index(channel_dir)
    found, labels = [], []
    for path in manifests:
        for number, entry in _entries(path, names[path]):
            where = "%s line %d" % (names[path], number)
            ref = entry.get(SOURCE_REF)
            if not isinstance(ref, str) or not ref:
                raise TrainingError("%s has no %s (the picture's S3 URI)" % (where, SOURCE_REF))
            label = digit(entry[label_attribute(entry, named_attribute, where)], where)
            picture = _find(index, ref)
            if picture is None:
                raise TrainingError("%s: the picture %s is not in channel %r (looked for %s): upload the "
                                    "pictures under the channel's S3 prefix, beside the manifest"
                                    % (where, ref, channel, " or ".join(_key_ends(ref)[-3:])))
            shown = "%s/%s (%s)" % (channel, os.path.relpath(picture, channel_dir), where)
            found.append(pictures.read_file(picture, shown))
            labels.append(label)
    source = "%s (manifest: %s)" % (channel, ", ".join(names[p] for p in manifests))
    return {TRAIN: stack(found, labels, source)}


def _entries(path, name):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8-sig").splitlines()
    except OSError as e:
        raise TrainingError("%s cannot be read (%s)" % (name, e.strerror or e)) from None
    except UnicodeDecodeError:
        raise TrainingError("%s is not a JSON Lines manifest (not UTF-8 text)" % name) from None
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as e:
            raise TrainingError("%s line %d is not JSON (%s): a manifest holds one JSON object per line"
                                % (name, number, e)) from None
        if not isinstance(entry, dict):
            raise TrainingError("%s line %d is not a JSON object: a manifest holds one per line"
                                % (name, number))
        entries.append((number, entry))
    if not entries:
        raise TrainingError("%s is empty: a Ground Truth manifest holds one JSON object per picture" % name)
    return entries


def _index(channel_dir):
    """{path inside the channel, with / separators: file path} of every file in the channel."""
    index = {}
    for root, dirs, names in os.walk(channel_dir):
        for name in names:
            path = os.path.join(root, name)
            index[os.path.relpath(path, channel_dir).replace(os.sep, "/")] = path
    return index


def _key_ends(ref):
    """The ends of the S3 key of `ref`, longest first: a/b/c.png, b/c.png, c.png."""
    key = ref.split("://", 1)[1].split("/", 1)[1] if "://" in ref and "/" in ref.split("://", 1)[1] else ref
    parts = [part for part in key.split("/") if part]
    return ["/".join(parts[start:]) for start in range(len(parts))]


def _find(index, ref):
    for end in _key_ends(ref):
        if end in index:
            return index[end]
    return None
