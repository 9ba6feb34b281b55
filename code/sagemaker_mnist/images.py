"""Turns a photo, scan or drawing of one digit (PNG or JPEG, any size and colour) into MNIST's form.

MNIST's digits were made this way (LeCun et al.): ink bright on a black background, the digit
cropped to its ink, scaled to fit a 20x20 box with its aspect ratio kept (anti-aliased, hence grey
levels), and placed in a 28x28 field so that its centre of mass is the field's centre. A net
trained on MNIST only recognises digits prepared the same way, so images go through the same
steps here: greyscale, invert dark-on-light pictures, remove the background level and paper
noise, crop, fit, centre.
"""
import io
import warnings

import numpy as np
from PIL import Image, ImageOps

from sagemaker_mnist.errors import BadRequest

SIZE = 28
BOX = 20
# Larger images are refused before their pixels are decoded: a small compressed file can claim
# billions of pixels (a decompression bomb). 50 megapixels covers phone cameras.
MAX_PIXELS = 50_000_000
# JPEGs are decoded at a reduced scale (the codec does it almost for free) when they are much
# larger than this: the digit ends up 20 pixels tall anyway.
DECODE_SIDE = 256
# Ink below this fraction of the darkest stroke is paper texture or sensor noise.
NOISE = 0.2
# A picture whose strokes differ from the paper by less than this (on a 0-1 scale) is blank.
MIN_CONTRAST = 0.1

ACCEPTED = ("one PNG or JPEG image of a single digit, any size and colour, dark on light or light on "
            "dark, at most %d megapixels" % (MAX_PIXELS // 1_000_000))


def decode(data):
    """Returns the image in `data` (bytes) as a float32 28x28 array, ink bright on dark in [0, 1]."""
    grey = _greyscale(_open(data))
    return to_mnist(grey)


def to_mnist(grey):
    """MNIST's preparation of a greyscale picture (float array, 0 black to 1 white)."""
    ink = _ink(grey)
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    fitted = _fit(ink)
    return _centre(fitted)


def _open(data):
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past twice its own limit, raises) about huge images; ours is lower.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise BadRequest("the image is %dx%d pixels, more than the %d megapixels accepted"
                                 % (width, height, MAX_PIXELS // 1_000_000), ACCEPTED)
            if image.format == "JPEG" and min(width, height) > 2 * DECODE_SIDE:
                scale = min(width, height) / DECODE_SIDE
                image.draft("L", (int(width / scale), int(height / scale)))
            image.load()
            # Phone cameras store the picture sideways and say so in EXIF.
            return ImageOps.exif_transpose(image)
    except BadRequest:
        raise
    except Image.DecompressionBombError as e:
        raise BadRequest("the image is larger than the %d megapixels accepted (%s)"
                         % (MAX_PIXELS // 1_000_000, e), ACCEPTED) from e
    except (OSError, ValueError, SyntaxError) as e:
        # Pillow reports truncated, corrupt and unknown files as OSError (UnidentifiedImageError)
        # or, from some plugins, ValueError and SyntaxError.
        raise BadRequest("the image could not be decoded (%s)" % e, ACCEPTED) from e


def _greyscale(image):
    """Float32 luminance in [0, 1], with transparency flattened onto a contrasting background."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(image, dtype=np.float32) / 65535.0
    if image.mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float32)
        low, high = float(values.min()), float(values.max())
        return (values - low) / (high - low) if high > low else np.zeros_like(values)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        grey = np.asarray(rgba.convert("L"), dtype=np.float32) / 255.0
        # A digit drawn on a transparent canvas: put it on paper of the opposite shade to its ink.
        opaque = alpha > 0.5
        ink_shade = float(grey[opaque].mean()) if opaque.any() else 0.0
        paper = 1.0 if ink_shade < 0.5 else 0.0
        return grey * alpha + paper * (1.0 - alpha)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def _ink(grey):
    """Ink strength in [0, 1] (0 where there is only paper), whichever way round the picture is."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    paper = float(np.median(border))
    ink = (paper - grey) if paper >= 0.5 else (grey - paper)
    strongest = float(ink.max())
    if strongest < MIN_CONTRAST:
        raise BadRequest("no digit found: the image is blank (no strokes differ from the background)", ACCEPTED)
    ink = np.clip(ink / strongest, 0.0, 1.0)
    ink[ink < NOISE] = 0.0
    return ink


def _fit(ink):
    """Scales the cropped digit to fit BOX x BOX, aspect ratio kept, peak ink 1."""
    height, width = ink.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    fitted = np.asarray(Image.fromarray(ink.astype(np.float32)).resize(size, resample))
    fitted = np.clip(fitted, 0.0, None)
    return fitted / max(float(fitted.max()), 1e-6)


def _centre(fitted):
    """Places the digit in a SIZE x SIZE field with its centre of mass at the field's centre."""
    height, width = fitted.shape
    total = float(fitted.sum())
    rows, cols = np.arange(height), np.arange(width)
    mass_row = float(fitted.sum(axis=1) @ rows) / total
    mass_col = float(fitted.sum(axis=0) @ cols) / total
    # MNIST puts the centre of mass on pixel (14, 14), counting from 0.
    centre = SIZE / 2.0
    top = int(round(centre - mass_row))
    left = int(round(centre - mass_col))
    # A lopsided digit may be pushed past an edge; keep it whole inside the field.
    top = min(max(top, 0), SIZE - height)
    left = min(max(left, 0), SIZE - width)
    field = np.zeros((SIZE, SIZE), dtype=np.float32)
    field[top:top + height, left:left + width] = fitted
    return field
