"""The fine-tuning step's digits: a folder per class, split into the part the job trains on and
the part held out to score the endpoint before and after.

The digits are the user's (--finetune-digits DIR: DIR/0/ ... DIR/9/ holding PNG or JPEG files,
nested folders allowed, the form of a training channel) or, by default, pictures of a
seven-segment display that the flow draws itself (data.seven_segment): a style that MNIST's
handwriting lacks, as meter readings have. The split is by file name, the same on every run:
every HOLD_OUT_EVERY-th file of each class, in sorted order, is held out.
"""
import pathlib
import shutil

from data import seven_segment
from local_mode.context import StepFailed

# The flow's own digits: this many of each digit, drawn from this seed.
PER_DIGIT = 40
SEED = 7
# One file in this many of each class is held out for scoring (a quarter).
HOLD_OUT_EVERY = 4
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
ACCEPTED = ("a folder holding one folder per digit, 0/ to 9/, of PNG or JPEG pictures (at least %d "
            "of each digit present, so that one is held out)" % HOLD_OUT_EVERY)


def make_digits(dest):
    """The flow's own digits (seven-segment pictures) in the folder-per-class form, in dest."""
    return seven_segment.write_folder(dest, PER_DIGIT, SEED)


def class_files(root):
    """{digit: [image paths, sorted]} of a folder-per-class tree; StepFailed, saying what is
    accepted, for anything else."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise StepFailed("--finetune-digits %s is not a folder: give %s" % (root, ACCEPTED))
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name.isdigit() and len(folder.name) == 1:
            files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_TYPES)
            if files:
                found[int(folder.name)] = files
    if not found:
        raise StepFailed("%s holds no folder 0/ to 9/ with PNG or JPEG pictures: give %s" % (root, ACCEPTED))
    few = sorted(digit for digit, files in found.items() if len(files) < HOLD_OUT_EVERY)
    if few:
        raise StepFailed("%s has fewer than %d pictures of digit(s) %s: give %s" % (
            root, HOLD_OUT_EVERY, ", ".join(map(str, few)), ACCEPTED))
    return found


def split(root, training_dest):
    """Copies the training part of the digits in root to training_dest (a channel folder, one
    folder per class); returns the held-out part as [(label, path)]."""
    held_out = []
    for digit, files in class_files(root).items():
        for n, path in enumerate(files):
            if n % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1:
                held_out.append((digit, path))
            else:
                target = pathlib.Path(training_dest) / str(digit) / path.relative_to(pathlib.Path(root) / str(digit))
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
    return held_out


def content_type(path):
    """The request's Content-Type for a picture file."""
    return IMAGE_TYPES[pathlib.Path(path).suffix.lower()]


def training_count(channel):
    """How many pictures a folder-per-class channel holds."""
    return sum(1 for p in pathlib.Path(channel).rglob("*") if p.is_file())
