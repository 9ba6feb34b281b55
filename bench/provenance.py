"""What every result in bench/results/ records besides its numbers: the commit measured and
whether the tree was clean, the date, the machine, its load before and after, and the command.

A bench script calls `begin` before it measures anything and `finish` with its raw data and
summary; `finish` writes one stable file, bench/results/<bench>.json (or --out DIR), which
bench/publish.py turns into the tables of README.md and bench/*.md. The layout of the file:

    bench, schema        which bench wrote it, and the layout version publish.py reads
    date                 UTC, when the run began
    commit               sha (git rev-parse HEAD), dirty, changed (the paths git status lists,
                         bench/results/ left out: earlier results are not what is measured)
    machine              cpu, cores, memory_gib, virtualization, kernel, python (+ each bench's own)
    command, arguments   the command line, and every option as parsed (defaults included)
    load_average         before and after: the 1, 5 and 15 minute averages
    seconds              the run's wall time
    summary              the bench's summary of its data
    table                the markdown table as publish.py rendered it when the run ended
    data                 the raw data: every round, every run, every epoch

Paths inside the repository are written relative to it, so that a committed result names no
machine's own layout.
"""
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

import publish

REPO = pathlib.Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def git(*args):
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def commit():
    """HEAD and the changes on top of it (tracked and untracked, bench/results/ left out)."""
    sha = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=all", "--", ".", ":(exclude)bench/results")
    changed = [line[3:] for line in (status or "").splitlines() if line.strip()]
    return {"sha": sha.strip() if sha else "unknown", "dirty": bool(changed), "changed": changed}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def memory_gib():
    try:
        with open("/proc/meminfo") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
        return round(kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        return None


def virtualization():
    """systemd-detect-virt's answer (kvm, none, docker...), or None where it is not installed."""
    try:
        answer = subprocess.run(["systemd-detect-virt"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return answer.stdout.strip() or None


def machine(with_torch=False):
    facts = {"cpu": cpu_model(), "cores": os.cpu_count(), "memory_gib": memory_gib(),
             "virtualization": virtualization(), "kernel": platform.release(),
             "python": platform.python_version()}
    if with_torch:
        import torch  # only here: a bench's --help should not wait for torch

        facts.update(torch=torch.__version__,
                     device="CUDA %s" % torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only",
                     torch_threads=torch.get_num_threads(),
                     omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "unset"))
    return facts


def load_average():
    return [round(x, 2) for x in os.getloadavg()]


def portable(value):
    """`value` with every absolute path inside the repository made relative to it."""
    if isinstance(value, (list, tuple)):
        return [portable(v) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        path = pathlib.Path(value).resolve()
        if path.is_relative_to(REPO):
            return str(path.relative_to(REPO)) or "."
    if isinstance(value, pathlib.Path):
        return portable(str(value))
    return value


class Run:
    """One bench run's record, begun before it measures and written by `finish`."""

    def __init__(self, bench, arguments, argv=None, with_torch=False, script=None, **machine_facts):
        self.started = time.monotonic()
        argv = sys.argv[1:] if argv is None else list(argv)
        self.record = {
            "bench": bench,
            "schema": publish.SCHEMA,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "commit": commit(),
            "machine": dict(machine(with_torch), **machine_facts),
            "command": ["bench/%s.py" % (script or bench)] + portable(argv),
            "arguments": {name: portable(value) for name, value in sorted(arguments.items())},
            "load_average": {"before": load_average(), "after": None},
        }

    def finish(self, data, summary, out=RESULTS):
        """Writes <out>/<bench>.json (a temporary name, then renamed) and returns its path."""
        record = self.record
        record["load_average"]["after"] = load_average()
        record["seconds"] = round(time.monotonic() - self.started, 1)
        record["summary"] = summary
        record["data"] = data
        try:
            record["table"] = publish.render_result(record["bench"], record)
        except Exception:
            record["table"] = None
            self._write(out)  # a run's measurements outlive a renderer's bug
            raise
        return self._write(out)

    def _write(self, out):
        # `data` last: it is the long part, and a reader looks for the rest first.
        self.record["data"] = self.record.pop("data")
        out = pathlib.Path(out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / ("%s.json" % self.record["bench"])
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(self.record, indent=1) + "\n")
        os.replace(temporary, path)
        return path
