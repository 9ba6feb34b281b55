"""Running the local-mode flow (python -m local_mode) from tests, as a user runs it."""
import dataclasses
import json
import os
import pathlib
import secrets
import subprocess
import sys

from images import SERVE_IMAGE, TRAIN_IMAGE
from support import MNIST_DIR, REPO

FLOW_TIMEOUT_S = 40 * 60


@dataclasses.dataclass
class FlowRun:
    returncode: int
    output: str
    summary: dict
    run_id: str
    tmpdir: pathlib.Path
    artifacts: pathlib.Path


def flow_command(run_id, output_dir, *extra):
    return [sys.executable, "-m", "local_mode", "--train-image", TRAIN_IMAGE, "--serve-image", SERVE_IMAGE,
            "--data-dir", str(MNIST_DIR), "--output-dir", str(output_dir), "--run-id", run_id, *extra]


def run_flow(base, *extra, timeout=FLOW_TIMEOUT_S):
    """Runs the flow in a subprocess with its own TMPDIR; returns a FlowRun."""
    run_id = "test-%s" % secrets.token_hex(4)
    tmpdir = base / "tmp"
    tmpdir.mkdir(parents=True)
    output_dir = base / "runs"
    process = subprocess.run(flow_command(run_id, output_dir, *extra), cwd=REPO, env=dict(os.environ, TMPDIR=str(tmpdir)),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    summary_path = output_dir / run_id / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return FlowRun(process.returncode, process.stdout, summary, run_id, tmpdir, output_dir / run_id)
