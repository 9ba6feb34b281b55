"""The local flow's summary: which steps it reports, with which status, and when the run is ok."""
import io
import json

import pytest

from local_mode import cli, context, runner, steps, summary

pytestmark = pytest.mark.unit

DATA = {"status": "ok", "seconds": 1.5, "test_digits": 10000}
ESTIMATOR = {"status": "ok", "seconds": 30.2, "test_accuracy": 0.9912, "model_data": "/runs/unit/model.tar.gz"}


def _context(tmp_path, *argv, ran=None):
    settings = cli.parse_args(["--output-dir", str(tmp_path / "runs"), "--run-id", "unit", *argv])
    ctx = context.Context.create(settings, console=io.StringIO())
    ctx.results.update(ran or {})
    return ctx


def _statuses(result):
    return [(name, step["status"]) for name, step in result["steps"].items()]


def _printed(result):
    out = io.StringIO()
    summary.print_summary(result, out)
    return out.getvalue().splitlines()


def test_steps_left_out_by_the_command_line_are_skipped_not_ok(tmp_path):
    ctx = _context(tmp_path, "--steps", "estimator,deploy", "--skip", "deploy",
                   ran={"data": DATA, "estimator": ESTIMATOR})
    result = summary.build(ctx, None, [])
    assert result["ok"] is True
    assert _statuses(result) == [("data", "ok"), ("estimator", "ok"), ("script", "skipped"),
                                 ("distributed", "skipped"), ("sdk3", "skipped"), ("deploy", "skipped"),
                                 ("transform", "skipped"), ("finetune", "skipped")]
    assert result["steps"]["deploy"]["skipped"] == "left out by --skip"
    assert result["steps"]["script"]["skipped"] == "not in --steps"
    lines = _printed(result)
    assert lines[1].startswith("=== MNIST on SageMaker local mode: OK in ")
    assert "  estimator   ok         30.2 s: test accuracy 99.12%; -> /runs/unit/model.tar.gz" in lines
    assert "  script      skipped       -  : skipped: not in --steps" in lines
    assert "  deploy      skipped       -  : skipped: left out by --skip" in lines
    # What summary.json holds is what the summary printed.
    assert json.loads(json.dumps(result))["steps"]["transform"] == {"status": "skipped", "skipped": "not in --steps"}


def test_a_failed_step_fails_the_run_and_the_steps_not_reached_are_not_listed(tmp_path):
    failed = {"status": "failed", "seconds": 4.0, "error": "StepFailed: training failed: epochs"}
    ctx = _context(tmp_path, "--skip", "sdk3", ran={"data": DATA, "estimator": failed})
    result = summary.build(ctx, context.StepFailed("training failed: epochs"), [])
    assert result["ok"] is False
    # script and the rest were selected but never started: neither ok nor skipped.
    assert _statuses(result) == [("data", "ok"), ("estimator", "failed"), ("sdk3", "skipped")]
    assert result["error"] == "StepFailed: training failed: epochs"
    assert "traceback" not in result
    lines = _printed(result)
    assert lines[1].startswith("=== MNIST on SageMaker local mode: FAILED in ")
    assert lines[-1] == "  error: StepFailed: training failed: epochs"


@pytest.mark.parametrize("refused, leftovers", [
    (["aws sagemaker: POST https://api.sagemaker.us-east-1.amazonaws.com/"], []),
    ([], ["container 0123abcd"]),
])
def test_a_refused_request_or_a_leftover_fails_a_run_whose_steps_all_passed(tmp_path, refused, leftovers):
    ctx = _context(tmp_path, "--steps", "estimator", ran={"data": DATA, "estimator": ESTIMATOR})
    ctx.guard.refused.extend(refused)
    result = summary.build(ctx, None, leftovers)
    assert result["ok"] is False
    assert result["refused_requests"] == refused and result["leftovers"] == leftovers


def test_an_unexpected_error_keeps_its_traceback(tmp_path):
    ctx = _context(tmp_path, ran={"data": DATA})
    try:
        raise ValueError("a bug")
    except ValueError as e:
        result = summary.build(ctx, e, [])
    assert result["error"] == "ValueError: a bug"
    assert 'raise ValueError("a bug")' in result["traceback"]


def test_sdk3_without_its_environment_is_skipped_not_ok(tmp_path):
    missing = tmp_path / "no-sdk3" / "bin" / "python"
    ctx = _context(tmp_path, "--steps", "sdk3", "--sdk3-python", str(missing))
    runner.timed(ctx, "sdk3", steps.train_sdk3)
    sdk3 = ctx.results["sdk3"]
    assert sdk3["status"] == "skipped"
    assert sdk3["skipped"].startswith("no SDK v3 environment at %s" % missing)
    assert "] sdk3        skipped (" in ctx.console.getvalue()
    result = summary.build(ctx, None, [])
    assert result["ok"] is True
    assert result["steps"]["sdk3"]["status"] == "skipped"
