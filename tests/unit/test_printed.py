"""sagemaker_mnist.printed: printed digits rendered from fonts, deterministic per seed, prepared
by the very function serving applies to a picture. The fonts are those inside matplotlib's wheel
(a test dependency), so the test needs no system fonts."""
import io
import os

import matplotlib
import numpy as np
import pytest
from PIL import Image

from sagemaker_mnist import images, printed

pytestmark = pytest.mark.unit

MATPLOTLIB_FONTS = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")
REFERENCE = os.path.join(MATPLOTLIB_FONTS, "DejaVuSans.ttf")


@pytest.fixture(scope="module")
def fonts():
    found = printed.usable(printed.font_files([MATPLOTLIB_FONTS]), REFERENCE)
    assert found
    return found


def test_fonts_that_draw_no_digits_are_left_out(fonts):
    names = {os.path.basename(path) for path in printed.font_files([MATPLOTLIB_FONTS])}
    kept = {os.path.basename(path) for path in fonts}
    assert {"DejaVuSans.ttf", "DejaVuSerif-BoldItalic.ttf", "cmr10.ttf", "cmmi10.ttf", "STIXGeneralItalic.ttf"} <= kept
    # Computer Modern's extension and symbol fonts and STIX's size variants map the digits to
    # nothing or to other signs.
    left_out = {"cmex10.ttf", "cmsy10.ttf", "STIXSizOneSymReg.ttf"}
    assert left_out <= names and not left_out & kept


def test_rendering_is_deterministic_per_seed_and_balanced(fonts):
    first, labels = printed.render(fonts, 60, seed=3)
    again, labels_again = printed.render(fonts, 60, seed=3)
    other, _ = printed.render(fonts, 60, seed=4)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(labels, labels_again)
    assert not np.array_equal(first, other)
    assert first.dtype == np.uint8 and first.shape == (60, 28, 28)
    assert np.bincount(labels, minlength=10).tolist() == [6] * 10


def test_every_digit_is_in_mnists_form(fonts):
    pictures, _ = printed.render(fonts, 200, seed=0)
    for picture in pictures:
        rows = np.flatnonzero(picture.max(axis=1) > 0)
        cols = np.flatnonzero(picture.max(axis=0) > 0)
        # Fitted into the 20x20 box (a pixel of anti-aliasing either side), bright ink on black.
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in range(19, 23)
        assert picture.max() == 255


def test_a_printed_digit_is_prepared_as_serving_prepares_its_png(fonts):
    # A digit as drawn, saved as the PNG a client would send, decodes on the serving path
    # (images.decode) to exactly the training image.
    rng = np.random.default_rng(0)
    for index, digit in enumerate(printed.DIGITS):
        font = printed.ImageFont.truetype(fonts[index % len(fonts)], printed.PLAIN_SIZE)
        grey = printed.draw(digit, font, rng if index % 2 else None)
        buffer = io.BytesIO()
        Image.fromarray(np.round(grey * 255).astype(np.uint8)).save(buffer, "PNG")
        served = np.round(images.decode(buffer.getvalue()) * 255).astype(np.uint8)
        np.testing.assert_array_equal(served, printed.prepare(np.round(grey * 255) / 255))


def test_no_font_is_a_clear_error():
    with pytest.raises(printed.FontError, match="no font"):
        printed.render([], 10, seed=0)


def test_many_processes_render_the_same_digits_and_a_failure_comes_back(fonts, tmp_path):
    one, _ = printed.render(fonts, printed.CHUNK + 20, seed=5)
    two, _ = printed.render(fonts, printed.CHUNK + 20, seed=5, processes=2)
    np.testing.assert_array_equal(one, two)
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font")
    # A pool that cannot pass an exception back would wait for ever.
    with pytest.raises(printed.RenderError, match="rendering printed digits failed: OSError"):
        printed.render([str(broken)], printed.CHUNK + 1, seed=0, processes=2)
