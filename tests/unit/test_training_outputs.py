"""The trainer's small contracts: the metric line tuning jobs parse, the failure file, the model
artifact's code (checkpoints: test_checkpoints.py)."""
import ast
import re

import pytest

from cloud import common
from sagemaker_mnist import artifacts, failures, model, report
from support import REPO

pytestmark = pytest.mark.unit

ENTRY = {"epoch": 3, "train_loss": 0.0123449, "test_loss": 0.0201, "test_accuracy": 0.9931,
         "epoch_seconds": 3.2101, "train_seconds": 9.87}


def test_metric_line_exact_form():
    assert report.metric_line(ENTRY) == ("#metrics epoch=3 train_loss=0.012345 test_loss=0.020100 "
                                         "test_accuracy=0.993100 epoch_seconds=3.210 train_seconds=9.870")


def test_metric_line_with_validation_keeps_key_order():
    line = report.metric_line(dict(ENTRY, validation_loss=0.03, validation_accuracy=0.99))
    keys = [pair.split("=")[0] for pair in line.split()[1:]]
    assert keys == ["epoch", "train_loss", "test_loss", "test_accuracy", "validation_loss", "validation_accuracy",
                    "epoch_seconds", "train_seconds"]


def test_metric_definitions_read_each_value_from_its_own_key():
    # The keys of the validation channel's two metrics sit between the others, and the kind's
    # three share words with test_accuracy.
    # The per-digit validation keys begin with validation_accuracy, each read apart from it.
    entry = dict(ENTRY, validation_loss=0.03, validation_accuracy=0.99, test_kind_accuracy=0.998,
                 printed_accuracy=0.981, printed_kind_accuracy=0.97,
                 **{"validation_accuracy_%d" % d: 0.5 + d / 40 for d in range(10)})
    line = report.metric_line(entry)
    for definition in common.METRIC_DEFINITIONS:
        key = definition["Name"].replace(":", "_")
        found = [float(v) for v in re.findall(definition["Regex"], line)]
        assert found == [pytest.approx(entry[key], abs=1e-3)], definition


def test_the_per_digit_validation_accuracies_follow_every_earlier_key():
    per_digit = {"validation_accuracy_%d" % d: 1 - d / 100 for d in range(10)}
    line = report.metric_line(dict(ENTRY, validation_loss=0.03, validation_accuracy=0.99, **per_digit))
    keys = [pair.split("=")[0] for pair in line.split()[1:]]
    assert keys == ["epoch", "train_loss", "test_loss", "test_accuracy", "validation_loss",
                    "validation_accuracy", "epoch_seconds", "train_seconds"] + [
                        "validation_accuracy_%d" % d for d in range(10)]
    assert line.endswith(" validation_accuracy_8=0.920000 validation_accuracy_9=0.910000")


def test_every_accuracy_is_an_objective_the_tuner_may_take():
    assert common.OBJECTIVE_METRIC in common.OBJECTIVES and common.VALIDATION_METRIC in common.OBJECTIVES
    assert ["validation:accuracy_%d" % d for d in range(10)] == [o for o in common.OBJECTIVES
                                                                 if o.startswith("validation:accuracy_")]
    assert all("loss" not in o and "seconds" not in o for o in common.OBJECTIVES)


def test_the_report_holds_the_validation_digits_per_digit(tmp_path):
    labels = [d for d in range(9) for _ in range(4)]  # no 9 among them
    predictions = [d if i or d != 3 else 5 for d in range(9) for i in range(4)]
    metrics = report.write(str(tmp_path), {"test_accuracy": 0.9}, [], [[[0] * 28] * 28] * 2, [1, 2], [1, 2],
                           validation={"labels": labels, "predictions": predictions, "source": "training/x"})
    part = metrics["validation"]
    assert part["digits"] == 36 and part["source"] == "training/x" and part["accuracy"] == round(35 / 36, 6)
    assert part["per_class_accuracy"]["3"] == 0.75 and part["per_class_accuracy"]["4"] == 1.0
    assert part["per_class_accuracy"]["9"] is None
    assert part["confusion_matrix"][3][5] == 1
    assert (tmp_path / "metrics.json").read_text().count('"per_class_accuracy"') == 2


def test_metric_definitions_of_the_kind_find_nothing_in_a_line_without_printed_digits():
    line = report.metric_line(ENTRY)
    for definition in common.METRIC_DEFINITIONS:
        key = definition["Name"].replace(":", "_")
        assert bool(re.findall(definition["Regex"], line)) == (key in ENTRY), definition


def _readme_metric_definitions():
    """The metric_definitions list in the README's "Metrics for tuning" Python block."""
    readme = (REPO / "README.md").read_text()
    section = readme.index("**Metrics for tuning.**")
    block = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL).search(readme, section)
    assert block, "no ```python block after the README's Metrics for tuning"
    for node in ast.walk(ast.parse(block.group(1))):
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["metric_definitions"]:
            return ast.literal_eval(node.value)
    raise AssertionError("the README's Metrics for tuning block assigns no metric_definitions")


def test_the_readme_gives_the_metric_definitions_the_cloud_scripts_use():
    pairs = sorted((d["Name"], d["Regex"]) for d in _readme_metric_definitions())
    assert pairs == sorted((d["Name"], d["Regex"]) for d in common.METRIC_DEFINITIONS)


def test_confusion_matrix_rows_are_true_digits():
    counts = report.confusion_matrix([0, 1, 1, 7], [0, 7, 1, 7])
    assert counts[1, 7] == 1 and counts[1, 1] == 1 and counts.trace() == 3 and counts.sum() == 4


def test_failure_file_is_one_line_and_first_writer_wins(tmp_path):
    failures.write_failure(str(tmp_path), "first\nproblem  " + "x" * 2000)
    failures.write_failure(str(tmp_path), "second")
    text = (tmp_path / "failure").read_text()
    assert text.startswith("first problem x") and text.count("\n") == 1
    assert len(text.strip()) == failures.FAILURE_REASON_LIMIT


@pytest.mark.parametrize("error,expected", [
    (RuntimeError("PytorchStreamReader failed reading zip archive: not a ZIP archive. This is an internal "
                  "miniz error. If you are seeing this error, ..."),
     "PytorchStreamReader failed reading zip archive: not a ZIP archive"),
    (ValueError("unsupported version 1.2. See the docs\nmore"), "unsupported version 1.2"),
    (EOFError(), "EOFError"),
])
def test_a_libraries_reason_is_its_first_sentence(error, expected):
    assert failures.reason(error) == expected


def test_failure_outside_sagemaker_is_only_printed(tmp_path, capsys):
    failures.write_failure(str(tmp_path / "absent"), "bad")
    assert "FAILURE: bad" in capsys.readouterr().err
    assert not (tmp_path / "absent").exists()


def test_an_artifact_without_its_handler_module_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    # The code folder as a source_dir with its own copy of the sagemaker_mnist package and no inference.py has it.
    source = tmp_path / "source"
    (source / "sagemaker_mnist").mkdir(parents=True)
    monkeypatch.setattr(artifacts, "source_code_dir", lambda: str(source))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    with pytest.raises(FileNotFoundError) as missing:
        artifacts.write(str(model_dir), model.MnistNet(4), {"width": 4})
    assert str(missing.value).startswith("%s is missing: the model artifact's code/inference.py is copied "
                                         "from " % (source / "inference.py"))
    assert list(model_dir.iterdir()) == []
