"""What printing, paper and scanners do to a digit: the variations both kinds of training digit get.

A digit on a CANVAS x CANVAS picture (dark ink on white) is leaned as italics lean, made narrower
or wider as condensed and extended faces are, turned a little, its strokes thickened or thinned,
blurred, put on paper of some shade with ink not quite black and grain, passed through JPEG, and
sometimes turned round to light ink on dark paper.

Printed digits (sagemaker_mnist.printed) get these variations, and so does a share of MNIST's
handwritten digits (`scan`: each drawn back onto a picture first). Applied to printed digits
alone, they teach the kind head a shortcut: "printed" became "blurred, grainy, JPEG-marked", and a
cleanly printed digit was called handwritten nine times in ten. With both kinds varied alike, only
the shapes tell printed from handwritten, as they must for pictures from any scanner or camera.

Every picture then goes through serving's own preparation (`prepare`: images.to_mnist).
"""
import io

import numpy as np
from PIL import Image, ImageFilter

from sagemaker_mnist import images
from sagemaker_mnist.errors import ClientError

CANVAS = 64
# A digit of this many pixels or more may be thinned by a pixel (a smaller one would lose
# strokes of a light font).
THIN_FROM = 40
# Pictures made by one generator (in_chunks).
CHUNK = 500
# Variations tried for one picture before it is kept plain (a variation can leave no ink).
ATTEMPTS = 5


class RenderError(RuntimeError):
    """Rendering failed (in a pool's process: a single message, so that it crosses back)."""


def prepare(grey):
    """A picture in MNIST's form, as uint8: serving's own preparation of a picture."""
    return np.round(images.to_mnist(grey) * 255.0).astype(np.uint8)


def vary(canvas, rng, thin=True, stroke=0, scanner=True):
    """The greyscale float picture (0 black to 1 white) of `canvas` (a PIL "L" image, dark ink on
    white) after the variations drawn from the generator `rng`. thin: the strokes may be thinned
    (False for small or already thickened digits). scanner: blur, paper, grain, JPEG and light on
    dark too (False: the shape's variations alone, as a clean print or screenshot has)."""
    shear = float(rng.choice([0.0, 0.0, rng.uniform(0.12, 0.3)]))  # italics lean right
    angle = float(rng.uniform(-6.0, 6.0))
    # Condensed and extended faces: the width scaled by 1/stretch (the transform maps output to
    # input pixels), about the centre.
    stretch = float(np.exp(rng.uniform(np.log(0.8), np.log(1.35))))
    half = canvas.size[0] / 2
    canvas = canvas.transform(canvas.size, Image.Transform.AFFINE,
                              (stretch, shear, half * (1.0 - stretch) - shear * half, 0.0, 1.0, 0.0),
                              resample=Image.Resampling.BILINEAR, fillcolor=255)
    canvas = canvas.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255)
    thinning = rng.random()
    if thinning < 0.15 and thin and stroke == 0:
        canvas = canvas.filter(ImageFilter.MaxFilter(3))  # white grows: thinner strokes
    elif thinning < 0.3:
        canvas = canvas.filter(ImageFilter.MinFilter(3))  # ink grows: thicker strokes
    if not scanner:
        return np.asarray(canvas, dtype=np.float32) / 255.0
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


def picture_of(digit):
    """An MNIST digit (uint8 28 x 28, bright ink on black) drawn back as a picture: dark ink on a
    white CANVAS x CANVAS, twice MNIST's size, as a scanner would see a handwritten digit."""
    side = 2 * images.SIZE
    ink = Image.fromarray(np.asarray(digit, dtype=np.uint8)).resize((side, side), Image.Resampling.BILINEAR)
    canvas = Image.new("L", (CANVAS, CANVAS), 255)
    offset = (CANVAS - side) // 2
    canvas.paste(Image.fromarray(255 - np.asarray(ink)), (offset, offset))
    return canvas


def scan(digits, seed, processes=1):
    """MNIST digits (uint8 N x 28 x 28) as they come back from paper and a scanner (vary, then
    prepare): uint8 N x 28 x 28, the same for a seed whatever the number of `processes`."""
    digits = np.ascontiguousarray(digits, dtype=np.uint8)
    return in_chunks(_scan_chunk, len(digits), (seed,), processes, items=digits)


def _scan_chunk(start, end, digits, seed):
    rng = np.random.default_rng([seed, start // CHUNK])
    scanned = np.empty((end - start, images.SIZE, images.SIZE), dtype=np.uint8)
    for index in range(end - start):
        canvas = picture_of(digits[index])
        scanned[index] = kept(lambda: prepare(vary(canvas, rng)),
                                      lambda: prepare(np.asarray(canvas, dtype=np.float32) / 255.0))
    return scanned


def kept(varied, plain):
    """varied() if one of ATTEMPTS tries leaves ink to see, else plain()."""
    for _ in range(ATTEMPTS):
        try:
            return varied()
        except ClientError:
            # Faint ink thinned or blurred below to_mnist's contrast: no digit left to see.
            continue
    return plain()


def in_chunks(work, count, args, processes=1, items=None):
    """The uint8 [count, 28, 28] pictures work(start, end, items[start:end] or None, *args) makes in
    chunks of CHUNK, each chunk from its own generator, on `processes` processes (spawned: the
    job's parent may hold threads and CUDA, which forked children must not inherit)."""
    chunks = [(work, start, min(start + CHUNK, count), None if items is None else items[start:start + CHUNK], args)
              for start in range(0, count, CHUNK)]
    if processes > 1 and len(chunks) > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(min(processes, len(chunks))) as pool:
            parts = pool.map(_run_chunk, chunks)
    else:
        parts = [_run_chunk(chunk) for chunk in chunks]
    return np.concatenate(parts) if parts else np.empty((0, images.SIZE, images.SIZE), dtype=np.uint8)


def _run_chunk(chunk):
    work, start, end, items, args = chunk
    try:
        return work(start, end, items, *args)
    except Exception as e:  # noqa: BLE001 - a pool passes on only exceptions it can pickle
        raise RenderError("rendering printed digits failed: %s: %s" % (type(e).__name__, e)) from None
