"""sagemaker_mnist.fonts: the font files a job renders its printed digits with. The built-in
sources here are matplotlib's wheel (a test dependency) and a stand-in for the image's system
folders (a temporary folder), so the test needs no system fonts."""
import os
import shutil

import pytest

from sagemaker_mnist import fonts
from sagemaker_mnist.failures import TrainingError

pytestmark = pytest.mark.unit

MATPLOTLIB_FONTS = fonts.matplotlib_folder()
FACES = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono-Bold.ttf")


@pytest.fixture
def system(tmp_path, monkeypatch):
    """A system font folder holding some of the faces matplotlib's wheel ships too (fonts-dejavu
    and matplotlib both ship DejaVu, under the same file names), and one of its own."""
    folder = tmp_path / "usr-share-fonts" / "dejavu"
    folder.mkdir(parents=True)
    for name in FACES:
        shutil.copy(os.path.join(MATPLOTLIB_FONTS, name), folder / name)
    shutil.copy(os.path.join(MATPLOTLIB_FONTS, "cmr10.ttf"), folder / "SystemRoman.ttf")
    monkeypatch.setattr(fonts, "SYSTEM_FOLDERS", (str(folder), str(tmp_path / "not-installed")))
    return folder


def test_a_face_two_sources_ship_is_drawn_from_once(system):
    both = fonts.training_fonts(("system", "matplotlib"))
    names = [os.path.basename(path) for path in both]
    assert len(names) == len(set(names)), sorted(names)
    assert set(FACES) | {"SystemRoman.ttf"} <= set(names)
    alone = fonts.training_fonts(("matplotlib",))
    # Every face of either source, each once: matplotlib's, plus the system folder's own one.
    assert sorted(names) == sorted([os.path.basename(path) for path in alone] + ["SystemRoman.ttf"])


def test_a_fonts_channel_keeps_every_file_of_its_own(system, tmp_path):
    channel = tmp_path / "fonts"
    (channel / "house").mkdir(parents=True)
    # A user's own copy of a built-in face is the user's: it stays beside the built-in one.
    shutil.copy(os.path.join(MATPLOTLIB_FONTS, "DejaVuSans.ttf"), channel / "DejaVuSans.ttf")
    shutil.copy(os.path.join(MATPLOTLIB_FONTS, "STIXGeneral.ttf"), channel / "house" / "HouseStyle.ttf")
    found = fonts.training_fonts(("system",), str(channel))
    assert str(channel / "DejaVuSans.ttf") in found and str(channel / "house" / "HouseStyle.ttf") in found
    assert [os.path.basename(path) for path in found].count("DejaVuSans.ttf") == 2


def test_a_fonts_channel_without_a_usable_font_fails_with_one_line(system, tmp_path):
    channel = tmp_path / "fonts"
    channel.mkdir()
    (channel / "notes.ttf").write_bytes(b"not a font")
    with pytest.raises(TrainingError) as failure:
        fonts.training_fonts(("system",), str(channel))
    assert str(failure.value) == ("the fonts channel (%s) holds no font that draws the digits 0-9: it takes "
                                  ".ttf, .otf or .ttc files" % channel)


def test_held_out_families_never_train(system):
    shutil.copy(os.path.join(MATPLOTLIB_FONTS, "DejaVuSerif.ttf"), system / "texgyretermes-regular.otf")
    names = [os.path.basename(path) for path in fonts.training_fonts(("system", "matplotlib"))]
    assert "texgyretermes-regular.otf" not in names and "DejaVuSerif.ttf" in names
