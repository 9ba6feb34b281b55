"""Printed digits for training, rendered from fonts inside the job.

Each digit is drawn large in one font, given the variation real prints and scans have (size,
weight, italic shear, a small rotation, strokes thickened or thinned, blur, paper noise, JPEG
artefacts, light ink on dark paper), and then prepared exactly as serving prepares a picture
(`images.to_mnist`: greyscale, crop to the ink, fit 20x20, centre of mass), so that a printed
digit sent to the endpoint as PNG looks to the net like the ones it was trained on.

Rendering is deterministic for a seed and a list of font files: the same job renders the same
images. It runs once per job; the images are kept as a uint8 tensor beside MNIST's.
"""
import io
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from sagemaker_mnist import images
from sagemaker_mnist.errors import ClientError

DIGITS = "0123456789"
# Font files FreeType reads; Type 1 (.pfb, .t1) too, which fonts-urw-base35 also ships as .otf.
FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
# The canvas a digit is drawn on, in pixels, and the font sizes drawn on it: large enough that
# to_mnist's 20x20 fit sees smooth strokes, small enough to render a thousand digits a second.
CANVAS = 64
SIZES = (30, 48)
PLAIN_SIZE = 40
THIN_FROM = 40
# Digits drawn from one generator (render).
CHUNK = 500
# Variations tried for one digit before it is drawn plainly (a variation can leave no ink).
ATTEMPTS = 5
# How many of a font's ten digits must look most like the same digit of the reference font.
LIKE_REFERENCE = 7


class FontError(ValueError):
    """A font source that holds no usable font."""


class RenderError(RuntimeError):
    """Rendering failed (in a pool's process: a single message, so that it crosses back)."""


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
    digits are drawn in chunks of CHUNK, each from its own generator (seeded by `seed` and the
    chunk's number), so that any number of `processes` renders the same images."""
    if not fonts:
        raise FontError("no font to render printed digits with")
    fonts = list(fonts)
    labels = np.arange(count, dtype=np.int64) % len(DIGITS)
    chunks = [(fonts, start, min(start + CHUNK, count), seed, variation) for start in range(0, count, CHUNK)]
    if processes > 1 and len(chunks) > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(min(processes, len(chunks))) as pool:
            parts = pool.map(_render_chunk, chunks)
    else:
        parts = [_render_chunk(chunk) for chunk in chunks]
    pictures = np.concatenate(parts) if parts else np.empty((0, images.SIZE, images.SIZE), dtype=np.uint8)
    return pictures, labels


def _render_chunk(chunk):
    try:
        return _render(*chunk)
    except Exception as e:  # noqa: BLE001 - a pool passes on only exceptions it can pickle
        raise RenderError("rendering printed digits failed: %s: %s" % (type(e).__name__, e)) from None


def _render(fonts, start, end, seed, variation):
    rng = np.random.default_rng([seed, start // CHUNK])
    loaded = {}
    pictures = np.empty((end - start, images.SIZE, images.SIZE), dtype=np.uint8)
    for index in range(start, end):
        path = fonts[int(rng.integers(len(fonts)))]
        size = int(rng.integers(*SIZES)) if variation else PLAIN_SIZE
        key = (path, size)
        if key not in loaded:
            loaded[key] = ImageFont.truetype(path, size)
        digit = DIGITS[index % len(DIGITS)]
        for _ in range(ATTEMPTS):
            try:
                pictures[index - start] = prepare(draw(digit, loaded[key], rng if variation else None))
                break
            except ClientError:
                # Faint ink thinned or blurred below to_mnist's contrast: no digit left to see.
                continue
        else:
            pictures[index - start] = prepare(draw(digit, loaded[key]))
    return pictures


def prepare(grey):
    """A drawn digit in MNIST's form, as uint8: serving's own preparation of a picture."""
    return np.round(images.to_mnist(grey) * 255.0).astype(np.uint8)


def draw(digit, font, rng=None):
    """One digit as a greyscale float picture (0 black to 1 white), dark ink on light paper unless
    the variation (drawn from the generator `rng`; None: none) turns it round."""
    canvas = Image.new("L", (CANVAS, CANVAS), 255)
    draw = ImageDraw.Draw(canvas)
    # Bold and light weights: strokes drawn wider (outline) or eroded after drawing.
    stroke = int(rng.choice([0, 0, 0, 1, 2])) if rng is not None else 0
    draw.text((CANVAS / 2, CANVAS / 2), digit, fill=0, font=font, anchor="mm", stroke_width=stroke, stroke_fill=0)
    if rng is None:
        return np.asarray(canvas, dtype=np.float32) / 255.0
    shear = float(rng.choice([0.0, 0.0, rng.uniform(0.12, 0.3)]))  # italics lean right
    angle = float(rng.uniform(-6.0, 6.0))
    canvas = canvas.transform(canvas.size, Image.Transform.AFFINE,
                              (1.0, shear, -shear * CANVAS / 2, 0.0, 1.0, 0.0),
                              resample=Image.Resampling.BILINEAR, fillcolor=255)
    canvas = canvas.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)
    thinning = rng.random()
    # Thinning by a pixel would erase the strokes of a small light font; only large ones get it.
    if thinning < 0.15 and font.size >= THIN_FROM and stroke == 0:
        canvas = canvas.filter(ImageFilter.MaxFilter(3))  # white grows: thinner strokes
    elif thinning < 0.3:
        canvas = canvas.filter(ImageFilter.MinFilter(3))  # ink grows: thicker strokes
    blur = float(rng.uniform(0.0, 1.2))
    if blur > 0.3:
        canvas = canvas.filter(ImageFilter.GaussianBlur(blur))
    grey = np.asarray(canvas, dtype=np.float32) / 255.0
    # Paper and scanner: a paper shade, ink that is not quite black, and grain.
    paper = float(rng.uniform(0.8, 1.0))
    ink = float(rng.uniform(0.0, 0.3))
    grey = ink + (paper - ink) * grey
    # Grain stays below the ink threshold to_mnist applies (images.NOISE of the stroke's
    # strength): a grain it kept would widen the crop and shrink the digit.
    grey = grey + rng.normal(0.0, float(rng.uniform(0.0, 0.03)), grey.shape).astype(np.float32)
    grey = np.clip(grey, 0.0, 1.0)
    if rng.random() < 0.5:
        grey = _jpeg(grey, int(rng.integers(25, 90)))
    if rng.random() < 0.15:
        grey = 1.0 - grey  # light print on dark paper
    return grey


def _jpeg(grey, quality):
    """`grey` after a trip through JPEG at `quality`: the blocks and ringing of scans and photos."""
    buffer = io.BytesIO()
    Image.fromarray(np.round(grey * 255.0).astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("L"), dtype=np.float32) / 255.0
