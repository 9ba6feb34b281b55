"""The fine-tuning step's digits: seven-segment pictures, the folder-per-class split, and the
command line's refusal of a folder it cannot use (before any training)."""
import numpy as np
import pytest

from data import seven_segment
from local_mode import cli, finetune
from local_mode.context import StepFailed
from sagemaker_mnist import images

pytestmark = pytest.mark.unit


def test_seven_segment_pictures_are_repeatable_and_prepare_like_any_picture():
    first, again = seven_segment.samples(2, seed=3), seven_segment.samples(2, seed=3)
    assert [label for label, _ in first] == list(range(10)) * 2
    assert first == again
    assert first != seven_segment.samples(2, seed=4)
    for _, body in first:
        digit = images.decode(body)  # serving's preparation: a 28x28 field with the digit's ink
        assert digit.shape == (28, 28) and digit.max() > 0.5


def test_a_one_lights_two_segments_and_an_eight_all_seven():
    rng = np.random.default_rng(0)
    # Prepared as serving prepares them (both fill the 20-pixel height), an 8 has over twice a
    # 1's ink and twice its width, typically (a slanted 1 is wide, a thin-lined 8 light).
    ones = [images.decode(seven_segment.png(1, rng)) for _ in range(10)]
    eights = [images.decode(seven_segment.png(8, rng)) for _ in range(10)]
    assert np.median([p.sum() for p in eights]) > 2 * np.median([p.sum() for p in ones])
    assert min(p.sum() for p in eights) > max(p.sum() for p in ones)
    width = [int((p > 0.3).any(axis=0).sum()) for p in ones + eights]
    assert np.median(width[10:]) >= 2 * np.median(width[:10])


def test_split_holds_out_every_fourth_picture_of_each_digit_and_copies_the_rest(tmp_path):
    digits = seven_segment.write_folder(tmp_path / "digits", 8, seed=1)
    (digits / "3" / "nested").mkdir()
    (digits / "3" / "nested" / "extra.jpg").write_bytes((digits / "3" / "00003.png").read_bytes())
    (digits / "3" / "notes.txt").write_text("not a picture")
    held_out = finetune.split(digits, tmp_path / "training")
    assert len(held_out) == 10 * 2
    assert sorted({label for label, _ in held_out}) == list(range(10))
    assert finetune.training_count(tmp_path / "training") == 10 * 6 + 1
    assert (tmp_path / "training" / "3" / "nested" / "extra.jpg").is_file()
    held_names = {path.name for label, path in held_out if label == 3}
    trained_names = {p.name for p in (tmp_path / "training" / "3").rglob("*.*")}
    assert not held_names & trained_names
    assert finetune.content_type(tmp_path / "x.JPG") == "image/jpeg"


@pytest.mark.parametrize("layout, message", [
    ({}, "holds no folder 0/ to 9/ with PNG or JPEG pictures"),
    ({"7": 2, "1": 5}, "has fewer than 4 pictures of digit(s) 7"),
    ({"x": 5}, "holds no folder 0/ to 9/"),
])
def test_a_folder_it_cannot_use_is_refused_by_the_command_line(tmp_path, layout, message, capsys):
    for name, count in layout.items():
        (tmp_path / name).mkdir()
        for n in range(count):
            (tmp_path / name / ("%d.png" % n)).write_bytes(b"")
    with pytest.raises(StepFailed, match=message.replace("(", r"\(").replace(")", r"\)")):
        finetune.class_files(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        cli.parse_args(["--steps", "finetune", "--finetune-digits", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "one folder per digit, 0/ to 9/" in err


def test_a_folder_is_not_checked_when_the_step_does_not_run(tmp_path):
    settings = cli.parse_args(["--steps", "estimator", "--finetune-digits", str(tmp_path / "missing")])
    assert settings.steps == ("estimator",)
