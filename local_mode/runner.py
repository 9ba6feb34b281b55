"""One run of the flow: the selected steps in order, offline, each with its log, then the cleanup.

run() stages the data, enters the offline environment, runs each step of the settings through
local_mode.steps, and whatever happens (a failed step, Ctrl-C, SIGTERM) removes the containers
it started and its temporary folder before it writes summary.json and prints the summary.
"""
import contextlib
import json
import logging
import pathlib
import subprocess
import tempfile
import threading
import time
import traceback

from local_mode import cleanup, offline, steps, summary
from local_mode.context import DATA_STEP, Context
from local_mode.session import SAGEMAKER_SUPPRESS_V2_WARNING

# The SDK's own messages, and urllib3's retries while local mode waits for /ping.
STEP_LOGGERS = ("sagemaker", "urllib3")


class Tee:
    """A text stream writing to a log file and, optionally, to the console."""

    def __init__(self, log, console=None):
        self.log, self.console = log, console

    def write(self, text):
        # Flushed at once: the log is what a user tails to watch a long step.
        self.log.write(text)
        self.log.flush()
        if self.console is not None:
            self.console.write(text)
        return len(text)

    def flush(self):
        self.log.flush()
        if self.console is not None:
            self.console.flush()

    def isatty(self):
        return False


@contextlib.contextmanager
def step_log(ctx, name):
    """Sends the SDK's and the containers' output of one step to logs/<name>.log."""
    log_path = ctx.out / "logs" / ("%s.log" % name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        tee = Tee(log, ctx.console if ctx.settings.verbose else None)
        handler = logging.StreamHandler(tee)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        loggers = [logging.getLogger(logger) for logger in STEP_LOGGERS]
        saved = [(lg.level, lg.propagate) for lg in loggers]
        for lg in loggers:
            lg.addHandler(handler)
            lg.setLevel(logging.INFO)
            lg.propagate = False
        try:
            with contextlib.redirect_stdout(tee):
                yield log_path
        finally:
            for lg, (level, propagate) in zip(loggers, saved):
                lg.removeHandler(handler)
                lg.setLevel(level)
                lg.propagate = propagate


def run(settings, console=None):
    """Runs the selected steps; returns the summary dict (summary['ok'] says how it went)."""
    ctx = Context.create(settings, console)
    ctx.out.mkdir(parents=True, exist_ok=True)
    ctx.tmp = pathlib.Path(tempfile.mkdtemp(prefix="mnist-local-mode-%s-" % ctx.run_id))
    ctx.say("run %s: %s + %s; artifacts in %s" % (
        ctx.run_id, settings.train_image, settings.serve_image, ctx.out))
    failure = None
    saved_tempdir, saved_excepthook = tempfile.tempdir, threading.excepthook
    # Local mode serves endpoints from a thread that raises when its container stops
    # badly; the step that started it reports the failure, the traceback goes to a log.
    threading.excepthook = lambda args: _background_failure(ctx, args)
    try:
        # Everything the SDK and its children put in temporary files lands under ctx.tmp.
        tempfile.tempdir = str(ctx.tmp)
        # SDK v2 warns on import and on every estimator that v3 exists; this flow shows v2
        # on purpose (and v3 in its own step).
        run_env = {SAGEMAKER_SUPPRESS_V2_WARNING: "1", "TMPDIR": str(ctx.tmp)}
        # Before the offline part: the one request the flow may send is the md5-checked
        # download of MNIST files missing from the folder it uses (never when the
        # repository's copy is there).
        timed(ctx, DATA_STEP, steps.prepare_data)
        with offline.offline_environment(ctx.tmp), ctx.guard, offline.environ(run_env):
            for name in settings.steps:
                timed(ctx, name, steps.BY_NAME[name])
    except BaseException as e:  # noqa: BLE001 - report, clean up, then exit non-zero
        failure = e
    finally:
        tempfile.tempdir = saved_tempdir
        leftovers = clean_up(ctx)
        threading.excepthook = saved_excepthook
    result = summary.build(ctx, failure, leftovers)
    (ctx.out / "summary.json").write_text(json.dumps(result, indent=2, default=str))
    summary.print_summary(result, ctx.console)
    return result


def _background_failure(ctx, args):
    (ctx.out / "logs").mkdir(parents=True, exist_ok=True)
    with open(ctx.out / "logs" / "background.log", "a") as log:
        log.write("".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))


def timed(ctx, name, step):
    """Runs step(ctx) with its log and progress lines; records its result in ctx.results[name].

    The result is `ok`, `skipped` when the step found nothing to run on (it says why in its
    `skipped` entry), or `failed` with the error, which is raised again.
    """
    start = time.monotonic()
    ctx.say("%-11s ..." % name)
    result = {"status": "running"}
    ctx.results[name] = result
    try:
        with step_log(ctx, name) as log_path:
            result["log"] = str(log_path)
            details = step(ctx) or {}
        result.update(details, status=summary.SKIPPED if details.get("skipped") else summary.OK)
    except BaseException as e:
        result.update(status=summary.FAILED, error=summary.one_line(e))
        raise
    finally:
        result["seconds"] = round(time.monotonic() - start, 1)
        ctx.say("%-11s %s (%.1f s)%s" % (name, result["status"], result["seconds"], summary.describe(result)))


def clean_up(ctx):
    """Removes this run's containers and temporary folder; returns what could not be removed."""
    leftovers = []
    try:
        removed = cleanup.remove_containers(ctx.run_id, ctx.tmp)
        if removed:
            ctx.say("removed %d container(s) of this run" % len(removed))
        leftovers += ["container %s" % c for c in cleanup.run_containers(ctx.run_id, ctx.tmp)]
    except (OSError, subprocess.SubprocessError) as e:
        leftovers.append("containers: %s" % summary.one_line(e))
    if ctx.tmp is not None:
        try:
            cleanup.remove_tree(ctx.tmp, helper_image=ctx.settings.train_image)
        except (OSError, subprocess.SubprocessError) as e:
            leftovers.append("temporary folder %s: %s" % (ctx.tmp, summary.one_line(e)))
    return leftovers
