"""The handwritten-or-printed head (sagemaker_mnist.model.KINDS) from the net to the answer: the
second head reads the digit head's hidden layer, InferenceNet computes both, predict_fn adds the
printed probability as an 11th column, and the answers carry the kind where they may: always in
JSON and JSON lines, in CSV and npy only when the client asks (Accept: ...; kind=true). A net
without the head answers exactly as before."""
import io
import json

import numpy as np
import pytest
import torch

from sagemaker_mnist import inference, model, report
from sagemaker_mnist.codecs import content_types, encoders

pytestmark = pytest.mark.unit


def _net(kinds, seed=0):
    torch.manual_seed(seed)
    net = model.build_model({"width": 8, "kinds": kinds} if kinds else {"width": 8})
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _images(n=6):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(3))


def test_the_kind_head_reads_the_digit_heads_trunk():
    net = _net(True)
    with torch.no_grad():
        digits, kinds = net(_images(), with_kind=True)
        alone = net(_images())
    assert digits.shape == (6, 10) and kinds.shape == (6, len(model.KINDS))
    torch.testing.assert_close(digits, alone)
    # The digit part of the state dict is named as in a net without the head: old artifacts load.
    plain = _net(False)
    assert set(plain.state_dict()) == {k for k in net.state_dict() if not k.startswith("kind.")}


def test_inference_net_gives_both_heads_in_one_product():
    net = _net(True)
    fast = inference.InferenceNet(net)
    for batch in (1, 6):
        images = _images(batch)
        with torch.inference_mode():
            digits, kinds = net(images, with_kind=True)
            got = fast(images)
        torch.testing.assert_close(got, torch.cat([digits, kinds], dim=1), rtol=1e-4, atol=1e-4)


def test_predict_fn_adds_the_printed_probability_only_for_a_net_with_the_head():
    images = _images()
    plain = inference.predict_fn(images, inference.InferenceNet(_net(False)))
    assert plain.shape == (6, 10)
    net = _net(True)
    both = inference.predict_fn(images, inference.InferenceNet(net))
    assert both.shape == (6, 11)
    with torch.no_grad():
        digits, kinds = net(images, with_kind=True)
    np.testing.assert_allclose(both[:, :10], torch.softmax(digits, 1).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(both[:, 10], torch.softmax(kinds, 1)[:, 1].numpy(), rtol=1e-4, atol=1e-5)


PREDICTION = np.array([[0.9] + [0.1 / 9] * 9 + [0.97], [0.05] * 2 + [0.6] + [0.35 / 7] * 7 + [0.2]],
                      dtype=np.float32)


def test_json_and_json_lines_answers_carry_the_kind():
    body, kind = inference.output_fn(PREDICTION, "application/json")
    answers = json.loads(body)["predictions"]
    assert kind == "application/json"
    assert [(a["label"], a["kind"]) for a in answers] == [(0, "printed"), (2, "handwritten")]
    assert answers[0]["kind_probability"] == pytest.approx(0.97, abs=1e-6)
    assert answers[1]["kind_probability"] == pytest.approx(0.8, abs=1e-6)
    assert len(answers[0]["probabilities"]) == 10
    lines, _ = inference.output_fn(PREDICTION, "application/jsonlines")
    assert [json.loads(line)["kind"] for line in lines.decode().splitlines()] == ["printed", "handwritten"]


def test_csv_and_npy_keep_ten_columns_unless_the_kind_is_asked_for():
    csv, _ = inference.output_fn(PREDICTION, "text/csv")
    assert [len(row.split(",")) for row in csv.decode().splitlines()] == [11, 11]
    asked, kind = inference.output_fn(PREDICTION, "text/csv; kind=true")
    rows = [row.split(",") for row in asked.decode().splitlines()]
    assert kind == "text/csv"
    assert [(row[0], row[11], float(row[12])) for row in rows] == [("0", "printed", pytest.approx(0.97)),
                                                                 ("2", "handwritten", pytest.approx(0.8))]
    npy, _ = inference.output_fn(PREDICTION, "application/x-npy")
    assert np.load(io.BytesIO(npy)).shape == (2, 10)
    npy, _ = inference.output_fn(PREDICTION, "application/x-npy;kind=true")
    np.testing.assert_array_equal(np.load(io.BytesIO(npy)), PREDICTION)


def test_a_net_without_the_head_answers_as_before():
    plain = PREDICTION[:, :10]
    body, _ = inference.output_fn(plain, "application/json")
    assert set(json.loads(body)["predictions"][0]) == {"label", "probabilities"}
    asked, _ = inference.output_fn(plain, "text/csv; kind=true")
    assert [len(row.split(",")) for row in asked.decode().splitlines()] == [11, 11]


@pytest.mark.parametrize("accept, wanted", [
    (None, False), ("text/csv", False), ("text/csv; kind=true", True), ("text/csv;KIND=\"true\"", True),
    ("text/csv; kind=false", False), ("application/json, text/csv;kind=1", True), ("text/csv; q=0.5", False),
])
def test_wants_kind(accept, wanted):
    assert content_types.wants_kind(accept) is wanted


def test_every_module_names_the_kinds_alike():
    assert encoders.KINDS == report.KINDS == model.KINDS
