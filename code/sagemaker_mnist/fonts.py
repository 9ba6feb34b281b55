"""Where the trainer's printed digits get their fonts: the font sources a job may name.

  system       the families of the Debian packages the training image installs: fonts-dejavu,
               fonts-liberation (or fonts-liberation2) and fonts-freefont-ttf
  matplotlib   the fonts inside matplotlib's wheel (DejaVu, STIX, Computer Modern)
  a `fonts` channel, when the job has one: the user's own font files (.ttf, .otf, .ttc)

A face two sources ship (DejaVu: fonts-dejavu and matplotlib's wheel) is drawn from once. Only
these families are trained on. Every other family stays out, so that an evaluation on others
(the benchmark's fonts-urw-base35 and fonts-texgyre) measures fonts the net has never seen:
DejaVu's TeX Gyre math font is left out for that reason.
"""
import importlib.util
import os

from sagemaker_mnist import printed
from sagemaker_mnist.failures import TrainingError

SOURCES = ("system", "matplotlib")
SYSTEM_FOLDERS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/truetype/liberation",
    "/usr/share/fonts/truetype/liberation2",
    "/usr/share/fonts/truetype/freefont",
)
# Families held out of training (and file names that belong to them).
HELD_OUT_NAMES = ("texgyre",)
REFERENCE = "DejaVuSans.ttf"


def matplotlib_folder():
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.origin:
        return None
    return os.path.join(os.path.dirname(spec.origin), "mpl-data", "fonts", "ttf")


def folders(sources, fonts_channel=None):
    """The folders of the named sources (a tuple of SOURCES), and the channel's folder last."""
    found = []
    for source in sources:
        if source == "system":
            found.extend(folder for folder in SYSTEM_FOLDERS if os.path.isdir(folder))
        elif source == "matplotlib":
            folder = matplotlib_folder()
            if folder and os.path.isdir(folder):
                found.append(folder)
    if fonts_channel:
        found.append(fonts_channel)
    return found


def training_fonts(sources, fonts_channel=None):
    """The font files the job renders its printed digits with; TrainingError when there are none."""
    paths = [path for path in printed.font_files(folders(sources, fonts_channel))
             if not any(name in os.path.basename(path).lower() for name in HELD_OUT_NAMES)]
    reference = next((path for path in paths if os.path.basename(path) == REFERENCE), None)
    kept = printed.usable(paths, reference)
    kept = _once_each(kept, fonts_channel)
    if fonts_channel and not any(_in_channel(path, fonts_channel) for path in kept):
        raise TrainingError("the fonts channel (%s) holds no font that draws the digits 0-9: it takes .ttf, "
                            ".otf or .ttc files" % fonts_channel)
    if not kept:
        raise TrainingError("no font to render printed digits with (font sources %s found none): install "
                            "fonts-dejavu, add a fonts channel, or set printed-share=0"
                            % ",".join(sources))
    return kept


def _once_each(paths, fonts_channel=None):
    """`paths` with each built-in font file once. fonts-dejavu and matplotlib's wheel ship the same
    DejaVu faces under the same file names: listed twice, DejaVu was 31 of 63 fonts, and half of
    all printed digits, which hid from the job's validation how the other families fared. The
    first of each name is kept (paths are sorted); the fonts channel's files all stay."""
    seen, kept = set(), []
    for path in paths:
        name = os.path.basename(path).lower()
        if _in_channel(path, fonts_channel):
            kept.append(path)
        elif name not in seen:
            seen.add(name)
            kept.append(path)
    return kept


def _in_channel(path, fonts_channel):
    return bool(fonts_channel) and path.startswith(fonts_channel.rstrip("/") + "/")
