"""The run's summary: the dict written as summary.json, and the lines printed at the end."""
import time
import traceback

from local_mode.context import StepFailed


def build(ctx, failure, leftovers):
    """The summary of the run ctx: ok only when nothing failed, was refused or was left behind."""
    failed_steps = [name for name, r in ctx.results.items() if r.get("status") != "ok"]
    ok = failure is None and not leftovers and not ctx.guard.refused and not failed_steps
    summary = {
        "ok": ok,
        "run_id": ctx.run_id,
        "train_image": ctx.settings.train_image,
        "serve_image": ctx.settings.serve_image,
        "hyperparameters": ctx.settings.hyperparameters,
        "seconds": round(time.monotonic() - ctx.started, 1),
        "steps": ctx.results,
        "artifacts": str(ctx.out),
        "temporary_folder": str(ctx.tmp),
        "refused_requests": list(ctx.guard.refused),
        "leftovers": leftovers,
    }
    if failure is not None:
        summary["error"] = one_line(failure)
        # A step's verdict or a stop by the user needs no traceback; anything else is a bug.
        if not isinstance(failure, (StepFailed, KeyboardInterrupt, SystemExit)):
            summary["traceback"] = "".join(traceback.format_exception(failure))
    return summary


def print_summary(summary, out):
    lines = ["", "=== MNIST on SageMaker local mode: %s in %.1f s (run %s) ===" % (
        "OK" if summary["ok"] else "FAILED", summary["seconds"], summary["run_id"])]
    for name, result in summary["steps"].items():
        lines.append("  %-11s %-7s %7.1f s%s" % (
            name, result.get("status"), result.get("seconds", 0), describe(result)))
    transform = summary["steps"].get("transform", {})
    if transform.get("accuracy") is not None:
        lines.append("  batch transform accuracy: %s on %d test digits" % (
            percent(transform["accuracy"]), transform["records"]))
    lines.append("  artifacts: %s (summary.json, logs/)" % summary["artifacts"])
    lines.append("  AWS requests refused: %d; left behind: %s" % (
        len(summary["refused_requests"]), ", ".join(summary["leftovers"]) or "nothing"))
    if summary.get("error"):
        lines.append("  error: %s" % summary["error"])
    out.write("\n".join(lines) + "\n")
    out.flush()


def describe(result):
    """The notable parts of one step's result, for its progress line and its summary line."""
    parts = []
    if result.get("test_accuracy") is not None:
        parts.append("test accuracy %s" % percent(result["test_accuracy"]))
    if result.get("one_host_test_accuracy") is not None:
        parts.append("one host %s" % percent(result["one_host_test_accuracy"]))
    if result.get("json_prediction") is not None:
        parts.append("a %s predicted %s (JSON), %s (PNG)" % (
            result["true_label"], result["json_prediction"], result["png_prediction"]))
    if result.get("accuracy") is not None:
        parts.append("accuracy %s over %d digits" % (percent(result["accuracy"]), result["records"]))
    for key in ("model_data", "output"):
        if result.get(key):
            parts.append("-> %s" % result[key])
    if result.get("skipped"):
        parts.append("skipped: %s" % result["skipped"])
    if result.get("error"):
        parts.append("error: %s" % result["error"])
    return (": " + "; ".join(parts)) if parts else ""


def percent(fraction):
    """0.99124 -> '99.12%'."""
    return "%.2f%%" % (100 * fraction)


def one_line(error):
    """An exception as one short line: its type and its message, white space folded."""
    text = " ".join(str(error).split()) or type(error).__name__
    return "%s: %s" % (type(error).__name__, text[:500])
