"""Digits as a seven-segment display shows them (meter readings, pumps, scales): a style of digit
that neither MNIST's handwriting nor the printed fonts of the training image has.

The local flow's fine-tuning step and bench/fine_tuning.py use them as "the digits a user
brings": pictures with a reader's variety (LED or LCD, slant, segment thickness and gaps, the
digit's proportions, the glass's blur and the camera's noise), written as PNG files in a folder
per class, the form a training channel takes. Drawn from a seed, so a run can be repeated.
"""
import io
import pathlib

import numpy as np

# Segments, in the usual letters: a top, b upper right, c lower right, d bottom, e lower left,
# f upper left, g middle.
SEGMENTS = {
    0: "abcdef", 1: "bc", 2: "abdeg", 3: "abcdg", 4: "bcfg",
    5: "acdfg", 6: "acdefg", 7: "abc", 8: "abcdefg", 9: "abcdfg",
}
# Displays disagree on three digits: a 6 with or without its top, a 7 with or without its upper
# left, a 9 with or without its bottom. Each picture picks one at random.
VARIANTS = {6: ("cdefg",), 7: ("abcf",), 9: ("abcfg",)}
CANVAS = 96


def _segment_boxes(width, height, thickness):
    """Each segment as (x0, y0, x1, y1) in a digit box of width x height, origin top left."""
    t, w, h = thickness, width, height
    half = h / 2
    return {
        "a": (t, 0, w - t, t), "g": (t, half - t / 2, w - t, half + t / 2), "d": (t, h - t, w - t, h),
        "f": (0, t, t, half - t / 2), "b": (w - t, t, w, half - t / 2),
        "e": (0, half + t / 2, t, h - t), "c": (w - t, half + t / 2, w, h - t),
    }


def _polygon(box, gap, horizontal):
    """A segment's six-cornered outline, shortened by `gap` at both ends."""
    x0, y0, x1, y1 = box
    if horizontal:
        x0, x1 = x0 + gap, x1 - gap
        mid = (y0 + y1) / 2
        return [(x0, mid), (x0 + (y1 - y0) / 2, y0), (x1 - (y1 - y0) / 2, y0), (x1, mid),
                (x1 - (y1 - y0) / 2, y1), (x0 + (y1 - y0) / 2, y1)]
    y0, y1 = y0 + gap, y1 - gap
    mid = (x0 + x1) / 2
    return [(mid, y0), (x1, y0 + (x1 - x0) / 2), (x1, y1 - (x1 - x0) / 2), (mid, y1),
            (x0, y1 - (x1 - x0) / 2), (x0, y0 + (x1 - x0) / 2)]


def picture(digit, rng):
    """A greyscale PIL image of `digit` (0-9) on a display, drawn with variations from `rng`
    (a numpy Generator)."""
    from PIL import Image, ImageDraw, ImageFilter

    segments = SEGMENTS[digit]
    if digit in VARIANTS and rng.random() < 0.5:
        segments = VARIANTS[digit][0]
    height = rng.uniform(50, 70)
    width = height * rng.uniform(0.5, 0.68)
    # Thin enough to leave each segment longer than it is thick: thicker ones read as dots.
    thickness = height * rng.uniform(0.07, 0.12)
    gap = thickness * rng.uniform(0.05, 0.3)
    slant = rng.uniform(-0.05, 0.22)  # most displays lean right, if at all
    lit = rng.uniform(0.0, 0.25)
    paper = rng.uniform(0.7, 1.0)
    # Unlit segments of an LCD show faintly; an LED display's do not.
    ghost = rng.uniform(0.0, 0.12) if rng.random() < 0.5 else 0.0
    light_on_dark = rng.random() < 0.3

    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(canvas)
    left, top = (CANVAS - width) / 2, (CANVAS - height) / 2

    def place(points):
        # The slant leans the digit about its middle row.
        return [(left + x + slant * (height / 2 - y), top + y) for x, y in points]

    for name, box in _segment_boxes(width, height, thickness).items():
        level = 1.0 if name in segments else ghost
        if level:
            draw.polygon(place(_polygon(box, gap, name in "agd")), fill=int(round(255 * level)))
    ink = np.asarray(canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.6))), dtype=np.float32) / 255
    if light_on_dark:
        grey = (1 - paper) * 0.3 + ink * (1 - lit)
    else:
        grey = paper - ink * (paper - lit)
    grey = grey + rng.normal(0, rng.uniform(0.0, 0.05), grey.shape)
    return Image.fromarray((np.clip(grey, 0, 1) * 255).astype(np.uint8), mode="L")


def png(digit, rng):
    """PNG bytes of picture(digit, rng)."""
    buffer = io.BytesIO()
    picture(digit, rng).save(buffer, format="PNG")
    return buffer.getvalue()


def samples(per_digit, seed):
    """[(label, PNG bytes)]: per_digit pictures of each digit 0-9, the digits in turn."""
    rng = np.random.default_rng(seed)
    return [(digit, png(digit, rng)) for _ in range(per_digit) for digit in range(10)]


def write_folder(dest, per_digit, seed):
    """Writes samples(per_digit, seed) as dest/<digit>/<n>.png, the folder-per-class form of a
    training channel; returns dest."""
    dest = pathlib.Path(dest)
    for n, (digit, body) in enumerate(samples(per_digit, seed)):
        folder = dest / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ("%05d.png" % n)).write_bytes(body)
    return dest
