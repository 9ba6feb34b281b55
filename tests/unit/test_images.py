"""sagemaker_mnist.images: real MNIST test digits drawn as people draw them (dark ink on light paper, other
sizes, colours, formats) come back in MNIST's form and are recognised by a trained net."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

import support
from sagemaker_mnist import images, inference
from sagemaker_mnist.errors import ClientError
from serving_fixtures import picture, trained_model  # noqa: F401 - fixture

pytestmark = pytest.mark.unit

DIGITS, LABELS = support.mnist("t10k")


def _similarity(a, b):
    a, b = a.reshape(-1) - a.mean(), b.reshape(-1) - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def test_an_mnist_digit_is_left_nearly_as_it_is():
    # MNIST's own digits were made by this procedure; redoing it changes little (a digit whose
    # box was not exactly 20 pixels comes out slightly larger or shifted by a pixel).
    similarities = [_similarity(images.to_mnist(1.0 - digit.astype(np.float32) / 255), digit / 255.0)
                    for digit in DIGITS[:50]]
    assert np.median(similarities) > 0.99
    assert min(similarities) > 0.5


@pytest.mark.parametrize("size, ink, paper, fmt, mode", [
    ((90, 120), (20, 30, 120), (235, 225, 200), "PNG", "RGB"),     # blue ink on cream paper
    ((300, 200), (0, 0, 0), (255, 255, 255), "JPEG", "RGB"),       # black on white, landscape
    ((56, 56), (90, 10, 10), (250, 250, 250), "PNG", "L"),         # greyscale PNG
    ((640, 480), (30, 30, 30), (200, 200, 190), "JPEG", "RGB"),    # large photo, grey paper
    ((40, 64), (255, 255, 255), (10, 10, 10), "PNG", "RGB"),       # chalk on a blackboard
    ((120, 90), (0, 60, 0), (255, 255, 255), "PNG", "P"),          # palette PNG
])
def test_drawn_digits_become_mnist_digits(size, ink, paper, fmt, mode):
    similarities = []
    for digit in DIGITS[:10]:
        prepared = images.decode(picture(digit, size=size, ink=ink, paper=paper, fmt=fmt, mode=mode))
        assert prepared.shape == (28, 28) and prepared.dtype == np.float32
        assert prepared.max() == pytest.approx(1.0) and prepared.min() >= 0
        similarities.append(_similarity(prepared, digit / 255.0))
    assert np.median(similarities) > 0.85 and min(similarities) > 0.5


def _classify(model, prepared):
    with torch.inference_mode():
        return int(model(torch.from_numpy(np.asarray(prepared)[:, None])).argmax(1)[0])


def test_drawn_digits_are_recognised(trained_model):  # noqa: F811
    model = inference.model_fn(str(trained_model.model_dir))
    chosen = trained_model.correct[:20]
    styles = [dict(size=(90, 120), fmt="PNG"), dict(size=(400, 300), ink=(0, 0, 0), paper=(255, 255, 255), fmt="JPEG"),
              dict(size=(64, 64), ink=(200, 40, 40), paper=(250, 250, 240), fmt="PNG", mode="L")]
    for style in styles:
        hits = sum(_classify(model, images.decode(picture(DIGITS[i], **style))[None]) == LABELS[i] for i in chosen)
        assert hits >= 0.9 * len(chosen), (style, hits)


def test_a_transparent_drawing_is_put_on_paper():
    digit = DIGITS[0]
    alpha = Image.fromarray(digit).resize((84, 84), Image.Resampling.BILINEAR)
    rgba = Image.new("RGBA", (84, 84), (0, 0, 0, 0))
    rgba.putalpha(alpha)  # black strokes, transparent elsewhere
    buffer = io.BytesIO()
    rgba.save(buffer, "PNG")
    assert _similarity(images.decode(buffer.getvalue()), digit / 255.0) > 0.8


def test_a_16_bit_scan_is_read_at_full_depth():
    digit = DIGITS[1]
    scan = ((255 - digit.astype(np.uint16)) * 257).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(scan).resize((56, 56)).save(buffer, "PNG")
    assert _similarity(images.decode(buffer.getvalue()), digit / 255.0) > 0.8


def test_a_sideways_phone_photo_is_turned_upright():
    digit = DIGITS[2]
    upright = Image.open(io.BytesIO(picture(digit, size=(120, 160), fmt="PNG"))).convert("RGB")
    # The camera stores the pixels rotated and records orientation 6 ("rotate 90 clockwise").
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    assert _similarity(images.decode(buffer.getvalue()), digit / 255.0) > 0.8


def test_a_digit_is_centred_by_its_mass():
    field = np.zeros((100, 100), dtype=np.float32) + 1.0
    field[5:25, 70:80] = 0.0  # a dark bar in the top-right corner
    prepared = images.to_mnist(field)
    rows, cols = np.indices(prepared.shape)
    total = prepared.sum()
    assert abs((rows * prepared).sum() / total - 14.0) <= 0.5
    assert abs((cols * prepared).sum() / total - 14.0) <= 0.5
    assert (prepared > 0).any(axis=1).sum() == 20  # fitted: the long side is 20 pixels


@pytest.mark.parametrize("data, words", [
    (b"", "could not be decoded"),
    (b"GIF89a" + b"\x00" * 20, "could not be decoded"),
])
def test_undecodable_data_is_a_400(data, words):
    with pytest.raises(ClientError) as caught:
        images.decode(data)
    assert caught.value.status_code == 400 and words in caught.value.message
