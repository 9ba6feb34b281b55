"""The run's summary: the dict written as summary.json, and the lines printed at the end.

Every step of the flow appears in it in the order of a run: with its result when it ran, as
`skipped` when the command line left it out (--steps, --skip) or when it found nothing to run
on (sdk3 without its environment). Only a step that ran and failed fails the run; a skipped
step is never reported as ok.
"""
import time
import traceback

from local_mode.context import DATA_STEP, STEPS, StepFailed

OK, SKIPPED, FAILED = "ok", "skipped", "failed"


def step_results(settings, results):
    """The steps' results in run order, the ones the settings leave out marked skipped.

    A selected step missing from results was not reached (an earlier step failed or the run
    was interrupted) and is left out: it was neither skipped nor run.
    """
    steps = {}
    for name in (DATA_STEP, *STEPS):
        if name in results:
            steps[name] = results[name]
        elif name in settings.skipped:
            steps[name] = {"status": SKIPPED, "skipped": settings.skipped[name]}
    return steps


def build(ctx, failure, leftovers):
    """The summary of the run ctx: ok only when nothing failed, was refused or was left behind."""
    steps = step_results(ctx.settings, ctx.results)
    failed_steps = [name for name, r in steps.items() if r.get("status") not in (OK, SKIPPED)]
    ok = failure is None and not leftovers and not ctx.guard.refused and not failed_steps
    summary = {
        "ok": ok,
        "run_id": ctx.run_id,
        "train_image": ctx.settings.train_image,
        "serve_image": ctx.settings.serve_image,
        "hyperparameters": ctx.settings.hyperparameters,
        "seconds": round(time.monotonic() - ctx.started, 1),
        "steps": steps,
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
        # A step left out by the command line never started: it has no time to show.
        seconds = "%7.1f s" % result["seconds"] if "seconds" in result else "%7s  " % "-"
        lines.append("  %-11s %-7s %s%s" % (name, result.get("status"), seconds, describe(result)))
    for kind, scores in summary["steps"].get("deploy", {}).get("kinds", {}).items():
        lines.append("  %s digits as PNG: digit accuracy %s, kind accuracy %s over %d digits" % (
            kind, percent(scores["digit_accuracy"]), percent(scores["kind_accuracy"]), scores["digits"]))
    transform = summary["steps"].get("transform", {})
    if transform.get("accuracy") is not None:
        lines.append("  batch transform accuracy: %s on %d test digits" % (
            percent(transform["accuracy"]), transform["records"]))
    tuned = summary["steps"].get("finetune", {})
    if tuned.get("after"):
        lines.append("  fine-tuning on %d digits (%s): held-out %d digits %s -> %s; MNIST %s -> %s" % (
            tuned["training_digits"], tuned["digits"], tuned["held_out_digits"],
            percent(tuned["before"]["accuracy"]), percent(tuned["after"]["accuracy"]),
            _maybe_percent(tuned["before"]["mnist_accuracy"]), _maybe_percent(tuned["after"]["mnist_accuracy"])))
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
    if result.get("after"):
        parts.append("held-out digits %s -> %s" % (percent(result["before"]["accuracy"]),
                                                    percent(result["after"]["accuracy"])))
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


def _maybe_percent(fraction):
    return "not measured" if fraction is None else percent(fraction)


def one_line(error):
    """An exception as one short line: its type and its message, white space folded."""
    text = " ".join(str(error).split()) or type(error).__name__
    return "%s: %s" % (type(error).__name__, text[:500])
