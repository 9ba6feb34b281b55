"""Cold start of a real inference image: seconds from `docker run` to a healthy /ping, and to the
first answered invocation (bench/serve_speed.py times its paths with it); run as a script, the
inference images side by side, the first answer counted only when it is the right digit.

    python bench/cold_start.py [--image mnist-pytorch-inference:latest]
                               [--image mnist-pytorch-inference-cpu:latest] [--runs 7] [--out DIR]

It trains the tests' small net on real digits (harness/small_model.py), then starts each image
`--runs` times as SageMaker does (`docker run IMAGE serve`, the model at /opt/ml/model, the port on
127.0.0.1 only), the images in turn within each round, and writes bench/results/cold_start.json
(bench/provenance.py) with every run. Goal: the CPU image's first correct answer within 1.5 s.
Once each answered, the CPU seconds its processes have used (`cpu_seconds`: the JVM, the
preloader, serve, the rest); after each, a container of its own measures the floor under it
(`floor`): the seconds from `docker run` to the container's first command, and `import torch` alone.
"""
import argparse
import datetime
import http.client
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

sys.path[:0] = [str(pathlib.Path(__file__).resolve().parent.parent / d) for d in ("", "code", "container")]

from harness import bodies  # noqa: E402
from harness.digits import mnist  # noqa: E402
from harness.model_server import free_port  # noqa: E402
from harness.small_model import write_artifact  # noqa: E402

import provenance  # noqa: E402

IMAGES = ("mnist-pytorch-inference:latest", "mnist-pytorch-inference-cpu:latest")
GOAL_S = 1.5
# Where a cold start's time goes: the first log line of each phase's end, by what it says.
PHASES = (
    ("serve_up", "serve - serving "),  # serve's Python is up and has started the preloader
    ("mms_launched", "sagemaker-inference - ['multi-model-server'"),  # the toolkit launches MMS
    ("torch_imported", "preload - imported torch"),  # the preloader can fork backends
    ("jvm_up", "Model server started."),  # MMS's JVM listens
)

DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"


def docker(*args, **kwargs):
    return subprocess.run([DOCKER, *args], check=True, capture_output=True, text=True, **kwargs)


def cold_start(image, model_dir, stock, body=None, expected=None, phases=False):
    """(seconds to /ping 200, seconds to the first answer) of `image` serving `model_dir`: through
    `serve`, or with `stock`, sagemaker-inference's start_model_server and its default handler.
    `body` (JSON) defaults to the first test digit; with `expected`, only an answer whose first
    label is that digit counts. With `phases`, a third item: {phase: seconds after `docker run`}
    of PHASES, read from the container's timestamped log."""
    port = free_port()
    args = ["run", "-d", "-p", "127.0.0.1:%d:8080" % port, "-v", "%s:/opt/ml/model:ro" % model_dir]
    if stock:
        args += ["--entrypoint", "python3", image, "-c",
                 "from sagemaker_inference import model_server; model_server.start_model_server()"]
    else:
        args += [image, "serve"]
    body = body or bodies.json_body(mnist("t10k")[0][0]).encode()
    started, wall = time.monotonic(), time.time()
    container = docker(*args).stdout.strip()
    healthy = answered = None
    found = {}
    try:
        while time.monotonic() - started < 300:
            now = time.monotonic()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                if healthy is None:
                    connection.request("GET", "/ping")
                    response = connection.getresponse()
                    response.read()
                    if response.status == 200:
                        healthy = now - started
                if healthy is not None:
                    connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
                    response = connection.getresponse()
                    answer = response.read()
                    if response.status == 200 and (expected is None or _first_label(answer) == expected):
                        answered = time.monotonic() - started
                        break
                connection.close()
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        if phases:
            log = subprocess.run([DOCKER, "logs", "-t", container], capture_output=True, text=True)
            found = log_phases(log.stdout + log.stderr, wall)
            found["cpu_s"] = cpu_seconds(container)
    finally:
        subprocess.run([DOCKER, "rm", "-f", container], capture_output=True)
    return (healthy, answered, found) if phases else (healthy, answered)


# The least a cold start through torch can take, measured apart in a container of its own: the
# seconds from `docker run` to the container's first command, then `import torch` alone.
FLOOR_SCRIPT = ("date +%s.%N; python3 -c 'import time; started = time.perf_counter(); import torch; "
                "print(time.perf_counter() - started)'")


def floor(image):
    """{"to_entrypoint": seconds from `docker run` to the container's first command,
    "torch_import": seconds `import torch` takes in it}, or None where the image cannot say."""
    wall = time.time()
    result = subprocess.run([DOCKER, "run", "--rm", "--entrypoint", "sh", image, "-c", FLOOR_SCRIPT],
                            capture_output=True, text=True)
    lines = result.stdout.split()
    if result.returncode != 0 or len(lines) != 2:
        return None
    return {"to_entrypoint": round(float(lines[0]) - wall, 3), "torch_import": round(float(lines[1]), 3)}


# The container's processes by what they run (the first match of its command line), for cpu_seconds.
CPU_OWNERS = (("jvm", "java"), ("preloader", "sagemaker_mnist_container.preload "),
              ("serve", "sagemaker_mnist_container.serving"))
# Each process's clock ticks of CPU (user + system, /proc/PID/stat's 14th and 15th fields) and
# command line, read inside the container; the first line is the ticks per second.
CPU_SCRIPT = ("getconf CLK_TCK; for p in /proc/[0-9]*; do s=$(cut -d' ' -f14,15 $p/stat 2>/dev/null) || continue; "
              "echo \"$s $(tr '\\0\\n' '  ' < $p/cmdline 2>/dev/null)\"; done")


def cpu_seconds(container):
    """{owner: CPU seconds} of the container's running processes so far, summed by CPU_OWNERS
    ("other" for the rest; the preloader's forked backends count as its own), or None if they
    cannot be read."""
    result = subprocess.run([DOCKER, "exec", container, "sh", "-c", CPU_SCRIPT], capture_output=True, text=True)
    return cpu_by_owner(result.stdout) if result.returncode == 0 else None


def cpu_by_owner(text):
    """cpu_seconds' sums from CPU_SCRIPT's output; the reading process itself is left out."""
    lines = text.splitlines()
    try:
        ticks = float(lines[0])
    except (IndexError, ValueError):
        return None
    totals = {owner: 0.0 for owner, _ in CPU_OWNERS}
    totals["other"] = 0.0
    for line in lines[1:]:
        fields = line.split(" ", 2)
        if len(fields) < 3 or not (fields[0].isdigit() and fields[1].isdigit()) or "/proc/[0-9]" in fields[2]:
            continue
        owner = next((name for name, marker in CPU_OWNERS if marker in fields[2]), "other")
        totals[owner] += (int(fields[0]) + int(fields[1])) / ticks
    return {owner: round(value, 2) for owner, value in totals.items()}


def log_phases(log, wall):
    """{phase: seconds after `wall` (the time of `docker run`)} of PHASES in a `docker logs -t`
    text: each line starts with its RFC 3339 time in nanoseconds."""
    found = {}
    for line in log.splitlines():
        stamp, _, text = line.partition(" ")
        for phase, marker in PHASES:
            if phase not in found and marker in text:
                moment = datetime.datetime.fromisoformat(stamp[:26] + "+00:00").timestamp()
                found[phase] = round(moment - wall, 3)
    return found


def _first_label(answer):
    try:
        return json.loads(answer)["predictions"][0]["label"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def readable(path):
    """Makes a model folder readable by the image's serving user."""
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def image_facts(name):
    """The cold starts' image: its id, tags (build.sh tags the commit it was built from) and date."""
    try:
        inspected = json.loads(docker("image", "inspect", name).stdout)[0]
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return {"name": name}
    return {"name": name, "id": inspected["Id"], "tags": inspected.get("RepoTags") or [],
            "created": inspected.get("Created")}


def image_size(name):
    try:
        return json.loads(docker("image", "inspect", name).stdout)[0]["Size"]
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", action="append", help="an inference image, repeatable (default: %s)"
                        % " and ".join(IMAGES))
    parser.add_argument("--runs", type=int, default=7, help="cold starts of each image (default 7)")
    parser.add_argument("--out", default=provenance.RESULTS,
                        help="folder for cold_start.json (default: bench/results, the committed result)")
    args = parser.parse_args(argv)
    images = args.image or list(IMAGES)
    version = docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    run = provenance.Run("cold_start", dict(vars(args), image=images), argv, docker=version)
    model = write_artifact(pathlib.Path(tempfile.mkdtemp(prefix="cold-start-")) / "model")
    readable(model.model_dir.parent)
    digit = int(model.correct[0])
    body = bodies.json_body(model.images[digit]).encode()
    runs = {name: [] for name in images}
    floors = {name: [] for name in images}
    for number in range(args.runs):
        # The first image rotates by round, so neither always starts on a machine the other warmed.
        for name in images[number % len(images):] + images[:number % len(images)]:
            healthy, answered, phases = cold_start(name, model.model_dir, False, body, int(model.predicted[digit]),
                                                   phases=True)
            runs[name].append([healthy, answered, phases])
            floors[name].append(floor(name))
            print("%s: /ping 200 after %s s, first right answer after %s s; %s; apart: %s"
                  % (name, healthy, answered, phases, floors[name][-1]), flush=True)
    summary = {name: {"ping_200": _median([run[0] for run in found]), "first_answer": _median([run[1] for run in found]),
                      "phases": {phase: _median([run[2].get(phase) for run in found]) for phase, _ in PHASES},
                      "cpu_s": _median_cpu([run[2].get("cpu_s") for run in found]),
                      "floor": _floor(floors[name]), "size_bytes": image_size(name)} for name, found in runs.items()}
    data = {"images": [image_facts(name) for name in images], "runs": runs, "floors": floors, "goal_s": GOAL_S}
    path = run.finish(data, summary, args.out)
    print(run.record["table"])
    print("wrote %s" % path)


def _median_cpu(measured):
    """Each owner's median CPU seconds over the runs that could be read, or None."""
    measured = [m for m in measured if m]
    return {owner: _median([m[owner] for m in measured]) for owner in measured[0]} if measured else None


def _floor(measured):
    """The medians of floor()'s measurements, and their sum: what no cold start through torch beats."""
    measured = [m for m in measured if m]
    if not measured:
        return None
    medians = {key: _median([m[key] for m in measured]) for key in ("to_entrypoint", "torch_import")}
    return dict(medians, total=round(medians["to_entrypoint"] + medians["torch_import"], 3))


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


if __name__ == "__main__":
    main()
