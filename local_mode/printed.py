"""Printed digits for the flow's endpoint check: the digits 0-9 typed in a few fonts, as PNG.

Drawn here, from the outside, the way a user would make them (black digits on white paper,
cropped loosely), with fonts the host already has: matplotlib's own (DejaVu, STIX), which the
host environment installs for the training report. The endpoint must read them and say they are
printed; handwritten MNIST digits must come back as handwritten.
"""
import importlib.util
import io
import pathlib

# Families of matplotlib's wheel, one file each: a sans, a serif, a monospace and a Times-like.
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "STIXGeneral.ttf")
CANVAS = 64
SIZE = 44


def font_paths():
    """The FONT_FILES this host has (matplotlib's folder), in FONT_FILES' order."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.origin:
        return []
    folder = pathlib.Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
    return [folder / name for name in FONT_FILES if (folder / name).is_file()]


def png(digit, font_path):
    """A PNG picture of `digit` (0-9) typed in the font, dark on light."""
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.new("L", (CANVAS, CANVAS), 255)
    font = ImageFont.truetype(str(font_path), SIZE)
    ImageDraw.Draw(canvas).text((CANVAS / 2, CANVAS / 2), str(digit), fill=0, font=font, anchor="mm")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def samples(count):
    """`count` (label, PNG) pairs: the digits 0-9 in turn, the fonts in turn."""
    fonts = font_paths()
    if not fonts:
        raise RuntimeError("no font for printed digits: the host environment has no matplotlib "
                           "(scripts/setup-venv.sh installs it)")
    return [(i % 10, png(i % 10, fonts[(i // 10 + i) % len(fonts)])) for i in range(count)]
