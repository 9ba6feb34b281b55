"""Printed digits for training, rendered from fonts inside the job.

Each digit is drawn large in one font, given the variation real prints and scans have (size,
weight, italic shear, a small rotation, strokes thickened or thinned, blur, paper noise, JPEG
artefacts, light ink on dark paper), and then prepared exactly as serving prepares a picture
(`images.to_mnist`: greyscale, crop to the ink, fit 20x20, centre of mass), so that a printed
digit sent to the endpoint as PNG looks to the net like the ones it was trained on.

Rendering is deterministic for a seed and a list of font files: the same job renders the same
images. It runs once per job; the images are kept as a uint8 tensor beside MNIST's.
"""
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sagemaker_mnist import images, scanning
from sagemaker_mnist.errors import ClientError
from sagemaker_mnist.scanning import RenderError  # noqa: F401 - raised by render, caught by its callers

DIGITS = "0123456789"
# Font files FreeType reads; Type 1 (.pfb, .t1) too, which fonts-urw-base35 also ships as .otf.
FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
# The canvas a digit is drawn on, in pixels, and the font sizes drawn on it: large enough that
# to_mnist's 20x20 fit sees smooth strokes, small enough to render a thousand digits a second.
CANVAS = scanning.CANVAS
SIZES = (30, 48)
PLAIN_SIZE = 40
# The share of varied digits that get the shape's variations alone, no scanner's (scanning.vary).
CLEAN = 0.25
CHUNK = scanning.CHUNK
prepare = scanning.prepare
# How many of a font's ten digits must look most like the same digit of the reference font.
LIKE_REFERENCE = 7


class FontError(ValueError):
    """A font source that holds no usable font."""


def font_files(folders):
    """Every font file under `folders` (searched to any depth), sorted, so that a seed renders the
    same images whatever order the file system lists them in."""
    found = []
    for folder in folders:
        for root, _, names in os.walk(folder):
            found.extend(os.path.join(root, name) for name in names if name.lower().endswith(FONT_SUFFIXES))
    return sorted(set(found))


def usable(paths, reference=None, size=PLAIN_SIZE):
    """The fonts among `paths` that draw the ten digits as digits. Symbol and dingbat fonts map
    the digits' code points to nothing, to one shape or to other signs: of a font's digits,
    prepared for the net, at least LIKE_REFERENCE must look more like the same digit of the
    `reference` font (a font file; None: no such check) than like any other. (Measured on
    matplotlib's and DejaVu's fonts against DejaVu Sans: 8-10 for every text font, italics and
    old-style figures included; 1 for Computer Modern's symbol font.)"""
    references = _shapes(reference, size) if reference else None
    kept = []
    for path in paths:
        shapes = _shapes(path, size)
        if shapes is None:
            continue
        if references is not None:
            similar = shapes @ references.T
            if int((similar.argmax(axis=1) == np.arange(len(DIGITS))).sum()) < LIKE_REFERENCE:
                continue
        kept.append(path)
    return kept


def _shapes(path, size):
    """The font's ten digits prepared for the net, each as a unit vector; None when it has no
    drawing for one of them or draws two the same."""
    try:
        font = ImageFont.truetype(path, size)
    except OSError:
        return None
    shapes = []
    for digit in DIGITS:
        mask = font.getmask(digit)
        if mask.size[0] == 0 or mask.size[1] == 0:
            return None
        try:
            shape = prepare(draw(digit, font)).astype(np.float32).reshape(-1)
        except ClientError:  # images.to_mnist found no ink
            return None
        shape -= shape.mean()
        shapes.append(shape / max(float(np.linalg.norm(shape)), 1e-6))
    shapes = np.stack(shapes)
    if len({row.tobytes() for row in shapes}) < len(DIGITS):
        return None
    return shapes


def render(fonts, count, seed, variation=True, processes=1):
    """`count` printed digits as (uint8 [count, 28, 28] ink bright on dark, int64 [count] labels).

    Labels cycle 0-9, so every digit has the same share; fonts are drawn at random. With
    variation=False each digit is drawn plainly (upright, regular size, black on white). The
    digits are drawn in chunks (scanning.in_chunks), each from its own generator (seeded by `seed`
    and the chunk's number), so that any number of `processes` renders the same images."""
    if not fonts:
        raise FontError("no font to render printed digits with")
    labels = np.arange(count, dtype=np.int64) % len(DIGITS)
    pictures = scanning.in_chunks(_render, count, (list(fonts), seed, variation), processes)
    return pictures, labels


def _render(start, end, _, fonts, seed, variation):
    rng = np.random.default_rng([seed, start // scanning.CHUNK])
    loaded = {}
    pictures = np.empty((end - start, images.SIZE, images.SIZE), dtype=np.uint8)
    for index in range(start, end):
        path = fonts[int(rng.integers(len(fonts)))]
        size = int(rng.integers(*SIZES)) if variation else PLAIN_SIZE
        key = (path, size)
        if key not in loaded:
            loaded[key] = ImageFont.truetype(path, size)
        digit = DIGITS[index % len(DIGITS)]
        pictures[index - start] = scanning.kept(lambda: prepare(draw(digit, loaded[key], rng if variation else None)),
                                                lambda: prepare(draw(digit, loaded[key])))
    return pictures



def draw(digit, font, rng=None):
    """One digit as a greyscale float picture (0 black to 1 white), dark ink on light paper unless
    the variation (scanning.vary, drawn from the generator `rng`; None: none) turns it round."""
    canvas = Image.new("L", (CANVAS, CANVAS), 255)
    draw = ImageDraw.Draw(canvas)
    # Bold and light weights: strokes drawn wider (outline) or eroded after drawing.
    stroke = int(rng.choice([0, 0, 0, 1, 2])) if rng is not None else 0
    draw.text((CANVAS / 2, CANVAS / 2), digit, fill=0, font=font, anchor="mm", stroke_width=stroke, stroke_fill=0)
    if rng is None:
        return np.asarray(canvas, dtype=np.float32) / 255.0
    # Some prints are clean (a laser printer, a screenshot): without them, clean meant handwritten.
    scanner = rng.random() >= CLEAN
    return scanning.vary(canvas, rng, thin=font.size >= scanning.THIN_FROM, stroke=stroke, scanner=scanner)
